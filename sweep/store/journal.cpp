#include "sweep/store/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

#include "sweep/core/cpu.h"
#include "sweep/core/error.h"

#ifdef EMSWEEP_X86_EXTENSIONS
#include <nmmintrin.h>
#define EMSWEEP_CRC_SSE42 1
#endif

namespace emsweep {
namespace {

constexpr std::uint32_t kMaxRecordBytes = 1u << 30;  // a record over 1 GiB is corruption

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

std::string errno_text() { return std::strerror(errno); }

std::string utc_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Whether `t` is one of RecordType's values (the enum's kFirst..kLast).
bool valid_type(std::uint8_t t) {
  return t >= static_cast<std::uint8_t>(RecordType::kFirst) &&
         t <= static_cast<std::uint8_t>(RecordType::kLast);
}

StoreError sync_failed(const std::string& path, const std::string& why) {
  return StoreError("cannot sync the journal " + path + ": " + why,
                    "the disk may be full or failing; run the same command again to resume");
}

}  // namespace

namespace {

std::uint32_t crc32c_portable(std::string_view data, std::uint32_t crc) {
  static const auto table = make_crc_table();
  crc = ~crc;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

#ifdef EMSWEEP_CRC_SSE42
// The same CRC with SSE4.2's crc32 instruction (Castagnoli polynomial), 8 bytes at a time: the
// coordinator checksums every record it journals, and the table spent a fifth of its time.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::string_view data, std::uint32_t crc) {
  std::uint64_t c = ~crc;
  const char* p = data.data();
  std::size_t n = data.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, static_cast<unsigned char>(*p));
  return ~c32;
}
#endif

using CrcFn = std::uint32_t (*)(std::string_view, std::uint32_t);

CrcFn pick_crc() {
#ifdef EMSWEEP_CRC_SSE42
  if (cpu_has_sse42()) return crc32c_sse42;
#endif
  return crc32c_portable;
}

CrcFn crc_fn = pick_crc();

}  // namespace

std::uint32_t crc32c(std::string_view data, std::uint32_t crc) { return crc_fn(data, crc); }

bool crc32c_use_cpu_extensions(bool use) {
  crc_fn = use ? pick_crc() : crc32c_portable;
  return crc_fn != crc32c_portable;
}

namespace {

// What is at a byte offset of a journal: an intact frame, or why not.
enum class Frame { kIntact, kShortHeader, kBadHeader, kShort, kBadChecksum };

// Checks the frame at `pos` of `all` (pos < all.size()); sets `len` and `type` from its header.
Frame check_frame(std::string_view all, std::size_t pos, std::uint32_t& len, std::uint8_t& type) {
  if (all.size() - pos < 9) return Frame::kShortHeader;
  std::memcpy(&len, all.data() + pos, 4);
  type = static_cast<std::uint8_t>(all[pos + 4]);
  if (len > kMaxRecordBytes || !valid_type(type)) return Frame::kBadHeader;
  if (all.size() - pos - 9 < len) return Frame::kShort;
  std::uint32_t stored = 0;
  std::memcpy(&stored, all.data() + pos + 5 + len, 4);
  if (crc32c(all.substr(pos + 4, 1 + len)) != stored) return Frame::kBadChecksum;
  return Frame::kIntact;
}

std::string frame_problem(Frame f, std::size_t pos) {
  const std::string at = " at byte " + std::to_string(pos);
  switch (f) {
    case Frame::kShortHeader:
      return "incomplete record header" + at;
    case Frame::kBadHeader:
      return "corrupt record header" + at;
    case Frame::kShort:
      return "incomplete record" + at;
    case Frame::kBadChecksum:
      return "checksum mismatch" + at;
    case Frame::kIntact:
      break;
  }
  return "";
}

// Whether `payload` is a well-formed record of type `type`. A frame found by scanning past
// damage must pass this besides its CRC-32C: garbage then needs a CRC collision *and* a valid
// encoding to be taken for a record.
bool decodes(std::uint8_t type, std::string_view payload) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::kHeader:
      return decode_journal_header(payload).has_value();
    case RecordType::kDispatch:
    case RecordType::kReleased:
      return decode_work_item(payload).has_value();
    case RecordType::kResult:
      return decode_point_record(payload).has_value();
    case RecordType::kAttemptFailed:
      return decode_attempt_failure(payload).has_value();
  }
  return false;
}

