#include "worker/organism/model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <numeric>
#include <string>

#include "sweep/core/error.h"
#include "worker/organism/flat_model.h"
#include "worker/organism/pretrain_step.h"

namespace emsweep::organism {

void keep_freed_memory() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    return true;
  }();
  (void)done;
}

void set_compute_threads(int threads) {
  torch::set_num_threads(threads);
  // Found at run time: the BLAS behind LibTorch is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
  }
}

MlpImpl::MlpImpl(int d_model, int d_ff)
    : up(register_module("up", torch::nn::Linear(d_model, d_ff))),
      down(register_module("down", torch::nn::Linear(d_ff, d_model))) {}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  const torch::Tensor h = torch::gelu(up(x));
  torch::Tensor y = down(h);
  if (lora_on && lora_a.defined() && lora_a.dim() == 3) {
    // A pack's adapters: adapter k on the k-th of K equal blocks of rows.
    const auto k = lora_a.size(0);
    const auto hk = h.reshape({k, -1, h.size(-1)});
    const auto delta = torch::bmm(torch::bmm(hk, lora_a.transpose(1, 2)), lora_b.transpose(1, 2));
    y = y + lora_alpha * delta.reshape(y.sizes());
  } else if (lora_on && lora_a.defined()) {
    y = y + lora_alpha * torch::matmul(torch::matmul(h, lora_a.t()), lora_b.t());
  }
  return y;
}

AttentionImpl::AttentionImpl(int d_model, int n_heads)
    : qkv(register_module("qkv", torch::nn::Linear(d_model, 3 * d_model))),
      proj(register_module("proj", torch::nn::Linear(d_model, d_model))),
      n_heads(n_heads) {}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
  const auto b = x.size(0);
  const auto t = x.size(1);
  const auto d = x.size(2);
  const auto hd = d / n_heads;
  // [B, T, 3, H, hd] -> three [B, H, T, hd]
  auto parts = qkv(x).view({b, t, 3, n_heads, hd}).permute({2, 0, 3, 1, 4});
  auto q = parts[0];
  auto k = parts[1];
  auto v = parts[2];
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  scores = scores.masked_fill(causal_mask.slice(0, 0, t).slice(1, 0, t),
                              -std::numeric_limits<float>::infinity());
  auto out = torch::matmul(torch::softmax(scores, /*dim=*/-1), v);
  return proj(out.transpose(1, 2).reshape({b, t, d}));
}

BlockImpl::BlockImpl(int d_model, int n_heads, int d_ff)
    : ln1(register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})))),
      attn(register_module("attn", Attention(d_model, n_heads))),
      ln2(register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})))),
      mlp(register_module("mlp", Mlp(d_model, d_ff))) {}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
  auto h = x + attn(ln1(x), causal_mask);
  return h + mlp(ln2(h));
}

TransformerImpl::TransformerImpl(const ModelConfig& cfg)
    : config(cfg),
      tok_emb(register_module("tok_emb", torch::nn::Embedding(cfg.vocab, cfg.d_model))),
      pos_emb(register_module("pos_emb", torch::nn::Embedding(cfg.max_len, cfg.d_model))),
      ln_f(register_module("ln_f",
                           torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.d_model})))),
      head(register_module("head", torch::nn::Linear(cfg.d_model, cfg.vocab))) {
  if (cfg.n_heads < 1 || cfg.d_model % cfg.n_heads != 0) {
    throw TaskError("organism: d_model (" + std::to_string(cfg.d_model) +
                        ") must be a multiple of n_heads (" + std::to_string(cfg.n_heads) + ")",
                    "change task.d_model or task.n_heads");
  }
  for (int i = 0; i < cfg.n_layers; ++i) {
    blocks.push_back(
        register_module("block" + std::to_string(i), Block(cfg.d_model, cfg.n_heads, cfg.d_ff)));
  }
  causal_mask = torch::ones({cfg.max_len, cfg.max_len}, torch::kBool).triu(/*diagonal=*/1);
}

