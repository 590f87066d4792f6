// The organism's LibTorch parts on a tiny model: LoRA with B = 0 is the base, KL is 0 at
// initialisation, the orthogonal perturbation, efficiency at scale 0, the base cache (reuse and
// rebuild on mismatch), determinism of a whole point, and the device setting.
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "worker/kinds.h"
#include "worker/organism/finetune.h"
#include "worker/organism/finetune_step.h"
#include "worker/organism/model.h"
#include "worker/organism/pretrain_step.h"
#include "sweep/core/spec.h"

// LibTorch's logging header defines CHECK (glog style); Catch's must win in this file.
#undef CHECK
#include <catch2/catch.hpp>

using namespace emsweep;
using namespace emsweep::organism;
namespace fs = std::filesystem;

namespace {

const TaskRegistry& registry() {
  static TaskRegistry r = [] {
    TaskRegistry out;
    register_runnable_kinds(out);
    return out;
  }();
  return r;
}

// A tiny organism sweep: the model and every count are small so a point takes well under a
// second.
constexpr const char* kTiny =
    "sweep: {name: tiny, seed: 5}\n"
    "grid:\n  kl_weight: [0, 1]\n"
    "task:\n  kind: organism\n  d_model: 16\n  n_layers: 2\n  n_heads: 2\n  d_ff: 32\n"
    "  pretrain_steps: 30\n  pretrain_batch: 8\n  steps: 10\n  batch_size: 8\n"
    "  kl_batch_size: 8\n  eval_every: 5\n  eval_questions: 16\n  drift_steps: 4\n"
    "  efficiency_norms: \"0.1, 0.5\"\n";

SweepSpec tiny_spec(const std::vector<std::string>& overrides = {}) {
  auto r = parse_spec(kTiny, "tiny.yaml", overrides, registry());
  if (!r.spec) FAIL(r.errors[0].format());
  return std::move(*r.spec);
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(EMSWEEP_BINARY_DIR) / "test-organism" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> metric_names() {
  std::vector<std::string> out;
  for (const auto& m : registry().find("organism")->metrics) out.push_back(m.name);
  return out;
}

TaskResult run_tiny(const SweepSpec& spec, std::uint64_t index, const fs::path& cache) {
  Grid grid(spec);
  TaskContext ctx;
  ctx.cache_dir = cache.string();
  return registry().find("organism")->make()->run(grid.at(index), ctx);
}

double metric(const TaskResult& r, const std::string& name) {
  const auto names = metric_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return r.metrics[i];
  }
  FAIL("no metric " << name);
  return 0;
}

const Curve& curve(const TaskResult& r, const std::string& name) {
  for (const auto& c : r.curves) {
    if (c.name == name) return c;
  }
  FAIL("no curve " << name);
  return r.curves.front();
}

Transformer tiny_model(const World& world) {
  ModelConfig m;
  m.vocab = world.vocab_size();
  m.max_len = world.max_length();
  m.d_model = 16;
  m.n_layers = 2;
  m.n_heads = 2;
  m.d_ff = 32;
  Transformer model(m);
  model->init_weights(/*seed=*/9);
  model->freeze();
  return model;
}

}  // namespace

TEST_CASE("LoRA with B = 0 equals the base and KL to the reference is 0", "[organism]") {
  const World world{WorldConfig{}};
  Transformer model = tiny_model(world);
  Rng rng(1);
  std::vector<Example> examples;
  for (int i = 0; i < 12; ++i) {
    examples.push_back(
        world.answer(rng, world.question(rng, rng.below(world.domains()), 0.5), rng.below(2) == 1));
  }
  const Batch batch = batch_whole(world, examples);
  torch::NoGradGuard no_grad;
  const auto base = model->forward(batch.tokens);

  auto gen = at::detail::createCPUGenerator(3);
  model->set_adapter(1, torch::randn({2, 32}, gen, torch::kFloat), torch::zeros({16, 2}),
                     /*alpha=*/1.0);
  const auto adapted = model->forward(batch.tokens);
  CHECK(torch::equal(base, adapted));
  CHECK(masked_kl(base, adapted, batch).item<double>() == 0.0);

  // A non-zero B changes the output, KL becomes positive, and AdapterOff restores the base.
  model->adapted()->lora_b = torch::randn({16, 2}, gen, torch::kFloat);
  const auto changed = model->forward(batch.tokens);
  CHECK_FALSE(torch::equal(base, changed));
  CHECK(masked_kl(base, changed, batch).item<double>() > 0.0);
  {
    AdapterOff off(model);
    CHECK(torch::equal(base, model->forward(batch.tokens)));
  }
  CHECK(torch::equal(changed, model->forward(batch.tokens)));
}

