// The journal: CRC-32C, append and read back, torn tails at every byte, corruption in the
// middle (resynchronisation after damage, checked on hundreds of damaged journals against the
// original records), recovery that keeps the damaged bytes, and the single-writer lock.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "sweep/core/error.h"
#include "sweep/store/journal.h"

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

TEST_CASE("a flipped byte loses only its record; reading resumes after it", "[journal]") {
  const std::string path = temp_dir() + "/c.journal";
  fs::remove(path);
  {
    JournalWriter w(path, true);
    for (std::uint64_t i = 0; i < 4; ++i) w.append(RecordType::kDispatch, encode(WorkItem{i, 1}));
  }
  std::string all = read_all(path);
  const std::size_t record = (all.size() - kJournalMagic.size()) / 4;
  const std::size_t third = kJournalMagic.size() + 2 * record;
  all[third + 7] ^= 0x40;  // inside the third record's payload
  JournalScan s = scan_journal(all, "t");
  REQUIRE(s.records.size() == 3);
  CHECK(decode_work_item(s.records[2].payload)->index == 3);
  CHECK(s.records[2].offset == third + record);
  REQUIRE(s.damage.size() == 1);
  CHECK(s.damage[0].begin == third);
  CHECK(s.damage[0].end == third + record);
  CHECK(s.damage[0].frames == 1);
  CHECK(s.damage[0].frames_exact);
  CHECK(s.damage[0].next_record == 2);
  CHECK_FALSE(s.torn_tail());
  CHECK(s.middle_damage() == 1);
  CHECK(s.valid_bytes == third);
  CHECK_THAT(s.tail_problem, Catch::Contains("checksum mismatch at byte " + std::to_string(third)));
}

TEST_CASE("recovery cuts a torn tail off and keeps its bytes beside the journal", "[journal]") {
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
  JournalWriter w(path, false);
  JournalRecovery rep;
  JournalScan s = w.recover(rep);
  CHECK(s.records.size() == 1);
  CHECK_FALSE(s.damaged());
  CHECK(fs::file_size(path) == good);
  CHECK(rep.torn_tail());
  CHECK(rep.middle_damage() == 0);
  CHECK_FALSE(rep.rewritten);
  CHECK(read_all(rep.saved_to) == "torn-garbage");
  int kept = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("d.journal.damaged-")) ++kept;
  }
  CHECK(kept == 1);
  // The writer appends after the cut.
  w.append(RecordType::kDispatch, encode(WorkItem{2, 1}));
  w.commit();
  CHECK(read_journal(path).records.size() == 2);
  CHECK_FALSE(read_journal(path).damaged());
}

TEST_CASE("recovery of damage in the middle rewrites the journal with exactly its intact records",
          "[journal]") {
  const std::string dir = temp_dir() + "/recover-middle";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = dir + "/m.journal";
  {
    JournalWriter w(path, true);
    for (std::uint64_t i = 0; i < 10; ++i) w.append(RecordType::kDispatch, encode(WorkItem{i, 1}));
  }
  std::string original = read_all(path);
  const std::size_t record = (original.size() - kJournalMagic.size()) / 10;
  std::string damaged = original;
  // 30 bytes of garbage across records 4 and 5 (0-based 3 and 4), then a torn tail.
  for (std::size_t i = 0; i < 30; ++i)
    damaged[kJournalMagic.size() + 3 * record + 10 + i] = static_cast<char>(0xA5 ^ i);
  damaged += std::string("\x0c\x00\x00\x00\x02\x01", 6);
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged; }

  JournalWriter w(path, false);
  JournalRecovery rep;
  JournalScan s = w.recover(rep);
  CHECK(rep.rewritten);
  CHECK(rep.middle_damage() == 1);
  CHECK(rep.torn_tail());
  CHECK(rep.records == 8);
  CHECK(rep.records_after_damage == 5);
  CHECK(rep.damage[0].begin == kJournalMagic.size() + 3 * record);
  CHECK(rep.damage[0].end == kJournalMagic.size() + 5 * record);
  // The garbage hit the fifth record's length field: its count is an estimate (right here).
  CHECK(rep.damage[0].frames == 2);
  CHECK_FALSE(rep.damage[0].frames_exact);
  CHECK(rep.frames_lost() == 3);  // the two damaged records and the torn one
  CHECK_THAT(damage_ranges_text(rep), Catch::Contains("(42 bytes, about 2 records)"));
  // The saved file is the damaged original, whole; the journal holds exactly the intact frames.
  CHECK(read_all(rep.saved_to) == damaged);
  std::string expect = original.substr(0, kJournalMagic.size() + 3 * record) +
                       original.substr(kJournalMagic.size() + 5 * record);
  CHECK(read_all(path) == expect);
  CHECK_FALSE(fs::exists(path + ".recover.tmp"));
  REQUIRE(s.records.size() == 8);
  CHECK(decode_work_item(s.records[3].payload)->index == 5);
  // Still the only writer, and appends land in the new file.
  CHECK(journal_is_locked(path));
  CHECK_THROWS_AS(JournalWriter(path, false), StoreError);
  w.append(RecordType::kDispatch, encode(WorkItem{10, 1}));
  w.commit();
  JournalScan after = read_journal(path);
  CHECK_FALSE(after.damaged());
  REQUIRE(after.records.size() == 9);
  CHECK(decode_work_item(after.records[8].payload)->index == 10);
}

