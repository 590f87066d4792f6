// The organism's transformer written out by hand over one flat copy of its parameters: forward,
// and backward from a gradient on the logits, with BLAS for the matrix products. At the
// organism's sizes an autograd step is about a thousand small ATen calls whose dispatch and
// bookkeeping cost more than the arithmetic; these passes make a few dozen calls per layer.
// PretrainStep trains every parameter with it; FinetuneStep trains only a LoRA adapter on a
// frozen copy, and its backward pass stops at the adapter's layer.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "worker/organism/model.h"

namespace emsweep::organism {

// A LoRA adapter on block `layer`'s MLP down-projection: down(g) + alpha * (g A^T) B^T, with
// A [rank, d_ff] and B [d_model, rank] (row-major floats the caller owns).
struct LoraView {
  int layer = -1;
  int rank = 0;
  float alpha = 1;
  const float* a = nullptr;
  const float* b = nullptr;
};

// One batch's pass through the network: its tokens, every activation the backward pass needs,
// and the logits and their log-softmax. One per batch shape in flight (buffers are reused).
struct FlatPass {
  struct Block {
    std::vector<float> xhat1, rstd1, a1;  // first norm: normalised input, 1/std, output
    std::vector<float> q, k, v;           // [B, H, T, hd]
    std::vector<float> probs;             // attention weights [B, H, T, T]
    std::vector<float> att;               // heads merged [N, d]
    std::vector<float> xhat2, rstd2, a2;  // second norm
    std::vector<float> u, g;              // MLP pre-activation and GELU output [N, ff]
  };
  std::int64_t b = 0, t = 0, n = 0;
  std::vector<Block> blocks;
  std::vector<float> x, xhatf, rstdf, af;  // residual stream; final norm
  // The residual stream after block split_layer's MLP, before its adapter (forward_prefix).
  std::vector<float> x_split;
  int split_layer = -1;
  std::vector<float> lora_h;               // g A^T at the adapter's layer [N, rank]
  std::vector<float> logits, logp;         // [N, vocab]; the backward pass overwrites logits
  std::vector<std::int64_t> tokens;        // [N]
};

// AdamW's settings (LibTorch's defaults, and the organism's weight decay; 0 makes it Adam).
struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// One AdamW step, as LibTorch's torch::optim::AdamW (and, at weight_decay 0, torch::optim::Adam)
// computes it, over `size` parameters w with gradient g and moments m, v; `step` counts from 1.
void adamw_update(float* w, const float* g, float* m, float* v, std::size_t size, double lr,
                  std::int64_t step, const AdamWConfig& config);

// Position weights of `batch` [B * T]: mask / scored where position t's prediction of token t+1
// counts, else 0 (the last position predicts nothing).
[[nodiscard]] std::vector<float> position_weights(const Batch& batch);

// A batch as the hand-written passes run it: its repeated rows merged and its unscored tail cut.
// The rows are the batch's distinct sequences, each cut after its last scored position (attention
// is causal, so the positions after it change nothing before it); a position's weight is the sum
// of the weights of the rows it stands for, and `targets` keeps the token it predicts. The loss
// and gradient are the whole batch's: only the order of the float sums differs.
struct CompactBatch {
  std::int64_t b = 0, t = 0;          // distinct rows; positions kept
  std::vector<std::int64_t> tokens;   // [b, t]
  std::vector<float> weights;         // [b * t]
  std::vector<std::int64_t> targets;  // [b * t]: the next token where the weight is not 0, else -1
  std::vector<std::int64_t> row_of;   // the batch's row i is distinct row row_of[i]
};
// From a batch's tokens [B, T] and its position weights [B * T] (position_weights).
[[nodiscard]] CompactBatch compact_batch(const torch::Tensor& tokens,
                                         const std::vector<float>& weights);

// The mean NLL per scored token of `batch` (as masked_nll) from a forward pass, and scale times
// its gradient on the logits, written over pass.logits for backward().
double nll_and_grad(FlatPass& pass, const std::vector<float>& weights, double scale);
// The same over a compact batch's pass (its targets, not the pass's next tokens).
double nll_and_grad(FlatPass& pass, const CompactBatch& batch, double scale);
// The mean KL(ref || model) per scored token (as masked_kl) from the model's forward pass and the
// reference's log-probabilities of the same tokens (ref_logp [N, vocab]), and scale times its
// gradient on the model's logits, written over `grad` ([N, vocab]; null: the loss only).
double kl_and_grad(const FlatPass& model, const float* ref_logp, const std::vector<float>& weights,
                   double scale, float* grad);

// What forward_suffix and a backward pass down to `layer` need of a forward_prefix at `layer`:
// the tokens, the residual stream there and the layer's MLP hidden activation (which the
// adapter reads). Everything in it is independent of any adapter on `layer`.
struct PrefixState {
  int layer = -1;
  std::int64_t b = 0, t = 0;
  std::vector<std::int64_t> tokens;
  std::vector<float> x_split, g;
  // True when it is the prefix of `tokens` [B, T] at `layer`.
  [[nodiscard]] bool matches(const torch::Tensor& tokens, int layer) const;
  [[nodiscard]] std::size_t bytes() const {
    return tokens.size() * sizeof(std::int64_t) + (x_split.size() + g.size()) * sizeof(float);
  }
};

class FlatTransformer {
 public:
  // Copies `model`'s base parameters (named_parameters order) into one flat buffer.
  explicit FlatTransformer(const TransformerImpl& model);