TEST_CASE("KL and NLL agree with values worked out by hand", "[organism]") {
  // Two positions scored of a [1, 3, 2] logit tensor; the third position is never scored.
  Batch b;
  b.tokens = torch::tensor({{0, 1, 0}}, torch::kLong);
  b.mask = torch::tensor({{1.0F, 1.0F}});
  b.scored = 2;
  const auto ref = torch::tensor({{{0.0F, 0.0F}, {std::log(3.0F), 0.0F}, {5.0F, 0.0F}}});
  const auto model = torch::tensor({{{std::log(3.0F), 0.0F}, {0.0F, 0.0F}, {0.0F, 0.0F}}});
  // KL(ref||model) at position 0: p_ref = (1/2, 1/2), p = (3/4, 1/4); at position 1 reversed.
  const double kl0 = 0.5 * std::log(0.5 / 0.75) + 0.5 * std::log(0.5 / 0.25);
  const double kl1 = 0.75 * std::log(0.75 / 0.5) + 0.25 * std::log(0.25 / 0.5);
  CHECK(masked_kl(ref, model, b).item<double>() == Approx((kl0 + kl1) / 2).epsilon(1e-6));
  // NLL of targets 1 (pos 0, p = 1/4) and 0 (pos 1, p = 1/2).
  CHECK(masked_nll(model, b).item<double>() ==
        Approx((std::log(4.0) + std::log(2.0)) / 2).epsilon(1e-6));
}

namespace {

// A tiny base model with every parameter moved off its initial value (norm gains away from 1,
// biases away from 0), so that no term of the gradient is trivially zero.
Transformer perturbed_base(const World& world, std::uint64_t seed, int d_model = 16) {
  ModelConfig m;
  m.vocab = world.vocab_size();
  m.max_len = world.max_length();
  m.d_model = d_model;
  m.n_layers = 2;
  m.n_heads = 2;
  m.d_ff = 32;
  Transformer model(m);
  model->init_weights(seed);
  auto gen = at::detail::createCPUGenerator(seed + 1);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.add_(torch::randn(p.sizes(), gen, p.options()) * 0.1);
  return model;
}

// Largest |a - b| relative to the largest |b| (0 when both are zero).
double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  const double diff = (a - b).abs().max().item<double>();
  return scale == 0 ? diff : diff / scale;
}

// A rank-2 adapter with random factors (alpha 1.5) on block `layer`: the tensors, and the view
// of them that the hand-written passes take.
struct TestAdapter {
  torch::Tensor a, b;
  LoraView view;
};

TestAdapter random_adapter(const Transformer& model, int layer, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  TestAdapter t;
  t.a = torch::randn({2, model->config.d_ff}, gen, torch::kFloat).contiguous();
  t.b = (torch::randn({model->config.d_model, 2}, gen, torch::kFloat) * 0.3).contiguous();
  t.view = {layer, 2, 1.5F, t.a.data_ptr<float>(), t.b.data_ptr<float>()};
  return t;
}

}  // namespace

TEST_CASE("the hand-written pre-training step equals LibTorch's autograd and AdamW", "[organism]") {
  const World world{WorldConfig{}};
  // Head size 8 takes the attention loops specialised for it; 6 the general ones.
  const int d_model = GENERATE(16, 12);
  INFO("d_model " << d_model);
  Transformer model = perturbed_base(world, /*seed=*/21, d_model);
  // Documents of different lengths: the batch is padded and the padding is not scored.
  Rng rng(4);
  std::vector<std::vector<int>> docs;
  for (int i = 0; i < 6; ++i) docs.push_back(world.pretrain_document(rng));
  const Batch batch = batch_all_tokens(docs);
  REQUIRE(batch.scored < static_cast<double>(batch.mask.numel()));

  PretrainStep step(*model);
  const double loss = step.loss_and_grad(batch);
  auto reference = masked_nll(model->forward(batch.tokens), batch);
  reference.backward();
  // float32 arithmetic in a different order: the loss to 1e-6 relative, every parameter's
  // gradient to 1e-4 of that gradient's largest entry.
  CHECK(loss == Approx(reference.item<double>()).epsilon(1e-6));
  for (const auto& item : model->named_parameters()) {
    INFO(item.key());
    CHECK(max_relative_difference(step.grad(item.key()), item.value().grad()) < 1e-4);
  }

  // AdamW on the same gradients: LibTorch's optimizer stepped with the hand-written step's
  // gradient gives the same parameters (to 1e-6 of each parameter's largest entry).
  const double lr = 1e-2;
  torch::optim::AdamW adamw(model->parameters(),
                            torch::optim::AdamWOptions(lr).weight_decay(/*weight_decay=*/0.01));
  Transformer stepped = perturbed_base(world, /*seed=*/21, d_model);
  for (int i = 0; i < 3; ++i) {
    step.loss_and_grad(batch);
    for (auto& item : model->named_parameters())
      item.value().mutable_grad() = step.grad(item.key());
    adamw.step();
    step.step(batch, lr);
    step.store(*stepped);
    const auto expected = model->named_parameters();
    for (const auto& item : stepped->named_parameters()) {
      INFO(item.key() << " after step " << i + 1);
      CHECK(max_relative_difference(item.value(), expected[item.key()]) < 1e-6);
    }
    // Keep both on exactly the same weights for the next step.
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters())
      item.value().copy_(stepped->named_parameters()[item.key()]);
  }
}

