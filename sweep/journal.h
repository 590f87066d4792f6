// The append-only journal next to each results file: length-prefixed, CRC-32C-checked
// records, synced in groups. It is the source of truth the HDF5 view is rebuilt from.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <string_view>
#include <vector>

#include "wire.h"

namespace emsweep {

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
[[nodiscard]] std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);
// Uses SSE4.2 when the CPU has it (the default) or a table; returns whether SSE4.2 is in use.
// For tests that compare the two.
bool crc32c_use_cpu_extensions(bool use);

// The 16 bytes every journal starts with.
inline constexpr std::string_view kJournalMagic = "EMSWEEP-JOURNAL1";

// One intact record; `payload` points into the JournalScan that produced it.
struct JournalRecord {
  RecordType type;
  std::string_view payload;
};

// Every intact record of a journal, up to the first torn or corrupt one.
struct JournalScan {
  std::string data;                    // the file's bytes (records point into it)
  std::vector<JournalRecord> records;  // intact records, in order
  std::uint64_t valid_bytes = 0;       // length of the intact prefix
  std::uint64_t file_bytes = 0;        // length of the file as read
  std::string tail_problem;            // why reading stopped early ("" when clean)

  // True when bytes after the intact prefix exist (a torn write or corruption).
  [[nodiscard]] bool damaged() const { return valid_bytes < file_bytes; }
};

// Parses journal bytes (never throws on bad content; a bad file header gives no records and
// tail_problem set). `source` names the file in messages.
[[nodiscard]] JournalScan scan_journal(std::string data, const std::string& source);
// Reads and scans the journal at `path`; throws StoreError if it cannot be read or is not a
// journal at all.
[[nodiscard]] JournalScan read_journal(const std::string& path);
// Reads the journal and, when its tail is damaged, copies the damaged bytes to
// PATH.damaged-TIME and truncates the journal to its intact prefix. Returns the scan.
[[nodiscard]] JournalScan recover_journal(const std::string& path);

// True when another process holds the journal's writer lock (a run is writing it).
[[nodiscard]] bool journal_is_locked(const std::string& path);

// Appends records to a journal while holding its exclusive writer lock.
class JournalWriter {
 public:
  // Opens `path` for appending (creating it with the magic when `create`); takes the writer
  // lock or throws StoreError naming the other writer.
  JournalWriter(const std::string& path, bool create);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Adds a record to the in-memory buffer.
  void append(RecordType type, std::string_view payload);
  // Hands the buffer to the kernel with write(2): survives the process dying, not power loss.
  void write_out();
  // write_out() then fdatasync(2): every record appended so far is acknowledged (durable).
  void commit();
  // write_out(), then has a background thread fdatasync(2) everything written so far; returns
  // at once, so the caller does not wait for the disk. A failed background sync is thrown as a
  // StoreError by the next commit or commit_in_background.
  void commit_in_background();
  // True when appended records wait in the buffer for write_out().
  [[nodiscard]] bool buffered() const { return !buffer_.empty(); }
  // Records appended since the last commit.
  [[nodiscard]] std::size_t uncommitted() const { return uncommitted_; }
  // Path of the journal.
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  std::size_t uncommitted_ = 0;
  std::uint64_t written_ = 0;  // bytes written with write(2)

  // The background syncer: syncs up to `sync_wanted_` bytes; `synced_` is what it has made
  // durable; `sync_error_` the text of a failed fdatasync.
  void sync_loop();
  void throw_sync_error();
  [[nodiscard]] std::uint64_t synced_bytes() const;
  mutable std::mutex sync_mutex_;
  std::condition_variable sync_cv_;
  std::thread syncer_;
  std::uint64_t sync_wanted_ = 0;
  std::uint64_t synced_ = 0;
  bool sync_stop_ = false;
  std::string sync_error_;
};

}  // namespace emsweep
