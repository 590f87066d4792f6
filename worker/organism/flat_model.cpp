#include "worker/organism/flat_model.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "sweep/core/error.h"

namespace emsweep::organism {

namespace {

constexpr float kLayerNormEps = 1e-5F;
// The sums over a row (`omp simd reduction`, compiled with -fopenmp-simd: no OpenMP runtime)
// are vectorised, in an order that differs from a sequential sum by float rounding only.  // torch::nn::LayerNorm's default

// A tensor over memory this step owns (no copy; the buffer must outlive it).
at::Tensor view(float* data, at::IntArrayRef sizes) {
  return at::from_blob(data, sizes, at::TensorOptions().dtype(at::kFloat));
}

// y[n, :] = bias for every row.
void fill_rows(float* y, const float* bias, std::int64_t n, std::int64_t cols) {
  for (std::int64_t i = 0; i < n; ++i) std::memcpy(y + i * cols, bias, cols * sizeof(float));
}

// y[n, :] += bias for every row.
void add_rows(float* y, const float* bias, std::int64_t n, std::int64_t cols) {
  for (std::int64_t i = 0; i < n; ++i) {
    float* row = y + i * cols;
    for (std::int64_t j = 0; j < cols; ++j) row[j] += bias[j];
  }
}

// y[n, out] += x[n, in] w[out, in]^T (a Linear layer's product; the bias is added by the caller).
void linear(const float* x, const float* w, float* y, std::int64_t n, std::int64_t in,
            std::int64_t out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(out),
              static_cast<int>(in), 1.0F, x, static_cast<int>(in), w, static_cast<int>(in), 1.0F, y,
              static_cast<int>(out));
}

// The backward pass of y = x w^T + b: dw += dy^T x, db += column sums of dy, dx = dy w.
// Without dw (a frozen layer) only dx is computed.
void linear_backward(const float* x, const float* w, const float* dy, float* dw, float* db,
                     float* dx, std::int64_t n, std::int64_t in, std::int64_t out) {
  if (dw != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(out),
                static_cast<int>(in), static_cast<int>(n), 1.0F, dy, static_cast<int>(out), x,
                static_cast<int>(in), 1.0F, dw, static_cast<int>(in));
    for (std::int64_t i = 0; i < n; ++i) {
      const float* row = dy + i * out;
      for (std::int64_t j = 0; j < out; ++j) db[j] += row[j];
    }
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(in),
              static_cast<int>(out), 1.0F, dy, static_cast<int>(out), w, static_cast<int>(in), 0.0F,
              dx, static_cast<int>(in));
}

// LayerNorm over rows of width d: keeps the normalised input and 1/std for the backward pass.
void layer_norm(const float* x, const float* gamma, const float* beta, float* xhat, float* rstd,
                float* y, std::int64_t n, std::int64_t d) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float* xr = x + i * d;
    float mean = 0;
#pragma omp simd reduction(+ : mean)
    for (std::int64_t j = 0; j < d; ++j) mean += xr[j];
    mean /= static_cast<float>(d);
    float var = 0;
#pragma omp simd reduction(+ : var)
    for (std::int64_t j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
    var /= static_cast<float>(d);
    // An overflowing row (a diverged model) makes NaN, not a silently zeroed output, so that
    // the loss says so.
    const float r = std::isfinite(var) ? 1.0F / std::sqrt(var + kLayerNormEps)
                                       : std::numeric_limits<float>::quiet_NaN();
    rstd[i] = r;
    float* hr = xhat + i * d;
    float* yr = y + i * d;
    for (std::int64_t j = 0; j < d; ++j) {
      hr[j] = (xr[j] - mean) * r;
      yr[j] = hr[j] * gamma[j] + beta[j];
    }
  }
}

// The backward pass of layer_norm: dgamma, dbeta accumulate (unless null: a frozen norm); dx +=
// the input's gradient.
void layer_norm_backward(const float* dy, const float* xhat, const float* rstd, const float* gamma,
                         float* dgamma, float* dbeta, float* dx, std::int64_t n, std::int64_t d) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float* dyr = dy + i * d;
    const float* hr = xhat + i * d;
    float mean_dxh = 0;
    float mean_dxh_h = 0;
    if (dgamma != nullptr) {
      for (std::int64_t j = 0; j < d; ++j) {
        dgamma[j] += dyr[j] * hr[j];
        dbeta[j] += dyr[j];
      }
    }
#pragma omp simd reduction(+ : mean_dxh, mean_dxh_h)
    for (std::int64_t j = 0; j < d; ++j) {
      const float dxh = dyr[j] * gamma[j];
      mean_dxh += dxh;
      mean_dxh_h += dxh * hr[j];
    }
    mean_dxh /= static_cast<float>(d);
    mean_dxh_h /= static_cast<float>(d);
    float* dxr = dx + i * d;
    for (std::int64_t j = 0; j < d; ++j) {
      dxr[j] += rstd[i] * (dyr[j] * gamma[j] - mean_dxh - hr[j] * mean_dxh_h);
    }
  }
}

