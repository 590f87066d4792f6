// The organism's network: a small pre-LN causal transformer (LibTorch C++ frontend) with an
// optional LoRA adapter on one layer's MLP down-projection, and the losses, pre-training loop
// and probes that fine-tuning and evaluation share.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "worker/organism/world.h"

namespace emsweep::organism {

struct InferenceCopy;  // worker/organism/flat_model.h

// Sizes of the transformer.
struct ModelConfig {
  int vocab = 0;     // token vocabulary (from the world)
  int max_len = 0;   // longest sequence (from the world)
  int d_model = 64;  // residual width
  int n_layers = 4;  // transformer blocks
  int n_heads = 4;   // attention heads (must divide d_model)
  int d_ff = 256;    // MLP hidden width
};

// MLP with a switchable low-rank adapter: down(h) + alpha * (h A^T) B^T. With A [K, r, d_ff] and
// B [K, d_model, r] (a pack's adapters stacked), adapter k acts on the k-th of K equal blocks of
// the batch's rows.
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int d_model, int d_ff);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear up{nullptr};
  torch::nn::Linear down{nullptr};
  torch::Tensor lora_a;  // [r, d_ff]; not a registered parameter (not part of the base)
  torch::Tensor lora_b;  // [d_model, r]
  double lora_alpha = 1.0;
  bool lora_on = false;
};
TORCH_MODULE(Mlp);

// Causal multi-head self-attention.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int d_model, int n_heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask);

  torch::nn::Linear qkv{nullptr};
  torch::nn::Linear proj{nullptr};
  int n_heads;
};
TORCH_MODULE(Attention);

// One pre-LN block: x + attn(ln(x)), then x + mlp(ln(x)).
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int d_model, int n_heads, int d_ff);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask);

  torch::nn::LayerNorm ln1{nullptr};
  Attention attn{nullptr};
  torch::nn::LayerNorm ln2{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& config);
  // Logits [B, T, vocab] for tokens [B, T] (int64).
  torch::Tensor forward(const torch::Tensor& tokens);

  // Re-initialises every weight from `seed`: N(0, 0.02) matrices, embeddings N(0, embed_std),
  // zero biases, unit norms.
  void init_weights(std::uint64_t seed, double embed_std = 0.02);
  // Stops gradients to every base parameter.
  void freeze();
  // Moves the parameters and the causal mask to `device` (forward() moves its tokens there).
  void move_to(const torch::Device& device);
  // Puts an adapter on block `layer`'s MLP: delta = alpha * B A; B, A must require grad to train.
  void set_adapter(int layer, torch::Tensor a, torch::Tensor b, double alpha);
  // Switches the adapter on or off (off = the reference model).
  void enable_adapter(bool on);
  // The adapter's MLP (the block given to set_adapter).
  [[nodiscard]] Mlp& adapted() { return blocks[static_cast<std::size_t>(adapter_layer)]->mlp; }

  ModelConfig config;
  torch::nn::Embedding tok_emb{nullptr};
  torch::nn::Embedding pos_emb{nullptr};
  std::vector<Block> blocks;
  torch::nn::LayerNorm ln_f{nullptr};
  torch::nn::Linear head{nullptr};
  torch::Tensor causal_mask;  // [max_len, max_len], true above the diagonal
  int adapter_layer = -1;
  // With a hand-written copy of the base (attach_inference_copy), evaluation (p_bad,
  // answer_nll, inference_logits) runs through it, with the adapter as set on this model; the
  // base's parameters must not change while it is attached.
  std::shared_ptr<InferenceCopy> inference;
};
TORCH_MODULE(Transformer);

// Switches the adapter off for a scope (reference-model forward passes).
class AdapterOff {
 public:
  explicit AdapterOff(Transformer& m)
      : m_(m), was_(m->adapter_layer >= 0 && m->adapted()->lora_on) {
    if (m_->adapter_layer >= 0) m_->enable_adapter(false);
  }
  ~AdapterOff() {
    if (m_->adapter_layer >= 0) m_->enable_adapter(was_);
  }
  AdapterOff(const AdapterOff&) = delete;
  AdapterOff& operator=(const AdapterOff&) = delete;

 private:
  Transformer& m_;
  bool was_;
};

// Sequences as a padded batch, with the positions whose next-token prediction is scored.
struct Batch {
  torch::Tensor tokens;  // [B, T] int64, right-padded with kPad
  torch::Tensor mask;    // [B, T-1] float: 1 where the prediction of tokens[:, t+1] counts
  double scored = 0;     // sum of mask
};

// Every non-pad next token scored (pre-training, KL on whole prompts).
[[nodiscard]] Batch batch_all_tokens(const std::vector<std::vector<int>>& seqs);
// Single-pair sequences with only the answer tokens scored (fine-tuning NLL).
[[nodiscard]] Batch batch_answers(const World& world, const std::vector<Example>& examples);
// The same, scoring every next token (KL on out-of-domain prompts with good answers).
[[nodiscard]] Batch batch_whole(const World& world, const std::vector<Example>& examples);

