// Stop requests from signals: SIGTERM, SIGINT and SIGUSR1 (Slurm's --signal) are counted so
// that loops stop handing out work after the first and stop at once after the second.
#pragma once

namespace emsweep {

// Installs the counting handlers (idempotent).
void install_stop_handlers();
// Number of stop signals received so far.
[[nodiscard]] int stop_requests();
// The last stop signal received (0 if none).
[[nodiscard]] int last_stop_signal();
// Counts a stop request as if `signal` had arrived (tests, fail-fast paths).
void request_stop(int signal);
// Forgets earlier requests (tests).
void reset_stop_requests();

}  // namespace emsweep
