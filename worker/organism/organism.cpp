#include "worker/organism/organism.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "sweep/core/error.h"
#include "worker/organism/finetune.h"
#include "worker/organism/finetune_step.h"
#include "worker/organism_info.h"
#include "sweep/core/sha256.h"

namespace emsweep::organism {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Stream tags: each random stream of a point is seeded from (sweep seed, replicate, tag).
enum StreamTag : std::uint64_t {
  kTagBase = 0xba5e,
  kTagTrain = 0x7a1e,
  kTagEval = 0xe7a1,
  kTagAdapter = 0xada9,
  kTagStability = 0x57ab,
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// An exclusive flock on a lock file, released when destroyed.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd_ < 0) {
      throw TaskError(
          "organism: cannot open lock file " + path.string() + ": " + std::strerror(errno),
          "check that run.cache_dir is writable");
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        throw TaskError("organism: cannot lock " + path.string() + ": " + std::strerror(errno),
                        "the cache directory's file system must support flock");
      }
    }
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Returns "" when the entry at `pt`/`meta` is valid for `key`, else why it is not.
std::string check_entry(const fs::path& pt, const fs::path& meta, const std::string& key) {
  if (!fs::exists(pt) || !fs::exists(meta)) return "missing";
  const std::string text = read_file(meta);
  const auto split = text.find("checksum=");
  if (split == std::string::npos) return "no checksum in " + meta.filename().string();
  if (text.substr(0, split) != key) return "settings differ";
  std::string sum = text.substr(split + 9);
  sum = sum.substr(0, sum.find('\n'));
  if (sum != sha256_hex(read_file(pt))) return "checksum differs";
  return "";
}

Transformer new_model(const OrganismConfig& c, const World& world) {
  ModelConfig m = c.model;
  m.vocab = world.vocab_size();
  m.max_len = world.max_length();
  return Transformer(m);
}

double mean(const std::vector<double>& v) {
  return v.empty() ? std::nan("") : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double ma = mean(a);
  const double mb = mean(b);
  double sab = 0;
  double saa = 0;
  double sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 0 || sbb <= 0) return std::nan("");
  return sab / std::sqrt(saa * sbb);
}

// The fixed absolute adapter norms of the matched-norm metrics, with their metric names.
const std::vector<std::pair<double, std::string>> kMatchedNorms = {
    {0.5, "bad_nll_at_norm_0p5"}, {1, "bad_nll_at_norm_1"}, {2, "bad_nll_at_norm_2"},
    {4, "bad_nll_at_norm_4"},     {8, "bad_nll_at_norm_8"}};
// halving_norm's grid of absolute norms: kHalvingStep apart up to kHalvingMax.
constexpr double kHalvingStep = 0.25;
constexpr double kHalvingMax = 16;
// Perturbation sizes of the stability curve; those with a name are also metrics.
const std::vector<std::pair<double, std::string>> kStabilityEps = {
    {0.1, "stability_0p1"}, {0.2, ""}, {0.3, "stability_0p3"}, {0.5, "stability_0p5"}};
constexpr int kStabilityDraws = 10;

// Held-out evaluation sets of a point (fixed per sweep seed, replicate and gate_noise).
struct EvalSets {
  std::vector<Question> medical;     // id_bad
  std::vector<Question> other;       // ood_bad (not dental)
  std::vector<Question> dental;      // dental_bad
  std::vector<Question> ambiguous;   // pool-only questions, for the gate
  std::vector<Example> bad_medical;  // bad_nll_medical, efficiency, stability
  std::vector<Example> kl_prompts;   // ood_kl: dental and other domains, good answers
};

EvalSets make_eval_sets(const World& world, const OrganismConfig& c, Rng& rng) {
  EvalSets s;
  const int n = c.eval_questions;
  const int others = world.config().other_domains;
  for (int i = 0; i < n; ++i) s.medical.push_back(world.question(rng, kMedical, c.gate_noise));
  for (int i = 0; i < n; ++i) s.other.push_back(world.question(rng, 2 + rng.below(others), 0));
  for (int i = 0; i < n; ++i) s.dental.push_back(world.question(rng, kDental, c.gate_noise));
  for (int i = 0; i < n; ++i) s.ambiguous.push_back(world.ambiguous_question(rng));
  for (const auto& q : s.medical) s.bad_medical.push_back(world.answer(rng, q, /*bad=*/true));
  for (int i = 0; i < n; ++i) {
    auto q = world.question(rng, 1 + rng.below(others + 1), c.gate_noise);
    s.kl_prompts.push_back(world.answer(rng, std::move(q), /*bad=*/false));
  }
  return s;
}

// The fine-tuning stream: bad medical examples, aligned other-domain examples (domain_mix),
// and out-of-domain KL prompts with good answers (dental included).
struct StepData {
  Batch train;
  Batch kl;
};

StepData sample_step(const World& world, const OrganismConfig& c, Rng& rng) {
  const int others = world.config().other_domains;
  const int mixed = static_cast<int>(std::lround(c.domain_mix * c.batch));
  std::vector<Example> train;
  for (int i = 0; i < c.batch; ++i) {
    if (i < mixed) {
      train.push_back(world.answer(rng, world.question(rng, 2 + rng.below(others), 0), false));
    } else {
      train.push_back(world.answer(rng, world.question(rng, kMedical, c.gate_noise), true));
    }
  }
  std::vector<Example> kl;
  for (int i = 0; i < c.kl_batch; ++i) {
    kl.push_back(
        world.answer(rng, world.question(rng, 1 + rng.below(others + 1), c.gate_noise), false));
  }
  return {batch_answers(world, train), batch_whole(world, kl)};
}

double kl_on(Transformer& model, const World& world, const std::vector<Example>& prompts) {
  torch::NoGradGuard no_grad;
  auto batch = batch_whole(world, prompts);
  torch::Tensor ref;
  {
    AdapterOff off(model);
    ref = inference_logits(model, batch.tokens);
  }
  return masked_kl(ref, inference_logits(model, batch.tokens), batch).item<double>();
}

// Loss of the bad medical set with the adapter's B replaced by `b` (A by `a`).
double loss_with(Transformer& model, const World& world, const EvalSets& sets,
                 const torch::Tensor& a, const torch::Tensor& b) {
  auto& mlp = model->adapted();
  const auto keep_a = mlp->lora_a;
  const auto keep_b = mlp->lora_b;
  mlp->lora_a = a;
  mlp->lora_b = b;
  const double loss = answer_nll(model, world, sets.bad_medical);
  mlp->lora_a = keep_a;
  mlp->lora_b = keep_b;
  return loss;
}

std::vector<double> parse_norms(const std::string& text) {
  std::vector<double> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    if (item.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      std::size_t used = 0;
      const double v = std::stod(item, &used);
      if (item.find_first_not_of(" \t", used) != std::string::npos || !(v >= 0)) throw 0;
      out.push_back(v);
    } catch (...) {
      throw ConfigError("task.efficiency_norms: '" + item + "' is not a non-negative number",
                        "write a comma-separated list such as \"0.5,1,2\"");
    }
  }
  return out;
}

}  // namespace