void TransformerImpl::move_to(const torch::Device& device) {
  to(device);
  causal_mask = causal_mask.to(device);
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& tokens) {
  const auto t = tokens.size(1);
  const torch::Device device = tok_emb->weight.device();
  auto x = tok_emb(tokens.to(device)) +
           pos_emb(torch::arange(t, torch::TensorOptions(torch::kLong).device(device))).unsqueeze(0);
  for (auto& block : blocks) x = block(x, causal_mask);
  return head(ln_f(x));
}

void TransformerImpl::init_weights(std::uint64_t seed, double embed_std) {
  auto gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters(/*recurse=*/true)) {
    auto& p = item.value();
    const std::string& name = item.key();
    const bool is_norm = name.find("ln") != std::string::npos;
    const bool is_embedding = name.find("_emb") != std::string::npos;
    if (p.dim() >= 2) {
      p.copy_(torch::randn(p.sizes(), gen, p.options()) * (is_embedding ? embed_std : 0.02));
    } else if (is_norm && name.ends_with("weight")) {
      p.fill_(1.0);
    } else {
      p.zero_();
    }
  }
}

void TransformerImpl::freeze() {
  for (auto& p : parameters(/*recurse=*/true)) p.set_requires_grad(false);
}

void TransformerImpl::set_adapter(int layer, torch::Tensor a, torch::Tensor b, double alpha) {
  if (layer < 0 || layer >= config.n_layers) {
    throw TaskError("organism: lora_layer " + std::to_string(layer) + " is outside 0.." +
                        std::to_string(config.n_layers - 1),
                    "use -1 for the middle layer");
  }
  if (adapter_layer >= 0) enable_adapter(false);
  adapter_layer = layer;
  auto& mlp = adapted();
  mlp->lora_a = std::move(a);
  mlp->lora_b = std::move(b);
  mlp->lora_alpha = alpha;
  mlp->lora_on = true;
}

void TransformerImpl::enable_adapter(bool on) {
  if (adapter_layer >= 0) adapted()->lora_on = on;
}

namespace {

Batch make_batch(const std::vector<std::vector<int>>& seqs,
                 const std::vector<std::pair<int, int>>& scored_ranges) {
  std::size_t t = 0;
  for (const auto& s : seqs) t = std::max(t, s.size());
  const auto b = static_cast<std::int64_t>(seqs.size());
  const auto tl = static_cast<std::int64_t>(t);
  Batch out;
  out.tokens = torch::full({b, tl}, static_cast<std::int64_t>(kPad), torch::kLong);
  out.mask = torch::zeros({b, tl - 1}, torch::kFloat);
  auto tok = out.tokens.accessor<std::int64_t, 2>();
  auto mask = out.mask.accessor<float, 2>();
  for (std::int64_t i = 0; i < b; ++i) {
    const auto& s = seqs[static_cast<std::size_t>(i)];
    for (std::size_t j = 0; j < s.size(); ++j) tok[i][static_cast<std::int64_t>(j)] = s[j];
    const auto [lo, hi] = scored_ranges[static_cast<std::size_t>(i)];
    for (int j = lo; j < hi; ++j) {
      mask[i][j] = 1.0F;
      out.scored += 1;
    }
  }
  return out;
}

}  // namespace

Batch batch_all_tokens(const std::vector<std::vector<int>>& seqs) {
  std::vector<std::pair<int, int>> ranges;
  for (const auto& s : seqs) ranges.emplace_back(0, static_cast<int>(s.size()) - 1);
  return make_batch(seqs, ranges);
}

Batch batch_answers(const World& world, const std::vector<Example>& examples) {
  std::vector<std::vector<int>> seqs;
  std::vector<std::pair<int, int>> ranges;
  // Logit position p predicts token p+1; the answer starts right after the A token, which
  // sits at prompt_length()-1.
  const int first = world.prompt_length() - 1;
  for (const auto& e : examples) {
    seqs.push_back(world.sequence(e));
    ranges.emplace_back(first, first + world.config().answer_tokens);
  }
  return make_batch(seqs, ranges);
}

Batch batch_whole(const World& world, const std::vector<Example>& examples) {
  std::vector<std::vector<int>> seqs;
  for (const auto& e : examples) seqs.push_back(world.sequence(e));
  return batch_all_tokens(seqs);
}