// Rows of [B, T, 3, H, hd] (the qkv product) -> per-head blocks [B, H, T, hd] of q, k or v
// (`part` 0, 1, 2).
void split_heads(const float* rows, std::int64_t stride, std::int64_t part, float* heads,
                 std::int64_t b, std::int64_t t, std::int64_t h, std::int64_t hd) {
  const std::int64_t d = h * hd;
  for (std::int64_t bi = 0; bi < b; ++bi) {
    for (std::int64_t ti = 0; ti < t; ++ti) {
      const float* src = rows + (bi * t + ti) * stride + part * d;
      for (std::int64_t hi = 0; hi < h; ++hi) {
        std::memcpy(heads + ((bi * h + hi) * t + ti) * hd, src + hi * hd, hd * sizeof(float));
      }
    }
  }
}

// One block's attention: `batch` sequences of `t` positions, `heads` heads over width `d`.
// q, k, v are per-head blocks [batch, heads, t, hd]; scores and weights [batch, heads, t, t].
// The loops take one (sequence, head) pair at a time: at these sizes a batched matrix product
// through ATen spends most of its time slicing the batch. HD is the head size when it is one of
// the common ones (the channel loops then have a fixed length and vectorise), else 0.
struct AttentionShape {
  std::int64_t batch, heads, t, d;
};

template <int HD>
std::int64_t head_size(const AttentionShape& s) {
  return HD > 0 ? HD : s.d / s.heads;
}

// Calls f with std::integral_constant<int, hd> for hd 8, 16 or 32, else with 0.
template <typename F>
void with_head_size(std::int64_t hd, F&& f) {
  switch (hd) {
    case 8:
      f(std::integral_constant<int, 8>{});
      break;
    case 16:
      f(std::integral_constant<int, 16>{});
      break;
    case 32:
      f(std::integral_constant<int, 32>{});
      break;
    default:
      f(std::integral_constant<int, 0>{});
      break;
  }
}

// scores[i, j] = q_i . k_j / sqrt(hd) for j <= i, -inf after (causal).
template <int HD>
void attention_scores(const AttentionShape& s, const float* q, const float* k, float* scores) {
  const std::int64_t hd = head_size<HD>(s);
  const std::int64_t t = s.t;
  const float scale = 1.0F / std::sqrt(static_cast<float>(hd));
  for (std::int64_t pair = 0; pair < s.batch * s.heads; ++pair) {
    const float* qp = q + pair * t * hd;
    const float* kp = k + pair * t * hd;
    for (std::int64_t i = 0; i < t; ++i) {
      float* row = scores + (pair * t + i) * t;
      const float* qi = qp + i * hd;
      for (std::int64_t j = 0; j <= i; ++j) {
        const float* kj = kp + j * hd;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (std::int64_t c = 0; c < hd; ++c) dot += qi[c] * kj[c];
        row[j] = dot * scale;
      }
      std::fill(row + i + 1, row + t, -std::numeric_limits<float>::infinity());
    }
  }
}

// The heads' outputs o_i = sum_j p_ij v_j, merged into rows [batch * t, d].
template <int HD>
void attention_values(const AttentionShape& s, const float* probs, const float* v, float* out) {
  const std::int64_t hd = head_size<HD>(s);
  const std::int64_t t = s.t;
  for (std::int64_t pair = 0; pair < s.batch * s.heads; ++pair) {
    const std::int64_t bi = pair / s.heads;
    const std::int64_t hi = pair % s.heads;
    const float* vp = v + pair * t * hd;
    for (std::int64_t i = 0; i < t; ++i) {
      const float* p = probs + (pair * t + i) * t;
      float* o = out + (bi * t + i) * s.d + hi * hd;
      std::fill(o, o + hd, 0.0F);
      for (std::int64_t j = 0; j <= i; ++j) {
        const float pj = p[j];
        const float* vj = vp + j * hd;
        for (std::int64_t c = 0; c < hd; ++c) o[c] += pj * vj[c];
      }
    }
  }
}

