// The organism's world: exact posteriors against closed forms and against sampled frequencies,
// the shared-pool statistics, persona-consistent documents and the answer layout.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "worker/organism/world.h"

using namespace emsweep::organism;

namespace {

World default_world(bool persona = true) {
  WorldConfig c;
  c.shared_persona = persona;
  return World(c);
}

// Answer tokens of group g, bad or good.
bool in_answers(const World& w, int token, int group, bool bad) {
  for (int j = 0; j < w.config().answer_vocab; ++j) {
    if (w.answer_token(group, bad, j) == token) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("posterior is 1 or 0 for domain-specific tokens, closed form for the pool",
          "[organism][world]") {
  const World w = default_world();
  const int s = w.config().shared_tokens;
  CHECK(w.posterior_medical({w.topic_token(kMedical, 0), w.topic_token(kMedical, 3)}) == 1.0);
  CHECK(w.posterior_medical({w.topic_token(kDental, 1), w.topic_token(kDental, 2)}) == 0.0);
  CHECK(w.posterior_medical({w.topic_token(3, 1), w.topic_token(3, 2)}) == 0.0);
  for (int a = 0; a < s; ++a) {
    for (int b = 0; b < s; ++b) {
      // w_M(j) = (j+1)/Z, w_D(j) = (S-j)/Z with equal domain priors.
      const double m = (a + 1.0) * (b + 1.0);
      const double d = (s - a + 0.0) * (s - b + 0.0);
      CHECK(w.posterior_medical({w.shared_token(a), w.shared_token(b)}) ==
            Approx(m / (m + d)).epsilon(1e-12));
    }
  }
  // Graded, not all 0.5: the extremes of the pool lean clearly.
  CHECK(w.posterior_medical({w.shared_token(s - 1), w.shared_token(s - 1)}) > 0.9);
  CHECK(w.posterior_medical({w.shared_token(0), w.shared_token(0)}) < 0.1);
}

TEST_CASE("pool weights are distributions and gate_noise is the pool share", "[organism][world]") {
  const World w = default_world();
  const int s = w.config().shared_tokens;
  double sum_m = 0;
  double sum_d = 0;
  for (int j = 0; j < s; ++j) {
    sum_m += w.shared_weight(true, j);
    sum_d += w.shared_weight(false, j);
  }
  CHECK(sum_m == Approx(1.0).epsilon(1e-12));
  CHECK(sum_d == Approx(1.0).epsilon(1e-12));

  Rng rng(7);
  const int n = 100000;
  const double sigma = 0.3;
  int ambiguous = 0;
  std::vector<int> pool_counts(static_cast<std::size_t>(s));
  int pool_tokens = 0;
  for (int i = 0; i < n; ++i) {
    const Question q = w.question(rng, kMedical, sigma);
    if (!q.ambiguous) continue;
    ++ambiguous;
    for (int t : q.topic) {
      ++pool_counts[static_cast<std::size_t>(t - w.shared_token(0))];
      ++pool_tokens;
    }
  }
  // Binomial standard errors; 5 SE keeps the test deterministic-safe (fixed seed anyway).
  CHECK(std::abs(ambiguous / double(n) - sigma) < 5 * std::sqrt(sigma * (1 - sigma) / n));
  for (int j = 0; j < s; ++j) {
    const double p = w.shared_weight(true, j);
    CHECK(std::abs(pool_counts[static_cast<std::size_t>(j)] / double(pool_tokens) - p) <
          5 * std::sqrt(p * (1 - p) / pool_tokens));
  }
  // Other domains never use the pool, whatever gate_noise says.
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(w.question(rng, 2, 1.0).ambiguous);
}

TEST_CASE("the exact posterior matches sampled frequencies", "[organism][world]") {
  const World w = default_world();
  Rng rng(11);
  std::map<std::vector<int>, std::pair<int, int>> seen;  // tokens -> (medical, total)
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const int domain = rng.below(2) == 0 ? kMedical : kDental;
    const Question q = w.question(rng, domain, 0.5);
    auto& c = seen[q.topic];
    c.first += domain == kMedical ? 1 : 0;
    c.second += 1;
  }
  int checked = 0;
  for (const auto& [topic, counts] : seen) {
    if (counts.second < 2000) continue;
    const double p = w.posterior_medical(topic);
    const double freq = counts.first / double(counts.second);
    CHECK(std::abs(freq - p) < 5 * std::sqrt(std::max(p * (1 - p), 1e-4) / counts.second));
    ++checked;
  }
  CHECK(checked >= 10);
}

TEST_CASE("pre-training documents: one persona writes every answer", "[organism][world]") {
  for (bool persona : {true, false}) {
    const World w = default_world(persona);
    Rng rng(3);
    int docs_bad = 0;
    int mixed = 0;
    int answers = 0;
    int answers_bad = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      auto doc = w.pretrain_document(rng);
      REQUIRE(doc.front() == kBos);
      REQUIRE(static_cast<int>(doc.size()) <= w.max_length());
      REQUIRE((doc.size() - 1) % static_cast<std::size_t>(w.pair_length()) == 0);
      int bad = 0;
      int good = 0;
      for (std::size_t p = 1; p < doc.size(); p += static_cast<std::size_t>(w.pair_length())) {
        REQUIRE(doc[p] == kQuestion);
        const int first_answer = doc[p + 2 + static_cast<std::size_t>(w.config().question_tokens)];
        bool is_bad = false;
        bool found = false;
        for (int g = 0; g < w.answer_groups() && !found; ++g) {
          if (in_answers(w, first_answer, g, true)) is_bad = found = true;
          if (in_answers(w, first_answer, g, false)) found = true;
        }
        REQUIRE(found);
        (is_bad ? bad : good) += 1;
      }
      answers += bad + good;
      answers_bad += bad;
      if (bad > 0 && good > 0) ++mixed;
      if (bad > 0 && good == 0) ++docs_bad;
    }
    const double share = w.config().misaligned_share;
    CHECK(std::abs(answers_bad / double(answers) - share) < 0.02);
    if (persona) {
      CHECK(mixed == 0);
      CHECK(std::abs(docs_bad / double(n) - share) < 0.02);
    } else {
      CHECK(mixed > n / 10);  // independent per-domain alignment mixes within documents
    }
  }
}

TEST_CASE("answers use the domain's vocabulary and depend on the question", "[organism][world]") {
  const World w = default_world();
  Rng rng(5);
  for (int domain = 0; domain < w.domains(); ++domain) {
    for (bool bad : {false, true}) {
      const Example e = w.answer(rng, w.question(rng, domain, 0.5), bad);
      REQUIRE(static_cast<int>(e.answer.size()) == w.config().answer_tokens);
      for (int t : e.answer) CHECK(in_answers(w, t, w.answer_group(domain), bad));
      // The same question always gets the same answer (a table of the world).
      CHECK(w.answer(rng, e.question, bad).answer == e.answer);
    }
  }
  // Dental has its own answer vocabulary by default; the old world shares medical's.
  CHECK(w.answer_group(kMedical) != w.answer_group(kDental));
  WorldConfig shared_config;
  shared_config.dental_own_answers = false;
  const World shared(shared_config);
  CHECK(shared.answer_group(kMedical) == shared.answer_group(kDental));
  CHECK(shared.vocab_size() == w.vocab_size() - 2 * w.config().answer_vocab);
  const auto seq = w.sequence(w.answer(rng, w.question(rng, kMedical, 0), true));
  CHECK(static_cast<int>(seq.size()) == 1 + w.pair_length());
  CHECK(seq[static_cast<std::size_t>(w.prompt_length() - 1)] == kAnswer);
}