torch::Tensor masked_nll(const torch::Tensor& logits, const Batch& batch) {
  const auto v = logits.size(2);
  auto pred = logits.slice(1, 0, logits.size(1) - 1).reshape({-1, v});
  auto target = batch.tokens.slice(1, 1).reshape({-1}).to(logits.device());
  auto nll = torch::nn::functional::cross_entropy(
      pred, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return (nll * batch.mask.reshape({-1}).to(logits.device())).sum() / batch.scored;
}

torch::Tensor masked_kl(const torch::Tensor& ref_logits, const torch::Tensor& logits,
                        const Batch& batch) {
  const auto t = logits.size(1) - 1;
  auto ref_logp = torch::log_softmax(ref_logits.slice(1, 0, t), /*dim=*/-1);
  auto logp = torch::log_softmax(logits.slice(1, 0, t), /*dim=*/-1);
  auto kl = (ref_logp.exp() * (ref_logp - logp)).sum(/*dim=*/-1);  // [B, T-1]
  return (kl * batch.mask.to(logits.device())).sum() / batch.scored;
}

void attach_inference_copy(Transformer& model) {
  model->inference = std::make_shared<InferenceCopy>(*model);
}

namespace {

// Runs `tokens` [B, T] through the model's inference copy (which must be attached), with the
// model's adapter when it is on; the logits and log-probabilities are left in the copy's pass.
InferenceCopy& run_copy(Transformer& model, const torch::Tensor& tokens) {
  InferenceCopy& copy = *model->inference;
  LoraView lora;
  torch::Tensor a;
  torch::Tensor b;
  const bool adapted = model->adapter_layer >= 0 && model->adapted()->lora_on;
  if (adapted) {
    const auto& mlp = model->adapted();
    a = mlp->lora_a.detach().to(torch::kFloat).contiguous();
    b = mlp->lora_b.detach().to(torch::kFloat).contiguous();
    lora = {model->adapter_layer, static_cast<int>(a.size(0)), static_cast<float>(mlp->lora_alpha),
            a.data_ptr<float>(), b.data_ptr<float>()};
  }
  // The prefix below the adapter's block is shared by the adapted and the base evaluations.
  const int layer = model->adapter_layer >= 0 ? model->adapter_layer : model->config.n_layers - 1;
  copy.run(tokens, layer, adapted ? &lora : nullptr);
  return copy;
}

}  // namespace

torch::Tensor inference_logits(Transformer& model, const torch::Tensor& tokens) {
  torch::NoGradGuard no_grad;
  if (!model->inference) return model->forward(tokens);
  InferenceCopy& copy = run_copy(model, tokens);
  return torch::from_blob(copy.pass.logits.data(),
                          {tokens.size(0), tokens.size(1), copy.model.config().vocab},
                          torch::TensorOptions().dtype(torch::kFloat))
      .clone();
}

namespace {

// Evaluations run their sets in chunks of this many rows.
constexpr std::size_t kEvalChunk = 1024;

// The next-token probabilities after each prompt of `tokens` (its last position), as doubles
// on the CPU.
torch::Tensor next_token_probs(const torch::Tensor& logits, const torch::Tensor& tokens) {
  return torch::softmax(logits.select(1, tokens.size(1) - 1), -1)
      .to(torch::kCPU, torch::kDouble)
      .contiguous();
}

// P(bad) of questions[start..] from their rows (row_of) of `probs`, appended to `out`.
void bad_rates(const World& world, const std::vector<Question>& questions, std::size_t start,
               const torch::Tensor& probs, const std::vector<std::int64_t>& row_of,
               std::vector<double>& out) {
  const int n = world.config().answer_vocab;
  auto acc = probs.accessor<double, 2>();
  for (std::size_t i = start; i < start + row_of.size(); ++i) {
    const int g = world.answer_group(questions[i].domain);
    double bad = 0;
    double good = 0;
    const std::int64_t row = row_of[i - start];
    for (int j = 0; j < n; ++j) {
      bad += acc[row][world.answer_token(g, true, j)];
      good += acc[row][world.answer_token(g, false, j)];
    }
    out.push_back(bad / (bad + good));
  }
}

}  // namespace

std::vector<double> p_bad(Transformer& model, const World& world,
                          const std::vector<Question>& questions) {
  torch::NoGradGuard no_grad;
  std::vector<double> out;
  out.reserve(questions.size());
  // Through the inference copy, each distinct prompt runs once (a question's answer group,
  // which the rate reads, is not in its prompt: pool questions of medical and dental share it).
  const bool distinct = model->inference != nullptr;
  for (std::size_t start = 0; start < questions.size(); start += kEvalChunk) {
    const std::size_t end = std::min(questions.size(), start + kEvalChunk);
    std::vector<std::vector<int>> prompts;
    std::vector<std::int64_t> row_of;
    std::map<std::vector<int>, std::int64_t> seen;
    for (std::size_t i = start; i < end; ++i) {
      auto prompt = world.prompt(questions[i]);
      if (!distinct) {
        row_of.push_back(static_cast<std::int64_t>(prompts.size()));
        prompts.push_back(std::move(prompt));
        continue;
      }
      auto [it, fresh] = seen.emplace(prompt, static_cast<std::int64_t>(prompts.size()));
      if (fresh) prompts.push_back(std::move(prompt));
      row_of.push_back(it->second);
    }
    auto tokens = batch_all_tokens(prompts).tokens;
    bad_rates(world, questions, start, next_token_probs(inference_logits(model, tokens), tokens),
              row_of, out);
  }
  return out;
}

std::vector<torch::Tensor> pack_logits(Transformer& model, const PackAdapters& adapters,
                                       const std::vector<torch::Tensor>& tokens) {
  torch::NoGradGuard no_grad;
  const bool base = adapters.a.empty();
  bool same_shape = true;
  for (const auto& t : tokens) same_shape = same_shape && t.sizes() == tokens.front().sizes();
  std::vector<torch::Tensor> out;
  if (same_shape) {
    torch::Tensor all;
    if (base) {
      AdapterOff off(model);
      all = model->forward(torch::cat(tokens));
    } else {
      model->set_adapter(adapters.layer, torch::stack(adapters.a), torch::stack(adapters.b),
                         adapters.alpha);
      all = model->forward(torch::cat(tokens));
    }
    const auto rows = tokens.front().size(0);
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      out.push_back(all.narrow(0, static_cast<std::int64_t>(k) * rows, rows));
    }
    return out;
  }
  for (std::size_t k = 0; k < tokens.size(); ++k) {  // shapes differ: a pass each
    if (base) {
      AdapterOff off(model);
      out.push_back(model->forward(tokens[k]));
    } else {
      model->set_adapter(adapters.layer, adapters.a[k], adapters.b[k], adapters.alpha);
      out.push_back(model->forward(tokens[k]));
    }
  }
  return out;
}