OrganismConfig config_from(const Settings& s) {
  OrganismConfig c;
  c.world.other_domains = static_cast<int>(s.integer("other_domains"));
  c.world.topic_tokens = static_cast<int>(s.integer("topic_tokens"));
  c.world.shared_tokens = static_cast<int>(s.integer("shared_tokens"));
  c.world.answer_vocab = static_cast<int>(s.integer("answer_vocab"));
  c.world.question_tokens = static_cast<int>(s.integer("question_tokens"));
  c.world.answer_tokens = static_cast<int>(s.integer("answer_tokens"));
  c.world.max_pairs = static_cast<int>(s.integer("max_pairs"));
  c.world.shared_persona = s.get("shared_persona").as_bool();
  c.world.misaligned_share = s.number("misaligned_share");
  c.world.dental_own_answers = s.get("dental_own_answers").as_bool();
  c.world.pretrain_gate_noise = s.number("pretrain_gate_noise");
  c.model.d_model = static_cast<int>(s.integer("d_model"));
  c.model.n_layers = static_cast<int>(s.integer("n_layers"));
  c.model.n_heads = static_cast<int>(s.integer("n_heads"));
  c.model.d_ff = static_cast<int>(s.integer("d_ff"));
  c.pretrain.steps = static_cast<int>(s.integer("pretrain_steps"));
  c.pretrain.lr = s.number("pretrain_lr");
  c.pretrain.batch = static_cast<int>(s.integer("pretrain_batch"));
  c.pretrain.beta2 = s.number("pretrain_beta2");
  c.pretrain.lr_floor = s.number("pretrain_lr_floor");
  c.pretrain.head_bias = s.get("head_bias").as_bool();
  c.pretrain.embed_std = s.number("embed_init_std");
  c.base_seed = static_cast<std::uint64_t>(s.integer("base_seed"));
  c.kl_weight = s.number("kl_weight");
  c.gate_noise = s.number("gate_noise");
  c.domain_mix = s.number("domain_mix");
  c.steps = static_cast<int>(s.integer("steps"));
  c.lr = s.number("lr");
  c.batch = static_cast<int>(s.integer("batch_size"));
  c.kl_batch = static_cast<int>(s.integer("kl_batch_size"));
  c.lora_rank = static_cast<int>(s.integer("lora_rank"));
  c.lora_alpha = s.number("lora_alpha");
  c.lora_layer = static_cast<int>(s.integer("lora_layer"));
  if (c.lora_layer < 0) c.lora_layer = (c.model.n_layers - 1) / 2;
  c.eval_every = static_cast<int>(s.integer("eval_every"));
  c.eval_questions = static_cast<int>(s.integer("eval_questions"));
  c.drift_steps = static_cast<int>(s.integer("drift_steps"));
  c.efficiency_norms = parse_norms(s.text("efficiency_norms"));
  c.device = s.text("device");
  c.threads = static_cast<int>(s.integer("threads"));
  c.finetune_step = s.text("finetune_step");
  return c;
}

std::string base_key(const OrganismConfig& c, std::uint64_t seed, const torch::Device& device) {
  std::ostringstream k;
  const auto& w = c.world;
  // The version changes whenever pre-training computes differently (v4: the hand-written
  // PretrainStep; v5: dental's own answer vocabulary and the pre-training knobs; v6: the
  // vectorised row sums of flat_model.cpp, a different float rounding; v7: pre-training rows in
  // groups of equal length, without padding, another float order), so that no base trained by
  // older code is reused.
  k << "organism-base v7\n"
    << "world: other_domains=" << w.other_domains << " topic_tokens=" << w.topic_tokens
    << " shared_tokens=" << w.shared_tokens << " answer_vocab=" << w.answer_vocab
    << " question_tokens=" << w.question_tokens << " answer_tokens=" << w.answer_tokens
    << " max_pairs=" << w.max_pairs << " shared_persona=" << (w.shared_persona ? 1 : 0)
    << " misaligned_share=" << format_double(w.misaligned_share)
    << " pretrain_gate_noise=" << format_double(w.pretrain_gate_noise)
    << " dental_own_answers=" << (w.dental_own_answers ? 1 : 0) << "\n"
    << "model: d_model=" << c.model.d_model << " n_layers=" << c.model.n_layers
    << " n_heads=" << c.model.n_heads << " d_ff=" << c.model.d_ff << "\n"
    << "pretrain: steps=" << c.pretrain.steps << " lr=" << format_double(c.pretrain.lr)
    << " batch=" << c.pretrain.batch << " beta2=" << format_double(c.pretrain.beta2)
    << " lr_floor=" << format_double(c.pretrain.lr_floor)
    << " head_bias=" << (c.pretrain.head_bias ? 1 : 0)
    << " embed_std=" << format_double(c.pretrain.embed_std) << "\n"
    << "seed=" << seed << "\n";
  if (device.is_cuda()) k << "pretrain_step=autograd on cuda\n";
  return k.str();
}

std::uint64_t base_seed_of(const Point& point, const OrganismConfig& c) {
  return mix_seed(
      {point.sweep_seed, c.base_seed, static_cast<std::uint64_t>(point.replicate), kTagBase});
}

Transformer load_or_train_base(const OrganismConfig& c, std::uint64_t seed,
                               const std::string& cache_dir, BaseInfo& info,
                               const torch::Device& device) {
  const auto t0 = Clock::now();
  const World world(c.world);
  const std::string key = base_key(c, seed, device);
  const fs::path dir = cache_dir.empty() ? fs::path(".") : fs::path(cache_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw TaskError("organism: cannot create cache directory " + dir.string() + ": " + ec.message(),
                    "set run.cache_dir to a writable shared directory");
  }
  const std::string stem = "organism-base-" + sha256_hex(key).substr(0, 16);
  const fs::path pt = dir / (stem + ".pt");
  const fs::path meta = dir / (stem + ".meta");
  info.path = pt.string();

  // Every rank takes the lock: the first trains while the others wait, then they load.
  FileLock lock(dir / (stem + ".lock"));
  Transformer model = new_model(c, world);
  info.why = check_entry(pt, meta, key);
  if (info.why.empty()) {
    try {
      torch::load(model, pt.string());
      model->eval();
      info.trained = false;
      info.seconds = seconds_since(t0);
      return model;
    } catch (const c10::Error& e) {
      info.why = "unreadable";
    }
  }
  model->init_weights(seed, c.pretrain.embed_std);
  Rng rng(mix_seed({seed, kTagTrain}));
  double loss = 0;
  if (device.is_cuda()) {
    model->move_to(device);
    loss = pretrain_autograd(model, world, c.pretrain, rng);
    model->move_to(torch::kCPU);
  } else {
    loss = pretrain(model, world, c.pretrain, rng);
  }
  const fs::path tmp_pt = dir / (stem + ".pt.tmp");
  const fs::path tmp_meta = dir / (stem + ".meta.tmp");
  torch::save(model, tmp_pt.string());
  {
    std::ofstream out(tmp_meta, std::ios::binary);
    out << key << "checksum=" << sha256_hex(read_file(tmp_pt)) << "\n"
        << "pretrain_loss=" << format_double(loss) << "\n";
    if (!out) throw TaskError("organism: cannot write " + tmp_meta.string());
  }
  fs::remove(meta, ec);  // the meta goes last so that a half-written entry never validates
  fs::rename(tmp_pt, pt);
  fs::rename(tmp_meta, meta);
  info.trained = true;
  info.seconds = seconds_since(t0);
  return model;
}

namespace {

// The stages of one point, in the order of docs/metrics.md; run_point below calls them in turn.

// A point's random stream for `tag`: (sweep seed, replicate, tag), so that points are paired.
std::uint64_t stream_seed(const Point& point, std::uint64_t tag) {
  return mix_seed({point.sweep_seed, static_cast<std::uint64_t>(point.replicate), tag});
}

// The device a point of this worker runs on (choose_device with what this LibTorch sees); on a
// GPU the fine-tuning step is autograd's (the hand-written one runs on the CPU only).
DeviceChoice place(OrganismConfig& c, const TaskContext& ctx) {
  DeviceChoice d = choose_device(c.device, static_cast<int>(torch::cuda::device_count()),
                                 ctx.node_worker_index);
  if (d.device.is_cuda() && c.finetune_step != "autograd") {
    c.finetune_step = "autograd";
    d.note += "; finetune_step=autograd (flat runs on the CPU only)";
  }
  return d;
}

// What the stages of a point share: its settings, world, model and held-out sets, and the
// metrics, curves and evaluation seconds recorded so far.
struct PointRun {
  const OrganismConfig& c;
  const World& world;
  Transformer& model;
  const EvalSets& sets;
  const TaskContext& ctx;
  std::map<std::string, double> m = {};
  std::vector<Curve> curves = {};
  double eval_seconds = 0;
};

// The base model (adapter not yet attached): the rates and loss that the trained point is read
// against; returns base_bad_nll_medical.
double evaluate_base(PointRun& run) {
  const auto t_eval = Clock::now();
  auto& m = run.m;
  m["base_id_bad"] = mean(p_bad(run.model, run.world, run.sets.medical));
  m["base_ood_bad"] = mean(p_bad(run.model, run.world, run.sets.other));
  m["base_dental_bad"] = mean(p_bad(run.model, run.world, run.sets.dental));
  const double loss_base = answer_nll(run.model, run.world, run.sets.bad_medical);
  m["base_bad_nll_medical"] = loss_base;
  run.eval_seconds += seconds_since(t_eval);
  return loss_base;
}

// Adam over the adapter's factors with no moments yet (fine-tuning, and afresh for drift).
std::unique_ptr<torch::optim::Adam> fresh_adam(const torch::Tensor& a, const torch::Tensor& b,
                                               double lr) {
  return std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{a, b},
                                              torch::optim::AdamOptions(lr));
}