// A plausible frame header at `p` whose frame ends at or before `end`; sets `next`.
bool plausible_header(std::string_view all, std::size_t p, std::size_t end, std::size_t& next) {
  if (end - p < 9) return false;
  std::uint32_t len = 0;
  std::memcpy(&len, all.data() + p, 4);
  if (!valid_type(static_cast<std::uint8_t>(all[p + 4])) || len > end - p - 9) return false;
  next = p + 9 + len;
  return true;
}

// How many records the damaged stretch [begin, end) held, from the length fields that survive.
void count_frames(std::string_view all, JournalDamage& d) {
  // Forward from `begin`: exact when the lengths chain to `end` (the damage spared them).
  std::size_t p = d.begin, next = 0;
  std::uint64_t n = 0;
  while (p < d.end && plausible_header(all, p, d.end, next)) {
    p = next;
    ++n;
  }
  d.frames_exact = true;
  d.frames = n;
  if (p == d.end && n > 0) return;
  if (d.end == all.size() && all.size() - p >= 5) {
    // A torn last record: its header is plausible but its length runs past the end.
    std::uint32_t len = 0;
    std::memcpy(&len, all.data() + p, 4);
    if (valid_type(static_cast<std::uint8_t>(all[p + 4])) && len <= kMaxRecordBytes) {
      d.frames = n + 1;
      return;
    }
  }
  // Otherwise the damage hit a length field at `p`. An estimate: the records chained before
  // `p`, one at `p`, and the longest chain of plausible headers after `p` that ends exactly at
  // `end`. (Scaling the gap by the mean record size was tried: it guessed right less often.)
  d.frames_exact = false;
  std::int64_t tail = 0;
  constexpr std::size_t kMaxCountedSpan = 1u << 20;
  if (d.end - p <= kMaxCountedSpan) {
    std::vector<std::int64_t> chain(d.end - p + 1, -1);  // records from here to `end`
    chain.back() = 0;
    for (std::size_t r = d.end; r-- > p + 1;) {
      if (plausible_header(all, r, d.end, next) && chain[next - p] >= 0) {
        chain[r - p] = chain[next - p] + 1;
        tail = chain[r - p];
      }
    }
  }
  d.frames = n + 1 + static_cast<std::uint64_t>(tail);
}

}  // namespace

JournalScan scan_journal(std::string data, const std::string& source) {
  JournalScan s;
  s.data = std::move(data);
  s.file_bytes = s.data.size();
  std::string_view all = s.data;
  if (all.size() < kJournalMagic.size() || all.substr(0, kJournalMagic.size()) != kJournalMagic) {
    s.tail_problem = source + " does not start with " + std::string(kJournalMagic);
    return s;
  }
  std::size_t pos = kJournalMagic.size();
  s.valid_bytes = pos;
  while (pos < all.size()) {
    std::uint32_t len = 0;
    std::uint8_t type = 0;
    const Frame f = check_frame(all, pos, len, type);
    if (f == Frame::kIntact) {
      s.records.push_back({static_cast<RecordType>(type), all.substr(pos + 5, len), pos});
      pos += 9 + static_cast<std::size_t>(len);
      if (s.damage.empty()) s.valid_bytes = pos;
      continue;
    }
    // Damage: resynchronise at the next offset that holds a frame with a known type, a length
    // that fits, a matching CRC-32C and a payload that decodes.
    JournalDamage d;
    d.begin = pos;
    d.problem = frame_problem(f, pos);
    if (s.tail_problem.empty()) s.tail_problem = d.problem;
    std::size_t q = pos + 1;
    for (; q < all.size(); ++q) {
      if (check_frame(all, q, len, type) == Frame::kIntact && decodes(type, all.substr(q + 5, len)))
        break;
    }
    d.end = q;
    d.next_record = s.records.size();
    s.damage.push_back(std::move(d));
    pos = q;
  }
  for (auto& d : s.damage) count_frames(all, d);
  return s;
}

JournalScan read_journal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StoreError("cannot read the journal " + path + ": " + errno_text());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw StoreError("cannot read the journal " + path + ": " + errno_text());
  JournalScan s = scan_journal(std::move(data), path);
  if (s.valid_bytes == 0) {
    throw StoreError(path + " is not an emsweep journal (" + s.tail_problem + ")",
                     "move it away, or pass --overwrite to start a new results file");
  }
  return s;
}

std::uint64_t JournalRecovery::frames_lost() const {
  std::uint64_t n = 0;
  for (const auto& d : damage) n += d.frames;
  return n;
}