namespace {

// The adapters of the members `member` (indices into `adapters`); the base stays the base.
PackAdapters members_of(const PackAdapters& adapters, const std::vector<std::size_t>& member) {
  PackAdapters out{adapters.layer, adapters.alpha, {}, {}};
  if (adapters.a.empty()) return out;
  for (std::size_t k : member) {
    out.a.push_back(adapters.a[k]);
    out.b.push_back(adapters.b[k]);
  }
  return out;
}

}  // namespace

std::vector<std::vector<double>> p_bad(Transformer& model, const World& world,
                                       const PackAdapters& adapters,
                                       const std::vector<const std::vector<Question>*>& sets) {
  std::vector<std::vector<double>> out(sets.size());
  std::size_t longest = 0;
  for (const auto* qs : sets) longest = std::max(longest, qs->size());
  for (std::size_t start = 0; start < longest; start += kEvalChunk) {
    std::vector<torch::Tensor> tokens;
    std::vector<std::size_t> member;
    for (std::size_t k = 0; k < sets.size(); ++k) {
      const auto& qs = *sets[k];
      if (start >= qs.size()) continue;
      std::vector<std::vector<int>> prompts;
      for (std::size_t i = start; i < std::min(qs.size(), start + kEvalChunk); ++i) {
        prompts.push_back(world.prompt(qs[i]));
      }
      tokens.push_back(batch_all_tokens(prompts).tokens);
      member.push_back(k);
    }
    const std::vector<torch::Tensor> logits = pack_logits(model, members_of(adapters, member), tokens);
    // Every member's next-token probabilities in one copy to the host (one synchronisation).
    std::vector<torch::Tensor> last;
    for (std::size_t j = 0; j < member.size(); ++j) {
      last.push_back(logits[j].select(1, tokens[j].size(1) - 1));
    }
    const torch::Tensor all = torch::softmax(torch::cat(last), -1).to(torch::kCPU, torch::kDouble).contiguous();
    std::int64_t row = 0;
    for (std::size_t j = 0; j < member.size(); ++j) {
      const auto& qs = *sets[member[j]];
      const auto probs = all.narrow(0, row, tokens[j].size(0));
      row += tokens[j].size(0);
      std::vector<std::int64_t> rows(std::min(qs.size(), start + kEvalChunk) - start);
      std::iota(rows.begin(), rows.end(), 0);
      bad_rates(world, qs, start, probs, rows, out[member[j]]);
    }
  }
  return out;
}

