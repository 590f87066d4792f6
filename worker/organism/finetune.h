// One organism grid point end to end: the settings as a struct, the shared base-model cache
// (one rank trains, the others wait on a file lock and reuse it), LoRA fine-tuning with the
// NLL + kl_weight * KL loss, and every metric and curve of docs/metrics.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/organism/finetune_step.h"
#include "worker/organism/model.h"
#include "sweep/core/task.h"
#include "worker/organism/world.h"

namespace emsweep::organism {

// Every setting of the kind, typed. config_from fills every field from a point's settings, whose
// defaults live in one place: worker/organism_info.cpp (so none are repeated here).
struct OrganismConfig {
  WorldConfig world;
  ModelConfig model;  // vocab and max_len come from the world
  PretrainConfig pretrain;
  std::uint64_t base_seed = 0;
  double kl_weight = 0;
  double gate_noise = 0;
  double domain_mix = 0;
  int steps = 0;
  double lr = 0;
  int batch = 0;
  int kl_batch = 0;
  int lora_rank = 0;
  double lora_alpha = 0;
  int lora_layer = -1;  // resolved: -1 becomes (n_layers - 1) / 2
  int eval_every = 0;
  int eval_questions = 0;
  int drift_steps = 0;
  std::vector<double> efficiency_norms;
  std::string finetune_step;  // "flat" (worker/organism/finetune_step.h) or "autograd"
  std::string device;
  int threads = 0;
};

// Reads a point's settings; throws ConfigError for a malformed efficiency_norms list.
[[nodiscard]] OrganismConfig config_from(const Settings& settings);

// The canonical text that identifies a base model (world, model, pre-training, seed). A base
// pre-trained on a GPU (`device` CUDA: through autograd, in another float order than the CPU's
// hand-written step) is another base, with its own key.
[[nodiscard]] std::string base_key(const OrganismConfig& config, std::uint64_t seed,
                                   const torch::Device& device = torch::kCPU);

// What happened when a base model was requested.
struct BaseInfo {
  bool trained = false;  // true: this call pre-trained it; false: loaded from the cache
  std::string path;      // the cache file
  double seconds = 0;    // wall time of the request (training or waiting and loading)
  std::string why;       // why it was (re)built: "missing", "settings differ", ...
};

// The base model for `config` and `seed` from `cache_dir` (created if missing): loaded when a
// valid entry exists, else pre-trained and stored under an exclusive lock. An entry whose
// settings or checksum do not match is rebuilt. On a GPU `device` it pre-trains there
// (pretrain_autograd); the model returned is on the CPU either way.
[[nodiscard]] Transformer load_or_train_base(const OrganismConfig& config, std::uint64_t seed,
                                             const std::string& cache_dir, BaseInfo& info,
                                             const torch::Device& device = torch::kCPU);

// Seed of the base model for a point (sweep seed, base_seed, replicate).
[[nodiscard]] std::uint64_t base_seed_of(const Point& point, const OrganismConfig& config);

// Where a worker's points run and the provenance line that says so.
struct DeviceChoice {
  torch::Device device = torch::kCPU;
  std::string note;
};
// The device for task.device `setting` (cpu | cuda | auto) when this LibTorch sees `cuda_devices`
// GPUs: a worker takes GPU (its index among its node's workers) modulo that count, so one rank
// per GPU spreads them. cuda without a GPU is a TaskError; auto without one is the CPU.
[[nodiscard]] DeviceChoice choose_device(const std::string& setting, int cuda_devices,
                                         int node_worker_index);

// One point's part of a batched step (packed_losses): its adapter (leaf tensors a [r, d_ff], b
// [d_model, r] on block `layer`), its batches and its KL weight; kl null: no KL term.
struct PackedStep {
  torch::Tensor a;
  torch::Tensor b;
  int layer = -1;
  double alpha = 1;
  const Batch* train = nullptr;
  const Batch* kl = nullptr;
  double lambda = 0;
};

// The losses of several points' fine-tuning steps as one batched model (the base's layers run
// once over the stacked batches, each padded to the longest; point k's adapter acts on its own
// rows), and in each point's a and b the gradient of its own loss (NLL + lambda * KL, as
// finetune_step: autograd computes it). Points must share the batch sizes, layer, rank and
// alpha, and each has a KL batch or none does. A point whose loss is not finite gets no gradient. The model keeps the stacked adapter.
[[nodiscard]] std::vector<FinetuneStep::Losses> packed_losses(Transformer& model,
                                                              const std::vector<PackedStep>& points);

// Runs one point: metrics in `metric_names` order, curves in `curve_names` order.
[[nodiscard]] TaskResult run_point(const Point& point, const TaskContext& ctx,
                                   const std::vector<std::string>& metric_names,
                                   const std::vector<std::string>& curve_names);

// Runs a pack's points (run.pack): on the autograd path, those that share a base and adapter
// shape fine-tune and drift as one batched model and are evaluated one by one; on the flat path
// they run one after another. Outcomes align with `points`; a failing point fails alone.
[[nodiscard]] std::vector<PointOutcome> run_pack(const std::vector<Point>& points,
                                                 const TaskContext& ctx,
                                                 const std::vector<std::string>& metric_names,
                                                 const std::vector<std::string>& curve_names);

}  // namespace emsweep::organism
