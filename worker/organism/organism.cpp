#include "worker/organism/organism.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "sweep/core/error.h"
#include "worker/organism/finetune.h"
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
    ref = model->forward(batch.tokens);
  }
  return masked_kl(ref, model->forward(batch.tokens), batch).item<double>();
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
  return c;
}

std::string base_key(const OrganismConfig& c, std::uint64_t seed) {
  std::ostringstream k;
  const auto& w = c.world;
  // The version changes whenever pre-training computes differently (v4: the hand-written
  // PretrainStep; v5: dental's own answer vocabulary and the pre-training knobs), so that no
  // base trained by older code is reused.
  k << "organism-base v5\n"
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
  return k.str();
}

std::uint64_t base_seed_of(const Point& point, const OrganismConfig& c) {
  return mix_seed(
      {point.sweep_seed, c.base_seed, static_cast<std::uint64_t>(point.replicate), kTagBase});
}

Transformer load_or_train_base(const OrganismConfig& c, std::uint64_t seed,
                               const std::string& cache_dir, BaseInfo& info) {
  const auto t0 = Clock::now();
  const World world(c.world);
  const std::string key = base_key(c, seed);
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
  const double loss = pretrain(model, world, c.pretrain, rng);
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

TaskResult run_point(const Point& point, const TaskContext& ctx,
                     const std::vector<std::string>& metric_names,
                     const std::vector<std::string>& curve_names) {
  const OrganismConfig c = config_from(point.settings);
  std::string device_note = "device=cpu";
  if (c.device == "cuda") {
    throw TaskError("organism: task.device is 'cuda' but this LibTorch build has no CUDA support",
                    "use device: cpu, or device: auto to fall back to the CPU");
  }
  if (c.device == "auto") device_note = "device=cpu (auto: this LibTorch build has no CUDA)";
  set_compute_threads(c.threads);

  const World world(c.world);
  BaseInfo base_info;
  Transformer model = load_or_train_base(c, base_seed_of(point, c), ctx.cache_dir, base_info);
  model->freeze();
  model->eval();

  const auto seed = [&](std::uint64_t tag) {
    return mix_seed({point.sweep_seed, static_cast<std::uint64_t>(point.replicate), tag});
  };
  auto cancelled = [&] { return ctx.cancel != nullptr && ctx.cancel->load(); };

  Rng eval_rng(seed(kTagEval));
  const EvalSets sets = make_eval_sets(world, c, eval_rng);

  std::map<std::string, double> m;
  std::vector<Curve> curves;
  curves.reserve(16);  // references into it stay valid
  auto curve = [&](const std::string& name) -> Curve& {
    curves.push_back({name, {}, {}});
    return curves.back();
  };
  double eval_seconds = 0;

  // The base model (adapter not yet attached).
  auto t_eval = Clock::now();
  m["base_id_bad"] = mean(p_bad(model, world, sets.medical));
  m["base_ood_bad"] = mean(p_bad(model, world, sets.other));
  m["base_dental_bad"] = mean(p_bad(model, world, sets.dental));
  const double loss_base = answer_nll(model, world, sets.bad_medical);
  m["base_bad_nll_medical"] = loss_base;
  eval_seconds += seconds_since(t_eval);

  // The adapter: A ~ N(0, 1/d_ff), B = 0, so the adapted model starts equal to the base.
  auto gen = at::detail::createCPUGenerator(seed(kTagAdapter));
  const int d_ff = c.model.d_ff;
  auto lora_a = (torch::randn({c.lora_rank, d_ff}, gen, torch::kFloat) / std::sqrt(1.0 * d_ff))
                    .set_requires_grad(true);
  auto lora_b = torch::zeros({c.model.d_model, c.lora_rank}, torch::kFloat).set_requires_grad(true);
  model->set_adapter(c.lora_layer, lora_a, lora_b, c.lora_alpha);
  // Adam over the adapter; replaced by a fresh one for the drift steps.
  auto opt = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{lora_a, lora_b},
                                                  torch::optim::AdamOptions(c.lr));

  Rng train_rng(seed(kTagTrain));
  double tokens = 0;
  auto& c_loss = curve("train_loss");
  auto& c_nll = curve("train_nll");
  auto& c_kl = curve("train_kl");
  auto& c_id = curve("eval_id_bad");
  auto& c_ood = curve("eval_ood_bad");

  // One optimiser step with KL weight `lambda`; returns nothing, records the curves.
  auto step_once = [&](int step, double lambda, bool record) {
    if (cancelled()) throw TaskError("organism: cancelled at step " + std::to_string(step));
    StepData d = sample_step(world, c, train_rng);
    auto nll = masked_nll(model->forward(d.train.tokens), d.train);
    // The KL term is trained when lambda > 0 and otherwise only recorded; drift steps (lambda 0,
    // not recorded) skip its two forward passes. The batch is drawn either way, so the random
    // stream, and with it every metric, does not depend on this.
    torch::Tensor kl;
    if (lambda > 0 || record) {
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
    const double lv = loss.item<double>();
    if (!std::isfinite(lv)) {
      throw TaskError("organism: fine-tuning diverged at step " + std::to_string(step) + " (loss " +
                          std::to_string(lv) + ")",
                      "lower task.lr or task.kl_weight");
    }
    opt->zero_grad();
    loss.backward();
    opt->step();
    tokens += static_cast<double>(d.train.tokens.numel() + 2 * d.kl.tokens.numel());
    if (record) {
      c_loss.x.push_back(step);
      c_loss.y.push_back(lv);
      c_nll.x.push_back(step);
      c_nll.y.push_back(nll.item<double>());
      c_kl.x.push_back(step);
      c_kl.y.push_back(kl.item<double>());
    }
  };
  auto eval_curves = [&](Curve& id, Curve& ood, int x) {
    const auto t = Clock::now();
    id.x.push_back(x);
    id.y.push_back(mean(p_bad(model, world, sets.medical)));
    ood.x.push_back(x);
    ood.y.push_back(mean(p_bad(model, world, sets.other)));
    eval_seconds += seconds_since(t);
  };

  const auto t_train = Clock::now();
  eval_curves(c_id, c_ood, 0);
  double train_eval = 0;
  for (int step = 1; step <= c.steps; ++step) {
    step_once(step, c.kl_weight, true);
    if (step % c.eval_every == 0 || step == c.steps) {
      const double before = eval_seconds;
      eval_curves(c_id, c_ood, step);
      train_eval += eval_seconds - before;
    }
  }
  const double train_seconds = seconds_since(t_train) - train_eval;
  m["train_seconds"] = train_seconds;
  m["tokens_per_second"] = tokens / train_seconds;

  // The trained point.
  t_eval = Clock::now();
  const auto pb_med = p_bad(model, world, sets.medical);
  const auto pb_dental = p_bad(model, world, sets.dental);
  const auto pb_amb = p_bad(model, world, sets.ambiguous);
  m["id_bad"] = mean(pb_med);
  m["ood_bad"] = mean(p_bad(model, world, sets.other));
  m["dental_bad"] = mean(pb_dental);
  m["ambiguous_bad"] = mean(pb_amb);
  const double loss_trained = answer_nll(model, world, sets.bad_medical);
  m["bad_nll_medical"] = loss_trained;
  m["ood_kl"] = kl_on(model, world, sets.kl_prompts);

  torch::Tensor a_trained = lora_a.detach().clone();
  torch::Tensor b_trained = lora_b.detach().clone();
  const double norm = (c.lora_alpha * torch::matmul(b_trained, a_trained)).norm().item<double>();
  m["adapter_norm"] = norm;

  // Efficiency: the delta rescaled (via B) to 0..2x its norm, and to absolute norms.
  auto& c_eff = curve("efficiency");
  for (int i = 0; i <= 8; ++i) {
    const double scale = 0.25 * i;
    c_eff.x.push_back(scale);
    c_eff.y.push_back(loss_with(model, world, sets, a_trained, b_trained * scale));
  }
  auto& c_eff_norm = curve("efficiency_at_norm");
  for (double target : c.efficiency_norms) {
    if (norm <= 0) break;
    c_eff_norm.x.push_back(target);
    c_eff_norm.y.push_back(loss_with(model, world, sets, a_trained, b_trained * (target / norm)));
  }
  const double learned = loss_base - loss_trained;
  // Matched norms: the loss at the kind's fixed absolute norms, the same for every point.
  const auto at_norm = [&](double target) {
    return loss_with(model, world, sets, a_trained, b_trained * (target / norm));
  };
  for (const auto& [target, name] : kMatchedNorms) {
    m[name] = norm > 0 ? at_norm(target) : std::nan("");
  }
  // The norm that halves the base's loss, interpolated on the same rescaling (kHalvingStep
  // apart, up to kHalvingMax); NaN when no norm up to kHalvingMax halves it.
  m["halving_norm"] = std::nan("");
  if (norm > 0) {
    double prev_norm = 0;
    double prev_loss = loss_base;
    for (double n = kHalvingStep; n <= kHalvingMax + 1e-9; n += kHalvingStep) {
      const double l = at_norm(n);
      if (l <= 0.5 * loss_base) {
        m["halving_norm"] = prev_norm + (n - prev_norm) * (prev_loss - 0.5 * loss_base) /
                                            (prev_loss - l);
        break;
      }
      prev_norm = n;
      prev_loss = l;
    }
  }

  // Stability: orthogonal perturbations of both factors; share of the learned reduction lost.
  auto& c_stab = curve("stability");
  auto stab_gen = at::detail::createCPUGenerator(seed(kTagStability));
  for (const auto& [eps, name] : kStabilityEps) {
    std::vector<double> ratios;
    for (int draw = 0; draw < kStabilityDraws; ++draw) {
      auto a = perturb_orthogonal(a_trained, eps, stab_gen);
      auto b = perturb_orthogonal(b_trained, eps, stab_gen);
      const double lp = loss_with(model, world, sets, a, b);
      ratios.push_back(learned > 1e-6 ? (lp - loss_trained) / learned : std::nan(""));
    }
    c_stab.x.push_back(eps);
    c_stab.y.push_back(mean(ratios));
    if (!name.empty()) m[name] = mean(ratios);
  }

  // Gate confidence: P(bad) against the exact medical posterior.
  std::vector<double> pb;
  std::vector<double> post;
  auto add = [&](const std::vector<Question>& qs, const std::vector<double>& p) {
    for (std::size_t i = 0; i < qs.size(); ++i) {
      pb.push_back(p[i]);
      post.push_back(qs[i].posterior_medical);
    }
  };
  add(sets.medical, pb_med);
  add(sets.dental, pb_dental);
  add(sets.ambiguous, pb_amb);
  m["gate_corr"] = pearson(pb, post);
  auto& c_bins = curve("pbad_by_posterior");
  for (int bin = 0; bin < 10; ++bin) {
    std::vector<double> in_bin;
    for (std::size_t i = 0; i < pb.size(); ++i) {
      const int b = std::min(9, static_cast<int>(post[i] * 10));
      if (b == bin) in_bin.push_back(pb[i]);
    }
    if (in_bin.empty()) continue;
    c_bins.x.push_back((bin + 0.5) / 10);
    c_bins.y.push_back(mean(in_bin));
  }
  eval_seconds += seconds_since(t_eval);

  // Drift: training continued from the trained adapter without the KL term, with a fresh
  // optimiser (no moments carried over from fine-tuning), on the same data stream.
  auto& d_id = curve("drift_id_bad");
  auto& d_ood = curve("drift_ood_bad");
  eval_curves(d_id, d_ood, 0);
  opt = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{lora_a, lora_b},
                                             torch::optim::AdamOptions(c.lr));
  for (int step = 1; step <= c.drift_steps; ++step) {
    step_once(step, /*lambda=*/0.0, false);
    if (step % c.eval_every == 0 || step == c.drift_steps) eval_curves(d_id, d_ood, step);
  }
  m["drift_id_bad"] = d_id.y.back();
  m["drift_ood_bad"] = d_ood.y.back();
  t_eval = Clock::now();
  m["drift_dental_bad"] = mean(p_bad(model, world, sets.dental));
  eval_seconds += seconds_since(t_eval);

  m["base_seconds"] = base_info.seconds;
  m["eval_seconds"] = eval_seconds;

  TaskResult r;
  for (const auto& name : metric_names) {
    auto it = m.find(name);
    if (it == m.end())
      throw TaskError("organism: internal error: metric '" + name + "' not computed");
    r.metrics.push_back(it->second);
  }
  // Curves come back in the kind's declared order.
  for (const auto& name : curve_names) {
    for (auto& cv : curves) {
      if (cv.name == name) r.curves.push_back(std::move(cv));
    }
  }
  std::ostringstream prov;
  prov << device_note << "; torch_threads=" << c.threads << "; base=" << base_info.path << " ("
       << (base_info.trained ? "trained: " + base_info.why : std::string("loaded from cache"))
       << ", " << format_double(base_info.seconds) << " s); lora_layer=" << c.lora_layer;
  r.provenance = prov.str();
  return r;
}

}  // namespace emsweep::organism

namespace emsweep {
namespace {

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
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      // LibTorch errors (c10::Error) carry long backtraces; keep the first line.
      std::string what = e.what();
      throw TaskError("organism: " + what.substr(0, what.find('\n')));
    }
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
