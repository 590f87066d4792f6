#include "sweep/engine/signals.h"

#include <csignal>
#include <initializer_list>

namespace emsweep {
namespace {

volatile std::sig_atomic_t g_requests = 0;
volatile std::sig_atomic_t g_last = 0;

extern "C" void on_stop_signal(int sig) {
  g_requests = g_requests + 1;
  g_last = sig;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaction(sig, &sa, nullptr);
}

int stop_requests() { return g_requests; }
int last_stop_signal() { return g_last; }
void request_stop(int signal) { on_stop_signal(signal); }
void reset_stop_requests() {
  g_requests = 0;
  g_last = 0;
}

}  // namespace emsweep
