// The journal: CRC-32C, append and read back, torn tails at every byte, corruption,
// recovery that keeps the damaged bytes, and the single-writer lock.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "error.h"
#include "journal.h"

using namespace emsweep;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
  auto d = fs::temp_directory_path() / ("emsweep-journal-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("crc32c matches the standard check value", "[journal]") {
  // The CRC-32C check value of "123456789" (RFC 3720 / iSCSI) is 0xE3069283.
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("") == 0u);
}

TEST_CASE("crc32c is the same with and without SSE4.2, whole or in pieces", "[journal]") {
  std::string data;
  std::uint64_t x = 2463534242ull;
  for (int i = 0; i < 1000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data.push_back(static_cast<char>(x & 0xff));
  }
  std::vector<std::uint32_t> fast, parts;
  for (std::size_t len = 0; len <= data.size(); len += 7) {
    const std::string_view s = std::string_view(data).substr(0, len);
    fast.push_back(crc32c(s));
    parts.push_back(crc32c(s.substr(len / 3), crc32c(s.substr(0, len / 3))));
  }
  const bool had = crc32c_use_cpu_extensions(false);
  std::vector<std::uint32_t> table;
  for (std::size_t len = 0; len <= data.size(); len += 7) table.push_back(crc32c(std::string_view(data).substr(0, len)));
  crc32c_use_cpu_extensions(had);
  CHECK(fast == table);
  CHECK(parts == table);
  CHECK(crc32c("123456789") == 0xE3069283u);
}

TEST_CASE("records written are read back in order", "[journal]") {
  const std::string path = temp_dir() + "/a.journal";
  fs::remove(path);
  {
    JournalWriter w(path, true);
    w.append(RecordType::kDispatch, encode(WorkItem{7, 1}));
    w.commit();
    w.append(RecordType::kDispatch, encode(WorkItem{8, 2}));
    CHECK(w.uncommitted() == 1);
  }  // the destructor commits
  JournalScan s = read_journal(path);
  CHECK_FALSE(s.damaged());
  REQUIRE(s.records.size() == 2);
  CHECK(decode_work_item(s.records[1].payload)->index == 8);
}

TEST_CASE("a torn tail at any byte keeps exactly the intact records", "[journal]") {
  const std::string path = temp_dir() + "/b.journal";
  fs::remove(path);
  std::vector<std::size_t> ends;
  {
    JournalWriter w(path, true);
    for (std::uint64_t i = 0; i < 5; ++i) {
      w.append(RecordType::kDispatch, encode(WorkItem{i, 1}));
      w.commit();
      ends.push_back(fs::file_size(path));
    }
  }
  const std::string all = read_all(path);
  for (std::size_t n = kJournalMagic.size(); n <= all.size(); ++n) {
    JournalScan s = scan_journal(all.substr(0, n), "t");
    std::size_t expect = 0;
    for (auto e : ends) expect += e <= n ? 1 : 0;
    CHECK(s.records.size() == expect);
    CHECK(s.damaged() == (std::find(ends.begin(), ends.end(), n) == ends.end() && n != kJournalMagic.size()));
  }
}

TEST_CASE("a flipped byte stops reading at its record", "[journal]") {
  const std::string path = temp_dir() + "/c.journal";
  fs::remove(path);
  {
    JournalWriter w(path, true);
    for (std::uint64_t i = 0; i < 4; ++i) w.append(RecordType::kDispatch, encode(WorkItem{i, 1}));
  }
  std::string all = read_all(path);
  const std::size_t record = (all.size() - kJournalMagic.size()) / 4;
  all[kJournalMagic.size() + 2 * record + 7] ^= 0x40;  // inside the third record's payload
  JournalScan s = scan_journal(all, "t");
  CHECK(s.records.size() == 2);
  CHECK_THAT(s.tail_problem, Catch::Contains("checksum mismatch"));
}

TEST_CASE("recovery truncates and keeps the damaged bytes beside the journal", "[journal]") {
  const std::string dir = temp_dir() + "/recover";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = dir + "/d.journal";
  {
    JournalWriter w(path, true);
    w.append(RecordType::kDispatch, encode(WorkItem{1, 1}));
  }
  const auto good = fs::file_size(path);
  { std::ofstream(path, std::ios::app | std::ios::binary) << "torn-garbage"; }
  JournalScan s = recover_journal(path);
  CHECK(s.records.size() == 1);
  CHECK(fs::file_size(path) == good);
  int kept = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("d.journal.damaged-")) {
      ++kept;
      CHECK(read_all(e.path().string()) == "torn-garbage");
    }
  }
  CHECK(kept == 1);
}

TEST_CASE("a second writer is refused while the first holds the lock", "[journal]") {
  const std::string path = temp_dir() + "/e.journal";
  fs::remove(path);
  JournalWriter first(path, true);
  CHECK(journal_is_locked(path));  // flock is per open file description, even in one process
  CHECK_THROWS_AS(JournalWriter(path, false), StoreError);
}

TEST_CASE("a file that is not a journal is refused with a hint", "[journal]") {
  const std::string path = temp_dir() + "/f.journal";
  { std::ofstream(path, std::ios::binary) << "not a journal at all"; }
  try {
    (void)read_journal(path);
    FAIL("no error");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains("is not an emsweep journal"));
    CHECK_THAT(e.hint(), Catch::Contains("--overwrite"));
  }
}
