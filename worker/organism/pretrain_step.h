// The organism's pre-training step written out by hand: forward, masked NLL, backward and
// AdamW over one flat copy of the base model's parameters, with BLAS for the matrix products.
// At the organism's sizes an autograd step is about a thousand small ATen calls whose dispatch
// and bookkeeping cost more than the arithmetic; this step makes a few dozen calls per layer.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "worker/organism/model.h"

namespace emsweep::organism {

// AdamW's settings (LibTorch's defaults, and the organism's weight decay).
struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class PretrainStep {
 public:
  // Copies `model`'s parameters (no adapter may be set) into the step's flat buffer. With
  // train_head_bias false the output head's bias keeps its value (its gradient is dropped).
  explicit PretrainStep(const TransformerImpl& model, AdamWConfig adamw = {},
                        bool train_head_bias = true);

  // Mean NLL per scored token of `batch` (as masked_nll) and its gradient, kept for step().
  double loss_and_grad(const Batch& batch);
  // One AdamW step at learning rate `lr` on `batch`; returns the loss before the update.
  double step(const Batch& batch, double lr);
  // The gradient of the last loss_and_grad() for the parameter named as in named_parameters().
  [[nodiscard]] torch::Tensor grad(const std::string& name) const;
  // Copies the trained parameters back into `model`.
  void store(TransformerImpl& model) const;

 private:
  struct Param {
    std::string name;
    std::vector<std::int64_t> shape;
    std::size_t offset = 0;
    std::size_t size = 0;
  };
  // Offsets of one block's parameters in the flat buffers.
  struct BlockParams {
    std::size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, up_w, up_b, down_w,
        down_b;
  };
  // What one block's backward pass needs from its forward pass.
  struct BlockActs {
    std::vector<float> xhat1, rstd1, a1;  // first norm: normalised input, 1/std, output
    std::vector<float> q, k, v;           // [B, H, T, hd]
    std::vector<float> probs;             // attention weights [B, H, T, T]
    std::vector<float> att;               // heads merged [N, d]
    std::vector<float> xhat2, rstd2, a2;  // second norm
    std::vector<float> u, g;              // MLP pre-activation and GELU output [N, ff]
  };

  [[nodiscard]] const Param& param(const std::string& name) const;
  void resize(std::int64_t b, std::int64_t t);
  void attention_forward(BlockActs& acts);
  void attention_backward(BlockActs& acts, const float* datt, float* dqkv);

  ModelConfig config_;
  AdamWConfig adamw_;
  std::vector<Param> params_;
  std::vector<float> w_, grad_, m_, v_;  // parameters, gradient, AdamW moments (flat)
  std::size_t tok_emb_ = 0, pos_emb_ = 0, lnf_w_ = 0, lnf_b_ = 0, head_w_ = 0, head_b_ = 0;
  std::vector<BlockParams> blocks_;
  std::int64_t steps_ = 0;
  bool train_head_bias_ = true;

  // Activations and scratch of the current batch shape.
  std::int64_t b_ = 0, t_ = 0, n_ = 0;
  std::vector<BlockActs> acts_;
  std::vector<float> x_, xhatf_, rstdf_, af_, logits_, logp_, dx_, da_, dqkv_, dff_, dff2_,
      scratch_, scores_;
  std::vector<std::int64_t> tokens_;
  std::vector<float> weight_;  // per position: mask / scored (0 for the last position)
};

}  // namespace emsweep::organism