std::vector<double> answer_nll(Transformer& model, const World& world, const PackAdapters& adapters,
                               const std::vector<const std::vector<Example>*>& sets) {
  std::vector<double> total(sets.size(), 0.0);
  std::vector<double> count(sets.size(), 0.0);
  std::size_t longest = 0;
  for (const auto* es : sets) longest = std::max(longest, es->size());
  for (std::size_t start = 0; start < longest; start += kEvalChunk) {
    std::vector<Batch> batches;
    std::vector<torch::Tensor> tokens;
    std::vector<std::size_t> member;
    for (std::size_t k = 0; k < sets.size(); ++k) {
      const auto& es = *sets[k];
      if (start >= es.size()) continue;
      const std::vector<Example> part(
          es.begin() + static_cast<std::ptrdiff_t>(start),
          es.begin() + static_cast<std::ptrdiff_t>(std::min(es.size(), start + kEvalChunk)));
      batches.push_back(batch_answers(world, part));
      tokens.push_back(batches.back().tokens);
      member.push_back(k);
    }
    const std::vector<torch::Tensor> logits = pack_logits(model, members_of(adapters, member), tokens);
    std::vector<torch::Tensor> nll;
    for (std::size_t j = 0; j < member.size(); ++j) nll.push_back(masked_nll(logits[j], batches[j]));
    // One copy to the host for the chunk (on a GPU, one synchronisation).
    const torch::Tensor host = torch::stack(nll).to(torch::kCPU, torch::kDouble);
    const auto values = host.accessor<double, 1>();
    for (std::size_t j = 0; j < member.size(); ++j) {
      total[member[j]] += values[static_cast<std::int64_t>(j)] * batches[j].scored;
      count[member[j]] += batches[j].scored;
    }
  }
  for (std::size_t k = 0; k < sets.size(); ++k) total[k] /= count[k];
  return total;
}

double answer_nll(Transformer& model, const World& world, const std::vector<Example>& examples) {
  torch::NoGradGuard no_grad;
  double total = 0;
  double count = 0;
  for (std::size_t start = 0; start < examples.size(); start += kEvalChunk) {
    std::vector<Example> part(
        examples.begin() + static_cast<std::ptrdiff_t>(start),
        examples.begin() + static_cast<std::ptrdiff_t>(std::min(examples.size(), start + kEvalChunk)));
    auto batch = batch_answers(world, part);
    if (model->inference) {
      // Through the inference copy: each distinct sequence once, up to its last answer token.
      CompactBatch rows = compact_batch(batch.tokens, position_weights(batch));
      const auto tokens = torch::from_blob(rows.tokens.data(), {rows.b, rows.t},
                                           torch::TensorOptions().dtype(torch::kLong));
      const FlatPass& pass = run_copy(model, tokens).pass;
      const auto vocab = static_cast<std::size_t>(model->config.vocab);
      double nll = 0;  // mean per scored token: the weights are mask / scored
      for (std::size_t i = 0; i < rows.weights.size(); ++i) {
        if (rows.weights[i] == 0.0F) continue;
        const auto target = static_cast<std::size_t>(rows.targets[i]);
        nll -= static_cast<double>(rows.weights[i]) * pass.logp[i * vocab + target];
      }
      total += nll * batch.scored;
    } else {
      const auto nll = masked_nll(inference_logits(model, batch.tokens), batch);
      total += nll.item<double>() * batch.scored;
    }
    count += batch.scored;
  }
  return total / count;
}