TEST_CASE("the hand-written fine-tuning step equals LibTorch's autograd and Adam", "[organism]") {
  const World world{WorldConfig{}};
  // The adapter on the lower or the upper block; the KL term trained, recorded, or not run.
  const int layer = GENERATE(0, 1);
  const double lambda = GENERATE(0.0, 3.0);
  const bool with_kl = GENERATE(true, false);
  if (lambda > 0 && !with_kl) return;  // a trained KL term needs its batch
  INFO("layer " << layer << ", lambda " << lambda << ", KL batch " << with_kl);
  Transformer model = perturbed_base(world, /*seed=*/31);
  model->freeze();
  Rng rng(9);
  std::vector<Example> train;
  std::vector<Example> kl_prompts;
  for (int i = 0; i < 5; ++i) train.push_back(world.answer(rng, world.question(rng, kMedical, 0.2), true));
  for (int i = 0; i < 4; ++i) kl_prompts.push_back(world.answer(rng, world.question(rng, 2 + i, 0.2), false));
  // Repeated sequences, which the step merges (a real stream repeats its few questions).
  train.push_back(train[1]);
  train.push_back(train[1]);
  kl_prompts.push_back(kl_prompts[0]);
  const Batch tb = batch_answers(world, train);
  const Batch kb = batch_whole(world, kl_prompts);
  // B nonzero, so that every term of both factors' gradients is.
  auto gen = at::detail::createCPUGenerator(5);
  const int d_ff = model->config.d_ff;
  auto a = (torch::randn({2, d_ff}, gen, torch::kFloat) / std::sqrt(1.0 * d_ff)).set_requires_grad(true);
  auto b = (torch::randn({model->config.d_model, 2}, gen, torch::kFloat) * 0.1).set_requires_grad(true);
  const double alpha = 2.0;
  const double lr = 1e-2;
  model->set_adapter(layer, a, b, alpha);
  // The hand-written step trains copies of the factors; the model's own are autograd's.
  auto fa = a.detach().clone();
  auto fb = b.detach().clone();
  FinetuneStep step(*model, fa, fb, layer, alpha, lr);
  torch::optim::Adam adam({a, b}, torch::optim::AdamOptions(lr));
  for (int i = 0; i < 3; ++i) {
    INFO("step " << i + 1);
    const FinetuneStep::Losses got = step.loss_and_grad(tb, with_kl ? &kb : nullptr, lambda);
    auto nll = masked_nll(model->forward(tb.tokens), tb);
    torch::Tensor kl;
    if (with_kl) {
      torch::Tensor ref;
      {
        torch::NoGradGuard no_grad;
        AdapterOff off(model);
        ref = model->forward(kb.tokens);
      }
      kl = masked_kl(ref, model->forward(kb.tokens), kb);
    }
    auto loss = lambda > 0 ? nll + lambda * kl : nll;
    adam.zero_grad();
    loss.backward();
    // float32 arithmetic in a different order: losses and gradients to 1e-5 relative.
    CHECK(got.loss == Approx(loss.item<double>()).epsilon(1e-5));
    CHECK(got.nll == Approx(nll.item<double>()).epsilon(1e-5));
    if (with_kl) {
      CHECK(got.kl == Approx(kl.item<double>()).epsilon(1e-5).margin(1e-9));
    } else {
      CHECK(std::isnan(got.kl));
    }
    CHECK(max_relative_difference(step.grad_a(), a.grad()) < 1e-5);
    CHECK(max_relative_difference(step.grad_b(), b.grad()) < 1e-5);
    // Adam on the same gradient: equal factors; then both continue from the same values.
    a.mutable_grad() = step.grad_a();
    b.mutable_grad() = step.grad_b();
    adam.step();
    step.step();
    CHECK(max_relative_difference(fa, a.detach()) < 1e-6);
    CHECK(max_relative_difference(fb, b.detach()) < 1e-6);
    torch::NoGradGuard no_grad;
    a.copy_(fa);
    b.copy_(fb);
  }
  // A fresh optimiser (drift) starts again from step 1 with no moments.
  step.reset_optimizer();
  const auto before = fb.clone();
  step.loss_and_grad(tb, nullptr, 0.0);
  step.step();
  // Adam's first step moves every parameter with a nonzero gradient by about lr.
  CHECK(((fb - before).abs().max().item<double>()) == Approx(lr).epsilon(1e-3));
}

TEST_CASE("evaluation through the inference copy equals LibTorch's forward pass", "[organism]") {
  const World world{WorldConfig{}};
  Transformer model = perturbed_base(world, /*seed=*/41);
  model->freeze();
  Rng rng(3);
  std::vector<Question> questions;
  for (int i = 0; i < 7; ++i) questions.push_back(world.question(rng, i % 6, 0.3));
  // Repeats, which the copy runs once: the same question, and a pool question's prompt under
  // the other domain (the same tokens, another answer vocabulary).
  questions.push_back(questions[2]);
  Question pool = world.ambiguous_question(rng);
  questions.push_back(pool);
  pool.domain = pool.domain == kMedical ? kDental : kMedical;
  questions.push_back(pool);
  std::vector<Example> examples;
  for (const auto& q : questions) examples.push_back(world.answer(rng, q, true));
  auto gen = at::detail::createCPUGenerator(8);
  auto a = torch::randn({2, model->config.d_ff}, gen, torch::kFloat) * 0.2;
  auto b = torch::randn({model->config.d_model, 2}, gen, torch::kFloat) * 0.2;
  model->set_adapter(1, a, b, 1.5);
  const auto tokens = batch_answers(world, examples).tokens;
  // Adapter on, then off: both paths, then the same with the copy attached.
  std::vector<torch::Tensor> reference;
  std::vector<std::vector<double>> rates;
  std::vector<double> nll;
  for (bool on : {true, false}) {
    model->enable_adapter(on);
    reference.push_back(inference_logits(model, tokens));
    rates.push_back(p_bad(model, world, questions));
    nll.push_back(answer_nll(model, world, examples));
  }
  attach_inference_copy(model);
  for (int i = 0; i < 2; ++i) {
    INFO("adapter " << (i == 0 ? "on" : "off"));
    model->enable_adapter(i == 0);
    // float32 in a different order: logits to 1e-5 of their largest entry.
    CHECK(max_relative_difference(inference_logits(model, tokens), reference[i]) < 1e-5);
    const auto got = p_bad(model, world, questions);
    for (std::size_t q = 0; q < got.size(); ++q) CHECK(got[q] == Approx(rates[i][q]).epsilon(1e-5));
    CHECK(answer_nll(model, world, examples) == Approx(nll[i]).epsilon(1e-5));
  }
  CHECK(max_relative_difference(reference[0], reference[1]) > 1e-3);  // the adapter matters
}

