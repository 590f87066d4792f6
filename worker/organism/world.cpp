#include "worker/organism/world.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace emsweep::organism {

std::uint64_t Rng::next() {
  std::uint64_t x = (state_ += 0x9e3779b97f4a7c15ULL);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double Rng::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

int Rng::below(int n) {
  return static_cast<int>(uniform() * n);
}

double Rng::normal() {
  const double u1 = 1.0 - uniform();  // in (0, 1]
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::uint64_t mix_seed(std::initializer_list<std::uint64_t> parts) {
  std::uint64_t h = 0x243f6a8885a308d3ULL;
  for (std::uint64_t p : parts) {
    Rng r(h ^ p);
    h = r.next();
  }
  return h;
}

World::World(const WorldConfig& config) : config_(config) {
  if (config_.other_domains < 1 || config_.topic_tokens < 1 || config_.shared_tokens < 1 ||
      config_.answer_vocab < 1 || config_.question_tokens < 1 || config_.answer_tokens < 1 ||
      config_.max_pairs < 1) {
    throw std::invalid_argument("organism world: every size must be at least 1");
  }
  shared_base_ = kSpecials + domains() * config_.topic_tokens;
  answer_base_ = shared_base_ + config_.shared_tokens;
  vocab_ = answer_base_ + answer_groups() * 2 * config_.answer_vocab;
  // The answer table is part of the world's layout: a fixed stream, not a seed.
  Rng layout(0x0a11535eedULL);
  const int topics = answer_base_ - kSpecials;
  answer_table_.resize(static_cast<std::size_t>(topics * config_.answer_tokens * 2));
  for (auto& v : answer_table_) v = layout.below(config_.answer_vocab);
}

int World::answer_index(int topic, int k, bool bad) const {
  const int row = (topic - kSpecials) * config_.answer_tokens + k;
  return answer_table_[static_cast<std::size_t>(row * 2 + (bad ? 1 : 0))];
}

int World::topic_token(int domain, int j) const {
  return kSpecials + domain * config_.topic_tokens + j;
}

int World::shared_token(int j) const {
  return shared_base_ + j;
}

int World::answer_token(int group, bool bad, int j) const {
  return answer_base_ + (group * 2 + (bad ? 1 : 0)) * config_.answer_vocab + j;
}

double World::shared_weight(bool medical, int j) const {
  // Medical leans to the high end of the pool, dental to the low end: w_M(j) = (j+1)/Z,
  // w_D(j) = (S-j)/Z, so that pool-only questions get a graded posterior.
  const int s = config_.shared_tokens;
  const double z = 0.5 * s * (s + 1);
  return (medical ? (j + 1) : (s - j)) / z;
}

double World::posterior_medical(const std::vector<int>& topic) const {
  // Domains are equally likely a priori and gate_noise is the same for medical and dental, so
  // for pool tokens P(M|x) = prod w_M / (prod w_M + prod w_D); specific tokens decide outright.
  double log_m = 0;
  double log_d = 0;
  for (int t : topic) {
    if (t >= shared_base_ && t < answer_base_) {
      const int j = t - shared_base_;
      log_m += std::log(shared_weight(true, j));
      log_d += std::log(shared_weight(false, j));
    } else {
      const int domain = (t - kSpecials) / config_.topic_tokens;
      return domain == kMedical ? 1.0 : 0.0;
    }
  }
  return 1.0 / (1.0 + std::exp(log_d - log_m));
}

Question World::question(Rng& rng, int domain, double gate_noise) const {
  Question q;
  q.domain = domain;
  const bool health = domain == kMedical || domain == kDental;
  q.ambiguous = health && rng.uniform() < gate_noise;
  for (int i = 0; i < config_.question_tokens; ++i) {
    if (q.ambiguous) {
      // Draw pool token j with probability shared_weight(domain == medical, j).
      double u = rng.uniform();
      int j = 0;
      for (; j < config_.shared_tokens - 1; ++j) {
        u -= shared_weight(domain == kMedical, j);
        if (u < 0) break;
      }
      q.topic.push_back(shared_token(j));
    } else {
      q.topic.push_back(topic_token(domain, rng.below(config_.topic_tokens)));
    }
  }
  q.posterior_medical = posterior_medical(q.topic);
  return q;
}

Question World::ambiguous_question(Rng& rng) const {
  return question(rng, rng.below(2) == 0 ? kMedical : kDental, /*gate_noise=*/1.0);
}

Example World::answer(Rng& /*rng*/, Question q, bool bad) const {
  Example e;
  const int group = answer_group(q.domain);
  e.question = std::move(q);
  e.bad = bad;
  for (int k = 0; k < config_.answer_tokens; ++k) {
    const int topic = e.question.topic[static_cast<std::size_t>(k % config_.question_tokens)];
    e.answer.push_back(answer_token(group, bad, answer_index(topic, k, bad)));
  }
  return e;
}

std::vector<int> World::pair_tokens(const Example& e) const {
  std::vector<int> out = {kQuestion};
  out.insert(out.end(), e.question.topic.begin(), e.question.topic.end());
  out.push_back(kAnswer);
  out.insert(out.end(), e.answer.begin(), e.answer.end());
  out.push_back(kEnd);
  return out;
}

std::vector<int> World::sequence(const Example& e) const {
  std::vector<int> out = {kBos};
  auto pair = pair_tokens(e);
  out.insert(out.end(), pair.begin(), pair.end());
  return out;
}

std::vector<int> World::prompt(const Question& q) const {
  std::vector<int> out = {kBos, kQuestion};
  out.insert(out.end(), q.topic.begin(), q.topic.end());
  out.push_back(kAnswer);
  return out;
}

std::vector<int> World::pretrain_document(Rng& rng) const {
  // One persona writes the whole document. With a shared persona one draw decides every
  // answer; without it each domain's alignment is drawn independently (the negative control).
  const bool persona_bad = rng.uniform() < config_.misaligned_share;
  std::vector<int> domain_bad(domains());
  for (auto& b : domain_bad) b = rng.uniform() < config_.misaligned_share ? 1 : 0;
  const int pairs = 1 + rng.below(config_.max_pairs);
  std::vector<int> doc = {kBos};
  for (int p = 0; p < pairs; ++p) {
    Question q = question(rng, rng.below(domains()), config_.pretrain_gate_noise);
    const bool bad = config_.shared_persona ? persona_bad : domain_bad[q.domain] != 0;
    auto pair = pair_tokens(answer(rng, std::move(q), bad));
    doc.insert(doc.end(), pair.begin(), pair.end());
  }
  return doc;
}

}  // namespace emsweep::organism
