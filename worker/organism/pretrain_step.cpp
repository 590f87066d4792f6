#include "worker/organism/pretrain_step.h"

#include <algorithm>
#include <map>
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
  // Documents hold 1..max_pairs pairs, so a padded batch is about a third padding. Attention is
  // causal and a padded position is never scored, so no real position depends on one: the rows
  // run in groups of equal length, each cut after its own last token, and the gradients add up.
  // Only the order of the float sums differs from one padded pass.
  const auto weights = position_weights(batch);
  const auto tokens = batch.tokens.to(torch::kLong).contiguous();
  const std::int64_t rows = tokens.size(0);
  const std::int64_t width = tokens.size(1);
  const std::int64_t* tok = tokens.data_ptr<std::int64_t>();
  std::map<std::int64_t, std::vector<std::int64_t>> by_length;  // a row's length: its last scored position + 2
  for (std::int64_t i = 0; i < rows; ++i) {
    std::int64_t length = 0;
    for (std::int64_t p = 0; p + 1 < width; ++p) {
      if (weights[static_cast<std::size_t>(i * width + p)] != 0.0F) length = p + 2;
    }
    if (length > 0) by_length[length].push_back(i);
  }
  std::fill(grad_.begin(), grad_.end(), 0.0F);
  double loss = 0;
  const int top = model_.config().n_layers - 1;
  for (const auto& [length, members] : by_length) {
    const auto n = static_cast<std::int64_t>(members.size());
    group_tokens_.resize(static_cast<std::size_t>(n * length));
    group_weights_.resize(static_cast<std::size_t>(n * length));
    for (std::int64_t r = 0; r < n; ++r) {
      const std::int64_t i = members[static_cast<std::size_t>(r)];
      std::copy(tok + i * width, tok + i * width + length, group_tokens_.begin() + r * length);
      std::copy(weights.begin() + i * width, weights.begin() + i * width + length,
                group_weights_.begin() + r * length);
    }
    // A pass per length: one buffer resized between lengths every step is re-zeroed each time.
    FlatPass& pass = passes_[length];
    model_.forward_prefix(pass, group_tokens_.data(), n, length, top);
    model_.forward_suffix(pass, nullptr);
    loss += nll_and_grad(pass, group_weights_, 1.0);
    model_.backward(pass, nullptr, /*stop=*/0, grad_.data(), nullptr, nullptr);
  }
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
