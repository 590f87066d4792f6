// Wire and journal record encodings: round trips, and every truncation of a record is refused.
#include <catch2/catch.hpp>

#include <cmath>

#include "sweep/store/wire.h"

using namespace emsweep;

namespace {

PointRecord sample_record() {
  PointRecord r;
  r.point_id = 0x0123456789abcdefULL;
  r.index = 42;
  r.replicate = 3;
  r.status = PointStatus::kDone;
  r.attempts = 2;
  r.rank = 5;
  r.host = "node-7";
  r.start_time = 1.5;
  r.end_time = 2.25;
  r.seconds = 0.75;
  r.metrics = {1.0, std::nan(""), -3.5};
  r.curves = {{"loss", {0, 1, 2}, {3, 2, 1}}, {"empty", {}, {}}};
  r.provenance = "device=cpu";
  return r;
}

}  // namespace

TEST_CASE("point records round-trip bit for bit", "[wire]") {
  PointRecord r = sample_record();
  auto back = decode_point_record(encode(r));
  REQUIRE(back);
  CHECK(back->point_id == r.point_id);
  CHECK(back->index == 42);
  CHECK(back->replicate == 3);
  CHECK(back->attempts == 2);
  CHECK(back->rank == 5);
  CHECK(back->host == "node-7");
  CHECK(back->seconds == 0.75);
  REQUIRE(back->metrics.size() == 3);
  CHECK(back->metrics[0] == 1.0);
  CHECK(std::isnan(back->metrics[1]));
  REQUIRE(back->curves.size() == 2);
  CHECK(back->curves[0].name == "loss");
  CHECK(back->curves[0].y == std::vector<double>{3, 2, 1});
  CHECK(back->provenance == "device=cpu");
  CHECK(encode(*back) == encode(r));
}

TEST_CASE("every truncation and an extra byte are refused", "[wire]") {
  const std::string bytes = encode(sample_record());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CHECK_FALSE(decode_point_record(std::string_view(bytes).substr(0, n)));
  }
  CHECK_FALSE(decode_point_record(bytes + "x"));
  JournalHeader h;
  h.config_yaml = "sweep: {}";
  h.ranks = 3;
  const std::string hb = encode(h);
  for (std::size_t n = 0; n < hb.size(); ++n) CHECK_FALSE(decode_journal_header(hb.substr(0, n)));
  auto hback = decode_journal_header(hb);
  REQUIRE(hback);
  CHECK(hback->ranks == 3);
}

TEST_CASE("work batches and results messages round-trip", "[wire]") {
  std::vector<WorkItem> items = {{1, 1}, {99, 3}, {1ULL << 40, 2}};
  auto back = decode_work(encode_work(items));
  REQUIRE(back);
  REQUIRE(back->size() == 3);
  CHECK((*back)[2].index == (1ULL << 40));
  CHECK((*back)[1].attempt == 3);
  CHECK_FALSE(decode_work(encode_work(items).substr(0, 10)));

  std::vector<std::string> recs = {encode(sample_record()), "abc"};
  const std::string encoded = encode_results(recs);  // the views point into it: keep it alive
  auto views = decode_results(encoded);
  REQUIRE(views);
  REQUIRE(views->size() == 2);
  CHECK((*views)[1] == "abc");
  // A count larger than the bytes could hold is refused before allocating.
  std::string huge = encode_results({});
  huge[3] = '\x7f';
  CHECK_FALSE(decode_results(huge));
}

