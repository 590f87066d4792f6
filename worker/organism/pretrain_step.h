// The organism's pre-training step written out by hand (worker/organism/flat_model.h): forward,
// masked NLL, backward and AdamW over one flat copy of the base model's parameters. A batch's
// rows run in groups of equal length, without their padding.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "worker/organism/flat_model.h"
#include "worker/organism/model.h"

namespace emsweep::organism {

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
  FlatTransformer model_;
  AdamWConfig adamw_;
  std::map<std::int64_t, FlatPass> passes_;  // by sequence length
  std::vector<std::int64_t> group_tokens_;  // one length group of a batch's rows
  std::vector<float> group_weights_;
  std::vector<float> grad_, m_, v_;  // gradient, AdamW moments (flat, as the parameters)
  std::int64_t steps_ = 0;
  bool train_head_bias_ = true;
};

}  // namespace emsweep::organism