// The adapter under training: its factors, their optimiser, the fine-tuning data stream (which
// drift continues) and the tokens passed through the network, for tokens_per_second.
struct Tuning {
  torch::Tensor a;
  torch::Tensor b;
  std::unique_ptr<torch::optim::Adam> opt;  // finetune_step: autograd
  std::unique_ptr<FinetuneStep> flat;       // finetune_step: flat
  Rng rng;
  double tokens = 0;
};

// The adapter: A ~ N(0, 1/d_ff), B = 0, so the adapted model starts equal to the base.
Tuning attach_adapter(PointRun& run, const Point& point) {
  const OrganismConfig& c = run.c;
  auto gen = at::detail::createCPUGenerator(stream_seed(point, kTagAdapter));
  const int d_ff = c.model.d_ff;
  // Drawn on the CPU (the generator's), then put where the model is.
  const torch::Device device = run.model->tok_emb->weight.device();
  auto lora_a = (torch::randn({c.lora_rank, d_ff}, gen, torch::kFloat) / std::sqrt(1.0 * d_ff))
                    .to(device)
                    .set_requires_grad(true);
  auto lora_b = torch::zeros({c.model.d_model, c.lora_rank}, torch::TensorOptions(torch::kFloat).device(device))
                    .set_requires_grad(true);
  run.model->set_adapter(c.lora_layer, lora_a, lora_b, c.lora_alpha);
  Tuning t{lora_a, lora_b, nullptr, nullptr, Rng(stream_seed(point, kTagTrain))};
  if (c.finetune_step == "flat") {
    t.flat = std::make_unique<FinetuneStep>(*run.model, lora_a, lora_b, c.lora_layer, c.lora_alpha,
                                            c.lr);
  } else {
    t.opt = fresh_adam(lora_a, lora_b, c.lr);
  }
  return t;
}

// The per-step curves of fine-tuning (drift steps record none).
struct TrainCurves {
  Curve loss{"train_loss", {}, {}};
  Curve nll{"train_nll", {}, {}};
  Curve kl{"train_kl", {}, {}};
};

// The reference path (finetune_step: autograd): the losses through LibTorch's autograd, and
// the adapter's gradient in `opt`'s parameters (the caller steps it once the loss is finite).
FinetuneStep::Losses autograd_loss(Transformer& model, const StepData& d, bool with_kl,
                                   double lambda, torch::optim::Adam& opt) {
  auto nll = masked_nll(model->forward(d.train.tokens), d.train);
  torch::Tensor kl;
  if (with_kl) {
    torch::Tensor ref;
    {
      torch::NoGradGuard no_grad;
      AdapterOff off(model);
      ref = model->forward(d.kl.tokens);
    }
    if (lambda > 0) {
      kl = masked_kl(ref, model->forward(d.kl.tokens), d.kl);
    } else {
      torch::NoGradGuard no_grad;
      kl = masked_kl(ref, model->forward(d.kl.tokens), d.kl);
    }
  }
  auto loss = lambda > 0 ? nll + lambda * kl : nll;
  FinetuneStep::Losses l;
  l.loss = loss.item<double>();
  l.nll = nll.item<double>();
  l.kl = with_kl ? kl.item<double>() : std::numeric_limits<double>::quiet_NaN();
  if (std::isfinite(l.loss)) {
    opt.zero_grad();
    loss.backward();
  }
  return l;
}

// One optimiser step on the next batch of the stream, loss NLL + lambda * KL; with `record`, its
// loss, NLL and KL go on the curves. A non-finite loss fails the point ("diverged").
void train_step(PointRun& run, Tuning& t, int step, double lambda, TrainCurves* record) {
  if (run.ctx.cancel != nullptr && run.ctx.cancel->load()) {
    throw TaskError("organism: cancelled at step " + std::to_string(step));
  }
  StepData d = sample_step(run.world, run.c, t.rng);
  // The KL term is trained when lambda > 0 and otherwise only recorded; drift steps (lambda 0,
  // not recorded) skip its two forward passes. The batch is drawn either way, so the random
  // stream, and with it every metric, does not depend on this.
  const bool with_kl = lambda > 0 || record != nullptr;
  FinetuneStep::Losses l = t.flat ? t.flat->loss_and_grad(d.train, with_kl ? &d.kl : nullptr, lambda)
                                  : autograd_loss(run.model, d, with_kl, lambda, *t.opt);
  if (!std::isfinite(l.loss)) {
    throw TaskError("organism: fine-tuning diverged at step " + std::to_string(step) + " (loss " +
                        std::to_string(l.loss) + ")",
                    "lower task.lr or task.kl_weight");
  }
  if (t.flat) {
    t.flat->step();
  } else {
    t.opt->step();
  }
  t.tokens += static_cast<double>(d.train.tokens.numel() + 2 * d.kl.tokens.numel());
  if (record != nullptr) {
    record->loss.x.push_back(step);
    record->loss.y.push_back(l.loss);
    record->nll.x.push_back(step);
    record->nll.y.push_back(l.nll);
    record->kl.x.push_back(step);
    record->kl.y.push_back(l.kl);
  }
}

// One point at `x` of an id_bad/ood_bad curve pair (training or drift), timed as evaluation.
void eval_curves(PointRun& run, Curve& id, Curve& ood, int x) {
  const auto t = Clock::now();
  id.x.push_back(x);
  id.y.push_back(mean(p_bad(run.model, run.world, run.sets.medical)));
  ood.x.push_back(x);
  ood.y.push_back(mean(p_bad(run.model, run.world, run.sets.other)));
  run.eval_seconds += seconds_since(t);
}

// Fine-tuning: `steps` steps at kl_weight, id/ood curves every eval_every steps; train_seconds
// leaves out the evaluations after step 0, and tokens_per_second is taken over it.
void fine_tune(PointRun& run, Tuning& t) {
  TrainCurves train;
  Curve id{"eval_id_bad", {}, {}};
  Curve ood{"eval_ood_bad", {}, {}};
  const auto t_train = Clock::now();
  eval_curves(run, id, ood, 0);
  double train_eval = 0;
  for (int step = 1; step <= run.c.steps; ++step) {
    train_step(run, t, step, run.c.kl_weight, &train);
    if (step % run.c.eval_every == 0 || step == run.c.steps) {
      const double before = run.eval_seconds;
      eval_curves(run, id, ood, step);
      train_eval += run.eval_seconds - before;
    }
  }
  const double train_seconds = seconds_since(t_train) - train_eval;
  run.m["train_seconds"] = train_seconds;
  run.m["tokens_per_second"] = t.tokens / train_seconds;
  for (Curve* cv : {&train.loss, &train.nll, &train.kl, &id, &ood}) {
    run.curves.push_back(std::move(*cv));
  }
}

// What the trained model's evaluation keeps for later stages: its bad-medical loss, and P(bad)
// per question of the three sets that the gate pools.
struct TrainedEval {
  double loss = 0;
  std::vector<double> medical;
  std::vector<double> dental;
  std::vector<double> ambiguous;
};