TEST_CASE("the detail block of format 2 round-trips, and format-1 records still decode", "[wire]") {
  PointRecord r = sample_record();
  r.status = PointStatus::kFailed;
  r.error = "exit code 3 (stderr: boom)";
  r.detail.outcome = "exit";
  r.detail.exit_code = 3;
  r.detail.signal = 0;
  r.detail.peak_rss_mb = 12.5;
  r.detail.argv = "python3 train.py --lr 0.1";
  r.detail.workdir = "/w/0123456789abcdef/a2";
  r.detail.stderr_tail = "Traceback\n\xEF\xBF\xBD boom\n";
  const std::string bytes = encode(r);
  auto back = decode_point_record(bytes);
  REQUIRE(back);
  CHECK(back->detail.outcome == "exit");
  CHECK(back->detail.exit_code == 3);
  CHECK(back->detail.peak_rss_mb == 12.5);
  CHECK(back->detail.argv == r.detail.argv);
  CHECK(back->detail.workdir == r.detail.workdir);
  CHECK(back->detail.stderr_tail == r.detail.stderr_tail);
  CHECK(encode(*back) == bytes);

  // The same record without detail is exactly a format-1 record: a prefix of the format-2 one.
  PointRecord plain = r;
  plain.detail = RunDetail{};
  const std::string v1 = encode(plain);
  CHECK(bytes.starts_with(v1));
  auto old = decode_point_record(v1);
  REQUIRE(old);
  CHECK_FALSE(old->detail.present());
  // Every other truncation is refused (the journal's CRC covers the cut at the block boundary).
  for (std::size_t n = v1.size() + 1; n < bytes.size(); ++n) {
    CHECK_FALSE(decode_point_record(std::string_view(bytes).substr(0, n)));
  }
  // A block with an unknown tag is refused, not skipped.
  std::string bad = bytes;
  bad[v1.size()] = 2;
  CHECK_FALSE(decode_point_record(bad));
}

TEST_CASE("a cancelled outcome travels; attempt failures carry their detail", "[wire]") {
  PointRecord r = sample_record();
  r.status = PointStatus::kCancelled;
  auto back = decode_point_record(encode(r));
  REQUIRE(back);
  CHECK(back->status == PointStatus::kCancelled);

  AttemptFailure f;
  f.index = 7;
  f.attempt = 1;
  f.rank = 2;
  f.error = "timeout after 5 s (stopped with SIGTERM)";
  f.detail.outcome = "timeout";
  f.detail.signal = 15;
  f.seconds = 5.01;
  f.end_time = 1700000000.5;
  f.host = "node-3";
  auto fb = decode_attempt_failure(encode(f));
  REQUIRE(fb);
  CHECK(fb->detail.outcome == "timeout");
  CHECK(fb->detail.signal == 15);
  CHECK(fb->seconds == 5.01);
  CHECK(fb->end_time == 1700000000.5);
  CHECK(fb->host == "node-3");
  AttemptFailure old{7, 1, 2, "probe: failure injected", {}, 0, 0, {}};
  auto ob = decode_attempt_failure(encode(old));
  REQUIRE(ob);
  CHECK(ob->error == "probe: failure injected");
  CHECK_FALSE(ob->detail.present());
  CHECK(encode(old).size() == 8 + 4 + 4 + 4 + old.error.size());  // format 1: no block
}

// ---------------------------------------------------------------------------------------------
// Golden bytes: the encodings below were produced by the wire code before its field lists were
// folded into one visit() per struct. Journals on disk and messages between ranks of mixed
// builds depend on these bytes never changing; a failure here means the format changed.

