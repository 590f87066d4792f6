// organism_bench: the organism's pre-training step (forward, backward, AdamW) as emsweep runs it
// (the hand-written PretrainStep) and through LibTorch's autograd, timed as steps/s on one
// thread, plus this core's GEMM rate. It writes the initial weights and
// the batch to --out so that step_bench.py runs the same step in Python PyTorch.
//   organism_bench --d 64 --layers 4 --heads 4 --ff 256 --batch 32 --steps 200 --out DIR
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "worker/organism/model.h"
#include "worker/organism/pretrain_step.h"
#include "worker/organism/world.h"

using namespace emsweep::organism;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Best GFLOP/s of an n x n x n float matmul over a few repetitions.
double gemm_gflops(int n) {
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::mm(a, b);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 10; ++i) c = torch::mm(a, b);
    best = std::max(best, 10 * 2.0 * n * n * n / seconds_since(t0) / 1e9);
  }
  return best;
}

void write_raw(const std::filesystem::path& path, const torch::Tensor& t) {
  auto c = t.contiguous();
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt = {
      {"d", "64"},     {"layers", "4"},  {"heads", "4"},       {"ff", "256"},
      {"batch", "32"}, {"steps", "200"}, {"out", "bench-out"}, {"max_pairs", "3"}, {"autograd", "1"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (!key.starts_with("--") || !opt.contains(key.substr(2))) {
      std::cerr << "organism_bench: unknown option " << key << "\n";
      return 2;
    }
    opt[key.substr(2)] = argv[i + 1];
  }
  set_compute_threads(1);
  keep_freed_memory();  // as the organism task does in every worker
  WorldConfig wc;
  wc.max_pairs = std::stoi(opt["max_pairs"]);
  const World world(wc);
  ModelConfig mc;
  mc.vocab = world.vocab_size();
  mc.max_len = world.max_length();
  mc.d_model = std::stoi(opt["d"]);
  mc.n_layers = std::stoi(opt["layers"]);
  mc.n_heads = std::stoi(opt["heads"]);
  mc.d_ff = std::stoi(opt["ff"]);
  const int batch_size = std::stoi(opt["batch"]);
  const int steps = std::stoi(opt["steps"]);
  Transformer model(mc);
  model->init_weights(/*seed=*/2024);

  // One fixed batch of full-length documents (data generation is not timed on either side).
  Rng rng(7);
  std::vector<std::vector<int>> docs;
  while (static_cast<int>(docs.size()) < batch_size) {
    auto doc = world.pretrain_document(rng);
    if (static_cast<int>(doc.size()) == world.max_length()) docs.push_back(std::move(doc));
  }
  const Batch batch = batch_all_tokens(docs);

  // Export: weights in named order (name and shape per line), then the batch.
  const std::filesystem::path out = opt["out"];
  std::filesystem::create_directories(out);
  std::filesystem::remove(out / "weights.bin");
  std::ofstream names(out / "weights.txt");
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    names << item.key();
    for (auto s : item.value().sizes()) names << " " << s;
    names << "\n";
    write_raw(out / "weights.bin", item.value().detach());
  }
  std::filesystem::remove(out / "tokens.bin");
  write_raw(out / "tokens.bin", batch.tokens);

  // emsweep's pre-training step (worker/organism/pretrain_step.cpp), and for comparison the
  // same step through LibTorch's autograd and torch::optim::AdamW.
  PretrainStep trainer(*model);
  const double loss0 = trainer.loss_and_grad(batch);
  const double autograd_loss0 = masked_nll(model->forward(batch.tokens), batch).item<double>();
  auto time_steps = [&](const auto& step) {
    for (int i = 0; i < 5; ++i) step();  // warm-up
    const auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) step();
    return steps / seconds_since(t0);
  };
  const double rate = time_steps([&] { trainer.step(batch, /*lr=*/1e-3); });
  torch::optim::AdamW adamw(model->parameters(),
                            torch::optim::AdamWOptions(1e-3).weight_decay(/*weight_decay=*/0.01));
  const double autograd_rate = opt["autograd"] == "0" ? 0.0 : time_steps([&] {
    auto loss = masked_nll(model->forward(batch.tokens), batch);
    adamw.zero_grad();
    loss.backward();
    adamw.step();
  });

  // FLOPs of a step: 6 x tokens x matmul weights (forward 2, backward 4) plus attention
  // (QK^T and AV: 4 B T^2 d forward per layer, x3 with the backward).
  const double tokens = static_cast<double>(batch.tokens.numel());
  const double t = static_cast<double>(batch.tokens.size(1));
  const double d = mc.d_model;
  const double ff = mc.d_ff;
  const double matmul_weights = mc.n_layers * (4 * d * d + 2 * d * ff) + d * mc.vocab;
  const double flops = 6 * tokens * matmul_weights + 3 * mc.n_layers * 4 * batch_size * t * t * d;
  const double gemm = gemm_gflops(512);
  std::printf(
      "{\"impl\": \"cpp\", \"d\": %d, \"layers\": %d, \"ff\": %d, \"batch\": %d, \"seq\": %d, "
      "\"loss0\": %.9f, \"autograd_loss0\": %.9f, \"steps_per_s\": %.3f, "
      "\"autograd_steps_per_s\": %.3f, \"step_gflops\": %.4f, \"achieved_gflops_s\": %.3f, "
      "\"gemm_gflops_s\": %.3f, \"share_of_gemm\": %.3f}\n",
      mc.d_model, mc.n_layers, mc.d_ff, batch_size, static_cast<int>(t), loss0, autograd_loss0,
      rate, autograd_rate, flops / 1e9, flops * rate / 1e9, gemm, flops * rate / 1e9 / gemm);
  return 0;
}