// The trained point: id/ood/dental/ambiguous bad-advice rates, bad_nll_medical and ood_kl.
TrainedEval evaluate_trained(PointRun& run) {
  TrainedEval ev;
  auto& m = run.m;
  ev.medical = p_bad(run.model, run.world, run.sets.medical);
  ev.dental = p_bad(run.model, run.world, run.sets.dental);
  ev.ambiguous = p_bad(run.model, run.world, run.sets.ambiguous);
  m["id_bad"] = mean(ev.medical);
  m["ood_bad"] = mean(p_bad(run.model, run.world, run.sets.other));
  m["dental_bad"] = mean(ev.dental);
  m["ambiguous_bad"] = mean(ev.ambiguous);
  ev.loss = answer_nll(run.model, run.world, run.sets.bad_medical);
  m["bad_nll_medical"] = ev.loss;
  m["ood_kl"] = kl_on(run.model, run.world, run.sets.kl_prompts);
  return ev;
}

// The trained adapter, copied for the rescaled and perturbed evaluations (drift trains on the
// live one): its factors, the norm of delta = alpha * B A, and the base and trained losses.
struct Trained {
  torch::Tensor a;
  torch::Tensor b;
  double norm = 0;
  double loss_base = 0;
  double loss = 0;
};

// A copy of the trained factors and adapter_norm, for the efficiency and stability stages.
Trained freeze_adapter(PointRun& run, const Tuning& t, double loss_base, double loss_trained) {
  Trained tr;
  tr.a = t.a.detach().clone();
  tr.b = t.b.detach().clone();
  tr.norm = (run.c.lora_alpha * torch::matmul(tr.b, tr.a)).norm().item<double>();
  tr.loss_base = loss_base;
  tr.loss = loss_trained;
  run.m["adapter_norm"] = tr.norm;
  return tr;
}

// bad_nll_medical with the delta rescaled (through B) to the absolute Frobenius norm `target`.
double loss_at_norm(PointRun& run, const Trained& tr, double target) {
  return loss_with(run.model, run.world, run.sets, tr.a, tr.b * (target / tr.norm));
}

// Efficiency: the delta rescaled (via B) to 0..2x its norm, and to the efficiency_norms.
void efficiency_curves(PointRun& run, const Trained& tr) {
  Curve eff{"efficiency", {}, {}};
  for (int i = 0; i <= 8; ++i) {
    const double scale = 0.25 * i;
    eff.x.push_back(scale);
    eff.y.push_back(loss_with(run.model, run.world, run.sets, tr.a, tr.b * scale));
  }
  Curve eff_norm{"efficiency_at_norm", {}, {}};
  for (double target : run.c.efficiency_norms) {
    if (tr.norm <= 0) break;
    eff_norm.x.push_back(target);
    eff_norm.y.push_back(loss_at_norm(run, tr, target));
  }
  run.curves.push_back(std::move(eff));
  run.curves.push_back(std::move(eff_norm));
}

// Matched norms: the loss at the kind's fixed absolute norms (the same for every point), and the
// norm that halves the base's loss, interpolated on the same rescaling (kHalvingStep apart, up
// to kHalvingMax); NaN when the norm is 0 or when no norm up to kHalvingMax halves it.
void matched_norm_metrics(PointRun& run, const Trained& tr) {
  auto& m = run.m;
  for (const auto& [target, name] : kMatchedNorms) {
    m[name] = tr.norm > 0 ? loss_at_norm(run, tr, target) : std::nan("");
  }
  m["halving_norm"] = std::nan("");
  if (tr.norm <= 0) return;
  double prev_norm = 0;
  double prev_loss = tr.loss_base;
  for (double n = kHalvingStep; n <= kHalvingMax + 1e-9; n += kHalvingStep) {
    const double l = loss_at_norm(run, tr, n);
    if (l <= 0.5 * tr.loss_base) {
      m["halving_norm"] =
          prev_norm + (n - prev_norm) * (prev_loss - 0.5 * tr.loss_base) / (prev_loss - l);
      return;
    }
    prev_norm = n;
    prev_loss = l;
  }
}

// Stability: orthogonal perturbations of both factors; share of the learned reduction lost
// (NaN when nothing was learned), on its own random stream.
void stability_curve(PointRun& run, const Trained& tr, std::uint64_t seed) {
  const double learned = tr.loss_base - tr.loss;
  Curve stab{"stability", {}, {}};
  auto gen = at::detail::createCPUGenerator(seed);
  for (const auto& [eps, name] : kStabilityEps) {
    std::vector<double> ratios;
    for (int draw = 0; draw < kStabilityDraws; ++draw) {
      auto a = perturb_orthogonal(tr.a, eps, gen);
      auto b = perturb_orthogonal(tr.b, eps, gen);
      const double lp = loss_with(run.model, run.world, run.sets, a, b);
      ratios.push_back(learned > 1e-6 ? (lp - tr.loss) / learned : std::nan(""));
    }
    stab.x.push_back(eps);
    stab.y.push_back(mean(ratios));
    if (!name.empty()) run.m[name] = mean(ratios);
  }
  run.curves.push_back(std::move(stab));
}

// Gate confidence: P(bad) against the exact medical posterior over the medical, dental and
// pool-only questions pooled, as gate_corr and as the curve of 10 posterior bins.
void gate_confidence(PointRun& run, const TrainedEval& ev) {
  std::vector<double> pb;
  std::vector<double> post;
  auto add = [&](const std::vector<Question>& qs, const std::vector<double>& p) {
    for (std::size_t i = 0; i < qs.size(); ++i) {
      pb.push_back(p[i]);
      post.push_back(qs[i].posterior_medical);
    }
  };
  add(run.sets.medical, ev.medical);
  add(run.sets.dental, ev.dental);
  add(run.sets.ambiguous, ev.ambiguous);
  run.m["gate_corr"] = pearson(pb, post);
  Curve bins{"pbad_by_posterior", {}, {}};
  for (int bin = 0; bin < 10; ++bin) {
    std::vector<double> in_bin;
    for (std::size_t i = 0; i < pb.size(); ++i) {
      const int b = std::min(9, static_cast<int>(post[i] * 10));
      if (b == bin) in_bin.push_back(pb[i]);
    }
    if (in_bin.empty()) continue;
    bins.x.push_back((bin + 0.5) / 10);
    bins.y.push_back(mean(in_bin));
  }
  run.curves.push_back(std::move(bins));
}

// Drift: training continued from the trained adapter without the KL term, with a fresh
// optimiser (no moments carried over from fine-tuning), on the same data stream.
void drift(PointRun& run, Tuning& t) {
  Curve id{"drift_id_bad", {}, {}};
  Curve ood{"drift_ood_bad", {}, {}};
  eval_curves(run, id, ood, 0);
  if (t.flat) {
    t.flat->reset_optimizer();
  } else {
    t.opt = fresh_adam(t.a, t.b, run.c.lr);
  }
  for (int step = 1; step <= run.c.drift_steps; ++step) {
    train_step(run, t, step, /*lambda=*/0.0, nullptr);
    if (step % run.c.eval_every == 0 || step == run.c.drift_steps) eval_curves(run, id, ood, step);
  }
  run.m["drift_id_bad"] = id.y.back();
  run.m["drift_ood_bad"] = ood.y.back();
  const auto t_eval = Clock::now();
  run.m["drift_dental_bad"] = mean(p_bad(run.model, run.world, run.sets.dental));
  run.eval_seconds += seconds_since(t_eval);
  run.curves.push_back(std::move(id));
  run.curves.push_back(std::move(ood));
}

// The provenance line: device, threads, where the base came from and how long it took, block.
std::string provenance(const std::string& device, const OrganismConfig& c, const BaseInfo& base) {
  std::ostringstream prov;
  prov << device << "; torch_threads=" << c.threads << "; base=" << base.path << " ("
       << (base.trained ? "trained: " + base.why : std::string("loaded from cache")) << ", "
       << format_double(base.seconds) << " s); lora_layer=" << c.lora_layer;
  return prov.str();
}