TEST_CASE("past damage, a frame with a valid CRC is taken only if its payload decodes",
          "[journal]") {
  auto frame = [](RecordType t, const std::string& payload) {
    std::string body(1, static_cast<char>(t));
    body += payload;
    const auto len = static_cast<std::uint32_t>(payload.size());
    const std::uint32_t crc = crc32c(body);
    std::string out(reinterpret_cast<const char*>(&len), 4);
    out += body;
    out.append(reinterpret_cast<const char*>(&crc), 4);
    return out;
  };
  const std::string good = frame(RecordType::kDispatch, encode(WorkItem{9, 1}));
  // A dispatch payload is 12 bytes: a 5-byte one has a valid CRC but does not decode.
  const std::string undecodable = frame(RecordType::kDispatch, "abcde");
  const std::string head = std::string(kJournalMagic) + good;
  JournalScan s = scan_journal(head + "\xff\xff" + undecodable + good, "t");
  REQUIRE(s.records.size() == 2);
  CHECK(s.records[1].offset == head.size() + 2 + undecodable.size());
  REQUIRE(s.damage.size() == 1);
  CHECK(s.damage[0].bytes() == 2 + undecodable.size());
  // In sequence (no damage before it) the CRC alone decides, as before: replay skips it.
  CHECK(scan_journal(head + undecodable, "t").records.size() == 2);
}

TEST_CASE("recovery of an intact journal changes nothing", "[journal]") {
  const std::string dir = temp_dir() + "/recover-clean";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = dir + "/k.journal";
  {
    JournalWriter w(path, true);
    w.append(RecordType::kDispatch, encode(WorkItem{1, 1}));
  }
  const std::string before = read_all(path);
  JournalWriter w(path, false);
  JournalRecovery rep;
  (void)w.recover(rep);
  CHECK_FALSE(rep.damaged());
  CHECK(rep.saved_to.empty());
  CHECK(read_all(path) == before);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}

