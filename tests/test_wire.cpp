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
