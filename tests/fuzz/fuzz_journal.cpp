// libFuzzer target: the journal reader a resume runs on files a crash or a bad disk damaged.
// Each input is used four ways: (1) as journal bytes for scan_journal + replay; (2) split into
// records that get a valid frame and CRC-32C, so the fuzzer reaches replay and the decoders
// past the checksum; (3) fed to every decode_* function directly; (4) as the recipe of a real
// journal (dispatches, results with metrics and curves, failures) that is then damaged at
// offsets and with bytes a generator seeded by the input picks. Beyond "no crash", it checks
// that records and damaged stretches tile the file, that the intact records re-scan cleanly
// (what recovery writes), and for (4) that every record read is an original record at its
// offset, byte for byte, and that no record without a changed byte is lost.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sweep/store/journal.h"
#include "sweep/store/store.h"
#include "sweep/store/wire.h"

namespace {

[[noreturn]] void property_failed(const char* what) {
  std::fprintf(stderr, "fuzz_journal: property failed: %s\n", what);
  std::abort();
}

void decode_all(std::string_view bytes) {
  (void)emsweep::decode_work_item(bytes);
  (void)emsweep::decode_point_record(bytes);
  (void)emsweep::decode_attempt_failure(bytes);
  (void)emsweep::decode_journal_header(bytes);
  (void)emsweep::decode_work(bytes);
  (void)emsweep::decode_run_config(bytes);
  if (auto parts = emsweep::decode_results(bytes)) {
    for (std::string_view p : *parts) (void)emsweep::decode_point_record(p);
  }
}

emsweep::JournalScan scan_and_replay(std::string bytes) {
  emsweep::JournalScan scan = emsweep::scan_journal(std::move(bytes), "fuzz.journal");
  if (scan.valid_bytes > scan.file_bytes) property_failed("valid_bytes > file_bytes");
  if (scan.records.empty() && scan.valid_bytes > emsweep::kJournalMagic.size()) {
    property_failed("bytes past the magic counted valid without a record");
  }
  for (const auto& rec : scan.records) decode_all(rec.payload);
  emsweep::Ledger ledger = emsweep::replay(scan);
  if (ledger.results < ledger.done.size() + ledger.failed.size()) {
    property_failed("more final points than result records");
  }
  if (scan.valid_bytes == 0) return scan;
  // Records and damaged stretches tile the file after the magic, in order.
  std::size_t pos = emsweep::kJournalMagic.size(), r = 0, d = 0;
  while (pos < scan.file_bytes) {
    if (r < scan.records.size() && scan.records[r].offset == pos) {
      pos += scan.records[r++].frame_bytes();
    } else if (d < scan.damage.size() && scan.damage[d].begin == pos) {
      if (scan.damage[d].end <= pos || scan.damage[d].next_record != r)
        property_failed("bad damage stretch");
      pos = scan.damage[d++].end;
    } else {
      property_failed("records and damaged stretches do not tile the file");
    }
  }
  if (pos != scan.file_bytes || r != scan.records.size() || d != scan.damage.size()) {
    property_failed("records and damaged stretches do not end with the file");
  }
  // Recovery writes the magic and the intact frames: that must re-scan cleanly to the same records.
  std::string clean(emsweep::kJournalMagic);
  for (const auto& rec : scan.records) clean.append(scan.data, rec.offset, rec.frame_bytes());
  emsweep::JournalScan again = emsweep::scan_journal(clean, "recovered");
  if (again.damaged() || again.records.size() != scan.records.size()) {
    property_failed("the intact records do not re-scan to the same records");
  }
  return scan;
}

std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// (4): a journal of real records built from `data`, damaged by a generator seeded from it.
void damage_real_journal(std::string_view data) {
  if (data.size() < 9) return;
  std::uint64_t seed = 0;
  std::memcpy(&seed, data.data(), 8);
  const auto plan = static_cast<std::uint8_t>(data[8]);
  data.remove_prefix(9);
  std::string journal(emsweep::kJournalMagic);
  std::vector<std::pair<std::size_t, std::size_t>> frames;
  auto add = [&](emsweep::RecordType t, const std::string& payload) {
    const std::size_t at = journal.size();
    const auto len = static_cast<std::uint32_t>(payload.size());
    journal.append(reinterpret_cast<const char*>(&len), 4);
    std::string body(1, static_cast<char>(t));
    body += payload;
    journal += body;
    const std::uint32_t crc = emsweep::crc32c(body);
    journal.append(reinterpret_cast<const char*>(&crc), 4);
    frames.emplace_back(at, journal.size());
  };
  emsweep::JournalHeader h;
  h.config_yaml = "sweep: {name: fuzz}\ngrid: {x: [1, 2, 3]}\ntask: {kind: probe}\n";
  h.config_hash = std::string(64, 'c');
  add(emsweep::RecordType::kHeader, encode(h));
  // Each 4 input bytes give one record: its type and small numbers (never raw payload bytes,
  // which could embed a well-formed frame: see docs/reliability.md).
  for (std::size_t i = 0; i + 4 <= data.size() && frames.size() < 512; i += 4) {
    const auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(data[i + k]); };
    const std::uint64_t index = b(1) | (static_cast<std::uint64_t>(b(2)) << 8);
    switch (b(0) % 4) {
      case 0:
        add(emsweep::RecordType::kDispatch, encode(emsweep::WorkItem{index, 1u + b(3) % 4}));
        break;
      case 1: {
        emsweep::PointRecord r;
        r.index = index;
        r.point_id = index * 0x9e3779b97f4a7c15ULL;
        r.host = "node-" + std::to_string(b(3) % 8);
        r.metrics = {static_cast<double>(b(3)) / 8.0, 0.5, static_cast<double>(index)};
        r.curves.push_back({"trace", {0, 1, 2}, {1.0, 0.5, 0.25}});
        add(emsweep::RecordType::kResult, encode(r));
        break;
      }
      case 2:
        add(emsweep::RecordType::kAttemptFailed,
            encode(emsweep::AttemptFailure{index, 1, 2, "probe: flaky", {}, 0, 0, {}}));
        break;
      default:
        add(emsweep::RecordType::kReleased, encode(emsweep::WorkItem{index, 1}));
        break;
    }
  }
  const std::string original = journal;
  const std::size_t body = original.size() - emsweep::kJournalMagic.size();
  const int damages = 1 + plan % 3;
  for (int k = 0; k < damages; ++k) {
    const std::size_t at = emsweep::kJournalMagic.size() + splitmix(seed) % body;
    const std::size_t len = std::min<std::size_t>(1 + splitmix(seed) % 128, journal.size() - at);
    const bool flips = (plan >> 2) % 2 == 1;
    for (std::size_t i = 0; i < len; ++i) {
      journal[at + i] = flips ? static_cast<char>(journal[at + i] ^ (1u << (splitmix(seed) % 8)))
                              : static_cast<char>(splitmix(seed));
    }
  }
  if ((plan >> 3) % 2 == 1)
    journal.resize(journal.size() - splitmix(seed) % std::min<std::size_t>(body, 64));
  const emsweep::JournalScan scan = scan_and_replay(journal);
  std::vector<bool> touched(frames.size(), false);
  for (std::size_t f = 0; f < frames.size(); ++f) {
    touched[f] = frames[f].second > journal.size() ||
                 journal.compare(frames[f].first, frames[f].second - frames[f].first, original,
                                 frames[f].first, frames[f].second - frames[f].first) != 0;
  }
  std::size_t f = 0;
  for (const auto& rec : scan.records) {
    while (f < frames.size() && frames[f].first < rec.offset) {
      if (!touched[f]) property_failed("a record without a changed byte was lost");
      ++f;
    }
    if (f == frames.size() || frames[f].first != rec.offset ||
        frames[f].second - frames[f].first != rec.frame_bytes() ||
        original.compare(rec.offset, rec.frame_bytes(), journal, rec.offset, rec.frame_bytes()) !=
            0) {
      property_failed("a record was read that the journal did not hold");
    }
    ++f;
  }
  for (; f < frames.size(); ++f) {
    if (!touched[f]) property_failed("a record without a changed byte was lost at the end");
  }
}

// Frames `data` as records: [u8 type][u16 length][payload]... each given a valid CRC.
std::string framed_journal(std::string_view data) {
  std::string out(emsweep::kJournalMagic);
  while (data.size() >= 3) {
    const auto type = static_cast<std::uint8_t>(1 + static_cast<std::uint8_t>(data[0]) % 5);
    std::size_t len =
        static_cast<std::uint8_t>(data[1]) | (static_cast<std::uint8_t>(data[2]) << 8);
    data.remove_prefix(3);
    len = std::min(len, data.size());
    std::string body(1, static_cast<char>(type));
    body.append(data.substr(0, len));
    data.remove_prefix(len);
    const auto plen = static_cast<std::uint32_t>(len);
    out.append(reinterpret_cast<const char*>(&plen), 4);
    out.append(body);
    const std::uint32_t crc = emsweep::crc32c(body);
    out.append(reinterpret_cast<const char*>(&crc), 4);
  }
  out.append(data);  // a torn tail
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)scan_and_replay(std::string(bytes));
  (void)scan_and_replay(framed_journal(bytes));
  decode_all(bytes);
  damage_real_journal(bytes);
  return 0;
}