bool JournalRecovery::frames_lost_exact() const {
  return std::all_of(damage.begin(), damage.end(),
                     [](const JournalDamage& d) { return d.frames_exact; });
}

JournalRecovery describe_damage(const JournalScan& scan, const std::string& path) {
  JournalRecovery r;
  r.path = path;
  r.damage = scan.damage;
  r.file_bytes = scan.file_bytes;
  r.records = scan.records.size();
  if (scan.middle_damage() > 0)
    r.records_after_damage = scan.records.size() - scan.damage.front().next_record;
  return r;
}

std::string damage_ranges_text(const JournalRecovery& r) {
  std::string out;
  for (std::size_t i = 0; i < r.middle_damage(); ++i) {
    const JournalDamage& d = r.damage[i];
    if (!out.empty()) out += "; ";
    out += "bytes " + std::to_string(d.begin) + ".." + std::to_string(d.end - 1) + " (" +
           std::to_string(d.bytes()) + " bytes, " + (d.frames_exact ? "" : "about ") +
           std::to_string(d.frames) + (d.frames == 1 ? " record" : " records") + ")";
  }
  return out;
}

namespace {

// A name PATH.damaged-TIME that does not exist yet.
std::string damaged_name(const std::string& path) {
  const std::string base = path + ".damaged-" + utc_stamp();
  std::string name = base;
  for (int i = 2; ::access(name.c_str(), F_OK) == 0; ++i) name = base + "-" + std::to_string(i);
  return name;
}

void fsync_directory_of(const std::string& path) {
  std::string dir =
      path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
  if (dir.empty()) dir = path.starts_with("/") ? "/" : ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Saves `bytes` (`what`, for messages) to a new file `path` (O_APPEND) and syncs it; returns the
// open descriptor when `keep_open`, else closes it and returns -1. The journal is not touched.
int write_new_file(const std::string& path, std::string_view bytes, bool keep_open,
                   const std::string& what) {
  auto failed = [&](int fd) {
    const std::string why = errno_text();
    if (fd >= 0) {
      ::close(fd);
      ::unlink(path.c_str());
    }
    return StoreError("cannot save " + what + " to " + path + ": " + why,
                      "free disk space or make the directory writable, then run again; the journal "
                      "was not changed");
  };
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw failed(-1);
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw failed(fd);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) throw failed(fd);
  if (keep_open) return fd;
  ::close(fd);
  return -1;
}

}  // namespace

bool journal_is_locked(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return locked;
}

JournalWriter::JournalWriter(const std::string& path, bool create) : path_(path) {
  int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  fd_ = ::open(path.c_str(), flags, 0644);
  if (fd_ < 0) {
    throw StoreError("cannot open the journal " + path + " for writing: " + errno_text(),
                     "check that the output directory exists and is writable");
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw StoreError("another emsweep run is writing " + path,
                       "wait for it to finish, or use --output for a different results file");
    }
    throw StoreError("cannot lock the journal " + path + ": " + std::strerror(err),
                     "the file system does not support flock (NFS without lockd, Lustre "
                     "-o noflock?): write results to a file system that does, e.g. local disk "
                     "or Lustre mounted with -o flock");
  }
  if (create) {
    buffer_.assign(kJournalMagic);
    commit();
  }
}

JournalWriter::~JournalWriter() {
  if (fd_ < 0) return;
  if (syncer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(sync_mutex_);
      sync_stop_ = true;
    }
    sync_cv_.notify_all();
    syncer_.join();
  }
  try {
    commit();
  } catch (const Error&) {
    // The destructor runs while unwinding from an earlier error; that one is reported.
  }
  ::close(fd_);
}

