#include "sweep/store/wire.h"

#include <bit>
#include <cstring>

namespace emsweep {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the wire and journal formats are little-endian; add byte swaps for this target");

class Out {
 public:
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(std::string_view s) {
    put(static_cast<std::uint32_t>(s.size()));
    buf_.append(s);
  }
  void doubles(const std::vector<double>& v) {
    put(static_cast<std::uint32_t>(v.size()));
    buf_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
  }
  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

class In {
 public:
  explicit In(std::string_view b) : b_(b) {}
  template <typename T>
  bool get(T& v) {
    if (b_.size() - pos_ < sizeof v) return fail();
    std::memcpy(&v, b_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return true;
  }
  bool str(std::string& s) {
    std::string_view v;
    if (!view(v)) return false;
    s.assign(v);
    return true;
  }
  bool view(std::string_view& v) {
    std::uint32_t n = 0;
    if (!get(n) || b_.size() - pos_ < n) return fail();
    v = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool doubles(std::vector<double>& v) {
    std::uint32_t n = 0;
    if (!get(n) || (b_.size() - pos_) / sizeof(double) < n) return fail();
    v.resize(n);
    if (n > 0) std::memcpy(v.data(), b_.data() + pos_, n * sizeof(double));  // data() may be null
    pos_ += n * sizeof(double);
    return true;
  }
  [[nodiscard]] bool done() const { return ok_ && pos_ == b_.size(); }
  [[nodiscard]] std::size_t remaining() const { return b_.size() - pos_; }

 private:
  bool fail() {
    ok_ = false;
    return false;
  }
  std::string_view b_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// The optional block that follows a record's fixed fields (journal format 2): how the attempt
// ran. Records without it are format-1 records or attempts with nothing to tell.
constexpr std::uint8_t kDetailBlock = 1;

void put_detail(Out& o, const RunDetail& d) {
  o.put(kDetailBlock);
  o.str(d.outcome);
  o.put(d.exit_code);
  o.put(d.signal);
  o.put(d.peak_rss_mb);
  o.str(d.argv);
  o.str(d.workdir);
  o.str(d.stderr_tail);
}

bool get_detail(In& in, RunDetail& d) {
  std::uint8_t tag = 0;
  return in.get(tag) && tag == kDetailBlock && in.str(d.outcome) && in.get(d.exit_code) &&
         in.get(d.signal) && in.get(d.peak_rss_mb) && in.str(d.argv) && in.str(d.workdir) &&
         in.str(d.stderr_tail);
}

}  // namespace

std::string encode(const WorkItem& w) {
  Out o;
  o.put(w.index);
  o.put(w.attempt);
  return o.take();
}

std::optional<WorkItem> decode_work_item(std::string_view bytes) {
  In in(bytes);
  WorkItem w;
  if (!in.get(w.index) || !in.get(w.attempt) || !in.done()) return std::nullopt;
  return w;
}

std::string encode(const PointRecord& r) {
  Out o;
  o.put(r.point_id);
  o.put(r.index);
  o.put(r.replicate);
  o.put(static_cast<std::int8_t>(r.status));
  o.put(r.attempts);
  o.put(r.rank);
  o.str(r.host);
  o.put(r.start_time);
  o.put(r.end_time);
  o.put(r.seconds);
  o.doubles(r.metrics);
  o.put(static_cast<std::uint32_t>(r.curves.size()));
  for (const auto& c : r.curves) {
    o.str(c.name);
    o.doubles(c.x);
    o.doubles(c.y);
  }
  o.str(r.error);
  o.str(r.provenance);
  if (r.detail.present()) put_detail(o, r.detail);
  return o.take();
}

std::optional<PointRecord> decode_point_record(std::string_view bytes) {
  In in(bytes);
  PointRecord r;
  std::int8_t status = 0;
  std::uint32_t ncurves = 0;
  if (!in.get(r.point_id) || !in.get(r.index) || !in.get(r.replicate) || !in.get(status) ||
      !in.get(r.attempts) || !in.get(r.rank) || !in.str(r.host) || !in.get(r.start_time) ||
      !in.get(r.end_time) || !in.get(r.seconds) || !in.doubles(r.metrics) || !in.get(ncurves)) {
    return std::nullopt;
  }
  if (status < 1 || status > 3) return std::nullopt;
  r.status = static_cast<PointStatus>(status);
  // Each curve needs at least 12 bytes: bound the count by what is left before allocating.
  if (ncurves > in.remaining() / 12) return std::nullopt;
  r.curves.resize(ncurves);
  for (auto& c : r.curves) {
    if (!in.str(c.name) || !in.doubles(c.x) || !in.doubles(c.y)) return std::nullopt;
    if (c.x.size() != c.y.size()) return std::nullopt;
  }
  if (!in.str(r.error) || !in.str(r.provenance)) return std::nullopt;
  if (in.remaining() > 0 && !get_detail(in, r.detail)) return std::nullopt;
  if (!in.done()) return std::nullopt;
  return r;
}

std::string encode(const AttemptFailure& f) {
  Out o;
  o.put(f.index);
  o.put(f.attempt);
  o.put(f.rank);
  o.str(f.error);
  if (f.detail.present() || f.seconds > 0 || !f.host.empty()) {
    put_detail(o, f.detail);
    o.put(f.seconds);
    o.put(f.end_time);
    o.str(f.host);
  }
  return o.take();
}

std::optional<AttemptFailure> decode_attempt_failure(std::string_view bytes) {
  In in(bytes);
  AttemptFailure f;
  if (!in.get(f.index) || !in.get(f.attempt) || !in.get(f.rank) || !in.str(f.error)) {
    return std::nullopt;
  }
  if (in.remaining() > 0 && !(get_detail(in, f.detail) && in.get(f.seconds) &&
                              in.get(f.end_time) && in.str(f.host))) {
    return std::nullopt;
  }
  if (!in.done()) return std::nullopt;
  return f;
}

std::string encode(const JournalHeader& h) {
  Out o;
  o.str(h.config_yaml);
  o.str(h.config_hash);
  o.str(h.base_hash);
  o.str(h.shard);
  o.str(h.command_line);
  o.str(h.host);
  o.put(h.ranks);
  o.put(h.start_time);
  o.str(h.emsweep_version);
  o.str(h.mpi_version);
  o.str(h.libtorch_version);
  return o.take();
}

std::optional<JournalHeader> decode_journal_header(std::string_view bytes) {
  In in(bytes);
  JournalHeader h;
  if (!in.str(h.config_yaml) || !in.str(h.config_hash) || !in.str(h.base_hash) ||
      !in.str(h.shard) || !in.str(h.command_line) || !in.str(h.host) || !in.get(h.ranks) ||
      !in.get(h.start_time) || !in.str(h.emsweep_version) || !in.str(h.mpi_version) ||
      !in.str(h.libtorch_version) || !in.done()) {
    return std::nullopt;
  }
  return h;
}

std::string encode_work(const std::vector<WorkItem>& items) {
  Out o;
  o.put(static_cast<std::uint32_t>(items.size()));
  for (const auto& w : items) {
    o.put(w.index);
    o.put(w.attempt);
  }
  return o.take();
}

std::optional<std::vector<WorkItem>> decode_work(std::string_view bytes) {
  In in(bytes);
  std::uint32_t n = 0;
  if (!in.get(n) || n > in.remaining() / 12) return std::nullopt;
  std::vector<WorkItem> out(n);
  for (auto& w : out) {
    if (!in.get(w.index) || !in.get(w.attempt)) return std::nullopt;
  }
  if (!in.done()) return std::nullopt;
  return out;
}

std::string encode_results(const std::vector<std::string>& encoded_records) {
  Out o;
  o.put(static_cast<std::uint32_t>(encoded_records.size()));
  for (const auto& r : encoded_records) o.str(r);
  return o.take();
}

std::optional<std::vector<std::string_view>> decode_results(std::string_view bytes) {
  In in(bytes);
  std::uint32_t n = 0;
  if (!in.get(n) || n > in.remaining() / 4) return std::nullopt;
  std::vector<std::string_view> out(n);
  for (auto& r : out) {
    if (!in.view(r)) return std::nullopt;
  }
  if (!in.done()) return std::nullopt;
  return out;
}

std::string encode(const RunConfig& c) {
  Out o;
  o.str(c.config_yaml);
  o.str(c.cache_dir);
  o.str(c.shard);
  return o.take();
}

std::optional<RunConfig> decode_run_config(std::string_view bytes) {
  In in(bytes);
  RunConfig c;
  if (!in.str(c.config_yaml) || !in.str(c.cache_dir) || !in.str(c.shard) || !in.done()) {
    return std::nullopt;
  }
  return c;
}

}  // namespace emsweep