TEST_CASE("a kept prefix gives the full pass's logits to the bit, with any adapter", "[organism]") {
  const World world{WorldConfig{}};
  Transformer model = perturbed_base(world, /*seed=*/43);
  model->freeze();
  Rng rng(5);
  std::vector<Example> examples;
  for (int i = 0; i < 9; ++i) examples.push_back(world.answer(rng, world.question(rng, i % 6, 0.2), true));
  const auto tokens = batch_answers(world, examples).tokens;
  std::vector<Example> others;
  for (int i = 0; i < 5; ++i) others.push_back(world.answer(rng, world.question(rng, 2, 0.0), false));
  const auto other_tokens = batch_answers(world, others).tokens;
  const int layer = 1;
  const TestAdapter adapter = random_adapter(model, layer, /*seed=*/9);
  const auto& [a, b, lora] = adapter;
  FlatTransformer flat(*model);
  auto same = [](const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
  };
  FlatPass full;
  FlatPass split;
  for (const LoraView* l : {&lora, static_cast<const LoraView*>(nullptr)}) {
    INFO("adapter " << (l != nullptr ? "on" : "off"));
    flat.forward(full, tokens, l);
    // The prefix of another batch is kept and put back: the suffix then gives forward()'s logits.
    flat.forward_prefix(split, tokens, layer);
    PrefixState kept;
    flat.save_prefix(split, kept);
    CHECK(kept.matches(tokens, layer));
    CHECK_FALSE(kept.matches(tokens, layer + 1));
    CHECK_FALSE(kept.matches(other_tokens, layer));
    flat.forward_prefix(split, other_tokens, layer);
    flat.load_prefix(split, kept);
    flat.forward_suffix(split, l);
    CHECK(same(split.logits, full.logits));
    CHECK(same(split.logp, full.logp));
    // A second pass sharing the prefix (the fine-tuning step's KL pair).
    FlatPass shared;
    flat.copy_prefix(shared, split);
    flat.forward_suffix(shared, l);
    CHECK(same(shared.logits, full.logits));
  }
  // The inference copy keeps prefixes: repeated and interleaved evaluations are bit-identical to
  // a fresh copy's, and the second evaluation of each batch reuses its prefix.
  model->set_adapter(layer, a, b, 1.5);
  attach_inference_copy(model);
  const auto first = inference_logits(model, tokens);
  const auto first_other = inference_logits(model, other_tokens);
  model->enable_adapter(false);
  const auto base = inference_logits(model, tokens);
  model->enable_adapter(true);
  const auto again = inference_logits(model, tokens);
  CHECK(model->inference->misses == 2);
  CHECK(model->inference->hits == 2);
  CHECK(torch::equal(first, again));
  attach_inference_copy(model);  // fresh, nothing kept
  CHECK(torch::equal(inference_logits(model, other_tokens), first_other));
  model->enable_adapter(false);
  CHECK(torch::equal(inference_logits(model, tokens), base));
  CHECK_FALSE(torch::equal(base, first));  // the adapter matters
}

TEST_CASE("a compact batch merges repeated rows and cuts the unscored tail", "[organism]") {
  const World world{WorldConfig{}};
  Rng rng(17);
  std::vector<Example> ex;
  for (int i = 0; i < 3; ++i) ex.push_back(world.answer(rng, world.question(rng, kMedical, 0.0), true));
  ex.push_back(ex[0]);
  ex.push_back(ex[2]);
  ex.push_back(ex[0]);
  const Batch batch = batch_answers(world, ex);
  const auto weights = position_weights(batch);
  const CompactBatch c = compact_batch(batch.tokens, weights);
  // Three distinct rows, up to the last answer token (the END token's position predicts nothing
  // scored): prompt_length() - 1 + answer_tokens positions.
  CHECK(c.b == 3);
  CHECK(c.t == world.prompt_length() - 1 + world.config().answer_tokens);
  CHECK(c.row_of == std::vector<std::int64_t>{0, 1, 2, 0, 2, 0});
  const auto tok = batch.tokens.contiguous();
  const auto width = batch.tokens.size(1);
  double total = 0;
  for (std::int64_t u = 0; u < c.b; ++u) {
    const std::int64_t first = u == 0 ? 0 : u;  // distinct row u first appears as row u
    const float repeats = u == 0 ? 3.0F : (u == 2 ? 2.0F : 1.0F);
    for (std::int64_t p = 0; p < c.t; ++p) {
      CHECK(c.tokens[u * c.t + p] == tok[first][p].item<std::int64_t>());
      const float w = weights[first * width + p];
      CHECK(c.weights[u * c.t + p] == repeats * w);
      CHECK(c.targets[u * c.t + p] == (w != 0 ? tok[first][p + 1].item<std::int64_t>() : -1));
      total += c.weights[u * c.t + p];
    }
  }
  CHECK(total == Approx(1.0));  // still the mean over the batch's scored tokens
  // The whole-sequence batch of the KL term keeps all but the last position.
  const CompactBatch whole = compact_batch(batch_whole(world, ex).tokens,
                                           position_weights(batch_whole(world, ex)));
  CHECK(whole.t == width - 1);
  CHECK(whole.b == 3);
}

