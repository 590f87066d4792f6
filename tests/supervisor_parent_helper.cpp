// Stands in for a rank in test_supervisor: supervises a shell that writes its pid and its
// background grandchild's pid to a file and waits forever, until the test SIGKILLs this process.
// Usage: supervisor_parent_helper SHIM PIDFILE
#include <cstdio>

#include "worker/command/supervisor.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SHIM PIDFILE\n", argv[0]);
    return 2;
  }
  emsweep::command::ChildSpec spec;
  spec.shim_path = argv[1];
  spec.argv = {"/bin/sh", "-c", R"(echo $$ > "$0"; sleep 1000 & echo $! >> "$0"; wait)", argv[2]};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.kill_grace_seconds = 1;
  const emsweep::command::ChildResult result = emsweep::command::run_child(spec);
  std::fprintf(stderr, "supervisor_parent_helper: the child ended before it was killed (%d)\n",
               static_cast<int>(result.outcome));
  return 1;
}