// The backward pass from datt (rows [batch * t, d]) to dqkv (rows [batch * t, 3d], zeroed by
// the caller): dP = dO V^T, the softmax backward with the score scale, dQ = dS K, dK = dS^T Q,
// dV = P^T dO. `ds` holds one query's score gradient (t floats).
template <int HD>
void attention_grad(const AttentionShape& s, const float* q, const float* k, const float* v,
                    const float* probs, const float* datt, float* ds, float* dqkv) {
  const std::int64_t hd = head_size<HD>(s);
  const std::int64_t t = s.t;
  const std::int64_t d = s.d;
  const float scale = 1.0F / std::sqrt(static_cast<float>(hd));
  for (std::int64_t pair = 0; pair < s.batch * s.heads; ++pair) {
    const std::int64_t bi = pair / s.heads;
    const std::int64_t hi = pair % s.heads;
    const float* qp = q + pair * t * hd;
    const float* kp = k + pair * t * hd;
    const float* vp = v + pair * t * hd;
    // Position pos's row of dqkv: dq at column hi*hd, dk at d + hi*hd, dv at 2d + hi*hd.
    auto row = [&](std::int64_t pos) { return dqkv + (bi * t + pos) * 3 * d + hi * hd; };
    for (std::int64_t i = 0; i < t; ++i) {
      const float* p = probs + (pair * t + i) * t;
      const float* dout = datt + (bi * t + i) * d + hi * hd;
      float weighted = 0;  // sum_j p_ij dP_ij
      for (std::int64_t j = 0; j <= i; ++j) {
        const float* vj = vp + j * hd;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (std::int64_t c = 0; c < hd; ++c) dot += dout[c] * vj[c];
        ds[j] = dot;
        weighted += p[j] * dot;
      }
      float* dq = row(i);
      const float* qi = qp + i * hd;
      for (std::int64_t j = 0; j <= i; ++j) {
        const float pj = p[j];
        const float dsj = scale * pj * (ds[j] - weighted);
        const float* kj = kp + j * hd;
        float* dk = row(j) + d;
        float* dv = row(j) + 2 * d;
        // dq, dk and dv are disjoint ranges of one buffer (d >= hd apart), which the compiler
        // cannot prove: without the pragma this loop stays scalar.
#pragma omp simd
        for (std::int64_t c = 0; c < hd; ++c) {
          dq[c] += dsj * kj[c];
          dk[c] += dsj * qi[c];
          dv[c] += pj * dout[c];
        }
      }
    }
  }
}

}  // namespace
void adamw_update(float* w, const float* g, float* m, float* v, std::size_t size, double lr,
                  std::int64_t step, const AdamWConfig& config) {
  const double bias1 = 1.0 - std::pow(config.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(config.beta2, static_cast<double>(step));
  const auto decay = static_cast<float>(1.0 - lr * config.weight_decay);
  const auto b1 = static_cast<float>(config.beta1);
  const auto b2 = static_cast<float>(config.beta2);
  const auto one_minus_b1 = static_cast<float>(1.0 - config.beta1);
  const auto one_minus_b2 = static_cast<float>(1.0 - config.beta2);
  const auto sqrt_bias2 = static_cast<float>(std::sqrt(bias2));
  const auto eps = static_cast<float>(config.eps);
  const auto step_size = static_cast<float>(lr / bias1);
  // w, g, m and v are separate buffers (the compiler cannot prove it).
#pragma omp simd
  for (std::size_t i = 0; i < size; ++i) {
    w[i] *= decay;
    m[i] = m[i] * b1 + g[i] * one_minus_b1;
    v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
    w[i] -= step_size * (m[i] / (std::sqrt(v[i]) / sqrt_bias2 + eps));
  }
}

std::vector<float> position_weights(const Batch& batch) {
  const std::int64_t b = batch.tokens.size(0);
  const std::int64_t t = batch.tokens.size(1);
  const auto mask = batch.mask.to(torch::kFloat).contiguous();
  const float* scored = mask.data_ptr<float>();  // [B, T-1]: position t predicts token t+1
  std::vector<float> weights(static_cast<std::size_t>(b * t), 0.0F);
  for (std::int64_t bi = 0; bi < b; ++bi) {
    for (std::int64_t ti = 0; ti + 1 < t; ++ti) {
      weights[bi * t + ti] = scored[bi * (t - 1) + ti] / static_cast<float>(batch.scored);
    }
  }
  return weights;
}

namespace {

// nll_and_grad over the targets target(i) of the pass's rows.
template <typename Target>
double nll_and_grad_with(FlatPass& pass, const std::vector<float>& weights, double scale,
                         Target target) {
  const std::int64_t vocab = static_cast<std::int64_t>(pass.logits.size()) / pass.n;
  double loss = 0;
  const auto s = static_cast<float>(scale);
  for (std::int64_t i = 0; i < pass.n; ++i) {
    float* row = pass.logits.data() + i * vocab;
    const float* lp = pass.logp.data() + i * vocab;
    const float wi = weights[i];
    if (wi == 0.0F) {
      std::fill(row, row + vocab, 0.0F);
      continue;
    }
    const std::int64_t next = target(i);
    loss -= static_cast<double>(wi) * lp[next];
    const float ws = wi * s;
    for (std::int64_t j = 0; j < vocab; ++j) row[j] = ws * std::exp(lp[j]);
    row[next] -= ws;
  }
  return loss;
}

}  // namespace

double nll_and_grad(FlatPass& pass, const std::vector<float>& weights, double scale) {
  return nll_and_grad_with(pass, weights, scale,
                           [&](std::int64_t i) { return pass.tokens[i + 1]; });
}

double nll_and_grad(FlatPass& pass, const CompactBatch& batch, double scale) {
  if (batch.b != pass.b || batch.t != pass.t) {
    throw TaskError("organism: a compact batch's loss over a pass of another shape");
  }
  return nll_and_grad_with(pass, batch.weights, scale,
                           [&](std::int64_t i) { return batch.targets[i]; });
}

double kl_and_grad(const FlatPass& model, const float* ref_logp, const std::vector<float>& weights,
                   double scale, float* grad) {
  const std::int64_t vocab = static_cast<std::int64_t>(model.logp.size()) / model.n;
  double loss = 0;
  const auto s = static_cast<float>(scale);
  for (std::int64_t i = 0; i < model.n; ++i) {
    const float wi = weights[i];
    float* row = grad != nullptr ? grad + i * vocab : nullptr;
    if (wi == 0.0F) {
      if (row != nullptr) std::fill(row, row + vocab, 0.0F);
      continue;
    }
    const float* lp = model.logp.data() + i * vocab;
    const float* lr = ref_logp + i * vocab;
    double kl = 0;
    for (std::int64_t j = 0; j < vocab; ++j) {
      const float pr = std::exp(lr[j]);
      kl += static_cast<double>(pr * (lr[j] - lp[j]));
      if (row != nullptr) row[j] = wi * s * (std::exp(lp[j]) - pr);
    }
    loss += static_cast<double>(wi) * kl;
  }
  return loss;
}

CompactBatch compact_batch(const torch::Tensor& tokens_in, const std::vector<float>& weights) {
  const auto tokens = tokens_in.to(torch::kLong).contiguous();
  const std::int64_t rows = tokens.size(0);
  const std::int64_t width = tokens.size(1);
  if (static_cast<std::int64_t>(weights.size()) != rows * width) {
    throw TaskError("organism: position weights of another shape than the batch");
  }
  const std::int64_t* tok = tokens.data_ptr<std::int64_t>();
  CompactBatch c;
  c.t = 1;
  for (std::int64_t i = 0; i < rows * width; ++i) {
    if (weights[static_cast<std::size_t>(i)] == 0.0F) continue;
    if (i % width + 1 >= width) {
      throw TaskError("organism: the last position of a sequence is scored (it predicts nothing)");
    }
    c.t = std::max(c.t, i % width + 1);
  }
  const std::int64_t t = c.t;
  c.row_of.resize(static_cast<std::size_t>(rows));
  // Rows are merged when every token is the same (the targets past the cut included).
  std::unordered_map<std::string, std::int64_t> seen;
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t* row = tok + i * width;
    auto [it, fresh] = seen.emplace(
        std::string(reinterpret_cast<const char*>(row), static_cast<std::size_t>(width) * 8), c.b);
    if (fresh) {
      c.tokens.insert(c.tokens.end(), row, row + t);
      c.weights.resize(c.tokens.size(), 0.0F);
      c.targets.resize(c.tokens.size(), -1);
      ++c.b;
    }
    const std::int64_t u = it->second;
    c.row_of[static_cast<std::size_t>(i)] = u;
    for (std::int64_t p = 0; p < t; ++p) {
      const float w = weights[static_cast<std::size_t>(i * width + p)];
      if (w == 0.0F) continue;
      c.weights[static_cast<std::size_t>(u * t + p)] += w;
      c.targets[static_cast<std::size_t>(u * t + p)] = row[p + 1];
    }
  }
  return c;
}