namespace {

// Bytes as lower-case hex digits, two per byte.
std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

RunDetail sample_detail() {
  RunDetail d;
  d.outcome = "exit";
  d.exit_code = 3;
  d.signal = 9;
  d.peak_rss_mb = 12.5;
  d.argv = "a b";
  d.workdir = "/w";
  d.stderr_tail = "boom";
  return d;
}

PointRecord golden_record() {
  PointRecord r;
  r.point_id = 0x0123456789abcdefULL;
  r.index = 42;
  r.replicate = -1;
  r.status = PointStatus::kFailed;
  r.attempts = 2;
  r.rank = 5;
  r.host = "h";
  r.start_time = 1.5;
  r.end_time = 2.25;
  r.seconds = 0.75;
  r.metrics = {1.0, -3.5};
  r.curves = {{"l", {0, 1}, {3, 2}}, {"e", {}, {}}};
  r.error = "err";
  r.provenance = "p";
  return r;
}

// Bytes from hex digits (the inverse of hex()).
std::string unhex(std::string_view digits) {
  std::string out;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(digits.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// A results message decoded and encoded again.
std::string results_again(const std::string& bytes) {
  auto views = decode_results(bytes);
  REQUIRE(views);
  return encode_results(std::vector<std::string>(views->begin(), views->end()));
}

// The golden encodings, as hex.
constexpr const char* kHexRecord =
    "efcdab89674523012a00000000000000ffffffffffffffff02020000000500000001000000680000"
    "00000000f83f0000000000000240000000000000e83f02000000000000000000f03f000000000000"
    "0cc002000000010000006c020000000000000000000000000000000000f03f020000000000000000"
    "000840000000000000004001000000650000000000000000030000006572720100000070";
constexpr const char* kHexRecordDetail =
    "efcdab89674523012a00000000000000ffffffffffffffff02020000000500000001000000680000"
    "00000000f83f0000000000000240000000000000e83f02000000000000000000f03f000000000000"
    "0cc002000000010000006c020000000000000000000000000000000000f03f020000000000000000"
    "00084000000000000000400100000065000000000000000003000000657272010000007001040000"
    "00657869740300000009000000000000000000294003000000612062020000002f7704000000626f"
    "6f6d";
constexpr const char* kHexFailurePlain = "0700000000000000010000000200000004000000626f6f6d";
constexpr const char* kHexFailureTail =
    "07000000000000000200000003000000010000007401040000006578697403000000090000000000"
    "00000000294003000000612062020000002f7704000000626f6f6d000000000000164000002040fc"
    "54d941010000006e";
constexpr const char* kHexFailureHostOnly =
    "0700000000000000020000000300000001000000740100000000ffffffff00000000000000000000"
    "f0bf00000000000000000000000000000000000000000000000000000000010000006e";
constexpr const char* kHexHeader =
    "0900000073776565703a207b7d02000000633102000000623203000000312f320d000000656d7377"
    "6565702072756e207804000000686f737403000000000000000000284003000000302e3103000000"
    "6d706905000000746f726368";
constexpr const char* kHexWorkItem = "090000000000000004000000";
constexpr const char* kHexWork = "02000000010000000000000001000000000000000001000003000000";
constexpr const char* kHexWorkEmpty = "00000000";
constexpr const char* kHexRunConfig = "04000000793a2031060000002f636163686503000000322f33";
constexpr const char* kHexResults = "03000000020000006162000000000100000063";

}  // namespace

TEST_CASE("encodings match the golden bytes of the journal format", "[wire][golden]") {
  PointRecord r = golden_record();
  PointRecord rd = r;
  rd.detail = sample_detail();
  const AttemptFailure plain{7, 1, 2, "boom", {}, 0, 0, {}};
  const AttemptFailure tail{7, 2, 3, "t", sample_detail(), 5.5, 1700000000.5, "n"};
  const AttemptFailure host_only{7, 2, 3, "t", {}, 0, 0, "n"};  // the tail, no detail set
  const JournalHeader h{"sweep: {}", "c1", "b2",  "1/2", "emsweep run x", "host",
                        3,           12.0, "0.1", "mpi", "torch"};
  const std::vector<WorkItem> work = {{1, 1}, {1ULL << 40, 3}};

  // Each encoding, and what decoding the golden bytes and encoding again gives (the decoders
  // read the same format back).
  struct Case {
    const char* what;
    std::string bytes;
    std::string reencoded;
    const char* golden;
  };
  const auto again = [](const auto& decoded) {
    REQUIRE(decoded);
    return std::string(encode(*decoded));
  };
  const Case cases[] = {
      {"point record", encode(r), again(decode_point_record(unhex(kHexRecord))), kHexRecord},
      {"point record with detail", encode(rd), again(decode_point_record(unhex(kHexRecordDetail))),
       kHexRecordDetail},
      {"attempt failure without tail", encode(plain),
       again(decode_attempt_failure(unhex(kHexFailurePlain))), kHexFailurePlain},
      {"attempt failure with tail", encode(tail),
       again(decode_attempt_failure(unhex(kHexFailureTail))), kHexFailureTail},
      {"attempt failure, tail without detail", encode(host_only),
       again(decode_attempt_failure(unhex(kHexFailureHostOnly))), kHexFailureHostOnly},
      {"journal header", encode(h), again(decode_journal_header(unhex(kHexHeader))), kHexHeader},
      {"work item", encode(WorkItem{9, 4}), again(decode_work_item(unhex(kHexWorkItem))),
       kHexWorkItem},
      {"work batch", encode_work(work), encode_work(*decode_work(unhex(kHexWork))), kHexWork},
      {"empty work batch", encode_work({}), encode_work(*decode_work(unhex(kHexWorkEmpty))),
       kHexWorkEmpty},
      {"run config", encode(RunConfig{"y: 1", "/cache", "2/3"}),
       again(decode_run_config(unhex(kHexRunConfig))), kHexRunConfig},
      {"results batch", encode_results({"ab", "", "c"}), results_again(unhex(kHexResults)),
       kHexResults},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(hex(c.bytes) == c.golden);
    CHECK(hex(c.reencoded) == c.golden);
  }
}
