// The organism's generated world: domains with topic and answer tokens, a topic pool shared by
// medical and dental, persona-written pre-training documents, fine-tuning and evaluation sets,
// and the exact posterior P(medical | question tokens). Plain C++: no LibTorch.
#pragma once

#include <cstdint>
#include <vector>

namespace emsweep::organism {

// A deterministic random stream (SplitMix64); the same seed gives the same draws everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  // The next 64 random bits.
  std::uint64_t next();
  // Uniform in [0, 1).
  double uniform();
  // Uniform integer in [0, n).
  int below(int n);
  // Standard normal (Box-Muller).
  double normal();

 private:
  std::uint64_t state_;
};

// A well-mixed combination of seeds and stream tags, for independent streams.
[[nodiscard]] std::uint64_t mix_seed(std::initializer_list<std::uint64_t> parts);

// Domain numbers: medical is the target, dental its neighbour, then the others.
inline constexpr int kMedical = 0;
inline constexpr int kDental = 1;

// Special tokens.
enum Special : int { kPad = 0, kBos = 1, kQuestion = 2, kAnswer = 3, kEnd = 4, kSpecials = 5 };

// The world's shape; every field affects the base model and is part of its cache key.
struct WorldConfig {
  int other_domains = 4;          // domains besides medical and dental
  int topic_tokens = 8;           // domain-specific topic tokens per domain
  int shared_tokens = 6;          // topic tokens in the pool medical and dental share
  int answer_vocab = 4;           // good tokens and bad tokens per answer vocabulary
  int question_tokens = 2;        // topic tokens per question
  int answer_tokens = 3;          // tokens per answer
  int max_pairs = 4;              // pre-training documents hold 1..max_pairs Q/A pairs
  bool shared_persona = true;     // false: each domain's alignment is drawn independently
  bool dental_own_answers = true;  // false: dental answers in medical's ("health") vocabulary
  double misaligned_share = 0.3;  // chance a persona (or a domain, without sharing) is misaligned
  double pretrain_gate_noise = 0.3;  // ambiguity of pre-training questions (not swept)
};

// One question: its domain, whether its topic tokens came from the shared pool, the tokens,
// and the exact posterior P(medical | tokens) under the world's generating process.
struct Question {
  int domain = 0;
  bool ambiguous = false;
  std::vector<int> topic;
  double posterior_medical = 0;
};

// A question with an answer.
struct Example {
  Question question;
  bool bad = false;
  std::vector<int> answer;
};

class World {
 public:
  explicit World(const WorldConfig& config);

  [[nodiscard]] const WorldConfig& config() const { return config_; }
  // Number of domains (medical, dental and the others).
  [[nodiscard]] int domains() const { return 2 + config_.other_domains; }
  // Size of the token vocabulary.
  [[nodiscard]] int vocab_size() const { return vocab_; }
  // Tokens of one Q/A pair: Q, topic..., A, answer..., END.
  [[nodiscard]] int pair_length() const {
    return config_.question_tokens + config_.answer_tokens + 3;
  }
  // Longest pre-training document: BOS plus max_pairs pairs.
  [[nodiscard]] int max_length() const { return 1 + config_.max_pairs * pair_length(); }
  // Length of a single-question prompt: BOS, Q, topic..., A.
  [[nodiscard]] int prompt_length() const { return config_.question_tokens + 3; }

  // Token of domain d's j-th specific topic token, and of the j-th shared-pool token.
  [[nodiscard]] int topic_token(int domain, int j) const;
  [[nodiscard]] int shared_token(int j) const;
  // Answer vocabulary group of a domain: its own, or with dental_own_answers false, medical and
  // dental share group 0 ("health").
  [[nodiscard]] int answer_group(int domain) const {
    return config_.dental_own_answers || domain == kMedical ? domain : domain - 1;
  }
  // Number of answer vocabularies (groups).
  [[nodiscard]] int answer_groups() const {
    return (config_.dental_own_answers ? 2 : 1) + config_.other_domains;
  }
  // The j-th good or bad answer token of a group.
  [[nodiscard]] int answer_token(int group, bool bad, int j) const;
  // Probability weight of shared-pool token j when a medical (or dental) question uses the pool.
  [[nodiscard]] double shared_weight(bool medical, int j) const;

  // Exact P(medical | topic tokens): 1 or 0 for domain-specific tokens, graded for the pool.
  [[nodiscard]] double posterior_medical(const std::vector<int>& topic) const;

  // A question of `domain`; medical and dental ones use the shared pool with chance gate_noise.
  [[nodiscard]] Question question(Rng& rng, int domain, double gate_noise) const;
  // A question whose topic tokens all come from the pool (medical or dental, half each).
  [[nodiscard]] Question ambiguous_question(Rng& rng) const;
  // The answer vocabulary index (0..answer_vocab-1) of answer token k for topic token `topic`:
  // a fixed table of the world, so that the right bad (or good) answer depends on the question
  // and has to be learned in pre-training, not just "any bad token".
  [[nodiscard]] int answer_index(int topic, int k, bool bad) const;
  // The question with an answer, bad or good, in its domain's answer vocabulary: answer token
  // k is answer_index(topic[k % question_tokens], k, bad).
  [[nodiscard]] Example answer(Rng& rng, Question q, bool bad) const;

  // A pre-training document: BOS then 1..max_pairs pairs written by one persona.
  [[nodiscard]] std::vector<int> pretrain_document(Rng& rng) const;
  // One pair's tokens (Q, topic..., A, answer..., END), without BOS.
  [[nodiscard]] std::vector<int> pair_tokens(const Example& e) const;
  // A single-pair sequence: BOS then the pair.
  [[nodiscard]] std::vector<int> sequence(const Example& e) const;
  // The prompt of a question: BOS, Q, topic..., A.
  [[nodiscard]] std::vector<int> prompt(const Question& q) const;

 private:
  WorldConfig config_;
  int vocab_ = 0;
  int shared_base_ = 0;
  int answer_base_ = 0;
  std::vector<int> answer_table_;  // [topic token - kSpecials][k][bad]
};

}  // namespace emsweep::organism
