#include "worker/organism/pretrain_step.h"

#include <algorithm>
#include <vector>

#include "sweep/core/error.h"

namespace emsweep::organism {

namespace {

// `model`, which must be a base: pre-training takes no adapter.
const TransformerImpl& base_only(const TransformerImpl& model) {
  if (model.adapter_layer >= 0) {
    throw TaskError("organism: the pre-training step takes a base model without an adapter");
  }
  return model;
}

}  // namespace

PretrainStep::PretrainStep(const TransformerImpl& model, AdamWConfig adamw, bool train_head_bias)
    : model_(base_only(model)), adamw_(adamw), train_head_bias_(train_head_bias) {
  const std::size_t size = model_.weights().size();
  grad_.assign(size, 0.0F);
  m_.assign(size, 0.0F);
  v_.assign(size, 0.0F);
}

double PretrainStep::loss_and_grad(const Batch& batch) {
  model_.forward(pass_, batch.tokens, nullptr);
  const double loss = nll_and_grad(pass_, position_weights(batch), 1.0);
  std::fill(grad_.begin(), grad_.end(), 0.0F);
  model_.backward(pass_, nullptr, /*stop=*/0, grad_.data(), nullptr, nullptr);
  return loss;
}

double PretrainStep::step(const Batch& batch, double lr) {
  const double loss = loss_and_grad(batch);
  // A frozen head bias keeps its value through the update (weight decay included).
  float* bias = model_.weights().data() + model_.param("head.bias").offset;
  const std::vector<float> kept(bias, bias + (train_head_bias_ ? 0 : model_.config().vocab));
  adamw_update(model_.weights().data(), grad_.data(), m_.data(), v_.data(), grad_.size(), lr,
               ++steps_, adamw_);
  std::copy(kept.begin(), kept.end(), bias);
  return loss;
}

torch::Tensor PretrainStep::grad(const std::string& name) const {
  const FlatTransformer::Param& p = model_.param(name);
  return torch::from_blob(const_cast<float*>(grad_.data() + p.offset), p.shape,
                          torch::TensorOptions().dtype(torch::kFloat))
      .clone();
}

void PretrainStep::store(TransformerImpl& model) const { model_.store(model); }

}  // namespace emsweep::organism
