// The small interface the coordinator and workers talk through. MPI implements it in
// transport_mpi.cpp (the only file that includes mpi.h); LocalNetwork implements it in-process
// for unit tests and for the single-rank mode, where the coordinator runs tasks on a thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sweep/store/wire.h"

namespace emsweep {

// One received message.
struct Message {
  int source = 0;
  Tag tag = Tag::kStop;
  std::string payload;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // This endpoint's rank and the number of ranks.
  [[nodiscard]] virtual int rank() const = 0;
  [[nodiscard]] virtual int size() const = 0;
  // Sends `payload` to `dest` (returns once the payload may be reused).
  virtual void send(int dest, Tag tag, std::string_view payload) = 0;
  // The next message for this endpoint, waiting at most `timeout` without spinning a core;
  // nullopt when none arrived.
  [[nodiscard]] virtual std::optional<Message> receive(std::chrono::microseconds timeout) = 0;
};

// In-process endpoints connected by queues.
class LocalNetwork {
 public:
  explicit LocalNetwork(int ranks);
  // The endpoint of `rank`; the network must outlive it.
  [[nodiscard]] std::unique_ptr<Transport> endpoint(int rank);

 private:
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Message> messages;
  };
  class Endpoint;
  std::vector<std::unique_ptr<Mailbox>> boxes_;
};

}  // namespace emsweep
