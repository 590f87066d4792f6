// The wire between a Supervisor (in a rank) and emsweep-shim: one AF_UNIX stream socket, which
// the shim finds as file descriptor kSocketFd, used for one point after another.
//   rank → shim: per point kMessageSpec and a frame holding the ChildSpec, then single command
//                bytes (kCommandKill); end-of-file means the rank is gone, and the shim ends the
//                child (if one runs) and exits. A kill that arrives between points is ignored.
//   shim → rank: per point kMessageAccepted once the spec is decoded (the point is the shim's
//                from then on), then a frame holding the ChildResult once the child's whole
//                group has ended.
// A frame is a u64 payload length and the payload. Numbers are native-endian (both ends run on
// one machine); a string is a u64 length and its bytes.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "worker/command/supervisor.h"

namespace emsweep::command::shim {

// The descriptor number of the socket in the shim.
inline constexpr int kSocketFd = 3;
// Message byte: a spec frame follows; run it as the next point.
inline constexpr char kMessageSpec = 'S';
// Command byte: terminate the child's group now (SIGTERM, kill grace, SIGKILL); kCancelled.
inline constexpr char kCommandKill = 'K';
// Answer byte: the spec was read and decoded; the result frame follows when the point ends.
inline constexpr char kMessageAccepted = 'A';
// A frame larger than this is refused as garbage (argv and env together stay far below).
inline constexpr std::uint64_t kMaxFrameBytes = std::uint64_t{256} << 20;

// A frame that cannot be decoded (truncated, wrong version, oversized).
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The spec as a frame payload (shim_path is not sent: the shim is already running).
[[nodiscard]] std::string encode_spec(const ChildSpec& spec);
// kMessageSpec and the framed spec: what the rank sends to run one point.
[[nodiscard]] std::string spec_message(const ChildSpec& spec);
// Decodes encode_spec's payload; throws ProtocolError.
[[nodiscard]] ChildSpec decode_spec(std::string_view payload);
// The result as a frame payload.
[[nodiscard]] std::string encode_result(const ChildResult& result);
// Decodes encode_result's payload; throws ProtocolError.
[[nodiscard]] ChildResult decode_result(std::string_view payload);

// `payload` with its length in front.
[[nodiscard]] std::string frame(std::string_view payload);

// Collects bytes read from the socket until one whole frame is there.
class FrameReader {
 public:
  // Appends bytes as read; throws ProtocolError on an oversized length.
  void feed(const char* data, std::size_t size);
  // Whether a whole frame has arrived.
  [[nodiscard]] bool complete() const;
  // How many more bytes complete the frame: read no more, or bytes sent after it are lost.
  [[nodiscard]] std::size_t missing() const;
  // The payload of the frame (only when complete).
  [[nodiscard]] std::string_view payload() const;

 private:
  std::string buffer_;
};

// Writes all of `data` to the socket `fd`, retrying on EINTR and never raising SIGPIPE;
// false with errno set when the peer is gone or another error occurs.
[[nodiscard]] bool send_all(int fd, std::string_view data);

}  // namespace emsweep::command::shim