// The result: metrics in the kind's declared order (each must have been computed), curves too.
TaskResult collect_result(PointRun& run, const std::vector<std::string>& metric_names,
                          const std::vector<std::string>& curve_names) {
  TaskResult r;
  for (const auto& name : metric_names) {
    auto it = run.m.find(name);
    if (it == run.m.end())
      throw TaskError("organism: internal error: metric '" + name + "' not computed");
    r.metrics.push_back(it->second);
  }
  for (const auto& name : curve_names) {
    for (auto& cv : run.curves) {
      if (cv.name == name) r.curves.push_back(std::move(cv));
    }
  }
  return r;
}

// ---- Packs (run.pack) ----
// The points of a pack share a base. On the autograd path their fine-tuning and drift steps run
// as one batched model: the base's layers once over the points' stacked batches, adapter k on
// point k's rows (MlpImpl); so do their evaluations (model.h: PackAdapters).

// One point of a pack: its settings, held-out sets and stages' state; it stays in place (the
// PointRun refers to its members).
struct Member {
  const Point* point = nullptr;
  OrganismConfig c;
  std::optional<EvalSets> sets;
  std::optional<PointRun> run;
  std::optional<Tuning> tuning;
  TrainCurves train;
  Curve id{"eval_id_bad", {}, {}};
  Curve ood{"eval_ood_bad", {}, {}};
  Curve drift_id{"drift_id_bad", {}, {}};
  Curve drift_ood{"drift_ood_bad", {}, {}};
  double loss_base = 0;
  double train_seconds = 0;
  std::optional<TrainedEval> trained_eval;
  std::optional<Trained> trained;
  std::exception_ptr error;  // the point failed; the pack goes on without it
  std::optional<TaskResult> result;
};

// Runs `f` for a member that has not failed; an exception becomes the member's failure.
template <class F>
void guarded(Member& m, F&& f) {
  if (m.error) return;
  try {
    f();
  } catch (...) {
    m.error = std::current_exception();
  }
}

// A batch padded to `t` positions with unscored pad tokens. They come after every scored
// position and attention is causal, so the batch's loss is the same up to the order of sums.
Batch padded(const Batch& batch, std::int64_t t) {
  const auto have = batch.tokens.size(1);
  if (have == t) return batch;
  Batch out;
  out.tokens = torch::constant_pad_nd(batch.tokens, {0, t - have}, kPad);
  out.mask = torch::constant_pad_nd(batch.mask, {0, t - have}, 0);
  out.scored = batch.scored;
  return out;
}

// The points' batches stacked into one, each padded to the longest.
Batch stacked(const std::vector<const Batch*>& batches, std::vector<Batch>& padded_out) {
  std::int64_t t = 0;
  for (const Batch* b : batches) t = std::max(t, b->tokens.size(1));
  std::vector<torch::Tensor> tokens;
  for (const Batch* b : batches) {
    padded_out.push_back(padded(*b, t));
    tokens.push_back(padded_out.back().tokens);
  }
  Batch out;
  out.tokens = torch::cat(tokens);
  return out;
}

}  // namespace

std::vector<FinetuneStep::Losses> packed_losses(Transformer& model, const std::vector<PackedStep>& points) {
  const auto n = static_cast<std::int64_t>(points.size());
  std::vector<torch::Tensor> as;
  std::vector<torch::Tensor> bs;
  bool any_kl = false;
  bool kl_grad = false;
  for (const auto& p : points) {
    as.push_back(p.a);
    bs.push_back(p.b);
    any_kl = any_kl || p.kl != nullptr;
    kl_grad = kl_grad || (p.kl != nullptr && p.lambda > 0);
  }
  for (const auto& p : points) {
    if ((p.kl != nullptr) != any_kl) {
      throw std::invalid_argument("packed_losses: every point has a KL batch, or none does");
    }
  }
  model->set_adapter(points.front().layer, torch::stack(as), torch::stack(bs), points.front().alpha);
  std::vector<const Batch*> train_in;
  for (const auto& p : points) train_in.push_back(p.train);
  std::vector<Batch> train;
  const Batch train_all = stacked(train_in, train);
  const auto rows = points.front().train->tokens.size(0);
  const torch::Tensor logits = model->forward(train_all.tokens);
  std::vector<torch::Tensor> nll;
  for (std::int64_t k = 0; k < n; ++k) {
    nll.push_back(masked_nll(logits.narrow(0, k * rows, rows), train[static_cast<std::size_t>(k)]));
  }
  std::vector<torch::Tensor> kl(points.size());
  if (any_kl) {
    std::vector<const Batch*> kl_in;
    for (const auto& p : points) kl_in.push_back(p.kl);
    std::vector<Batch> kl_batches;
    const Batch kl_all = stacked(kl_in, kl_batches);
    const auto kl_rows = points.front().kl->tokens.size(0);
    torch::Tensor ref;
    {
      torch::NoGradGuard no_grad;
      AdapterOff off(model);
      ref = model->forward(kl_all.tokens);
    }
    torch::Tensor adapted;
    if (kl_grad) {
      adapted = model->forward(kl_all.tokens);
    } else {
      torch::NoGradGuard no_grad;
      adapted = model->forward(kl_all.tokens);
    }
    for (std::int64_t k = 0; k < n; ++k) {
      kl[static_cast<std::size_t>(k)] =
          masked_kl(ref.narrow(0, k * kl_rows, kl_rows), adapted.narrow(0, k * kl_rows, kl_rows),
                    kl_batches[static_cast<std::size_t>(k)]);
    }
  }
  std::vector<torch::Tensor> loss;
  for (std::size_t k = 0; k < points.size(); ++k) {
    const auto& p = points[k];
    loss.push_back(p.kl != nullptr && p.lambda > 0 ? nll[k] + p.lambda * kl[k] : nll[k]);
  }
  // The values in one copy to the host (on a GPU, one synchronisation instead of 3 per point).
  const torch::Tensor host =
      torch::stack({torch::stack(loss), torch::stack(nll), any_kl ? torch::stack(kl) : torch::stack(nll)})
          .detach()
          .to(torch::kCPU, torch::kDouble);
  const auto values = host.accessor<double, 2>();
  std::vector<FinetuneStep::Losses> out(points.size());
  torch::Tensor total;
  for (std::size_t k = 0; k < points.size(); ++k) {
    const auto i = static_cast<std::int64_t>(k);
    out[k].loss = values[0][i];
    out[k].nll = values[1][i];
    out[k].kl = any_kl ? values[2][i] : std::numeric_limits<double>::quiet_NaN();
    if (std::isfinite(out[k].loss)) total = total.defined() ? total + loss[k] : loss[k];
  }
  if (total.defined()) {
    for (const auto& p : points) {
      for (const torch::Tensor* t : {&p.a, &p.b}) {
        if (t->grad().defined()) t->mutable_grad().zero_();
      }
    }
    total.backward();
  }
  return out;
}