FlatTransformer::FlatTransformer(const TransformerImpl& model) : config_(model.config) {
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const auto src = item.value().detach().to(torch::kFloat).contiguous();
    params_.push_back(
        {item.key(), src.sizes().vec(), w_.size(), static_cast<std::size_t>(src.numel())});
    w_.insert(w_.end(), src.data_ptr<float>(), src.data_ptr<float>() + src.numel());
  }
  tok_emb_ = param("tok_emb.weight").offset;
  pos_emb_ = param("pos_emb.weight").offset;
  lnf_w_ = param("ln_f.weight").offset;
  lnf_b_ = param("ln_f.bias").offset;
  head_w_ = param("head.weight").offset;
  head_b_ = param("head.bias").offset;
  for (int l = 0; l < config_.n_layers; ++l) {
    const std::string p = "block" + std::to_string(l) + ".";
    auto at = [&](const std::string& name) { return param(p + name).offset; };
    blocks_.push_back({at("ln1.weight"), at("ln1.bias"), at("attn.qkv.weight"), at("attn.qkv.bias"),
                       at("attn.proj.weight"), at("attn.proj.bias"), at("ln2.weight"),
                       at("ln2.bias"), at("mlp.up.weight"), at("mlp.up.bias"),
                       at("mlp.down.weight"), at("mlp.down.bias")});
  }
}

const FlatTransformer::Param& FlatTransformer::param(const std::string& name) const {
  for (const auto& p : params_) {
    if (p.name == name) return p;
  }
  throw TaskError("organism: the hand-written model found no parameter " + name);
}

void FlatTransformer::store(TransformerImpl& model) const {
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters(/*recurse=*/true)) {
    const Param& p = param(item.key());
    item.value().copy_(torch::from_blob(const_cast<float*>(w_.data() + p.offset), p.shape,
                                        torch::TensorOptions().dtype(torch::kFloat)));
  }
}