  // Runs `tokens` [B, T] (int64) through the network, with `lora` when given (else the base),
  // leaving every activation, the logits and their log-softmax in `pass`.
  // The same as forward_prefix at the adapter's layer (the last block without one), then
  // forward_suffix.
  void forward(FlatPass& pass, const torch::Tensor& tokens, const LoraView* lora);
  // The part of the pass an adapter on block `layer` does not change: the embeddings, the
  // blocks below `layer`, and block `layer` up to its MLP's output (pass.x_split).
  void forward_prefix(FlatPass& pass, const torch::Tensor& tokens, int layer);
  // The same from row-major tokens [b, t].
  void forward_prefix(FlatPass& pass, const std::int64_t* tokens, std::int64_t b, std::int64_t t,
                      int layer);
  // Sizes `pass` for a prefix at `layer` of [b, t] tokens that the caller writes in (tokens,
  // x_split and the layer's g), as load_prefix does from a kept one.
  void prepare_prefix(FlatPass& pass, std::int64_t b, std::int64_t t, int layer);
  // The rest, from pass.x_split: the adapter `lora` (on the prefix's layer, or null for the
  // base), the blocks above, the final norm, the logits and their log-softmax. Several suffixes
  // (adapters) can run from one prefix; each gives what forward() gives, to the bit.
  void forward_suffix(FlatPass& pass, const LoraView* lora);
  // A prefix kept (save_prefix) and put back into a pass (load_prefix), so that another pass of
  // the same tokens, or a later one, runs only its suffix.
  void save_prefix(const FlatPass& pass, PrefixState& state) const;
  void load_prefix(FlatPass& pass, const PrefixState& state);
  // The prefix of `src` put into `dst` (as save_prefix then load_prefix, without keeping it).
  void copy_prefix(FlatPass& dst, const FlatPass& src);
  // From the gradient on the logits (in pass.logits) back down to block `stop`. With `grad`
  // (the flat buffer's shape), every parameter's gradient in the blocks from `stop` up (and the
  // embeddings' when stop is 0) accumulates into it; without, only the activations' gradients
  // are computed. With `lora` (on a block >= stop), its gradient accumulates into da and db;
  // without `grad` the pass ends there.
  void backward(FlatPass& pass, const LoraView* lora, int stop, float* grad, float* da, float* db);

  [[nodiscard]] const ModelConfig& config() const { return config_; }
  [[nodiscard]] std::vector<float>& weights() { return w_; }
  [[nodiscard]] const std::vector<float>& weights() const { return w_; }

