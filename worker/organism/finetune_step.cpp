#include "worker/organism/finetune_step.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "sweep/core/error.h"

namespace emsweep::organism {

FinetuneStep::FinetuneStep(const TransformerImpl& model, torch::Tensor a, torch::Tensor b,
                           int layer, double alpha, double lr)
    : model_(model),
      a_(std::move(a)),
      b_(std::move(b)),
      lr_(lr),
      train_cache_(layer, /*with_base_logp=*/false, kSequenceCacheBytes),
      kl_cache_(layer, /*with_base_logp=*/true, kSequenceCacheBytes) {
  if (a_.scalar_type() != torch::kFloat || b_.scalar_type() != torch::kFloat ||
      !a_.is_contiguous() || !b_.is_contiguous() || !a_.device().is_cpu() || !b_.device().is_cpu()) {
    throw TaskError("organism: the hand-written fine-tuning step takes contiguous float CPU adapters");
  }
  lora_.layer = layer;
  lora_.rank = static_cast<int>(a_.size(0));
  lora_.alpha = static_cast<float>(alpha);
  lora_.a = a_.data_ptr<float>();
  lora_.b = b_.data_ptr<float>();
  adam_.weight_decay = 0;
  grad_.assign(static_cast<std::size_t>(a_.numel() + b_.numel()), 0.0F);
  reset_optimizer();
}

void FinetuneStep::reset_optimizer() {
  m_.assign(grad_.size(), 0.0F);
  v_.assign(grad_.size(), 0.0F);
  steps_ = 0;
}

FinetuneStep::Losses FinetuneStep::loss_and_grad(const Batch& train, const Batch* kl,
                                                 double lambda) {
  std::fill(grad_.begin(), grad_.end(), 0.0F);
  float* da = grad_.data();
  float* db = grad_.data() + a_.numel();
  Losses out;
  // The train batch's distinct rows up to its last answer token; the part below the adapter
  // comes from the sequences kept (computed once per sequence).
  train_rows_ = compact_batch(train.tokens, position_weights(train));
  train_cache_.fill(model_, train_rows_, train_, nullptr);
  model_.forward_suffix(train_, &lora_);
  out.nll = nll_and_grad(train_, train_rows_, 1.0);
  model_.backward(train_, &lora_, lora_.layer, nullptr, da, db);
  out.kl = std::numeric_limits<double>::quiet_NaN();
  if (kl != nullptr) {
    // The base's log-probabilities of a KL prompt are fixed for the point: kept per sequence
    // with its prefix, so only the adapted model runs.
    kl_rows_ = compact_batch(kl->tokens, position_weights(*kl));
    kl_cache_.fill(model_, kl_rows_, kl_model_, &kl_ref_logp_);
    model_.forward_suffix(kl_model_, &lora_);
    const bool trained = lambda > 0;
    out.kl = kl_and_grad(kl_model_, kl_ref_logp_.data(), kl_rows_.weights, lambda,
                         trained ? kl_model_.logits.data() : nullptr);
    if (trained) model_.backward(kl_model_, &lora_, lora_.layer, nullptr, da, db);
  }
  out.loss = lambda > 0 ? out.nll + lambda * out.kl : out.nll;
  return out;
}

void FinetuneStep::step() {
  // A and B are one flat buffer to Adam; their storage is two tensors.
  std::vector<float> w(grad_.size());
  std::copy(lora_.a, lora_.a + a_.numel(), w.begin());
  std::copy(lora_.b, lora_.b + b_.numel(), w.begin() + a_.numel());
  adamw_update(w.data(), grad_.data(), m_.data(), v_.data(), w.size(), lr_, ++steps_, adam_);
  std::copy(w.begin(), w.begin() + a_.numel(), a_.data_ptr<float>());
  std::copy(w.begin() + a_.numel(), w.end(), b_.data_ptr<float>());
}

torch::Tensor FinetuneStep::grad_a() const {
  return torch::from_blob(const_cast<float*>(grad_.data()), a_.sizes(),
                          torch::TensorOptions().dtype(torch::kFloat))
      .clone();
}

torch::Tensor FinetuneStep::grad_b() const {
  return torch::from_blob(const_cast<float*>(grad_.data() + a_.numel()), b_.sizes(),
                          torch::TensorOptions().dtype(torch::kFloat))
      .clone();
}

}  // namespace emsweep::organism