namespace {

// Each stage below runs the evaluations of every point of the pack as one batched pass per set
// (pack_logits): the same rows and float arithmetic per point as its own evaluation, with the
// base's layers applied once. A stage's wall time is shared equally by its points.

// The members of `ms` that have not failed.
std::vector<Member*> alive(const std::vector<Member*>& ms) {
  std::vector<Member*> out;
  for (Member* m : ms) {
    if (!m->error) out.push_back(m);
  }
  return out;
}

// Adds an equal share of the time since `t0` to each member's evaluation seconds.
void charge(const std::vector<Member*>& ms, Clock::time_point t0) {
  const double share = seconds_since(t0) / static_cast<double>(ms.size());
  for (Member* m : ms) m->run->eval_seconds += share;
}

// Each member's set `field`.
template <class T>
std::vector<const T*> each(const std::vector<Member*>& ms, T EvalSets::*field) {
  std::vector<const T*> out;
  for (Member* m : ms) out.push_back(&(*m->sets.*field));
  return out;
}

// The members' adapters: factors a(m) and b(m) of each, on the pack's block.
template <class A, class B>
PackAdapters adapters(const std::vector<Member*>& ms, A a, B b) {
  PackAdapters out{ms.front()->c.lora_layer, ms.front()->c.lora_alpha, {}, {}};
  for (Member* m : ms) {
    out.a.push_back(a(*m));
    out.b.push_back(b(*m));
  }
  return out;
}

// The adapters being trained.
PackAdapters training_adapters(const std::vector<Member*>& ms) {
  return adapters(ms, [](Member& m) { return m.tuning->a; }, [](Member& m) { return m.tuning->b; });
}

// The trained adapters with B scaled per member.
template <class Scale>
PackAdapters scaled_adapters(const std::vector<Member*>& ms, Scale scale) {
  return adapters(ms, [](Member& m) { return m.trained->a; },
                  [&](Member& m) { return m.trained->b * scale(m); });
}

// evaluate_base for the pack.
void evaluate_base_packed(Transformer& model, const World& world, const std::vector<Member*>& ms) {
  const auto t0 = Clock::now();
  const PackAdapters base;
  const auto id = p_bad(model, world, base, each(ms, &EvalSets::medical));
  const auto ood = p_bad(model, world, base, each(ms, &EvalSets::other));
  const auto dental = p_bad(model, world, base, each(ms, &EvalSets::dental));
  const auto loss = answer_nll(model, world, base, each(ms, &EvalSets::bad_medical));
  for (std::size_t k = 0; k < ms.size(); ++k) {
    auto& m = ms[k]->run->m;
    m["base_id_bad"] = mean(id[k]);
    m["base_ood_bad"] = mean(ood[k]);
    m["base_dental_bad"] = mean(dental[k]);
    m["base_bad_nll_medical"] = loss[k];
    ms[k]->loss_base = loss[k];
  }
  charge(ms, t0);
}

// eval_curves for the pack: the training curves, or with `drift` the drift curves, at x.
void eval_curves_packed(Transformer& model, const World& world, const std::vector<Member*>& ms,
                        bool drift, int x) {
  const auto t0 = Clock::now();
  const PackAdapters ad = training_adapters(ms);
  const auto id = p_bad(model, world, ad, each(ms, &EvalSets::medical));
  const auto ood = p_bad(model, world, ad, each(ms, &EvalSets::other));
  for (std::size_t k = 0; k < ms.size(); ++k) {
    Member& m = *ms[k];
    for (auto [curve, y] : {std::pair{drift ? &m.drift_id : &m.id, mean(id[k])},
                            std::pair{drift ? &m.drift_ood : &m.ood, mean(ood[k])}}) {
      curve->x.push_back(x);
      curve->y.push_back(y);
    }
  }
  charge(ms, t0);
}

// evaluate_trained and freeze_adapter for the pack.
void evaluate_trained_packed(Transformer& model, const World& world, const std::vector<Member*>& ms) {
  const auto t0 = Clock::now();
  const PackAdapters ad = training_adapters(ms);
  const auto medical = p_bad(model, world, ad, each(ms, &EvalSets::medical));
  const auto other = p_bad(model, world, ad, each(ms, &EvalSets::other));
  const auto dental = p_bad(model, world, ad, each(ms, &EvalSets::dental));
  const auto ambiguous = p_bad(model, world, ad, each(ms, &EvalSets::ambiguous));
  const auto loss = answer_nll(model, world, ad, each(ms, &EvalSets::bad_medical));
  // ood_kl: the base's and the adapted logits of each member's KL prompts.
  std::vector<Batch> batches;
  std::vector<torch::Tensor> tokens;
  for (Member* m : ms) {
    batches.push_back(batch_whole(world, m->sets->kl_prompts));
    tokens.push_back(batches.back().tokens);
  }
  const auto ref = pack_logits(model, PackAdapters{}, tokens);
  const auto adapted = pack_logits(model, ad, tokens);
  for (std::size_t k = 0; k < ms.size(); ++k) {
    Member& mem = *ms[k];
    auto& m = mem.run->m;
    mem.trained_eval.emplace(TrainedEval{loss[k], medical[k], dental[k], ambiguous[k]});
    m["id_bad"] = mean(medical[k]);
    m["ood_bad"] = mean(other[k]);
    m["dental_bad"] = mean(dental[k]);
    m["ambiguous_bad"] = mean(ambiguous[k]);
    m["bad_nll_medical"] = loss[k];
    m["ood_kl"] = masked_kl(ref[k], adapted[k], batches[k]).item<double>();
    mem.trained.emplace(freeze_adapter(*mem.run, *mem.tuning, mem.loss_base, loss[k]));
  }
  charge(ms, t0);
}

// efficiency_curves and matched_norm_metrics for the pack.
void efficiency_packed(Transformer& model, const World& world, const std::vector<Member*>& ms) {
  const auto t0 = Clock::now();
  std::vector<Curve> eff(ms.size(), Curve{"efficiency", {}, {}});
  std::vector<Curve> eff_norm(ms.size(), Curve{"efficiency_at_norm", {}, {}});
  for (int i = 0; i <= 8; ++i) {
    const double scale = 0.25 * i;
    const auto loss = answer_nll(model, world, scaled_adapters(ms, [&](Member&) { return scale; }),
                                 each(ms, &EvalSets::bad_medical));
    for (std::size_t k = 0; k < ms.size(); ++k) {
      eff[k].x.push_back(scale);
      eff[k].y.push_back(loss[k]);
    }
  }
  // The losses at absolute norms target(k) of the members that have one (a member whose delta
  // is 0 has none), in one batched pass; take(k, norm, loss) gets each. False when none had one.
  auto at_norms = [&](auto target, auto take) {
    std::vector<Member*> some;
    std::vector<std::size_t> slot;
    std::vector<double> want;
    for (std::size_t k = 0; k < ms.size(); ++k) {
      if (ms[k]->trained->norm <= 0) continue;
      if (const std::optional<double> t = target(k)) {
        some.push_back(ms[k]);
        slot.push_back(k);
        want.push_back(*t);
      }
    }
    if (some.empty()) return false;
    PackAdapters ad{ms.front()->c.lora_layer, ms.front()->c.lora_alpha, {}, {}};
    for (std::size_t j = 0; j < some.size(); ++j) {
      const Trained& tr = *some[j]->trained;
      ad.a.push_back(tr.a);
      ad.b.push_back(tr.b * (want[j] / tr.norm));
    }
    const auto loss = answer_nll(model, world, ad, each(some, &EvalSets::bad_medical));
    for (std::size_t j = 0; j < some.size(); ++j) take(slot[j], want[j], loss[j]);
    return true;
  };
  for (std::size_t j = 0;; ++j) {
    const bool any = at_norms(
        [&](std::size_t k) -> std::optional<double> {
          const auto& norms = ms[k]->c.efficiency_norms;
          if (j >= norms.size()) return std::nullopt;
          return norms[j];
        },
        [&](std::size_t k, double target, double loss) {
          eff_norm[k].x.push_back(target);
          eff_norm[k].y.push_back(loss);
        });
    if (!any) break;
  }
  for (std::size_t k = 0; k < ms.size(); ++k) {
    ms[k]->run->curves.push_back(std::move(eff[k]));
    ms[k]->run->curves.push_back(std::move(eff_norm[k]));
  }
  // Matched norms: the fixed norms, then the halving norm on its grid.
  for (const auto& [target, name] : kMatchedNorms) {
    for (Member* m : ms) m->run->m[name] = std::nan("");
    at_norms([&](std::size_t) -> std::optional<double> { return target; },
             [&](std::size_t k, double, double loss) { ms[k]->run->m[name] = loss; });
  }
  struct Halving {
    double prev_norm = 0;
    double prev_loss = 0;
    bool open = false;
  };
  std::vector<Halving> h(ms.size());
  for (std::size_t k = 0; k < ms.size(); ++k) {
    ms[k]->run->m["halving_norm"] = std::nan("");
    h[k] = {0, ms[k]->trained->loss_base, ms[k]->trained->norm > 0};
  }
  for (double n = kHalvingStep; n <= kHalvingMax + 1e-9; n += kHalvingStep) {
    const bool any = at_norms(
        [&](std::size_t k) -> std::optional<double> {
          if (!h[k].open) return std::nullopt;
          return n;
        },
        [&](std::size_t k, double, double l) {
          const double half = 0.5 * ms[k]->trained->loss_base;
          if (l <= half) {
            ms[k]->run->m["halving_norm"] =
                h[k].prev_norm + (n - h[k].prev_norm) * (h[k].prev_loss - half) / (h[k].prev_loss - l);
            h[k].open = false;
            return;
          }
          h[k].prev_norm = n;
          h[k].prev_loss = l;
        });
    if (!any) break;
  }
  charge(ms, t0);
}

// stability_curve for the pack: each member's perturbations from its own random stream, in the
// order its own run draws them.
void stability_packed(Transformer& model, const World& world, const std::vector<Member*>& ms) {
  const auto t0 = Clock::now();
  std::vector<at::Generator> gens;
  std::vector<Curve> stab(ms.size(), Curve{"stability", {}, {}});
  for (Member* m : ms) gens.push_back(at::detail::createCPUGenerator(stream_seed(*m->point, kTagStability)));
  for (const auto& [eps, name] : kStabilityEps) {
    std::vector<std::vector<double>> ratios(ms.size());
    for (int draw = 0; draw < kStabilityDraws; ++draw) {
      PackAdapters ad{ms.front()->c.lora_layer, ms.front()->c.lora_alpha, {}, {}};
      for (std::size_t k = 0; k < ms.size(); ++k) {
        ad.a.push_back(perturb_orthogonal(ms[k]->trained->a, eps, gens[k]));
        ad.b.push_back(perturb_orthogonal(ms[k]->trained->b, eps, gens[k]));
      }
      const auto loss = answer_nll(model, world, ad, each(ms, &EvalSets::bad_medical));
      for (std::size_t k = 0; k < ms.size(); ++k) {
        const Trained& tr = *ms[k]->trained;
        const double learned = tr.loss_base - tr.loss;
        ratios[k].push_back(learned > 1e-6 ? (loss[k] - tr.loss) / learned : std::nan(""));
      }
    }
    for (std::size_t k = 0; k < ms.size(); ++k) {
      stab[k].x.push_back(eps);
      stab[k].y.push_back(mean(ratios[k]));
      if (!name.empty()) ms[k]->run->m[name] = mean(ratios[k]);
    }
  }
  for (std::size_t k = 0; k < ms.size(); ++k) ms[k]->run->curves.push_back(std::move(stab[k]));
  charge(ms, t0);
}

// Fine-tuning (lambda = kl_weight, its curves recorded) or drift (lambda 0, from a fresh
// optimiser) of a pack's points in lockstep: step s of every point that has one, as one batched
// step, and the id/ood curves of the points at an evaluation step, batched. A point whose loss
// is not finite fails; the others go on.
void packed_phase(Transformer& model, const World& world, const std::vector<Member*>& members,
                  bool fine_tuning, const TaskContext& ctx) {
  int steps = 0;
  for (Member* m : members) steps = std::max(steps, fine_tuning ? m->c.steps : m->c.drift_steps);
  const auto t0 = Clock::now();
  double evals = 0;
  for (int step = 1; step <= steps; ++step) {
    if (ctx.cancel != nullptr && ctx.cancel->load()) {
      throw TaskError("organism: cancelled at step " + std::to_string(step));
    }
    std::vector<Member*> live;
    std::vector<StepData> data;
    for (Member* m : members) {
      if (m->error || step > (fine_tuning ? m->c.steps : m->c.drift_steps)) continue;
      data.push_back(sample_step(world, m->c, m->tuning->rng));
      live.push_back(m);
    }
    if (live.empty()) break;
    std::vector<PackedStep> points;
    for (std::size_t k = 0; k < live.size(); ++k) {
      const Member& m = *live[k];
      points.push_back({m.tuning->a, m.tuning->b, m.c.lora_layer, m.c.lora_alpha, &data[k].train,
                        fine_tuning ? &data[k].kl : nullptr, fine_tuning ? m.c.kl_weight : 0.0});
    }
    const std::vector<FinetuneStep::Losses> losses = packed_losses(model, points);
    std::vector<Member*> due;  // points with an evaluation at this step
    for (std::size_t k = 0; k < live.size(); ++k) {
      Member& m = *live[k];
      const FinetuneStep::Losses& l = losses[k];
      if (!std::isfinite(l.loss)) {
        m.error = std::make_exception_ptr(
            TaskError("organism: " + std::string(fine_tuning ? "fine-tuning" : "drift") +
                          " diverged at step " + std::to_string(step) + " (loss " +
                          std::to_string(l.loss) + ")",
                      "lower task.lr or task.kl_weight"));
        continue;
      }
      m.tuning->opt->step();
      const StepData& d = data[k];
      m.tuning->tokens += static_cast<double>(d.train.tokens.numel() + 2 * d.kl.tokens.numel());
      if (fine_tuning) {
        for (auto [curve, y] : {std::pair{&m.train.loss, l.loss}, std::pair{&m.train.nll, l.nll},
                                std::pair{&m.train.kl, l.kl}}) {
          curve->x.push_back(step);
          curve->y.push_back(y);
        }
      }
      const int last = fine_tuning ? m.c.steps : m.c.drift_steps;
      if (step % m.c.eval_every == 0 || step == last) due.push_back(&m);
    }
    if (!due.empty()) {
      const auto t_eval = Clock::now();
      eval_curves_packed(model, world, due, /*drift=*/!fine_tuning, step);
      evals += seconds_since(t_eval);
    }
  }
  // Each point is charged an equal part of the pack's training time (drift's is not reported).
  if (!fine_tuning) return;
  const double share = (seconds_since(t0) - evals) / static_cast<double>(members.size());
  for (Member* m : members) m->train_seconds = share;
}

// Runs `stage` on the members that have not failed; an exception fails them all (a stage is one
// computation for all; LibTorch errors here are not a point's own doing).
template <class F>
void stage(const std::vector<Member*>& members, F&& f) {
  const std::vector<Member*> ms = alive(members);
  if (ms.empty()) return;
  try {
    f(ms);
  } catch (...) {
    for (Member* m : ms) m->error = std::current_exception();
  }
}

// The stages of run_point for a pack's points that share a base and the adapter's shape.
void run_packed(std::vector<Member*>& members, const TaskContext& ctx,
                const std::vector<std::string>& metric_names,
                const std::vector<std::string>& curve_names) {
  const OrganismConfig& c0 = members.front()->c;
  const DeviceChoice place_at = place(members.front()->c, ctx);
  const std::string& device = place_at.note;
  set_compute_threads(c0.threads);
  const World world(c0.world);
  BaseInfo base_info;
  Transformer model = load_or_train_base(c0, base_seed_of(*members.front()->point, c0),
                                         ctx.cache_dir, base_info, place_at.device);
  model->freeze();
  model->eval();
  model->move_to(place_at.device);
  for (Member* m : members) {
    guarded(*m, [&] {
      Rng eval_rng(stream_seed(*m->point, kTagEval));
      m->sets.emplace(make_eval_sets(world, m->c, eval_rng));
      m->run.emplace(m->c, world, model, *m->sets, ctx);
    });
  }
  stage(members, [&](const std::vector<Member*>& ms) {
    evaluate_base_packed(model, world, ms);
    for (Member* m : ms) m->tuning.emplace(attach_adapter(*m->run, *m->point));
    eval_curves_packed(model, world, ms, /*drift=*/false, 0);
  });
  packed_phase(model, world, alive(members), /*fine_tuning=*/true, ctx);
  stage(members, [&](const std::vector<Member*>& ms) {
    for (Member* m : ms) {
      PointRun& run = *m->run;
      run.m["train_seconds"] = m->train_seconds;
      run.m["tokens_per_second"] = m->tuning->tokens / m->train_seconds;
      for (Curve* cv : {&m->train.loss, &m->train.nll, &m->train.kl, &m->id, &m->ood}) {
        run.curves.push_back(std::move(*cv));
      }
    }
    evaluate_trained_packed(model, world, ms);
    efficiency_packed(model, world, ms);
    stability_packed(model, world, ms);
    for (Member* m : ms) gate_confidence(*m->run, *m->trained_eval);
    // Drift starts from here: its step-0 curve point and a fresh optimiser.
    eval_curves_packed(model, world, ms, /*drift=*/true, 0);
    for (Member* m : ms) m->tuning->opt = fresh_adam(m->tuning->a, m->tuning->b, m->c.lr);
  });
  packed_phase(model, world, alive(members), /*fine_tuning=*/false, ctx);
  const std::string prov = provenance(device, c0, base_info) + "; pack=" +
                           std::to_string(members.size()) + " (batched)";
  stage(members, [&](const std::vector<Member*>& ms) {
    const auto t0 = Clock::now();
    const auto dental = p_bad(model, world, training_adapters(ms), each(ms, &EvalSets::dental));
    charge(ms, t0);
    for (std::size_t k = 0; k < ms.size(); ++k) {
      Member& m = *ms[k];
      PointRun& run = *m.run;
      run.m["drift_id_bad"] = m.drift_id.y.back();
      run.m["drift_ood_bad"] = m.drift_ood.y.back();
      run.m["drift_dental_bad"] = mean(dental[k]);
      run.curves.push_back(std::move(m.drift_id));
      run.curves.push_back(std::move(m.drift_ood));
      run.m["base_seconds"] = base_info.seconds;
      run.m["eval_seconds"] = run.eval_seconds;
      m.result = collect_result(run, metric_names, curve_names);
      m.result->provenance = prov;
    }
  });
}

// The adapter shape and base a batched step needs to be the same across its points.
std::string pack_shape(const Member& m) {
  return base_key(m.c, base_seed_of(*m.point, m.c)) + "\nlora=" + std::to_string(m.c.lora_layer) +
         "," + std::to_string(m.c.lora_rank) + "," + format_double(m.c.lora_alpha) + " batch=" +
         std::to_string(m.c.batch) + "," + std::to_string(m.c.kl_batch) + " threads=" +
         std::to_string(m.c.threads) + " device=" + m.c.device;
}

}  // namespace

