// libFuzzer target: the journal reader a resume runs on files a crash may have torn. Each
// input is used three ways: (1) as journal bytes for scan_journal + replay; (2) split into
// records that get a valid frame and CRC-32C, so the fuzzer reaches replay and the decoders
// past the checksum; (3) fed to every decode_* function directly. Beyond "no crash", it checks
// that the scan's intact prefix re-scans to the same records.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "journal.h"
#include "store.h"
#include "wire.h"

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

void scan_and_replay(std::string bytes) {
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
  // Recovery keeps the intact prefix: re-scanning it must give the same records, cleanly.
  if (scan.valid_bytes > 0) {
    emsweep::JournalScan prefix =
        emsweep::scan_journal(scan.data.substr(0, scan.valid_bytes), "prefix");
    if (prefix.damaged() || prefix.records.size() != scan.records.size()) {
      property_failed("the intact prefix does not re-scan to the same records");
    }
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
  scan_and_replay(std::string(bytes));
  scan_and_replay(framed_journal(bytes));
  decode_all(bytes);
  return 0;
}
