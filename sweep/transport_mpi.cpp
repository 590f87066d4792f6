#include "transport_mpi.h"

#include <mpi.h>

#include <cstdlib>
#include <thread>

#include "error.h"

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
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void send(int dest, Tag tag, std::string_view payload) override {
    check(MPI_Send(payload.data(), static_cast<int>(payload.size()), MPI_BYTE, dest,
                   static_cast<int>(tag), MPI_COMM_WORLD),
          "MPI_Send");
  }

  std::optional<Message> receive(std::chrono::microseconds timeout) override {
    // Poll with MPI_Iprobe and sleep between polls, backing off up to 1 ms, so that an idle
    // coordinator or worker does not spin a core (a blocking MPI_Recv busy-polls in Open MPI).
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::microseconds(0);
    for (;;) {
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
        return m;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return std::nullopt;
      if (pause.count() > 0) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
      }
      // Spin briefly first (cheap when messages flow), then sleep longer and longer.
      pause = pause.count() == 0 ? std::chrono::microseconds(20)
                                 : std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

 private:
  int rank_;
  int size_;
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

void MpiSession::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace emsweep