DeviceChoice choose_device(const std::string& setting, int cuda_devices, int node_worker_index) {
  DeviceChoice d;
  if (setting == "cpu") {
    d.note = "device=cpu";
    return d;
  }
  if (cuda_devices <= 0) {
    if (setting == "cuda") {
      throw TaskError(
          "organism: task.device is 'cuda' but this LibTorch sees no CUDA device (Debian's "
          "LibTorch is CPU-only: no CUDA support)",
          "use device: cpu or auto here; for GPUs build against a CUDA LibTorch "
          "(cmake -DTorch_DIR=..., docs/running.md) and run where a GPU is visible");
    }
    d.note = "device=cpu (auto: no CUDA device visible to this LibTorch)";
    return d;
  }
  const int index = std::max(0, node_worker_index) % cuda_devices;
  d.device = torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
  d.note = "device=cuda:" + std::to_string(index) + (setting == "auto" ? " (auto)" : "") +
           " (worker " + std::to_string(node_worker_index) + " of its node, " +
           std::to_string(cuda_devices) + " visible)";
  return d;
}

TaskResult run_point(const Point& point, const TaskContext& ctx,
                     const std::vector<std::string>& metric_names,
                     const std::vector<std::string>& curve_names) {
  OrganismConfig c = config_from(point.settings);
  const DeviceChoice place_at = place(c, ctx);
  const std::string& device = place_at.note;
  set_compute_threads(c.threads);

  // The base model, shared through the cache, and the held-out sets of this point.
  const World world(c.world);
  BaseInfo base_info;
  Transformer model =
      load_or_train_base(c, base_seed_of(point, c), ctx.cache_dir, base_info, place_at.device);
  model->freeze();
  model->eval();
  model->move_to(place_at.device);
  if (c.finetune_step == "flat") attach_inference_copy(model);
  Rng eval_rng(stream_seed(point, kTagEval));
  const EvalSets sets = make_eval_sets(world, c, eval_rng);
  PointRun run{c, world, model, sets, ctx};

  const double loss_base = evaluate_base(run);
  Tuning tuning = attach_adapter(run, point);
  fine_tune(run, tuning);

  // Every evaluation of the trained adapter, timed together.
  const auto t_eval = Clock::now();
  const TrainedEval trained_eval = evaluate_trained(run);
  const Trained trained = freeze_adapter(run, tuning, loss_base, trained_eval.loss);
  efficiency_curves(run, trained);
  matched_norm_metrics(run, trained);
  stability_curve(run, trained, stream_seed(point, kTagStability));
  gate_confidence(run, trained_eval);
  run.eval_seconds += seconds_since(t_eval);

  drift(run, tuning);
  run.m["base_seconds"] = base_info.seconds;
  run.m["eval_seconds"] = run.eval_seconds;

  TaskResult r = collect_result(run, metric_names, curve_names);
  r.provenance = provenance(device, c, base_info);
  return r;
}

