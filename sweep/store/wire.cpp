#include "sweep/store/wire.h"

#include <bit>
#include <concepts>
#include <cstring>
#include <type_traits>

namespace emsweep {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the wire and journal formats are little-endian; add byte swaps for this target");

// Each message's field list is written once, as a fields() function over an archive: Out
// appends the fields' bytes, In reads them back. Both offer the same operations, each returning
// false only when In meets malformed input, so a fields() chain with && stops at the first
// bad byte. The byte format is docs/results-format.md's (tests/test_wire.cpp pins it).

// Writes fields: little-endian fixed-size values, length-prefixed strings and arrays.
class Out {
 public:
  // A fixed-size value, as its bytes.
  template <typename T>
  bool field(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
    return true;
  }
  // An enum stored as `Raw`; [lo, hi] is the range In accepts.
  template <typename Raw, typename E>
  bool coded(const E& e, Raw /*lo*/, Raw /*hi*/) {
    return field(static_cast<Raw>(e));
  }
  // A fixed byte that opens a block; In refuses any other value there.
  bool marker(std::uint8_t m) { return field(m); }
  // A string: u32 length, then its bytes.
  bool text(std::string_view s) {
    field(static_cast<std::uint32_t>(s.size()));
    buf_.append(s);
    return true;
  }
  // An array of doubles: u32 count, then the values.
  bool doubles(const std::vector<double>& v) {
    field(static_cast<std::uint32_t>(v.size()));
    buf_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
    return true;
  }
  // A list: u32 count, then each element as `each` writes it. `min_bytes` is the smallest
  // encoded element, which In uses to bound the count before allocating.
  template <typename V, typename F>
  bool list(const V& v, std::size_t /*min_bytes*/, F each) {
    field(static_cast<std::uint32_t>(v.size()));
    for (const auto& e : v) each(e);
    return true;
  }
  // An optional block at the end of a message, written when `present`; In reads it when bytes
  // remain.
  template <typename F>
  bool tail(bool present, F block) {
    if (present) block();
    return true;
  }
  // A consistency condition In enforces on what it read; what Out writes holds it already.
  bool check(bool /*holds*/) { return true; }

  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

// Reads fields; every operation fails (and stays failed) rather than read out of bounds.
class In {
 public:
  explicit In(std::string_view b) : b_(b) {}
  template <typename T>
  bool field(T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (b_.size() - pos_ < sizeof v) return fail();
    std::memcpy(&v, b_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return true;
  }
  template <typename Raw, typename E>
  bool coded(E& e, Raw lo, Raw hi) {
    Raw v{};
    if (!field(v) || v < lo || v > hi) return fail();
    e = static_cast<E>(v);
    return true;
  }
  bool marker(std::uint8_t m) {
    std::uint8_t v = 0;
    return field(v) && (v == m || fail());
  }
  bool text(std::string& s) {
    std::string_view v;
    if (!text(v)) return false;
    s.assign(v);
    return true;
  }
  // A string as a view into the input (the input must outlive it).
  bool text(std::string_view& v) {
    std::uint32_t n = 0;
    if (!field(n) || b_.size() - pos_ < n) return fail();
    v = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool doubles(std::vector<double>& v) {
    std::uint32_t n = 0;
    if (!field(n) || (b_.size() - pos_) / sizeof(double) < n) return fail();
    v.resize(n);
    if (n > 0) std::memcpy(v.data(), b_.data() + pos_, n * sizeof(double));  // data() may be null
    pos_ += n * sizeof(double);
    return true;
  }
  template <typename V, typename F>
  bool list(V& v, std::size_t min_bytes, F each) {
    std::uint32_t n = 0;
    if (!field(n) || n > remaining() / min_bytes) return fail();
    v.resize(n);
    for (auto& e : v) {
      if (!each(e)) return fail();
    }
    return true;
  }
  template <typename F>
  bool tail(bool /*present*/, F block) {
    return remaining() == 0 || block() || fail();
  }
  bool check(bool holds) { return holds || fail(); }

  // True when everything was read and nothing is left over.
  [[nodiscard]] bool done() const { return ok_ && pos_ == b_.size(); }

 private:
  [[nodiscard]] std::size_t remaining() const { return b_.size() - pos_; }
  bool fail() {
    ok_ = false;
    return false;
  }
  std::string_view b_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// `T` is `U` or `const U`: one fields() serves encoding (const) and decoding.
template <typename T, typename U>
concept Is = std::same_as<std::remove_const_t<T>, U>;

// The optional block that follows a record's fixed fields (journal format 2): how the attempt
// ran. Records without it are format-1 records or attempts with nothing to tell.
constexpr std::uint8_t kDetailBlock = 1;

template <typename A, Is<RunDetail> D>
bool detail_block(A& a, D& d) {
  return a.marker(kDetailBlock) && a.text(d.outcome) && a.field(d.exit_code) && a.field(d.signal) &&
         a.field(d.peak_rss_mb) && a.text(d.argv) && a.text(d.workdir) && a.text(d.stderr_tail);
}

// 12 bytes: the smallest encoded WorkItem, and the smallest Curve (three empty arrays).
constexpr std::size_t kWorkItemBytes = 12;
constexpr std::size_t kMinCurveBytes = 12;

template <typename A, Is<WorkItem> W>
bool fields(A& a, W& w) {
  return a.field(w.index) && a.field(w.attempt);
}

template <typename A, Is<Curve> C>
bool fields(A& a, C& c) {
  return a.text(c.name) && a.doubles(c.x) && a.doubles(c.y) && a.check(c.x.size() == c.y.size());
}

template <typename A, Is<PointRecord> R>
bool fields(A& a, R& r) {
  return a.field(r.point_id) && a.field(r.index) && a.field(r.replicate) &&
         a.template coded<std::int8_t>(r.status, 1, 3) && a.field(r.attempts) && a.field(r.rank) &&
         a.text(r.host) && a.field(r.start_time) && a.field(r.end_time) && a.field(r.seconds) &&
         a.doubles(r.metrics) &&
         a.list(r.curves, kMinCurveBytes, [&a](auto& c) { return fields(a, c); }) &&
         a.text(r.error) && a.text(r.provenance) &&
         a.tail(r.detail.present(), [&] { return detail_block(a, r.detail); });
}

// The tail (format 2) carries the detail block, then when and where the attempt ended; it is
// written when any of it is set.
template <typename A, Is<AttemptFailure> F>
bool fields(A& a, F& f) {
  const bool has_tail = f.detail.present() || f.seconds > 0 || !f.host.empty();
  return a.field(f.index) && a.field(f.attempt) && a.field(f.rank) && a.text(f.error) &&
         a.tail(has_tail, [&] {
           return detail_block(a, f.detail) && a.field(f.seconds) && a.field(f.end_time) &&
                  a.text(f.host);
         });
}

template <typename A, Is<JournalHeader> H>
bool fields(A& a, H& h) {
  return a.text(h.config_yaml) && a.text(h.config_hash) && a.text(h.base_hash) && a.text(h.shard) &&
         a.text(h.command_line) && a.text(h.host) && a.field(h.ranks) && a.field(h.start_time) &&
         a.text(h.emsweep_version) && a.text(h.mpi_version) && a.text(h.libtorch_version);
}

template <typename A, Is<RunConfig> C>
bool fields(A& a, C& c) {
  return a.text(c.config_yaml) && a.text(c.cache_dir) && a.text(c.shard);
}

// A kWork message: the WorkItems of a batch as a list.
template <typename A, Is<std::vector<WorkItem>> V>
bool fields(A& a, V& items) {
  return a.list(items, kWorkItemBytes, [&a](auto& w) { return fields(a, w); });
}

// A kResults message: a list of strings (each an encoded PointRecord); at least the length.
template <typename A, typename V>
bool results_fields(A& a, V& records) {
  return a.list(records, sizeof(std::uint32_t), [&a](auto& s) { return a.text(s); });
}

template <typename T>
std::string encode_fields(const T& x) {
  Out o;
  fields(o, x);
  return o.take();
}

// The message decoded from `bytes`, or nullopt when they are malformed or have bytes left over.
template <typename T>
std::optional<T> decode_fields(std::string_view bytes) {
  In in(bytes);
  T x;
  if (!fields(in, x) || !in.done()) return std::nullopt;
  return x;
}

}  // namespace

std::string encode(const WorkItem& w) {
  return encode_fields(w);
}
std::optional<WorkItem> decode_work_item(std::string_view bytes) {
  return decode_fields<WorkItem>(bytes);
}

std::string encode(const PointRecord& r) {
  return encode_fields(r);
}
std::optional<PointRecord> decode_point_record(std::string_view bytes) {
  return decode_fields<PointRecord>(bytes);
}

std::string encode(const AttemptFailure& f) {
  return encode_fields(f);
}
std::optional<AttemptFailure> decode_attempt_failure(std::string_view bytes) {
  return decode_fields<AttemptFailure>(bytes);
}

std::string encode(const JournalHeader& h) {
  return encode_fields(h);
}
std::optional<JournalHeader> decode_journal_header(std::string_view bytes) {
  return decode_fields<JournalHeader>(bytes);
}

std::string encode_work(const std::vector<WorkItem>& items) {
  return encode_fields(items);
}
std::optional<std::vector<WorkItem>> decode_work(std::string_view bytes) {
  return decode_fields<std::vector<WorkItem>>(bytes);
}

std::string encode_results(const std::vector<std::string>& encoded_records) {
  Out o;
  results_fields(o, encoded_records);
  return o.take();
}

std::optional<std::vector<std::string_view>> decode_results(std::string_view bytes) {
  In in(bytes);
  std::vector<std::string_view> out;
  if (!results_fields(in, out) || !in.done()) return std::nullopt;
  return out;
}

std::string encode(const RunConfig& c) {
  return encode_fields(c);
}
std::optional<RunConfig> decode_run_config(std::string_view bytes) {
  return decode_fields<RunConfig>(bytes);
}

}  // namespace emsweep