namespace {

// A journal with the record mix of a real sweep: run headers, dispatches, results with metrics
// and curves, failed attempts, releases. `frames` gets each record's [offset, end).
std::string realistic_journal(std::size_t records, std::uint64_t seed,
                              std::vector<std::pair<std::size_t, std::size_t>>& frames) {
  std::mt19937_64 rng(seed);
  std::string out(kJournalMagic);
  frames.clear();
  auto add = [&](RecordType t, const std::string& payload) {
    const std::size_t at = out.size();
    const auto len = static_cast<std::uint32_t>(payload.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    std::string body(1, static_cast<char>(t));
    body += payload;
    out += body;
    const std::uint32_t crc = crc32c(body);
    out.append(reinterpret_cast<const char*>(&crc), 4);
    frames.emplace_back(at, out.size());
  };
  std::uint64_t index = 0;
  while (frames.size() < records) {
    const std::uint64_t roll = rng() % 100;
    if (frames.empty() || roll < 2) {
      JournalHeader h;
      h.config_yaml =
          "sweep: {name: corrupt}\ngrid: {x: {linspace: [0, 1, 200]}}\ntask: {kind: probe}\n";
      h.config_hash = std::string(64, 'a');
      h.base_hash = std::string(64, 'b');
      h.command_line = "emsweep run corrupt.yaml";
      h.host = "node-1";
      h.start_time = 1.7e9 + static_cast<double>(frames.size());
      add(RecordType::kHeader, encode(h));
    } else if (roll < 45) {
      add(RecordType::kDispatch,
          encode(WorkItem{index, 1 + static_cast<std::uint32_t>(rng() % 3)}));
    } else if (roll < 90) {
      PointRecord r;
      r.point_id = rng();
      r.index = index++;
      r.replicate = static_cast<std::int64_t>(rng() % 4);
      r.attempts = 1;
      r.rank = static_cast<std::int32_t>(rng() % 8);
      r.host = "node-" + std::to_string(rng() % 16);
      r.start_time = 1.7e9 + static_cast<double>(index);
      r.end_time = r.start_time + 0.25;
      r.seconds = 0.25;
      r.metrics = {static_cast<double>(rng() % 1000) / 7.0, std::sqrt(static_cast<double>(index)),
                   0.5};
      Curve c;
      c.name = "trace";
      for (std::uint64_t i = 0; i < rng() % 6; ++i) {
        c.x.push_back(static_cast<double>(i));
        c.y.push_back(static_cast<double>(rng() % 100) / 3.0);
      }
      r.curves.push_back(std::move(c));
      add(RecordType::kResult, encode(r));
    } else if (roll < 97) {
      add(RecordType::kAttemptFailed,
          encode(AttemptFailure{index, 1, 2, "probe: flaky failure on attempt 1", {}, 0, 0, {}}));
    } else {
      add(RecordType::kReleased, encode(WorkItem{index, 1}));
    }
  }
  return out;
}

// What one damaged journal gave, against the truth.
struct CaseResult {
  std::size_t damaged_frames = 0;   // original frames holding a changed byte
  std::size_t lost = 0;             // original frames not read back
  std::size_t exact_claims = 0;     // damaged stretches whose record count was claimed exact
  std::size_t exact_right = 0;      // ... and was
  std::size_t estimates = 0;        // stretches whose count is an estimate
  std::size_t estimates_right = 0;  // ... that equalled the truth
};

// Scans `damaged` (the journal `original` with some bytes changed) and checks the promises:
// every record read equals the original frame at the same offset byte for byte; every frame
// without a changed byte is read; nothing more is lost than the frames the damage touched.
CaseResult check_damaged(const std::string& original, const std::string& damaged,
                         const std::vector<std::pair<std::size_t, std::size_t>>& frames) {
  CaseResult out;
  JournalScan s = scan_journal(damaged, "case");
  std::vector<bool> touched(frames.size(), false);
  std::size_t f = 0;
  for (std::size_t i = kJournalMagic.size(); i < damaged.size(); ++i) {
    while (f < frames.size() && frames[f].second <= i) ++f;
    const bool changed = i >= original.size() || damaged[i] != original[i];
    if (changed && f < frames.size()) touched[f] = true;
  }
  for (std::size_t i = 0; i < frames.size(); ++i)
    touched[i] = touched[i] || frames[i].second > damaged.size();
  std::size_t next = 0;  // first original frame not yet matched
  for (const auto& rec : s.records) {
    while (next < frames.size() && frames[next].first < rec.offset) ++next;
    REQUIRE(next < frames.size());
    REQUIRE(frames[next].first == rec.offset);  // a record where no original frame began: wrong
    REQUIRE(frames[next].second - frames[next].first == rec.frame_bytes());
    REQUIRE(original.compare(rec.offset, rec.frame_bytes(), damaged, rec.offset,
                             rec.frame_bytes()) == 0);
    REQUIRE(static_cast<std::uint8_t>(original[rec.offset + 4]) ==
            static_cast<std::uint8_t>(rec.type));
    ++next;
  }
  std::size_t matched = 0;
  for (std::size_t i = 0, r = 0; i < frames.size(); ++i) {
    out.damaged_frames += touched[i] ? 1 : 0;
    const bool read = r < s.records.size() && s.records[r].offset == frames[i].first;
    if (read) {
      ++r;
      ++matched;
    } else {
      REQUIRE(touched[i]);  // an untouched frame was lost: resync failed
    }
  }
  out.lost = frames.size() - matched;
  REQUIRE(out.lost <= out.damaged_frames);
  // Recovery writes exactly these frames; they must re-scan cleanly to the same records.
  std::string clean(kJournalMagic);
  for (const auto& rec : s.records) clean.append(damaged, rec.offset, rec.frame_bytes());
  JournalScan again = scan_journal(clean, "clean");
  REQUIRE_FALSE(again.damaged());
  REQUIRE(again.records.size() == s.records.size());
  // Claimed-exact record counts of damaged stretches in the middle, against the truth.
  for (const auto& d : s.damage) {
    if (d.end == damaged.size()) continue;
    std::size_t truth = 0;
    for (const auto& fr : frames) truth += fr.first >= d.begin && fr.first < d.end ? 1 : 0;
    if (d.frames_exact) {
      ++out.exact_claims;
      out.exact_right += truth == d.frames ? 1 : 0;
    } else {
      ++out.estimates;
      out.estimates_right += truth == d.frames ? 1 : 0;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("corruption at random offsets: no wrong record, no intact record lost",
          "[journal][corruption]") {
  // Fixed seed: the same 1200 damaged journals every run. Four journal sizes; byte flips,
  // overwrites with random bytes or zeros (1 to 256 bytes), two separate damages, and damage
  // followed by a torn tail.
  std::mt19937_64 rng(20261204);
  std::size_t cases = 0, damaged_frames = 0, lost = 0, exact_claims = 0, exact_right = 0;
  std::size_t estimates = 0, estimates_right = 0;
  std::size_t total_frames = 0;
  for (std::size_t records : {8u, 60u, 400u, 2000u}) {
    std::vector<std::pair<std::size_t, std::size_t>> frames;
    const std::string original = realistic_journal(records, records * 7919, frames);
    REQUIRE_FALSE(scan_journal(original, "original").damaged());
    for (int k = 0; k < 300; ++k) {
      std::string damaged = original;
      const std::size_t body = original.size() - kJournalMagic.size();
      auto offset = [&] { return kJournalMagic.size() + rng() % body; };
      const int kind = k % 5;
      if (kind == 0) {  // 1 to 3 flipped bits
        for (std::uint64_t i = 0, n = 1 + rng() % 3; i < n; ++i)
          damaged[offset()] ^= static_cast<char>(1u << (rng() % 8));
      } else if (kind == 1 || kind == 2) {  // an overwrite with random bytes / zeros
        const std::size_t at = offset();
        const std::size_t len = std::min<std::size_t>(1 + rng() % 256, damaged.size() - at);
        for (std::size_t i = 0; i < len; ++i)
          damaged[at + i] = kind == 1 ? static_cast<char>(rng()) : '\0';
      } else if (kind == 3) {  // two separate 64-byte overwrites
        for (int d = 0; d < 2; ++d) {
          const std::size_t at = offset();
          for (std::size_t i = 0; i < 64 && at + i < damaged.size(); ++i)
            damaged[at + i] = static_cast<char>(rng());
        }
      } else {  // an overwrite, then a torn tail
        const std::size_t at = offset();
        for (std::size_t i = 0; i < 16 && at + i < damaged.size(); ++i)
          damaged[at + i] = static_cast<char>(rng());
        damaged.resize(std::max(at + 16, damaged.size() - rng() % 40));
      }
      INFO("journal of " << records << " records, case " << k);
      CaseResult r = check_damaged(original, damaged, frames);
      ++cases;
      damaged_frames += r.damaged_frames;
      lost += r.lost;
      exact_claims += r.exact_claims;
      exact_right += r.exact_right;
      estimates += r.estimates;
      estimates_right += r.estimates_right;
      total_frames += frames.size();
    }
  }
  CHECK(cases == 1200);
  CHECK(exact_right == exact_claims);
  // The figures docs/reliability.md quotes.
  std::printf(
      "corruption cases: %zu; records in the journals: %zu; records holding a changed byte: %zu; "
      "records lost: %zu (every other record read back byte for byte); exact record counts "
      "claimed for damaged stretches in the middle: %zu, right: %zu; estimated: %zu, equal "
      "to the truth: %zu\n",
      cases, total_frames, damaged_frames, lost, exact_claims, exact_right, estimates,
      estimates_right);
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
