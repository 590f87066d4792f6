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

#include "sweep/store/wire.h"

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
  std::uint64_t offset = 0;  // byte offset of its frame in the scanned bytes

  // Bytes of its frame: length, type, payload, CRC.
  [[nodiscard]] std::uint64_t frame_bytes() const { return 9 + payload.size(); }
};

// A stretch of a journal that holds no intact record: damage in the middle, or a torn tail.
struct JournalDamage {
  std::uint64_t begin = 0;      // first byte that is not part of an intact record
  std::uint64_t end = 0;        // one past the last: the next intact record, or the file's end
  std::size_t next_record = 0;  // index in JournalScan::records of the record after it
  std::uint64_t frames = 1;     // records the stretch held, as its length fields tell
  bool frames_exact = false;    // the length fields chain from begin to end: `frames` is exact
  std::string problem;          // what is wrong at `begin`

  [[nodiscard]] std::uint64_t bytes() const { return end - begin; }
};

// Every intact record of a journal: reading resynchronises after damage, skipping only the
// bytes that hold no record whose frame, type and CRC-32C check out.
struct JournalScan {
  std::string data;                    // the file's bytes (records point into it)
  std::vector<JournalRecord> records;  // intact records, in order
  std::vector<JournalDamage> damage;   // damaged stretches, in order
  std::uint64_t valid_bytes = 0;       // length of the intact prefix (before any damage)
  std::uint64_t file_bytes = 0;        // length of the file as read
  std::string tail_problem;            // what is wrong at the first damaged byte ("" when clean)

  // True when some bytes are not part of an intact record (torn write or corruption).
  [[nodiscard]] bool damaged() const { return !damage.empty(); }
  // True when the last damaged stretch runs to the end of the file (normal after a crash).
  [[nodiscard]] bool torn_tail() const {
    return !damage.empty() && damage.back().end == file_bytes;
  }
  // Damaged stretches followed by intact records (corruption, never a crash).
  [[nodiscard]] std::size_t middle_damage() const { return damage.size() - (torn_tail() ? 1 : 0); }
};

// Parses journal bytes (never throws on bad content; a bad file header gives no records and
// tail_problem set). After a damaged frame it accepts a record again only where a frame has a
// known type, a length that fits, a matching CRC-32C and a payload that decodes.
// `source` names the file in messages.
[[nodiscard]] JournalScan scan_journal(std::string data, const std::string& source);
// Reads and scans the journal at `path`; throws StoreError if it cannot be read or is not a
// journal at all.
[[nodiscard]] JournalScan read_journal(const std::string& path);

// What a scan found wrong with a journal, and what recovery did about it: for messages.
struct JournalRecovery {
  std::string path;                      // the journal
  std::vector<JournalDamage> damage;     // damaged stretches (offsets in the file as it was)
  std::uint64_t file_bytes = 0;          // its size then
  std::size_t records = 0;               // intact records kept
  std::size_t records_after_damage = 0;  // of them, after the first damage in the middle
  std::string saved_to;                  // where the damaged bytes were saved ("" if not yet)
  bool rewritten = false;                // the journal was rewritten without the damaged bytes

  [[nodiscard]] bool damaged() const { return !damage.empty(); }
  [[nodiscard]] bool torn_tail() const {
    return !damage.empty() && damage.back().end == file_bytes;
  }
  [[nodiscard]] std::size_t middle_damage() const { return damage.size() - (torn_tail() ? 1 : 0); }
  // Records the damaged stretches held (a lower bound unless every count is exact).
  [[nodiscard]] std::uint64_t frames_lost() const;
  [[nodiscard]] bool frames_lost_exact() const;
};

// The damage of `scan` (of the journal at `path`) as a JournalRecovery, nothing saved yet.
[[nodiscard]] JournalRecovery describe_damage(const JournalScan& scan, const std::string& path);
// "bytes 120..183 (64 bytes), about 1 record" for each damaged stretch in the middle, joined.
[[nodiscard]] std::string damage_ranges_text(const JournalRecovery& r);

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

  // Reads the journal and repairs damage before anything is appended. A torn tail is copied to
  // PATH.damaged-TIME and cut off. Damage in the middle: the original file is kept as
  // PATH.damaged-TIME and the journal is replaced (temporary file, fsync, rename) by one that
  // holds exactly the intact records, still under this writer's lock. Fills `report`; returns
  // the scan of the journal as it is now.
  [[nodiscard]] JournalScan recover(JournalRecovery& report);
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
