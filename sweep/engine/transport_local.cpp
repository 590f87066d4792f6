#include "sweep/engine/transport.h"

namespace emsweep {

class LocalNetwork::Endpoint : public Transport {
 public:
  Endpoint(LocalNetwork* net, int rank) : net_(net), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(net_->boxes_.size()); }
  void send(int dest, Tag tag, std::string_view payload) override {
    Mailbox& box = *net_->boxes_.at(static_cast<std::size_t>(dest));
    {
      std::lock_guard lock(box.mutex);
      box.messages.push_back({rank_, tag, std::string(payload)});
    }
    box.ready.notify_one();
  }
  std::optional<Message> receive(std::chrono::microseconds timeout) override {
    Mailbox& box = *net_->boxes_[static_cast<std::size_t>(rank_)];
    std::unique_lock lock(box.mutex);
    if (!box.ready.wait_for(lock, timeout, [&] { return !box.messages.empty(); })) {
      return std::nullopt;
    }
    Message m = std::move(box.messages.front());
    box.messages.pop_front();
    return m;
  }

 private:
  LocalNetwork* net_;
  int rank_;
};

LocalNetwork::LocalNetwork(int ranks) {
  for (int i = 0; i < ranks; ++i) boxes_.push_back(std::make_unique<Mailbox>());
}

std::unique_ptr<Transport> LocalNetwork::endpoint(int rank) {
  return std::make_unique<Endpoint>(this, rank);
}

}  // namespace emsweep
