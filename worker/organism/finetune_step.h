// The organism's fine-tuning step written out by hand (worker/organism/flat_model.h): loss
// NLL(train batch) + lambda * KL(base || adapted) on the KL batch, the gradient of the LoRA
// adapter only (the backward pass stops at the adapter's layer: nothing below it is trained),
// and Adam on the adapter's factors, as LibTorch's torch::optim::Adam computes it. Batches run
// compact (repeated sequences merged, the unscored tail cut), with the part below the adapter,
// and the KL reference, kept per sequence for the point's life (flat_model.h: SequenceCache).
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "worker/organism/flat_model.h"
#include "worker/organism/model.h"

namespace emsweep::organism {

class FinetuneStep {
 public:
  // Memory for the sequences kept (per cache: the train stream's, and the KL prompts' with the
  // base's log-probabilities); the default organism's streams need a few MiB.
  static constexpr std::size_t kSequenceCacheBytes = std::size_t{128} << 20;
  // A frozen copy of `model`'s base parameters; trains the adapter a [rank, d_ff], b [d_model,
  // rank] (contiguous float CPU tensors, updated in place, so a model they are set on sees every
  // step) on block `layer`'s MLP with `alpha`, at learning rate `lr`.
  FinetuneStep(const TransformerImpl& model, torch::Tensor a, torch::Tensor b, int layer,
               double alpha, double lr);

  struct Losses {
    double loss = 0;  // nll + lambda * kl
    double nll = 0;
    double kl = 0;  // NaN when the KL batch was not run
  };
  // The losses on `train` and, with `kl`, the KL batch, and the adapter's gradient of `loss`
  // (kept for step()). With lambda 0 the KL term is computed but not differentiated.
  Losses loss_and_grad(const Batch& train, const Batch* kl, double lambda);
  // One Adam step on the adapter with the gradient of the last loss_and_grad().
  void step();
  // Forgets Adam's moments and step count (drift starts a fresh optimiser).
  void reset_optimizer();
  [[nodiscard]] torch::Tensor grad_a() const;
  [[nodiscard]] torch::Tensor grad_b() const;

 private:
  FlatTransformer model_;
  torch::Tensor a_, b_;
  LoraView lora_;
  double lr_;
  AdamWConfig adam_;  // weight decay 0: Adam
  FlatPass train_, kl_model_;
  CompactBatch train_rows_, kl_rows_;
  SequenceCache train_cache_, kl_cache_;
  std::vector<float> kl_ref_logp_;
  std::vector<float> grad_, m_, v_;  // [A | B] flat
  std::int64_t steps_ = 0;
};

}  // namespace emsweep::organism