JournalScan JournalWriter::recover(JournalRecovery& report) {
  if (!buffer_.empty() || syncer_.joinable()) {
    throw Error("internal: JournalWriter::recover called after records were appended");
  }
  JournalScan s = read_journal(path_);
  report = describe_damage(s, path_);
  if (!s.damaged()) return s;

  if (s.middle_damage() == 0) {
    // Only a torn tail (normal after a crash): keep its bytes aside, then cut it off.
    report.saved_to = damaged_name(path_);
    (void)write_new_file(report.saved_to, std::string_view(s.data).substr(s.valid_bytes), false,
                         "the damaged tail of " + path_);
    if (::ftruncate(fd_, static_cast<off_t>(s.valid_bytes)) != 0 || ::fdatasync(fd_) != 0) {
      throw StoreError(
          "cannot cut the damaged tail off " + path_ + ": " + errno_text(),
          "its bytes are saved in " + report.saved_to + "; check the disk, then run again");
    }
    s.data.resize(s.valid_bytes);
    s.file_bytes = s.valid_bytes;
    s.damage.clear();
    s.tail_problem.clear();
    return s;
  }

  // Damage in the middle: keep the original file whole (a hard link costs no space; a copy
  // where links are not allowed), then write the intact records to a new file and rename it
  // over the journal. The new file is locked before the rename, so the lock never lapses.
  report.saved_to = damaged_name(path_);
  if (::link(path_.c_str(), report.saved_to.c_str()) != 0) {
    (void)write_new_file(report.saved_to, s.data, false, "a copy of the damaged journal " + path_);
  }
  std::string clean(kJournalMagic);
  for (const auto& rec : s.records) clean.append(s.data, rec.offset, rec.frame_bytes());
  const std::string tmp = path_ + ".recover.tmp";
  ::unlink(tmp.c_str());
  int fd = write_new_file(tmp, clean, true, "the intact records of " + path_);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    throw StoreError(
        "cannot replace " + path_ + " with its intact records: " + why,
        "the journal was not changed; the original is also saved as " + report.saved_to);
  }
  fsync_directory_of(path_);
  // Appends go to the new file from now on (opened with O_APPEND, and holding the lock).
  ::close(fd_);
  fd_ = fd;
  written_ = 0;
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    synced_ = 0;
  }
  report.rewritten = true;
  JournalScan now = read_journal(path_);
  if (now.damaged() || now.records.size() != s.records.size()) {
    throw Error("internal: the recovered journal " + path_ + " does not re-read cleanly",
                "the original is saved as " + report.saved_to + "; please report this");
  }
  return now;
}

void JournalWriter::append(RecordType type, std::string_view payload) {
  const auto len = static_cast<std::uint32_t>(payload.size());
  const auto t = static_cast<char>(type);
  buffer_.append(reinterpret_cast<const char*>(&len), 4);
  const std::size_t body_at = buffer_.size();
  buffer_.push_back(t);
  buffer_.append(payload);
  const std::uint32_t crc = crc32c(std::string_view(buffer_).substr(body_at));
  buffer_.append(reinterpret_cast<const char*>(&crc), 4);
  ++uncommitted_;
}

void JournalWriter::write_out() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      buffer_.erase(0, done);
      throw StoreError("cannot write the journal " + path_ + ": " + why,
                       "free disk space, then run the same command again: every point "
                       "acknowledged so far is safe and will not run again");
    }
    done += static_cast<std::size_t>(n);
    written_ += static_cast<std::uint64_t>(n);
  }
  buffer_.clear();
}

void JournalWriter::commit() {
  throw_sync_error();
  write_out();
  if (synced_bytes() == written_) return;  // nothing written since the last sync
  const std::uint64_t target = written_;
  if (::fdatasync(fd_) != 0) throw sync_failed(path_, errno_text());
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    synced_ = std::max(synced_, target);
  }
  uncommitted_ = 0;
}

void JournalWriter::commit_in_background() {
  throw_sync_error();
  write_out();
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    sync_wanted_ = written_;
  }
  if (!syncer_.joinable()) syncer_ = std::thread([this] { sync_loop(); });
  sync_cv_.notify_one();
  uncommitted_ = 0;
}

std::uint64_t JournalWriter::synced_bytes() const {
  std::lock_guard<std::mutex> lock(sync_mutex_);
  return synced_;
}

void JournalWriter::sync_loop() {
  std::unique_lock<std::mutex> lock(sync_mutex_);
  for (;;) {
    // After a failure it only waits to be stopped: the owner throws the error.
    sync_cv_.wait(lock, [&] { return sync_stop_ || (sync_error_.empty() && sync_wanted_ > synced_); });
    if (sync_stop_) return;  // the destructor's commit() syncs what is left
    // Everything written before fdatasync starts is durable once it returns.
    const std::uint64_t target = sync_wanted_;
    lock.unlock();
    const int rc = ::fdatasync(fd_);
    const std::string why = rc != 0 ? errno_text() : std::string();
    lock.lock();
    if (rc != 0) {
      sync_error_ = why;
    } else {
      synced_ = std::max(synced_, target);
    }
  }
}

void JournalWriter::throw_sync_error() {
  std::string why;
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    why = sync_error_;
  }
  if (!why.empty()) throw sync_failed(path_, why);
}

}  // namespace emsweep