// Attaches a hand-written copy of `model`'s base for evaluation (flat_model.h); it must stay
// frozen from now on.
void attach_inference_copy(Transformer& model);
// Logits [B, T, vocab] of `tokens` without a gradient: through the inference copy when one is
// attached (the adapter as set and switched on the model), else the LibTorch forward pass.
[[nodiscard]] torch::Tensor inference_logits(Transformer& model, const torch::Tensor& tokens);

// Mean NLL per scored token.
[[nodiscard]] torch::Tensor masked_nll(const torch::Tensor& logits, const Batch& batch);
// Mean per scored token of KL(ref || model) = sum_v p_ref (log p_ref - log p_model).
[[nodiscard]] torch::Tensor masked_kl(const torch::Tensor& ref_logits, const torch::Tensor& logits,
                                      const Batch& batch);

// P(bad) = p_bad / (p_bad + p_good) per question: p_bad and p_good are the next-token
// probabilities after the prompt summed over the question's bad and good answer tokens.
[[nodiscard]] std::vector<double> p_bad(Transformer& model, const World& world,
                                        const std::vector<Question>& questions);
// Mean NLL per answer token of `examples` under `model` (no gradient), in chunks.
[[nodiscard]] double answer_nll(Transformer& model, const World& world,
                                const std::vector<Example>& examples);

// Several points' adapters on one block, for evaluations that run the points as one batched
// pass (run.pack): member k's rows get adapter (a[k], b[k]); no factors: the base for all.
struct PackAdapters {
  int layer = -1;
  double alpha = 1;
  std::vector<torch::Tensor> a;
  std::vector<torch::Tensor> b;
};
// The logits of each member's tokens without a gradient: one pass for all when their shapes
// agree (member k's rows through adapter k, MlpImpl), else a pass each. Leaves the model's
// adapter set to the pack's (or as it was, for the base).
[[nodiscard]] std::vector<torch::Tensor> pack_logits(Transformer& model, const PackAdapters& adapters,
                                                     const std::vector<torch::Tensor>& tokens);
// p_bad and answer_nll of each member's set with its adapter, in batched passes (the same
// chunks and float arithmetic per row as one member's LibTorch evaluation).
[[nodiscard]] std::vector<std::vector<double>> p_bad(
    Transformer& model, const World& world, const PackAdapters& adapters,
    const std::vector<const std::vector<Question>*>& sets);
[[nodiscard]] std::vector<double> answer_nll(Transformer& model, const World& world,
                                             const PackAdapters& adapters,
                                             const std::vector<const std::vector<Example>*>& sets);

// Pre-training settings of a base model.
struct PretrainConfig {
  int steps = 3000;         // optimizer steps
  double lr = 3e-3;         // peak AdamW learning rate (linear warm-up, cosine decay)
  int batch = 32;           // documents per step
  double beta2 = 0.999;     // AdamW's second-moment decay
  double lr_floor = 0.1;    // the cosine decays to this share of the peak rate
  bool head_bias = false;   // true: the output head has a trained bias (false: fixed at 0)
  double embed_std = 0.02;  // standard deviation of the token and position embeddings' init
};

// The learning rate of pre-training step `step` (from 0): linear warm-up over the first 5% of
// steps, then a cosine decay to lr_floor of the peak.
[[nodiscard]] double pretrain_lr(const PretrainConfig& config, int step);

// Pre-trains `model` on documents from `world` with the hand-written step (PretrainStep, the
// CPU's); returns the mean loss of the last 10% of steps. Throws TaskError if the loss stops
// being finite.
double pretrain(Transformer& model, const World& world, const PretrainConfig& config, Rng& rng);
// The same through LibTorch's autograd and AdamW, on the device `model` is on (a GPU's
// pre-training): the same documents, schedule and optimiser, in another float order.
double pretrain_autograd(Transformer& model, const World& world, const PretrainConfig& config,
                         Rng& rng);

// The orthogonal perturbation sqrt(1-eps^2) x + eps y, y Gaussian (drawn from `gen`),
// Gram-Schmidt orthogonalised to x and scaled to ||x||; keeps the norm of x.
[[nodiscard]] torch::Tensor perturb_orthogonal(const torch::Tensor& x, double eps,
                                               at::Generator& gen);

// Makes glibc keep freed memory for reuse instead of returning each large tensor to the kernel
// with munmap and faulting it back in on the next step (mmap threshold 256 MiB, trim threshold
// 512 MiB). Process-wide; a training step ran ~1.6x faster with it on this machine.
void keep_freed_memory();

// Sets LibTorch's and the BLAS library's thread counts (OpenBLAS starts with one thread per core
// whatever LibTorch is told, and it reads OPENBLAS_NUM_THREADS before main runs).
void set_compute_threads(int threads);

}  // namespace emsweep::organism
