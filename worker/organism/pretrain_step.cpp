#include "worker/organism/pretrain_step.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "sweep/core/error.h"

namespace emsweep::organism {

namespace {

constexpr float kLayerNormEps = 1e-5F;  // torch::nn::LayerNorm's default

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
void linear_backward(const float* x, const float* w, const float* dy, float* dw, float* db,
                     float* dx, std::int64_t n, std::int64_t in, std::int64_t out) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(out), static_cast<int>(in),
              static_cast<int>(n), 1.0F, dy, static_cast<int>(out), x, static_cast<int>(in), 1.0F,
              dw, static_cast<int>(in));
  for (std::int64_t i = 0; i < n; ++i) {
    const float* row = dy + i * out;
    for (std::int64_t j = 0; j < out; ++j) db[j] += row[j];
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
    for (std::int64_t j = 0; j < d; ++j) mean += xr[j];
    mean /= static_cast<float>(d);
    float var = 0;
    for (std::int64_t j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
    var /= static_cast<float>(d);
    const float r = 1.0F / std::sqrt(var + kLayerNormEps);
    rstd[i] = r;
    float* hr = xhat + i * d;
    float* yr = y + i * d;
    for (std::int64_t j = 0; j < d; ++j) {
      hr[j] = (xr[j] - mean) * r;
      yr[j] = hr[j] * gamma[j] + beta[j];
    }
  }
}

// The backward pass of layer_norm: dgamma, dbeta accumulate; dx += the input's gradient.
void layer_norm_backward(const float* dy, const float* xhat, const float* rstd, const float* gamma,
                         float* dgamma, float* dbeta, float* dx, std::int64_t n, std::int64_t d) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float* dyr = dy + i * d;
    const float* hr = xhat + i * d;
    float mean_dxh = 0;
    float mean_dxh_h = 0;
    for (std::int64_t j = 0; j < d; ++j) {
      dgamma[j] += dyr[j] * hr[j];
      dbeta[j] += dyr[j];
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

PretrainStep::PretrainStep(const TransformerImpl& model, AdamWConfig adamw, bool train_head_bias)
    : config_(model.config), adamw_(adamw), train_head_bias_(train_head_bias) {
  if (model.adapter_layer >= 0) {
    throw TaskError("organism: the pre-training step takes a base model without an adapter");
  }
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const auto src = item.value().detach().to(torch::kFloat).contiguous();
    params_.push_back(
        {item.key(), src.sizes().vec(), w_.size(), static_cast<std::size_t>(src.numel())});
    w_.insert(w_.end(), src.data_ptr<float>(), src.data_ptr<float>() + src.numel());
  }
  grad_.assign(w_.size(), 0.0F);
  m_.assign(w_.size(), 0.0F);
  v_.assign(w_.size(), 0.0F);
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
  acts_.resize(static_cast<std::size_t>(config_.n_layers));
}

const PretrainStep::Param& PretrainStep::param(const std::string& name) const {
  for (const auto& p : params_) {
    if (p.name == name) return p;
  }
  throw TaskError("organism: the pre-training step found no parameter " + name);
}

void PretrainStep::resize(std::int64_t b, std::int64_t t) {
  if (b == b_ && t == t_) return;
  b_ = b;
  t_ = t;
  n_ = b * t;
  const auto n = static_cast<std::size_t>(n_);
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto ff = static_cast<std::size_t>(config_.d_ff);
  const auto vocab = static_cast<std::size_t>(config_.vocab);
  const auto heads = static_cast<std::size_t>(config_.n_heads);
  const auto tt = static_cast<std::size_t>(t);
  for (auto& a : acts_) {
    for (auto* buf : {&a.xhat1, &a.a1, &a.q, &a.k, &a.v, &a.att, &a.xhat2, &a.a2}) {
      buf->resize(n * d);
    }
    a.rstd1.resize(n);
    a.rstd2.resize(n);
    a.probs.resize(static_cast<std::size_t>(b) * heads * tt * tt);
    a.u.resize(n * ff);
    a.g.resize(n * ff);
  }
  for (auto* buf : {&x_, &xhatf_, &af_, &dx_, &da_}) buf->resize(n * d);
  rstdf_.resize(n);
  logits_.resize(n * vocab);
  logp_.resize(n * vocab);
  dqkv_.resize(n * 3 * d);
  dff_.resize(n * ff);
  dff2_.resize(n * ff);
  scratch_.resize(3 * n * d);  // the qkv product; attention's per-head transposes
  scores_.resize(static_cast<std::size_t>(b) * heads * tt * tt);
  tokens_.resize(n);
  weight_.resize(n);
}

void PretrainStep::attention_forward(BlockActs& acts) {
  const AttentionShape shape{b_, config_.n_heads, t_, config_.d_model};
  with_head_size(shape.d / shape.heads, [&](auto hd) {
    attention_scores<decltype(hd)::value>(shape, acts.q.data(), acts.k.data(), scores_.data());
  });
  auto scores = view(scores_.data(), {b_ * shape.heads * t_, t_});
  auto probs = view(acts.probs.data(), {b_ * shape.heads * t_, t_});
  at::_softmax_out(probs, scores, /*dim=*/-1, /*half_to_float=*/false);
  with_head_size(shape.d / shape.heads, [&](auto hd) {
    attention_values<decltype(hd)::value>(shape, acts.probs.data(), acts.v.data(), acts.att.data());
  });
}

void PretrainStep::attention_backward(BlockActs& acts, const float* datt, float* dqkv) {
  const AttentionShape shape{b_, config_.n_heads, t_, config_.d_model};
  std::fill(dqkv, dqkv + n_ * 3 * shape.d, 0.0F);
  with_head_size(shape.d / shape.heads, [&](auto hd) {
    attention_grad<decltype(hd)::value>(shape, acts.q.data(), acts.k.data(), acts.v.data(),
                                        acts.probs.data(), datt, scratch_.data(), dqkv);
  });
}

double PretrainStep::loss_and_grad(const Batch& batch) {
  c10::InferenceMode no_autograd;
  const std::int64_t b = batch.tokens.size(0);
  const std::int64_t t = batch.tokens.size(1);
  if (t > config_.max_len) {
    throw TaskError("organism: a pre-training document is longer than the model's max_len");
  }
  resize(b, t);
  const std::int64_t n = n_;
  const std::int64_t d = config_.d_model;
  const std::int64_t ff = config_.d_ff;
  const std::int64_t vocab = config_.vocab;
  const std::int64_t h = config_.n_heads;
  const std::int64_t hd = d / h;
  const auto tokens = batch.tokens.contiguous();
  const auto mask = batch.mask.to(torch::kFloat).contiguous();
  std::memcpy(tokens_.data(), tokens.data_ptr<std::int64_t>(), n * sizeof(std::int64_t));
  const float* scored = mask.data_ptr<float>();  // [B, T-1]: position t predicts token t+1
  for (std::int64_t bi = 0; bi < b; ++bi) {
    for (std::int64_t ti = 0; ti < t; ++ti) {
      weight_[bi * t + ti] =
          ti + 1 < t ? scored[bi * (t - 1) + ti] / static_cast<float>(batch.scored) : 0.0F;
    }
  }
  const float* w = w_.data();

  // Forward: embeddings, then each pre-LN block, then the final norm and the head.
  for (std::int64_t i = 0; i < n; ++i) {
    const float* te = w + tok_emb_ + tokens_[i] * d;
    const float* pe = w + pos_emb_ + (i % t) * d;
    for (std::int64_t j = 0; j < d; ++j) x_[i * d + j] = te[j] + pe[j];
  }
  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    const BlockParams& p = blocks_[l];
    BlockActs& a = acts_[l];
    layer_norm(x_.data(), w + p.ln1_w, w + p.ln1_b, a.xhat1.data(), a.rstd1.data(), a.a1.data(), n,
               d);
    float* qkv = scratch_.data();
    fill_rows(qkv, w + p.qkv_b, n, 3 * d);
    linear(a.a1.data(), w + p.qkv_w, qkv, n, d, 3 * d);
    split_heads(qkv, 3 * d, /*part=*/0, a.q.data(), b, t, h, hd);
    split_heads(qkv, 3 * d, /*part=*/1, a.k.data(), b, t, h, hd);
    split_heads(qkv, 3 * d, /*part=*/2, a.v.data(), b, t, h, hd);
    attention_forward(a);
    add_rows(x_.data(), w + p.proj_b, n, d);
    linear(a.att.data(), w + p.proj_w, x_.data(), n, d, d);
    layer_norm(x_.data(), w + p.ln2_w, w + p.ln2_b, a.xhat2.data(), a.rstd2.data(), a.a2.data(), n,
               d);
    fill_rows(a.u.data(), w + p.up_b, n, ff);
    linear(a.a2.data(), w + p.up_w, a.u.data(), n, d, ff);
    auto gelu_out = view(a.g.data(), {n, ff});
    at::gelu_out(gelu_out, view(a.u.data(), {n, ff}));
    add_rows(x_.data(), w + p.down_b, n, d);
    linear(a.g.data(), w + p.down_w, x_.data(), n, ff, d);
  }
  layer_norm(x_.data(), w + lnf_w_, w + lnf_b_, xhatf_.data(), rstdf_.data(), af_.data(), n, d);
  fill_rows(logits_.data(), w + head_b_, n, vocab);
  linear(af_.data(), w + head_w_, logits_.data(), n, d, vocab);
  auto logp = view(logp_.data(), {n, vocab});
  at::_log_softmax_out(logp, view(logits_.data(), {n, vocab}), /*dim=*/1,
                       /*half_to_float=*/false);