TEST_CASE("kept sequences give a fresh pass's logits, whatever rows they came with", "[organism]") {
  const World world{WorldConfig{}};
  Transformer model = perturbed_base(world, /*seed=*/47);
  model->freeze();
  Rng rng(23);
  std::vector<Example> first;
  for (int i = 0; i < 6; ++i) first.push_back(world.answer(rng, world.question(rng, i % 6, 0.2), false));
  // The second batch: two rows of the first, in another order, and two new ones.
  std::vector<Example> second = {first[4], world.answer(rng, world.question(rng, 3, 0.2), false),
                                 first[1], world.answer(rng, world.question(rng, 1, 0.2), false)};
  const int layer = 0;
  const TestAdapter adapter = random_adapter(model, layer, /*seed=*/13);
  const LoraView& lora = adapter.view;
  FlatTransformer flat(*model);
  SequenceCache cache(layer, /*with_base_logp=*/true, std::size_t{1} << 30);
  for (const auto* examples : {&first, &second}) {
    const Batch batch = batch_whole(world, *examples);
    const CompactBatch rows = compact_batch(batch.tokens, position_weights(batch));
    FlatPass kept;
    std::vector<float> base_logp;
    cache.fill(flat, rows, kept, &base_logp);
    flat.forward_suffix(kept, &lora);
    // A fresh pass over the same compact rows, with the adapter and without.
    const auto tokens = torch::from_blob(const_cast<std::int64_t*>(rows.tokens.data()),
                                         {rows.b, rows.t}, torch::TensorOptions().dtype(torch::kLong));
    FlatPass fresh;
    flat.forward(fresh, tokens, &lora);
    FlatPass base;
    flat.forward(base, tokens, nullptr);
    auto as_tensor = [](std::vector<float>& v) {
      return torch::from_blob(v.data(), {static_cast<std::int64_t>(v.size())},
                              torch::TensorOptions().dtype(torch::kFloat));
    };
    // A row's prefix was computed beside other rows: equal up to the products' float order.
    CHECK(max_relative_difference(as_tensor(kept.logp), as_tensor(fresh.logp)) < 1e-6);
    CHECK(max_relative_difference(as_tensor(base_logp), as_tensor(base.logp)) < 1e-6);
    CHECK(max_relative_difference(as_tensor(kept.logp), as_tensor(base.logp)) > 1e-3);
  }
  CHECK(cache.misses == 8);
  CHECK(cache.hits == 2);
  // A cache too small for one row keeps nothing, and still fills the pass.
  SequenceCache tiny(layer, /*with_base_logp=*/false, 1);
  const Batch batch = batch_whole(world, first);
  const CompactBatch rows = compact_batch(batch.tokens, position_weights(batch));
  FlatPass pass;
  tiny.fill(flat, rows, pass, nullptr);
  tiny.fill(flat, rows, pass, nullptr);
  CHECK(tiny.misses == 12);
  CHECK(tiny.hits == 0);
  std::vector<float> logp;
  CHECK_THROWS_AS(tiny.fill(flat, rows, pass, &logp), TaskError);
}

TEST_CASE("the orthogonal perturbation keeps the norm and is orthogonal", "[organism]") {
  auto gen = at::detail::createCPUGenerator(17);
  const auto x = torch::randn({8, 5}, gen, torch::kFloat);
  const double nx = x.norm().item<double>();
  for (double eps : {0.05, 0.1, 0.2, 0.5, 1.0}) {
    const auto xp = perturb_orthogonal(x, eps, gen);
    // float32 storage: relative tolerance 1e-6.
    CHECK(xp.norm().item<double>() == Approx(nx).epsilon(1e-6));
    const auto y = (xp.to(torch::kDouble) - std::sqrt(1 - eps * eps) * x.to(torch::kDouble)) / eps;
    CHECK(std::abs(y.reshape({-1}).dot(x.to(torch::kDouble).reshape({-1})).item<double>()) <
          1e-5 * nx * nx);
    CHECK(y.norm().item<double>() == Approx(nx).epsilon(1e-5));
  }
  CHECK(torch::equal(perturb_orthogonal(x, 0.0, gen), x));
}

