#include "worker/command/shim_protocol.h"

#include <sys/socket.h>

#include <bit>
#include <cerrno>
#include <cstring>

namespace emsweep::command::shim {
namespace {

// First word of every spec: "EMSSHIM" and a version, so that a shim from another build (say,
// EMSWEEP_SHIM pointing at an old one) says so instead of misreading the spec.
// Version 2: one shim serves many points (kMessageSpec, kMessageAccepted).
constexpr std::uint64_t kSpecMagic = 0x454d'5353'4849'4d02;  // "EMSSHIM" 2
constexpr std::uint64_t kResultMagic = 0x454d'5353'4849'4d82;
constexpr std::size_t kLengthBytes = sizeof(std::uint64_t);

class Writer {
 public:
  void u64(std::uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void str(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  void strings(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) str(s);
  }
  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view in, const char* what) : in_(in), what_(what) {}
  std::uint64_t u64() {
    need(sizeof(std::uint64_t));
    std::uint64_t v;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  int i32() { return static_cast<int>(i64()); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::string str() {
    const std::uint64_t n = u64();
    need(n);
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  std::vector<std::string> strings() {
    std::vector<std::string> v(count());
    for (auto& s : v) s = str();
    return v;
  }
  // An element count, checked against what is left so garbage cannot allocate gigabytes.
  std::size_t count() {
    const std::uint64_t n = u64();
    need(n);  // every element takes at least one byte
    return n;
  }
  void finish() const {
    if (!in_.empty()) fail("has trailing bytes");
  }

 private:
  void need(std::uint64_t n) const {
    if (n > in_.size()) fail("is truncated");
  }
  [[noreturn]] void fail(const char* why) const {
    throw ProtocolError(std::string("the shim's ") + what_ + " message " + why);
  }
  std::string_view in_;
  const char* what_;
};

}  // namespace

std::string encode_spec(const ChildSpec& spec) {
  Writer w;
  w.u64(kSpecMagic);
  w.strings(spec.argv);
  w.strings(spec.env);
  w.str(spec.cwd);
  w.str(spec.stdout_path);
  w.str(spec.stderr_path);
  w.u64(spec.capture_cap_bytes);
  w.f64(spec.timeout_seconds);
  w.f64(spec.kill_grace_seconds);
  w.u64(spec.cpus.size());
  for (int cpu : spec.cpus) w.i64(cpu);
  w.i64(spec.oom_score_adj);
  return w.take();
}

ChildSpec decode_spec(std::string_view payload) {
  Reader r(payload, "spec");
  if (r.u64() != kSpecMagic) {
    throw ProtocolError(
        "the spec comes from a different emsweep build (protocol version mismatch); use the "
        "emsweep-shim built with this emsweep-run");
  }
  ChildSpec spec;
  spec.argv = r.strings();
  spec.env = r.strings();
  spec.cwd = r.str();
  spec.stdout_path = r.str();
  spec.stderr_path = r.str();
  spec.capture_cap_bytes = r.u64();
  spec.timeout_seconds = r.f64();
  spec.kill_grace_seconds = r.f64();
  spec.cpus.resize(r.count());
  for (int& cpu : spec.cpus) cpu = r.i32();
  spec.oom_score_adj = r.i32();
  r.finish();
  return spec;
}

std::string encode_result(const ChildResult& result) {
  Writer w;
  w.u64(kResultMagic);
  w.i64(static_cast<std::int64_t>(result.outcome));
  w.i64(result.exit_code);
  w.i64(result.signal);
  w.f64(result.wall_seconds);
  w.i64(result.peak_rss_kb);
  w.str(result.start_error);
  w.u64(result.stdout_bytes);
  w.u64(result.stderr_bytes);
  return w.take();
}

ChildResult decode_result(std::string_view payload) {
  Reader r(payload, "result");
  if (r.u64() != kResultMagic) throw ProtocolError("the shim's result message has a wrong version");
  ChildResult result;
  const std::int64_t outcome = r.i64();
  if (outcome < static_cast<std::int64_t>(ChildOutcome::kExited) ||
      outcome > static_cast<std::int64_t>(ChildOutcome::kCancelled)) {
    throw ProtocolError("the shim's result message has an unknown outcome " +
                        std::to_string(outcome));
  }
  result.outcome = static_cast<ChildOutcome>(outcome);
  result.exit_code = r.i32();
  result.signal = r.i32();
  result.wall_seconds = r.f64();
  result.peak_rss_kb = r.i64();
  result.start_error = r.str();
  result.stdout_bytes = r.u64();
  result.stderr_bytes = r.u64();
  r.finish();
  return result;
}

std::string spec_message(const ChildSpec& spec) {
  return kMessageSpec + frame(encode_spec(spec));
}

std::string frame(std::string_view payload) {
  const std::uint64_t n = payload.size();
  std::string out(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(payload);
  return out;
}

void FrameReader::feed(const char* data, std::size_t size) {
  buffer_.append(data, size);
  if (buffer_.size() >= kLengthBytes) {
    std::uint64_t n;
    std::memcpy(&n, buffer_.data(), sizeof n);
    if (n > kMaxFrameBytes) {
      throw ProtocolError("the shim's socket carries a frame of " + std::to_string(n) +
                          " bytes, more than the limit of " + std::to_string(kMaxFrameBytes));
    }
  }
}

bool FrameReader::complete() const {
  if (buffer_.size() < kLengthBytes) return false;
  std::uint64_t n;
  std::memcpy(&n, buffer_.data(), sizeof n);
  return buffer_.size() - kLengthBytes >= n;
}

std::size_t FrameReader::missing() const {
  if (buffer_.size() < kLengthBytes) return kLengthBytes - buffer_.size();
  std::uint64_t n;
  std::memcpy(&n, buffer_.data(), sizeof n);
  const std::uint64_t whole = kLengthBytes + n;
  return buffer_.size() >= whole ? 0 : static_cast<std::size_t>(whole - buffer_.size());
}

std::string_view FrameReader::payload() const {
  std::uint64_t n;
  std::memcpy(&n, buffer_.data(), sizeof n);
  return std::string_view(buffer_).substr(kLengthBytes, n);
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace emsweep::command::shim