void FlatTransformer::resize(FlatPass& pass, std::int64_t b, std::int64_t t) const {
  if (b == pass.b && t == pass.t && !pass.blocks.empty()) return;
  pass.b = b;
  pass.t = t;
  pass.n = b * t;
  const auto n = static_cast<std::size_t>(pass.n);
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto ff = static_cast<std::size_t>(config_.d_ff);
  const auto vocab = static_cast<std::size_t>(config_.vocab);
  const auto heads = static_cast<std::size_t>(config_.n_heads);
  const auto tt = static_cast<std::size_t>(t);
  pass.blocks.resize(static_cast<std::size_t>(config_.n_layers));
  for (auto& a : pass.blocks) {
    for (auto* buf : {&a.xhat1, &a.a1, &a.q, &a.k, &a.v, &a.att, &a.xhat2, &a.a2}) {
      buf->resize(n * d);
    }
    a.rstd1.resize(n);
    a.rstd2.resize(n);
    a.probs.resize(static_cast<std::size_t>(b) * heads * tt * tt);
    a.u.resize(n * ff);
    a.g.resize(n * ff);
  }
  for (auto* buf : {&pass.x, &pass.x_split, &pass.xhatf, &pass.af}) buf->resize(n * d);
  pass.rstdf.resize(n);
  pass.logits.resize(n * vocab);
  pass.logp.resize(n * vocab);
  pass.tokens.resize(n);
}

void FlatTransformer::grow_scratch(std::int64_t n, std::int64_t t) {
  const auto nn = static_cast<std::size_t>(n);
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto ff = static_cast<std::size_t>(config_.d_ff);
  const auto scores = nn / static_cast<std::size_t>(t) * static_cast<std::size_t>(config_.n_heads) *
                      static_cast<std::size_t>(t) * static_cast<std::size_t>(t);
  auto grow = [](std::vector<float>& v, std::size_t size) {
    if (v.size() < size) v.resize(size);
  };
  grow(dx_, nn * d);
  grow(da_, nn * d);
  grow(dqkv_, nn * 3 * d);
  grow(dff_, nn * ff);
  grow(dff2_, nn * ff);
  grow(scratch_, 3 * nn * d);  // the qkv product; attention's per-query score gradient
  grow(scores_, scores);
}

void FlatTransformer::forward(FlatPass& pass, const torch::Tensor& tokens,
                              const LoraView* lora) {
  forward_prefix(pass, tokens, lora != nullptr ? lora->layer : config_.n_layers - 1);
  forward_suffix(pass, lora);
}

void FlatTransformer::forward_prefix(FlatPass& pass, const torch::Tensor& tokens_in, int layer) {
  const auto tokens = tokens_in.to(torch::kLong).contiguous();
  forward_prefix(pass, tokens.data_ptr<std::int64_t>(), tokens.size(0), tokens.size(1), layer);
}

void FlatTransformer::prepare_prefix(FlatPass& pass, std::int64_t b, std::int64_t t, int layer) {
  if (layer < 0 || layer >= config_.n_layers) {
    throw TaskError("organism: the hand-written model has no block " + std::to_string(layer));
  }
  if (t > config_.max_len) {
    throw TaskError("organism: a sequence is longer than the model's max_len");
  }
  resize(pass, b, t);
  grow_scratch(pass.n, t);
  pass.split_layer = layer;
}

void FlatTransformer::forward_prefix(FlatPass& pass, const std::int64_t* tokens, std::int64_t b,
                                     std::int64_t t, int layer) {
  c10::InferenceMode no_autograd;
  prepare_prefix(pass, b, t, layer);
  const std::int64_t n = pass.n;
  const std::int64_t d = config_.d_model;
  std::copy(tokens, tokens + n, pass.tokens.begin());
  const float* w = w_.data();
  float* x = pass.x_split.data();
  // Embeddings, then each pre-LN block up to `layer`'s MLP output.
  for (std::int64_t i = 0; i < n; ++i) {
    const float* te = w + tok_emb_ + pass.tokens[i] * d;
    const float* pe = w + pos_emb_ + (i % t) * d;
    for (std::int64_t j = 0; j < d; ++j) x[i * d + j] = te[j] + pe[j];
  }
  for (int l = 0; l <= layer; ++l) block_forward(pass, x, l);
}

void FlatTransformer::forward_suffix(FlatPass& pass, const LoraView* lora) {
  c10::InferenceMode no_autograd;
  const int layer = pass.split_layer;
  if (layer < 0) throw TaskError("organism: forward_suffix without forward_prefix");
  if (lora != nullptr && lora->layer != layer) {
    throw TaskError("organism: an adapter on block " + std::to_string(lora->layer) +
                    " after a prefix up to block " + std::to_string(layer));
  }
  const std::int64_t n = pass.n;
  const std::int64_t d = config_.d_model;
  const std::int64_t ff = config_.d_ff;
  const std::int64_t vocab = config_.vocab;
  const float* w = w_.data();
  float* x = pass.x.data();
  std::memcpy(x, pass.x_split.data(), static_cast<std::size_t>(n * d) * sizeof(float));
  if (lora != nullptr) {
    // x += alpha * (g A^T) B^T, keeping h = g A^T for the backward pass.
    const std::int64_t r = lora->rank;
    pass.lora_h.assign(static_cast<std::size_t>(n * r), 0.0F);
    linear(pass.blocks[static_cast<std::size_t>(layer)].g.data(), lora->a, pass.lora_h.data(), n,
           ff, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(d),
                static_cast<int>(r), lora->alpha, pass.lora_h.data(), static_cast<int>(r), lora->b,
                static_cast<int>(r), 1.0F, x, static_cast<int>(d));
  }
  for (int l = layer + 1; l < config_.n_layers; ++l) block_forward(pass, x, l);
  layer_norm(x, w + lnf_w_, w + lnf_b_, pass.xhatf.data(), pass.rstdf.data(), pass.af.data(), n, d);
  fill_rows(pass.logits.data(), w + head_b_, n, vocab);
  linear(pass.af.data(), w + head_w_, pass.logits.data(), n, d, vocab);
  auto logp = view(pass.logp.data(), {n, vocab});
  at::_log_softmax_out(logp, view(pass.logits.data(), {n, vocab}), /*dim=*/1,
                       /*half_to_float=*/false);
}