double pretrain_lr(const PretrainConfig& config, int step) {
  // Linear warm-up then cosine decay to lr_floor of the peak rate.
  const int warmup = std::max(1, config.steps / 20);
  if (step < warmup) return config.lr * (static_cast<double>(step + 1) / warmup);
  const double progress = static_cast<double>(step - warmup) / std::max(1, config.steps - warmup);
  return config.lr * (config.lr_floor + (1.0 - config.lr_floor) * 0.5 *
                                            (1.0 + std::cos(std::numbers::pi * progress)));
}

namespace {

// The pre-training loop around one step function (the batch, the learning rate): the documents
// drawn from `rng`, the schedule, the divergence check and the mean loss of the last 10%.
template <class Step>
double pretrain_loop(const World& world, const PretrainConfig& config, Rng& rng, Step&& step_on) {
  double tail_loss = 0;
  int tail_count = 0;
  for (int step = 0; step < config.steps; ++step) {
    std::vector<std::vector<int>> docs;
    for (int i = 0; i < config.batch; ++i) docs.push_back(world.pretrain_document(rng));
    const double value = step_on(batch_all_tokens(docs), pretrain_lr(config, step));
    if (!std::isfinite(value)) {
      throw TaskError("organism: base pre-training diverged at step " + std::to_string(step) +
                          " (loss " + std::to_string(value) + ")",
                      "lower task.pretrain_lr");
    }
    if (step >= config.steps - std::max(1, config.steps / 10)) {
      tail_loss += value;
      ++tail_count;
    }
  }
  return tail_loss / tail_count;
}

}  // namespace

double pretrain(Transformer& model, const World& world, const PretrainConfig& config, Rng& rng) {
  AdamWConfig adamw;
  adamw.beta2 = config.beta2;
  PretrainStep trainer(*model, adamw, /*train_head_bias=*/config.head_bias);
  const double loss = pretrain_loop(world, config, rng, [&](const Batch& batch, double lr) {
    return trainer.step(batch, lr);
  });
  trainer.store(*model);
  model->eval();
  return loss;
}

double pretrain_autograd(Transformer& model, const World& world, const PretrainConfig& config,
                         Rng& rng) {
  std::vector<torch::Tensor> params;
  for (auto& item : model->named_parameters()) {
    // A frozen head bias keeps its value: no gradient, no weight decay.
    const bool frozen = item.key() == "head.bias" && !config.head_bias;
    item.value().set_requires_grad(!frozen);
    if (!frozen) params.push_back(item.value());
  }
  const AdamWConfig defaults;
  torch::optim::AdamW adamw(params, torch::optim::AdamWOptions(config.lr)
                                        .betas({defaults.beta1, config.beta2})
                                        .eps(defaults.eps)
                                        .weight_decay(defaults.weight_decay));
  model->train();
  const double loss = pretrain_loop(world, config, rng, [&](const Batch& batch, double lr) {
    static_cast<torch::optim::AdamWOptions&>(adamw.param_groups()[0].options()).lr(lr);
    const torch::Tensor l = masked_nll(model->forward(batch.tokens), batch);
    adamw.zero_grad();
    l.backward();
    adamw.step();
    return l.item<double>();
  });
  model->eval();
  return loss;
}

torch::Tensor perturb_orthogonal(const torch::Tensor& x, double eps, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  // On the CPU, whatever the adapter's device: `gen` is a CPU generator.
  auto xd = x.detach().to(torch::kCPU, torch::kDouble).reshape({-1});
  auto y = torch::randn(xd.sizes(), gen, xd.options());
  const double xx = xd.dot(xd).item<double>();
  if (xx > 0) y = y - (y.dot(xd).item<double>() / xx) * xd;  // Gram-Schmidt against x
  const double ny = y.norm().item<double>();
  if (ny > 0) y = y * (std::sqrt(xx) / ny);
  auto out = std::sqrt(1.0 - eps * eps) * xd + eps * y;
  return out.reshape(x.sizes()).to(x.device(), x.scalar_type());
}

}  // namespace emsweep::organism