  struct Param {
    std::string name;
    std::vector<std::int64_t> shape;
    std::size_t offset = 0;
    std::size_t size = 0;
  };
  [[nodiscard]] const Param& param(const std::string& name) const;
  // Copies the flat parameters back into `model` (same names and shapes).
  void store(TransformerImpl& model) const;

 private:
  // Offsets of one block's parameters in the flat buffers.
  struct BlockParams {
    std::size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, up_w, up_b, down_w,
        down_b;
  };
  void resize(FlatPass& pass, std::int64_t b, std::int64_t t) const;
  // Block l's attention and MLP (no adapter) on the residual stream x, in place.
  void block_forward(FlatPass& pass, float* x, int l);
  void grow_scratch(std::int64_t n, std::int64_t t);

  ModelConfig config_;
  std::vector<Param> params_;
  std::vector<float> w_;
  std::size_t tok_emb_ = 0, pos_emb_ = 0, lnf_w_ = 0, lnf_b_ = 0, head_w_ = 0, head_b_ = 0;
  std::vector<BlockParams> blocks_;
  // Scratch shared by every pass (sized for the largest): gradients of the residual stream and
  // of a norm's output, of the qkv rows, of the MLP's hidden layer, of the adapter's rank; the
  // qkv product; one batch's attention scores.
  std::vector<float> dx_, da_, dqkv_, dff_, dff2_, dh_, scratch_, scores_;
};

// A frozen hand-written copy of a base model and the pass its evaluations reuse
// (TransformerImpl::inference). A point evaluates the same fixed sets many times (the curves,
// efficiency, stability) with different adapters on one block; the part of each pass below the
// adapter is the same every time, so it keeps those prefixes (the oldest go beyond
// kPrefixCacheBytes) and runs only the rest again: the logits are the same to the bit.
struct InferenceCopy {
  static constexpr std::size_t kPrefixCacheBytes = std::size_t{256} << 20;
  explicit InferenceCopy(const TransformerImpl& model) : model(model) {}
  // The logits of `tokens` into pass, with `lora` (on block `layer`) or the base.
  void run(const torch::Tensor& tokens, int layer, const LoraView* lora);
  FlatTransformer model;
  FlatPass pass;
  std::vector<PrefixState> prefixes;
  std::size_t prefix_bytes = 0;
  std::int64_t hits = 0, misses = 0;
};

// The prefixes of single sequences under one frozen base, kept by their tokens, and with
// `with_base_logp` the base's log-probabilities over them (the KL term's reference). A
// fine-tuning stream draws its sequences from a small set (a question and its answer), so most
// rows of a step were seen before and only the adapter and the blocks above it run again; a
// row's values do not depend on the rows it was first computed with beyond float rounding, and a
// point always computes them in the same order, so its results are reproducible. The oldest
// entries go beyond max_bytes.
class SequenceCache {
 public:
  SequenceCache(int layer, bool with_base_logp, std::size_t max_bytes)
      : layer_(layer), with_logp_(with_base_logp), max_bytes_(max_bytes) {}
  // Puts the prefix of `batch`'s rows into `pass`, ready for forward_suffix, computing (in one
  // pass) and keeping the rows it does not hold; with with_base_logp, the base's
  // log-probabilities of the rows into base_logp ([b * t, vocab]).
  void fill(FlatTransformer& model, const CompactBatch& batch, FlatPass& pass,
            std::vector<float>* base_logp);
  std::int64_t hits = 0, misses = 0;

 private:
  struct Entry {
    std::vector<float> x_split, g, logp;
    std::size_t bytes = 0;  // with its key
  };
  int layer_;
  bool with_logp_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::unordered_map<std::string, Entry> entries_;  // by the row's tokens, as bytes
  std::deque<std::string> order_;                    // oldest first
  FlatPass miss_pass_;
  std::vector<std::int64_t> miss_tokens_;
};

}  // namespace emsweep::organism
