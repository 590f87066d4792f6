#include "sweep/mpi/transport_mpi.h"

#include <vector>

#include <mpi.h>

#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>

#include "sweep/core/error.h"

namespace emsweep {
namespace {

void check(int rc, const char* op) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw EnvironmentError(std::string(op) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
  }
}

class MpiTransport : public Transport {
 public:
  MpiTransport(int rank, int size) : rank_(rank), size_(size) {}
  ~MpiTransport() override {
    // Every send must complete before MPI_Finalize.
    for (auto& p : pending_) MPI_Wait(&p.request, MPI_STATUS_IGNORE);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void send(int dest, Tag tag, std::string_view payload) override {
    // Non-blocking: a large message (a batch of results, a batch of work) must never wait for
    // the peer to post its receive while the peer waits for us, or both would block forever.
    pending_.push_back({MPI_REQUEST_NULL, std::string(payload)});
    Pending& p = pending_.back();  // deque: references stay valid while we push at the back
    check(MPI_Isend(p.buffer.data(), static_cast<int>(p.buffer.size()), MPI_BYTE, dest,
                    static_cast<int>(tag), MPI_COMM_WORLD, &p.request),
          "MPI_Isend");
    reap();
  }

  std::optional<Message> receive(std::chrono::microseconds timeout) override {
    // Poll with MPI_Iprobe: first for a short while yielding the core between polls (messages
    // usually follow within microseconds while points flow), then sleeping longer and longer,
    // up to 1 ms, so that an idle coordinator or worker does not spin a core (a blocking
    // MPI_Recv busy-polls in Open MPI).
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    // Hot (a message came in the last 10 ms): poll up to 2 ms before sleeping. Cold: 50 us.
    const bool hot = start - last_rx_ < std::chrono::milliseconds(10);
    const auto spin_until =
        start + std::min(timeout, std::chrono::microseconds(hot ? 2000 : 50));
    auto pause = std::chrono::microseconds(50);
    for (;;) {
      reap();
      int flag = 0;
      MPI_Status status;
      check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status), "MPI_Iprobe");
      if (flag) {
        int count = 0;
        check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
        Message m;
        m.source = status.MPI_SOURCE;
        m.tag = static_cast<Tag>(status.MPI_TAG);
        m.payload.resize(static_cast<std::size_t>(count));
        check(MPI_Recv(m.payload.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG,
                       MPI_COMM_WORLD, MPI_STATUS_IGNORE),
              "MPI_Recv");
        last_rx_ = Clock::now();
        return m;
      }
      const auto now = Clock::now();
      if (now >= deadline) return std::nullopt;
      if (now < spin_until) {
        sched_yield();
        continue;
      }
      std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

 private:
  struct Pending {
    MPI_Request request;
    std::string buffer;
  };

  // Frees the buffers of sends that completed (in order; later ones wait their turn).
  void reap() {
    while (!pending_.empty()) {
      int done = 0;
      check(MPI_Test(&pending_.front().request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (!done) break;
      pending_.pop_front();
    }
  }

  int rank_;
  int size_;
  std::deque<Pending> pending_;
  std::chrono::steady_clock::time_point last_rx_{};
};

}  // namespace

bool launched_by_mpi_launcher() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string v(text, static_cast<std::size_t>(len));
  auto comma = v.find(',');
  return comma == std::string::npos ? v : v.substr(0, comma);
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local_rank_);
  // Worker ranks (every rank but 0) number themselves among the node's workers, so that devices
  // are shared out without the coordinator and without the launcher's own numbering.
  int node_size = 1;
  MPI_Comm_size(node, &node_size);
  const int is_worker = rank_ != 0 ? 1 : 0;
  std::vector<int> workers(static_cast<std::size_t>(node_size), 0);
  check(MPI_Allgather(&is_worker, 1, MPI_INT, workers.data(), 1, MPI_INT, node), "MPI_Allgather");
  node_workers_ = 0;
  for (int r = 0; r < node_size; ++r) {
    if (r == local_rank_) node_worker_index_ = node_workers_;
    node_workers_ += workers[static_cast<std::size_t>(r)];
  }
  MPI_Comm_free(&node);
}

MpiSession::~MpiSession() { MPI_Finalize(); }

std::string MpiSession::processor_name() const {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return std::string(name, static_cast<std::size_t>(len));
}

std::unique_ptr<Transport> MpiSession::world() { return std::make_unique<MpiTransport>(rank_, size_); }

std::string MpiSession::broadcast(const std::string& data) {
  unsigned long long n = data.size();
  check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == 0 ? data : std::string(n, '\0');
  check(MPI_Bcast(out.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
}

void MpiSession::exit_after(double seconds, int code) {
  std::thread([seconds, code] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    std::_Exit(code);
  }).detach();
}

void MpiSession::abort(int code) {
  exit_after(10, code);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace emsweep