  // Loss, and its gradient on the logits: weight * (softmax - one-hot of the next token).
  double loss = 0;
  float* dlogits = logits_.data();
  for (std::int64_t i = 0; i < n; ++i) {
    float* row = dlogits + i * vocab;
    const float* lp = logp_.data() + i * vocab;
    const float wi = weight_[i];
    if (wi == 0.0F) {
      std::fill(row, row + vocab, 0.0F);
      continue;
    }
    const std::int64_t target = tokens_[i + 1];
    loss -= static_cast<double>(wi) * lp[target];
    for (std::int64_t j = 0; j < vocab; ++j) row[j] = wi * std::exp(lp[j]);
    row[target] -= wi;
  }

  // Backward, in reverse.
  std::fill(grad_.begin(), grad_.end(), 0.0F);
  float* g = grad_.data();
  std::fill(dx_.begin(), dx_.end(), 0.0F);
  linear_backward(af_.data(), w + head_w_, dlogits, g + head_w_, g + head_b_, da_.data(), n, d,
                  vocab);
  layer_norm_backward(da_.data(), xhatf_.data(), rstdf_.data(), w + lnf_w_, g + lnf_w_, g + lnf_b_,
                      dx_.data(), n, d);
  for (std::size_t l = blocks_.size(); l-- > 0;) {
    const BlockParams& p = blocks_[l];
    BlockActs& a = acts_[l];
    linear_backward(a.g.data(), w + p.down_w, dx_.data(), g + p.down_w, g + p.down_b, dff_.data(),
                    n, ff, d);
    auto du = view(dff2_.data(), {n, ff});
    at::gelu_backward_out(du, view(dff_.data(), {n, ff}), view(a.u.data(), {n, ff}));
    linear_backward(a.a2.data(), w + p.up_w, dff2_.data(), g + p.up_w, g + p.up_b, da_.data(), n, d,
                    ff);
    layer_norm_backward(da_.data(), a.xhat2.data(), a.rstd2.data(), w + p.ln2_w, g + p.ln2_w,
                        g + p.ln2_b, dx_.data(), n, d);
    linear_backward(a.att.data(), w + p.proj_w, dx_.data(), g + p.proj_w, g + p.proj_b, da_.data(),
                    n, d, d);
    attention_backward(a, da_.data(), dqkv_.data());
    linear_backward(a.a1.data(), w + p.qkv_w, dqkv_.data(), g + p.qkv_w, g + p.qkv_b, da_.data(), n,
                    d, 3 * d);
    layer_norm_backward(da_.data(), a.xhat1.data(), a.rstd1.data(), w + p.ln1_w, g + p.ln1_w,
                        g + p.ln1_b, dx_.data(), n, d);
  }
  for (std::int64_t i = 0; i < n; ++i) {
    float* te = g + tok_emb_ + tokens_[i] * d;
    float* pe = g + pos_emb_ + (i % t) * d;
    const float* dxr = dx_.data() + i * d;
    for (std::int64_t j = 0; j < d; ++j) {
      te[j] += dxr[j];
      pe[j] += dxr[j];
    }
  }
  return loss;
}