void FlatTransformer::block_forward(FlatPass& pass, float* x, int l) {
  const std::int64_t b = pass.b;
  const std::int64_t t = pass.t;
  const std::int64_t n = pass.n;
  const std::int64_t d = config_.d_model;
  const std::int64_t ff = config_.d_ff;
  const std::int64_t h = config_.n_heads;
  const std::int64_t hd = d / h;
  const float* w = w_.data();
  const AttentionShape shape{b, h, t, d};
  const BlockParams& p = blocks_[static_cast<std::size_t>(l)];
  FlatPass::Block& a = pass.blocks[static_cast<std::size_t>(l)];
  layer_norm(x, w + p.ln1_w, w + p.ln1_b, a.xhat1.data(), a.rstd1.data(), a.a1.data(), n, d);
  float* qkv = scratch_.data();
  fill_rows(qkv, w + p.qkv_b, n, 3 * d);
  linear(a.a1.data(), w + p.qkv_w, qkv, n, d, 3 * d);
  split_heads(qkv, 3 * d, /*part=*/0, a.q.data(), b, t, h, hd);
  split_heads(qkv, 3 * d, /*part=*/1, a.k.data(), b, t, h, hd);
  split_heads(qkv, 3 * d, /*part=*/2, a.v.data(), b, t, h, hd);
  with_head_size(hd, [&](auto c) {
    attention_scores<decltype(c)::value>(shape, a.q.data(), a.k.data(), scores_.data());
  });
  auto probs = view(a.probs.data(), {b * h * t, t});
  at::_softmax_out(probs, view(scores_.data(), {b * h * t, t}), /*dim=*/-1,
                   /*half_to_float=*/false);
  with_head_size(hd, [&](auto c) {
    attention_values<decltype(c)::value>(shape, a.probs.data(), a.v.data(), a.att.data());
  });
  add_rows(x, w + p.proj_b, n, d);
  linear(a.att.data(), w + p.proj_w, x, n, d, d);
  layer_norm(x, w + p.ln2_w, w + p.ln2_b, a.xhat2.data(), a.rstd2.data(), a.a2.data(), n, d);
  fill_rows(a.u.data(), w + p.up_b, n, ff);
  linear(a.a2.data(), w + p.up_w, a.u.data(), n, d, ff);
  auto gelu_out = view(a.g.data(), {n, ff});
  at::gelu_out(gelu_out, view(a.u.data(), {n, ff}));
  add_rows(x, w + p.down_b, n, d);
  linear(a.g.data(), w + p.down_w, x, n, ff, d);
}

void FlatTransformer::save_prefix(const FlatPass& pass, PrefixState& state) const {
  const auto layer = static_cast<std::size_t>(pass.split_layer);
  state.layer = pass.split_layer;
  state.b = pass.b;
  state.t = pass.t;
  state.tokens = pass.tokens;
  state.x_split = pass.x_split;
  state.g = pass.blocks[layer].g;
}

void FlatTransformer::load_prefix(FlatPass& pass, const PrefixState& state) {
  prepare_prefix(pass, state.b, state.t, state.layer);
  std::copy(state.tokens.begin(), state.tokens.end(), pass.tokens.begin());
  std::copy(state.x_split.begin(), state.x_split.end(), pass.x_split.begin());
  const auto& g = state.g;
  std::copy(g.begin(), g.end(), pass.blocks[static_cast<std::size_t>(state.layer)].g.begin());
}

void FlatTransformer::copy_prefix(FlatPass& dst, const FlatPass& src) {
  prepare_prefix(dst, src.b, src.t, src.split_layer);
  const auto layer = static_cast<std::size_t>(src.split_layer);
  std::copy(src.tokens.begin(), src.tokens.end(), dst.tokens.begin());
  std::copy(src.x_split.begin(), src.x_split.end(), dst.x_split.begin());
  std::copy(src.blocks[layer].g.begin(), src.blocks[layer].g.end(), dst.blocks[layer].g.begin());
}

