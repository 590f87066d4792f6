#include "journal.h"

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

#include "cpu.h"
#include "error.h"

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

bool valid_type(std::uint8_t t) { return t >= 1 && t <= 5; }

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
    if (all.size() - pos < 9) {
      s.tail_problem = "incomplete record header at byte " + std::to_string(pos);
      break;
    }
    std::uint32_t len = 0;
    std::memcpy(&len, all.data() + pos, 4);
    auto type = static_cast<std::uint8_t>(all[pos + 4]);
    if (len > kMaxRecordBytes || !valid_type(type)) {
      s.tail_problem = "corrupt record header at byte " + std::to_string(pos);
      break;
    }
    if (all.size() - pos - 5 < static_cast<std::size_t>(len) + 4) {
      s.tail_problem = "incomplete record at byte " + std::to_string(pos);
      break;
    }
    std::string_view body = all.substr(pos + 4, 1 + len);  // type + payload
    std::uint32_t stored = 0;
    std::memcpy(&stored, all.data() + pos + 5 + len, 4);
    if (crc32c(body) != stored) {
      s.tail_problem = "checksum mismatch at byte " + std::to_string(pos);
      break;
    }
    s.records.push_back({static_cast<RecordType>(type), body.substr(1)});
    pos += 5 + len + 4;
    s.valid_bytes = pos;
  }
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

JournalScan recover_journal(const std::string& path) {
  JournalScan s = read_journal(path);
  if (!s.damaged()) return s;
  const std::string keep = path + ".damaged-" + utc_stamp();
  {
    std::ofstream out(keep, std::ios::binary);
    out.write(s.data.data() + s.valid_bytes, static_cast<std::streamsize>(s.file_bytes - s.valid_bytes));
    out.flush();
    if (!out) {
      throw StoreError("cannot save the damaged tail of " + path + " to " + keep + ": " +
                       errno_text(),
                       "free some disk space and run again; nothing was changed");
    }
  }
  if (::truncate(path.c_str(), static_cast<off_t>(s.valid_bytes)) != 0) {
    throw StoreError("cannot truncate the damaged tail of " + path + ": " + errno_text());
  }
  s.data.resize(s.valid_bytes);
  s.file_bytes = s.valid_bytes;
  return s;
}

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