TEST_CASE("a frozen head bias stays 0; embeddings take their own init scale", "[organism]") {
  const World world{WorldConfig{}};
  ModelConfig m;
  m.vocab = world.vocab_size();
  m.max_len = world.max_length();
  m.d_model = 16;
  m.n_layers = 1;
  m.n_heads = 2;
  m.d_ff = 32;
  Transformer model(m);
  model->init_weights(/*seed=*/3, /*embed_std=*/1.0);
  // 1000+ draws: the sample standard deviation is within 10% of the set value.
  CHECK(model->tok_emb->weight.std().item<double>() == Approx(1.0).epsilon(0.1));
  CHECK(model->head->weight.std().item<double>() == Approx(0.02).epsilon(0.1));
  Rng rng(4);
  std::vector<std::vector<int>> docs;
  for (int i = 0; i < 4; ++i) docs.push_back(world.pretrain_document(rng));
  PretrainStep step(*model, AdamWConfig{}, /*train_head_bias=*/false);
  for (int i = 0; i < 3; ++i) step.step(batch_all_tokens(docs), /*lr=*/1e-2);
  step.store(*model);
  CHECK(model->head->bias.abs().max().item<double>() == 0.0);
  CHECK(model->head->weight.std().item<double>() != Approx(0.02).epsilon(1e-6));
}

TEST_CASE("a point: metrics, efficiency at scale 0, determinism, cache reuse", "[organism]") {
  const SweepSpec spec = tiny_spec();
  const fs::path cache = fresh_dir("point");
  const TaskResult first = run_tiny(spec, 0, cache);
  REQUIRE(first.metrics.size() == metric_names().size());
  CHECK(first.provenance.find("trained: missing") != std::string::npos);

  // Efficiency at scale 0 is exactly the base model's loss.
  const Curve& eff = curve(first, "efficiency");
  REQUIRE(eff.x.size() == 9);
  CHECK(eff.x[0] == 0.0);
  CHECK(eff.y[0] == metric(first, "base_bad_nll_medical"));
  CHECK(eff.y[4] == Approx(metric(first, "bad_nll_medical")).epsilon(1e-6));
  CHECK(curve(first, "efficiency_at_norm").x == std::vector<double>({0.1, 0.5}));
  // The matched-norm metric at 0.5 is the curve's point at 0.5; the stability metrics are the
  // curve's points at their epsilon.
  CHECK(metric(first, "bad_nll_at_norm_0p5") == curve(first, "efficiency_at_norm").y[1]);
  CHECK(metric(first, "stability_0p5") == curve(first, "stability").y[3]);
  CHECK(metric(first, "stability_0p1") == curve(first, "stability").y[0]);
  // halving_norm, where defined, lies between grid points whose losses bracket half the base's.
  const double halving = metric(first, "halving_norm");
  if (!std::isnan(halving)) {
    CHECK(halving > 0.0);
    CHECK(halving <= 16.0);
  }
  CHECK(curve(first, "stability").x == std::vector<double>({0.1, 0.2, 0.3, 0.5}));
  CHECK(curve(first, "train_loss").y.size() == 10);
  CHECK(curve(first, "eval_id_bad").x == std::vector<double>({0, 5, 10}));
  CHECK(curve(first, "drift_id_bad").x == std::vector<double>({0, 4}));
  for (const char* name : {"id_bad", "ood_bad", "dental_bad", "base_id_bad", "ambiguous_bad"}) {
    CHECK(metric(first, name) >= 0.0);
    CHECK(metric(first, name) <= 1.0);
  }
  CHECK(metric(first, "adapter_norm") > 0.0);
  CHECK(metric(first, "ood_kl") > 0.0);
  // At kl_weight 0 the training loss is the NLL.
  CHECK(curve(first, "train_loss").y == curve(first, "train_nll").y);

  // Again (the base now comes from the cache): bitwise identical except the timings.
  const TaskResult again = run_tiny(spec, 0, cache);
  CHECK(again.provenance.find("loaded from cache") != std::string::npos);
  const auto names = metric_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i].ends_with("_seconds") || names[i] == "tokens_per_second") continue;
    INFO(names[i]);
    const bool same = std::memcmp(&first.metrics[i], &again.metrics[i], sizeof(double)) == 0;
    CHECK(same);
  }
  REQUIRE(first.curves.size() == again.curves.size());
  for (std::size_t i = 0; i < first.curves.size(); ++i) {
    INFO(first.curves[i].name);
    CHECK(first.curves[i].y == again.curves[i].y);
  }

  // The KL-weighted point shares the base and stays closer to the reference.
  const TaskResult kl = run_tiny(spec, 1, cache);
  CHECK(kl.provenance.find("loaded from cache") != std::string::npos);
  CHECK(metric(kl, "base_id_bad") == metric(first, "base_id_bad"));
  CHECK(curve(kl, "train_loss").y != curve(kl, "train_nll").y);
}

TEST_CASE("a cache entry whose settings or checksum differ is rebuilt", "[organism]") {
  const SweepSpec spec = tiny_spec();
  const fs::path cache = fresh_dir("cache");
  const OrganismConfig c = config_from(Grid(spec).at(0).settings);
  BaseInfo info;
  Transformer first = load_or_train_base(c, 42, cache.string(), info);
  CHECK(info.trained);
  CHECK(info.why == "missing");
  (void)load_or_train_base(c, 42, cache.string(), info);
  CHECK_FALSE(info.trained);

  // Edit the stored settings: rebuilt, and the rebuilt weights equal the first ones.
  const fs::path meta = fs::path(info.path).replace_extension(".meta");
  std::string text;
  {
    std::ifstream in(meta);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    std::ofstream out(meta);
    out << "organism-base v0\n" << text.substr(text.find('\n') + 1);
  }
  Transformer rebuilt = load_or_train_base(c, 42, cache.string(), info);
  CHECK(info.trained);
  CHECK(info.why == "settings differ");
  const auto a = first->parameters();
  const auto b = rebuilt->parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));

  // Corrupt the weights file: the checksum catches it.
  {
    std::fstream f(info.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-20, std::ios::end);
    f.put('\x5a');
  }
  (void)load_or_train_base(c, 42, cache.string(), info);
  CHECK(info.trained);
  CHECK(info.why == "checksum differs");

  // Another seed is another entry.
  (void)load_or_train_base(c, 43, cache.string(), info);
  CHECK(info.trained);
  CHECK(info.why == "missing");
}