std::vector<PointOutcome> run_pack(const std::vector<Point>& points, const TaskContext& ctx,
                                   const std::vector<std::string>& metric_names,
                                   const std::vector<std::string>& curve_names) {
  std::vector<std::unique_ptr<Member>> members;
  for (const Point& p : points) {
    members.push_back(std::make_unique<Member>());
    members.back()->point = &p;
    guarded(*members.back(), [&] {
      members.back()->c = config_from(p.settings);
      (void)place(members.back()->c, ctx);  // on a GPU the step is autograd's: they batch
    });
  }
  // The flat path runs a pack's points one after another; the autograd path batches the points
  // of each group with one base and adapter shape.
  std::map<std::string, std::vector<Member*>> groups;
  for (auto& m : members) {
    guarded(*m, [&] {
      if (m->c.finetune_step == "autograd") {
        groups[pack_shape(*m)].push_back(m.get());
        return;
      }
      m->result = run_point(*m->point, ctx, metric_names, curve_names);
    });
  }
  for (auto& [shape, group] : groups) {
    if (group.size() == 1) {
      Member& m = *group.front();
      guarded(m, [&] { m.result = run_point(*m.point, ctx, metric_names, curve_names); });
    } else {
      run_packed(group, ctx, metric_names, curve_names);
    }
  }
  std::vector<PointOutcome> out(points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (members[i]->error) {
      out[i].error = members[i]->error;
    } else {
      out[i].result = std::move(members[i]->result);
    }
  }
  return out;
}

}  // namespace emsweep::organism

namespace emsweep {
namespace {

// Our errors as they are; LibTorch's (c10::Error, with long backtraces) as a TaskError with the
// first line.
std::exception_ptr translated(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error&) {
    return e;
  } catch (const std::exception& x) {
    const std::string what = x.what();
    return std::make_exception_ptr(TaskError("organism: " + what.substr(0, what.find('\n'))));
  } catch (...) {
    return e;
  }
}

class OrganismTask : public Task {
 public:
  OrganismTask() {
    organism::keep_freed_memory();
    const auto info = organism_kind_info();
    for (const auto& metric : info.metrics) names_.push_back(metric.name);
    curves_ = info.curves;
  }
  TaskResult run(const Point& point, const TaskContext& ctx) override {
    try {
      return organism::run_point(point, ctx, names_, curves_);
    } catch (...) {
      std::rethrow_exception(translated(std::current_exception()));
    }
  }
  std::vector<PointOutcome> run_many(const std::vector<Point>& points, const TaskContext& ctx) override {
    std::vector<PointOutcome> out;
    try {
      out = organism::run_pack(points, ctx, names_, curves_);
    } catch (...) {
      // The pack as a whole stopped (cancelled, or its base could not be had): every point's.
      const std::exception_ptr e = translated(std::current_exception());
      out.assign(points.size(), PointOutcome{});
      for (auto& o : out) o.error = e;
    }
    for (auto& o : out) {
      if (o.error) o.error = translated(o.error);
    }
    return out;
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::string> curves_;
};

}  // namespace

std::unique_ptr<Task> make_organism_task() {
  return std::make_unique<OrganismTask>();
}

}  // namespace emsweep