double PretrainStep::step(const Batch& batch, double lr) {
  const double loss = loss_and_grad(batch);
  // A frozen head bias keeps its value through the update (weight decay included).
  const auto bias_begin = w_.begin() + static_cast<std::ptrdiff_t>(head_b_);
  const std::vector<float> kept_bias =
      train_head_bias_ ? std::vector<float>{} : std::vector<float>(bias_begin, bias_begin + config_.vocab);
  // AdamW as LibTorch's torch::optim::AdamW computes it, on the whole flat buffer at once.
  ++steps_;
  const double bias1 = 1.0 - std::pow(adamw_.beta1, static_cast<double>(steps_));
  const double bias2 = 1.0 - std::pow(adamw_.beta2, static_cast<double>(steps_));
  const auto decay = static_cast<float>(1.0 - lr * adamw_.weight_decay);
  const auto b1 = static_cast<float>(adamw_.beta1);
  const auto b2 = static_cast<float>(adamw_.beta2);
  const auto one_minus_b1 = static_cast<float>(1.0 - adamw_.beta1);
  const auto one_minus_b2 = static_cast<float>(1.0 - adamw_.beta2);
  const auto sqrt_bias2 = static_cast<float>(std::sqrt(bias2));
  const auto eps = static_cast<float>(adamw_.eps);
  const auto step_size = static_cast<float>(lr / bias1);
  const std::size_t size = w_.size();
  float* w = w_.data();
  float* m = m_.data();
  float* v = v_.data();
  const float* g = grad_.data();
  for (std::size_t i = 0; i < size; ++i) {
    w[i] *= decay;
    m[i] = m[i] * b1 + g[i] * one_minus_b1;
    v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];
    w[i] -= step_size * (m[i] / (std::sqrt(v[i]) / sqrt_bias2 + eps));
  }
  if (!train_head_bias_) std::copy(kept_bias.begin(), kept_bias.end(), w_.begin() + static_cast<std::ptrdiff_t>(head_b_));
  return loss;
}

torch::Tensor PretrainStep::grad(const std::string& name) const {
  const Param& p = param(name);
  return torch::from_blob(const_cast<float*>(grad_.data() + p.offset), p.shape,
                          torch::TensorOptions().dtype(torch::kFloat))
      .clone();
}

void PretrainStep::store(TransformerImpl& model) const {
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters(/*recurse=*/true)) {
    const Param& p = param(item.key());
    item.value().copy_(torch::from_blob(const_cast<float*>(w_.data() + p.offset), p.shape,
                                        torch::TensorOptions().dtype(torch::kFloat)));
  }
}

}  // namespace emsweep::organism