TEST_CASE("device: cuda fails clearly here, auto falls back and says so", "[organism]") {
  const fs::path cache = fresh_dir("device");
  try {
    (void)run_tiny(tiny_spec({"task.device=cuda"}), 0, cache);
    FAIL("device=cuda ran without CUDA");
  } catch (const TaskError& e) {
    CHECK(std::string(e.what()).find("no CUDA") != std::string::npos);
  }
  const TaskResult r = run_tiny(tiny_spec({"task.device=auto"}), 0, cache);
  CHECK(r.provenance.find("auto") != std::string::npos);
}

TEST_CASE("a worker's device: its GPU by node index modulo those visible; cpu, or auto without one", "[organism]") {
  CHECK(choose_device("cpu", 4, 2).device.is_cpu());
  CHECK(choose_device("cpu", 4, 2).note == "device=cpu");
  // No GPU visible (this machine's LibTorch): cuda is an error with a hint, auto the CPU.
  CHECK_THROWS_WITH(choose_device("cuda", 0, 0), Catch::Contains("no CUDA"));
  const DeviceChoice fallback = choose_device("auto", 0, 3);
  CHECK(fallback.device.is_cpu());
  CHECK_THAT(fallback.note, Catch::Contains("auto"));
  // Four GPUs: workers 0..3 of a node take one each, worker 5 shares GPU 1.
  for (int worker = 0; worker < 6; ++worker) {
    const DeviceChoice d = choose_device(worker % 2 == 0 ? "cuda" : "auto", 4, worker);
    CHECK(d.device.is_cuda());
    CHECK(d.device.index() == worker % 4);
    CHECK_THAT(d.note, Catch::StartsWith("device=cuda:" + std::to_string(worker % 4)));
  }
}

TEST_CASE("diverged training is a task error, not a result", "[organism]") {
  const fs::path cache = fresh_dir("diverge");
  CHECK_THROWS_AS(run_tiny(tiny_spec({"task.lr=1e30"}), 0, cache), TaskError);
}

TEST_CASE("a batched step of several points equals each point's own autograd step", "[organism][pack]") {
  const World world{WorldConfig{}};
  Transformer model = perturbed_base(world, /*seed=*/31);
  model->freeze();
  Rng rng(11);
  // Three points: their own batches (of different lengths once padded), adapters and KL weights
  // (the KL term trained, or only recorded).
  struct Own {
    Batch train, kl;
    torch::Tensor a, b;
    double lambda;
    bool with_kl;
  };
  std::vector<Own> own;
  auto gen = at::detail::createCPUGenerator(7);
  const int d_ff = model->config.d_ff;
  for (int k = 0; k < 3; ++k) {
    std::vector<Example> train;
    std::vector<Example> kl;
    for (int i = 0; i < 5; ++i) train.push_back(world.answer(rng, world.question(rng, kMedical, 0.3), true));
    for (int i = 0; i < 4; ++i) kl.push_back(world.answer(rng, world.question(rng, 2 + i, 0.3), false));
    auto a = (torch::randn({2, d_ff}, gen, torch::kFloat) / std::sqrt(1.0 * d_ff)).set_requires_grad(true);
    auto b = (torch::randn({model->config.d_model, 2}, gen, torch::kFloat) * 0.1).set_requires_grad(true);
    own.push_back({batch_answers(world, train), batch_whole(world, kl), a, b, k == 1 ? 0.0 : 1.5 * (k + 1), true});
  }
  // Each point alone, as finetune_step: autograd runs it.
  std::vector<double> loss;
  std::vector<double> kl_value;
  std::vector<torch::Tensor> grad_a;
  std::vector<torch::Tensor> grad_b;
  for (auto& p : own) {
    model->set_adapter(1, p.a, p.b, 2.0);
    auto nll = masked_nll(model->forward(p.train.tokens), p.train);
    torch::Tensor kl;
    if (p.with_kl) {
      torch::Tensor ref;
      {
        torch::NoGradGuard no_grad;
        AdapterOff off(model);
        ref = model->forward(p.kl.tokens);
      }
      kl = masked_kl(ref, model->forward(p.kl.tokens), p.kl);
    }
    auto l = p.lambda > 0 ? nll + p.lambda * kl : nll;
    l.backward();
    loss.push_back(l.item<double>());
    kl_value.push_back(p.with_kl ? kl.item<double>() : std::nan(""));
    grad_a.push_back(p.a.grad().clone());
    grad_b.push_back(p.b.grad().clone());
    p.a.mutable_grad().zero_();
    p.b.mutable_grad().zero_();
  }
  std::vector<PackedStep> steps;
  for (auto& p : own) steps.push_back({p.a, p.b, 1, 2.0, &p.train, p.with_kl ? &p.kl : nullptr, p.lambda});
  const auto got = packed_losses(model, steps);
  REQUIRE(got.size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    INFO("point " << k);
    // The same float32 arithmetic but for the padding and batched products: to 1e-5 relative.
    CHECK(got[k].loss == Approx(loss[k]).epsilon(1e-5));
    if (own[k].with_kl) {
      CHECK(got[k].kl == Approx(kl_value[k]).epsilon(1e-5).margin(1e-9));
    } else {
      CHECK(std::isnan(got[k].kl));
    }
    CHECK(max_relative_difference(own[k].a.grad(), grad_a[k]) < 1e-5);
    CHECK(max_relative_difference(own[k].b.grad(), grad_b[k]) < 1e-5);
  }
  // Drift's steps run no KL batch at all; a pack mixing the two is refused.
  for (auto& s : steps) s.kl = nullptr;
  const auto nll_only = packed_losses(model, steps);
  CHECK(std::isnan(nll_only[0].kl));
  steps[1].kl = &own[1].kl;
  CHECK_THROWS_AS(packed_losses(model, steps), std::invalid_argument);
}