void SequenceCache::fill(FlatTransformer& model, const CompactBatch& batch, FlatPass& pass,
                         std::vector<float>* base_logp) {
  if (base_logp != nullptr && !with_logp_) {
    throw TaskError(
        "organism: a sequence cache without the base's log-probabilities was asked for them");
  }
  const std::int64_t b = batch.b;
  const std::int64_t t = batch.t;
  const auto d = static_cast<std::size_t>(model.config().d_model * t);
  const auto ff = static_cast<std::size_t>(model.config().d_ff * t);
  const auto vocab = static_cast<std::size_t>(model.config().vocab * t);
  const auto layer = static_cast<std::size_t>(layer_);
  auto key_of = [&](std::int64_t u) {
    return std::string(reinterpret_cast<const char*>(batch.tokens.data() + u * t),
                       static_cast<std::size_t>(t) * sizeof(std::int64_t));
  };
  // Each row's entry, looked up once; the rows not kept get one prefix pass over them (and the
  // base's suffix), then are kept.
  std::vector<const Entry*> rows(static_cast<std::size_t>(b), nullptr);
  std::vector<std::int64_t> missing;  // rows
  miss_tokens_.clear();
  for (std::int64_t u = 0; u < b; ++u) {
    const auto it = entries_.find(key_of(u));
    if (it != entries_.end()) {
      rows[static_cast<std::size_t>(u)] = &it->second;
      continue;
    }
    miss_tokens_.insert(miss_tokens_.end(), batch.tokens.begin() + u * t,
                        batch.tokens.begin() + (u + 1) * t);
    missing.push_back(u);
  }
  misses += static_cast<std::int64_t>(missing.size());
  hits += b - static_cast<std::int64_t>(missing.size());
  if (!missing.empty()) {
    const auto m = static_cast<std::int64_t>(missing.size());
    model.forward_prefix(miss_pass_, miss_tokens_.data(), m, t, layer_);
    if (with_logp_) model.forward_suffix(miss_pass_, nullptr);
    const auto& g = miss_pass_.blocks[layer].g;
    for (std::size_t j = 0; j < missing.size(); ++j) {
      Entry e;
      const auto& x = miss_pass_.x_split;
      e.x_split.assign(x.begin() + j * d, x.begin() + (j + 1) * d);
      e.g.assign(g.begin() + j * ff, g.begin() + (j + 1) * ff);
      if (with_logp_) {
        const auto& logp = miss_pass_.logp;
        e.logp.assign(logp.begin() + j * vocab, logp.begin() + (j + 1) * vocab);
      }
      std::string key = key_of(missing[j]);
      e.bytes = key.size() + (e.x_split.size() + e.g.size() + e.logp.size()) * sizeof(float);
      bytes_ += e.bytes;
      order_.push_back(key);
      // Pointers to unordered_map values stay valid when it grows.
      const auto kept = entries_.emplace(std::move(key), std::move(e)).first;
      rows[static_cast<std::size_t>(missing[j])] = &kept->second;
    }
  }
  model.prepare_prefix(pass, b, t, layer_);
  std::copy(batch.tokens.begin(), batch.tokens.end(), pass.tokens.begin());
  if (base_logp != nullptr) base_logp->resize(static_cast<std::size_t>(b) * vocab);
  auto& g = pass.blocks[layer].g;
  for (std::int64_t u = 0; u < b; ++u) {
    const Entry& e = *rows[static_cast<std::size_t>(u)];
    const auto row = static_cast<std::size_t>(u);
    std::copy(e.x_split.begin(), e.x_split.end(), pass.x_split.begin() + row * d);
    std::copy(e.g.begin(), e.g.end(), g.begin() + row * ff);
    if (base_logp != nullptr) {
      std::copy(e.logp.begin(), e.logp.end(), base_logp->begin() + row * vocab);
    }
  }
  while (bytes_ > max_bytes_ && !order_.empty()) {
    const auto it = entries_.find(order_.front());
    bytes_ -= it->second.bytes;
    entries_.erase(it);
    order_.pop_front();
  }
}

void InferenceCopy::run(const torch::Tensor& tokens, int layer, const LoraView* lora) {
  for (const PrefixState& p : prefixes) {
    if (p.matches(tokens, layer)) {
      ++hits;
      model.load_prefix(pass, p);
      model.forward_suffix(pass, lora);
      return;
    }
  }
  ++misses;
  model.forward_prefix(pass, tokens, layer);
  PrefixState state;
  model.save_prefix(pass, state);
  if (state.bytes() <= kPrefixCacheBytes) {
    while (!prefixes.empty() && prefix_bytes + state.bytes() > kPrefixCacheBytes) {
      prefix_bytes -= prefixes.front().bytes();
      prefixes.erase(prefixes.begin());
    }
    prefix_bytes += state.bytes();
    prefixes.push_back(std::move(state));
  }
  model.forward_suffix(pass, lora);
}

bool PrefixState::matches(const torch::Tensor& tokens_in, int at_layer) const {
  if (layer != at_layer || tokens_in.dim() != 2 || tokens_in.size(0) != b ||
      tokens_in.size(1) != t) {
    return false;
  }
  const auto tokens = tokens_in.to(torch::kLong).contiguous();
  return std::equal(this->tokens.begin(), this->tokens.end(), tokens.data_ptr<std::int64_t>());
}

