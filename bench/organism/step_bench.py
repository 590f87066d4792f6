#!/usr/bin/python3
"""The organism's pre-training step in Python PyTorch, loaded with organism_bench's weights and
batch: checks that it computes the same loss (to 1e-5) and times steps/s on one thread.
Usage: step_bench.py OUT_DIR STEPS D LAYERS HEADS FF"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
out, steps = sys.argv[1], int(sys.argv[2])
d, layers, heads, ff = (int(v) for v in sys.argv[3:7])

shapes = []
with open(f"{out}/weights.txt") as f:
    for line in f:
        name, *dims = line.split()
        shapes.append((name, [int(x) for x in dims]))
raw = np.fromfile(f"{out}/weights.bin", dtype=np.float32)
params, pos = {}, 0
for name, dims in shapes:
    n = int(np.prod(dims))
    params[name] = torch.nn.Parameter(torch.from_numpy(raw[pos:pos + n].copy()).reshape(dims))
    pos += n
assert pos == raw.size
vocab = params["tok_emb.weight"].shape[0]
max_len = params["pos_emb.weight"].shape[0]
tokens = torch.from_numpy(np.fromfile(f"{out}/tokens.bin", dtype=np.int64).copy()).reshape(-1, max_len)


class Model(torch.nn.Module):
    """Mirror of worker/organism/model.cpp: pre-LN blocks, GELU MLP, learned positions."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.ParameterDict({k.replace(".", "_"): v for k, v in params.items()})
        self.mask = torch.ones(max_len, max_len, dtype=torch.bool).triu(1)

    def w(self, name):
        return self.p[name.replace(".", "_")]

    def forward(self, x):
        b, t = x.shape
        h = F.embedding(x, self.w("tok_emb.weight")) + F.embedding(torch.arange(t), self.w("pos_emb.weight"))
        for i in range(layers):
            pre = f"block{i}."
            a = F.layer_norm(h, (d,), self.w(pre + "ln1.weight"), self.w(pre + "ln1.bias"))
            qkv = F.linear(a, self.w(pre + "attn.qkv.weight"), self.w(pre + "attn.qkv.bias"))
            q, k, v = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // heads))
            s = s.masked_fill(self.mask[:t, :t], float("-inf"))
            o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, t, d)
            h = h + F.linear(o, self.w(pre + "attn.proj.weight"), self.w(pre + "attn.proj.bias"))
            m = F.layer_norm(h, (d,), self.w(pre + "ln2.weight"), self.w(pre + "ln2.bias"))
            m = F.gelu(F.linear(m, self.w(pre + "mlp.up.weight"), self.w(pre + "mlp.up.bias")))
            h = h + F.linear(m, self.w(pre + "mlp.down.weight"), self.w(pre + "mlp.down.bias"))
        h = F.layer_norm(h, (d,), self.w("ln_f.weight"), self.w("ln_f.bias"))
        return F.linear(h, self.w("head.weight"), self.w("head.bias"))


model = Model()
target = tokens[:, 1:]
mask = (target != 0).float()  # PAD = 0: every non-pad next token is scored
scored = mask.sum()


def loss_fn():
    logits = model(tokens)[:, :-1]
    nll = F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1), reduction="none")
    return (nll * mask.reshape(-1)).sum() / scored


with torch.no_grad():
    loss0 = loss_fn().item()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)


def step():
    loss = loss_fn()
    opt.zero_grad()
    loss.backward()
    opt.step()


for _ in range(5):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
secs = time.perf_counter() - t0
print(json.dumps({"impl": "python", "torch": torch.__version__, "loss0": loss0,
                  "steps_per_s": steps / secs}))