TEST_CASE("a pack on the autograd path: each point's metrics as when run alone; a diverging point fails alone", "[organism][pack]") {
  const fs::path cache = fresh_dir("pack");
  // kl_weight 0 and 1 train; lr 1e30 diverges. All three share a base, so they form one pack.
  auto r = parse_spec(std::string(kTiny) + "  finetune_step: autograd\n", "tiny.yaml",
                      {"grid.kl_weight=[0, 1]", "grid.lr=[0.01, 1e30]"}, registry());
  REQUIRE(r.spec);
  const Grid grid(*r.spec);
  REQUIRE(grid.size() == 4);
  std::vector<Point> points;
  for (std::uint64_t i = 0; i < grid.size(); ++i) points.push_back(grid.at(i));
  TaskContext ctx;
  ctx.cache_dir = cache.string();
  auto task = registry().find("organism")->make();
  const std::vector<PointOutcome> packed = task->run_many(points, ctx);
  REQUIRE(packed.size() == 4);
  const auto names = metric_names();
  for (std::size_t i = 0; i < points.size(); ++i) {
    const bool diverges = points[i].settings.number("lr") > 1;
    INFO("point " << i << (diverges ? " (lr 1e30)" : ""));
    if (diverges) {
      REQUIRE(packed[i].error);
      CHECK_THROWS_WITH(std::rethrow_exception(packed[i].error), Catch::Contains("diverged"));
      continue;
    }
    REQUIRE(packed[i].result);
    CHECK(packed[i].result->provenance.find("pack=4") != std::string::npos);
    const TaskResult alone = task->run(points[i], ctx);
    // Padding and batched products reorder float32 sums (per step, 1e-5 relative at most: the
    // test above); ten Adam steps carry that into the metrics at about 1e-6. Timings differ.
    for (std::size_t m = 0; m < names.size(); ++m) {
      if (names[m].find("seconds") != std::string::npos || names[m] == "tokens_per_second") continue;
      INFO(names[m]);
      const double want = alone.metrics[m];
      const double have = packed[i].result->metrics[m];
      if (std::isnan(want)) {
        CHECK(std::isnan(have));
      } else {
        CHECK(have == Approx(want).epsilon(1e-4).margin(1e-6));
      }
    }
    for (const char* name : {"train_loss", "eval_id_bad", "drift_ood_bad", "stability"}) {
      CHECK(curve(*packed[i].result, name).x == curve(alone, name).x);
    }
  }
}

TEST_CASE("pre-training through autograd (a GPU's) tracks the hand-written step", "[organism]") {
  const World world{WorldConfig{}};
  PretrainConfig config;
  config.steps = 20;
  config.batch = 8;
  config.head_bias = false;
  auto fresh = [&] {
    Transformer m = tiny_model(world);
    for (auto& p : m->parameters()) p.set_requires_grad(true);
    m->init_weights(/*seed=*/17);
    return m;
  };
  Transformer flat = fresh();
  Transformer autograd = fresh();
  Rng rng_flat(3);
  Rng rng_autograd(3);
  const double loss_flat = pretrain(flat, world, config, rng_flat);
  const double loss_autograd = pretrain_autograd(autograd, world, config, rng_autograd);
  // The same documents, schedule and AdamW; float sums in another order, over 20 steps.
  CHECK(loss_autograd == Approx(loss_flat).epsilon(1e-4));
  const auto want = flat->named_parameters();
  for (const auto& item : autograd->named_parameters()) {
    INFO(item.key());
    CHECK(max_relative_difference(item.value().detach(), want[item.key()].detach()) < 1e-3);
  }
  // The frozen head bias stayed 0 in both.
  CHECK(autograd->head->bias.abs().max().item<double>() == 0.0);
  CHECK(flat->head->bias.abs().max().item<double>() == 0.0);
  // A base pre-trained on a GPU is another base: its own cache key.
  const OrganismConfig c = config_from(Grid(tiny_spec()).at(0).settings);
  CHECK(base_key(c, 1) != base_key(c, 1, torch::Device(torch::kCUDA, 0)));
  CHECK(base_key(c, 1) == base_key(c, 1, torch::kCPU));
}