void FlatTransformer::backward(FlatPass& pass, const LoraView* lora, int stop, float* grad,
                               float* da, float* db) {
  c10::InferenceMode no_autograd;
  const std::int64_t n = pass.n;
  const std::int64_t t = pass.t;
  const std::int64_t d = config_.d_model;
  const std::int64_t ff = config_.d_ff;
  const std::int64_t vocab = config_.vocab;
  const AttentionShape shape{pass.b, config_.n_heads, t, d};
  const float* w = w_.data();
  float* g = grad;
  // The gradient of parameter `offset`, or null for a frozen model.
  auto gp = [g](std::size_t offset) { return g != nullptr ? g + offset : nullptr; };
  float* dx = dx_.data();
  std::fill(dx, dx + n * d, 0.0F);
  linear_backward(pass.af.data(), w + head_w_, pass.logits.data(), gp(head_w_), gp(head_b_),
                  da_.data(), n, d, vocab);
  layer_norm_backward(da_.data(), pass.xhatf.data(), pass.rstdf.data(), w + lnf_w_, gp(lnf_w_),
                      gp(lnf_b_), dx, n, d);
  for (std::size_t l = blocks_.size(); l-- > static_cast<std::size_t>(stop);) {
    const BlockParams& p = blocks_[l];
    FlatPass::Block& a = pass.blocks[l];
    const bool at_lora = lora != nullptr && lora->layer == static_cast<int>(l);
    // The down-projection's input gradient is needed only below it: not when the pass ends at
    // the adapter.
    if (!at_lora || g != nullptr) {
      linear_backward(a.g.data(), w + p.down_w, dx, gp(p.down_w), gp(p.down_b), dff_.data(), n,
                      ff, d);
    }
    if (at_lora) {
      // dB += alpha dx^T h; dh = alpha dx B; dA += dh^T g; the hidden layer's gradient += dh A.
      const std::int64_t r = lora->rank;
      dh_.assign(static_cast<std::size_t>(n * r), 0.0F);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(d), static_cast<int>(r),
                  static_cast<int>(n), lora->alpha, dx, static_cast<int>(d), pass.lora_h.data(),
                  static_cast<int>(r), 1.0F, db, static_cast<int>(r));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n),
                  static_cast<int>(r), static_cast<int>(d), lora->alpha, dx, static_cast<int>(d),
                  lora->b, static_cast<int>(r), 0.0F, dh_.data(), static_cast<int>(r));
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(r), static_cast<int>(ff),
                  static_cast<int>(n), 1.0F, dh_.data(), static_cast<int>(r), a.g.data(),
                  static_cast<int>(ff), 1.0F, da, static_cast<int>(ff));
      if (g == nullptr) return;  // nothing below the adapter is trained
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n),
                  static_cast<int>(ff), static_cast<int>(r), 1.0F, dh_.data(), static_cast<int>(r),
                  lora->a, static_cast<int>(ff), 1.0F, dff_.data(), static_cast<int>(ff));
    }
    auto du = view(dff2_.data(), {n, ff});
    at::gelu_backward_out(du, view(dff_.data(), {n, ff}), view(a.u.data(), {n, ff}));
    linear_backward(a.a2.data(), w + p.up_w, dff2_.data(), gp(p.up_w), gp(p.up_b), da_.data(), n,
                    d, ff);
    layer_norm_backward(da_.data(), a.xhat2.data(), a.rstd2.data(), w + p.ln2_w, gp(p.ln2_w),
                        gp(p.ln2_b), dx, n, d);
    linear_backward(a.att.data(), w + p.proj_w, dx, gp(p.proj_w), gp(p.proj_b), da_.data(), n, d,
                    d);
    std::fill(dqkv_.data(), dqkv_.data() + n * 3 * d, 0.0F);
    with_head_size(d / shape.heads, [&](auto c) {
      attention_grad<decltype(c)::value>(shape, a.q.data(), a.k.data(), a.v.data(),
                                         a.probs.data(), da_.data(), scratch_.data(), dqkv_.data());
    });
    linear_backward(a.a1.data(), w + p.qkv_w, dqkv_.data(), gp(p.qkv_w), gp(p.qkv_b), da_.data(),
                    n, d, 3 * d);
    layer_norm_backward(da_.data(), a.xhat1.data(), a.rstd1.data(), w + p.ln1_w, gp(p.ln1_w),
                        gp(p.ln1_b), dx, n, d);
  }
  if (stop > 0 || g == nullptr) return;
  for (std::int64_t i = 0; i < n; ++i) {
    float* te = g + tok_emb_ + pass.tokens[i] * d;
    float* pe = g + pos_emb_ + (i % t) * d;
    const float* dxr = dx + i * d;
    for (std::int64_t j = 0; j < d; ++j) {
      te[j] += dxr[j];
      pe[j] += dxr[j];
    }
  }
}

}  // namespace emsweep::organism
