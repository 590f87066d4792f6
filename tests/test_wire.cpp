// Wire and journal record encodings: round trips, and every truncation of a record is refused.
#include <catch2/catch.hpp>

#include <cmath>

#include "wire.h"

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
