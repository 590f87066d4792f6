#!/usr/bin/python3
"""Narrow fine-tuning with a KL penalty to a frozen copy: a real PyTorch child for emsweep.

The model organism in miniature. A small MLP classifier is pre-trained (fixed seed, so every
grid point starts from the same model) on inputs from two domains, A and B, labelled by a
fixed random "teacher" network. It is then fine-tuned on domain A alone to a *changed* labelling
(each class shifted by one): a narrow new behaviour. Unpenalised, the easy way to learn that
also moves the model's behaviour on B, which fine-tuning never asked for. The penalty

    loss = NLL(model, A batch, shifted labels) + kl_weight * KL(frozen || model) on a B batch

holds the model's output distribution on B to the frozen pre-trained copy's. A third domain C,
seen by pre-training (as a little of the mixture) but by neither fine-tuning nor the penalty,
shows whether the protection reaches inputs the penalty never saw.

Parameters (emsweep passes them; by hand the defaults below, or the command-line flags):
  lr         fine-tuning learning rate (Adam)                         number, default 3e-3
  kl_weight  weight of the KL penalty (0 = plain fine-tuning)         number, default 0
  seed       seed of the fine-tuning batches                          integer, default: the
             point's replicate number (sweep.yaml passes a replicates axis as --seed "{seed}")
  steps      fine-tuning steps (batch 128)                            integer, default 300
  hidden     width of the MLP's two hidden layers                     integer, default 64

Reports curves `loss` (the fine-tuning NLL) and `kl` (the KL term, in nats, before weighting)
every 10 steps, and the metrics documented at `finish(...)` below.

Run by hand:  /usr/bin/python3 examples/command/train_kl.py --kl-weight 10
(Use Debian's /usr/bin/python3, which has python3-torch; see examples/command/README.md.)
Under emsweep: examples/command/sweep.yaml.
"""

import argparse
import math
import os
import sys
import time

# Found through PYTHONPATH under emsweep; by hand, from this checkout.
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "worker",
                             "command", "python"))
import emsweep_child as es  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DEFAULTS = {"lr": 3e-3, "kl_weight": 0.0, "steps": 300, "hidden": 64}
INPUT_DIM = 16
CLASSES = 5
BATCH = 128
PRETRAIN_SEED = 1234  # fixed: every point fine-tunes the same pre-trained model
PRETRAIN_STEPS = 400
EVAL_SIZE = 2000


class World:
    """The data: three input domains and the teacher that labels them (all from a fixed seed)."""

    def __init__(self):
        g = torch.Generator().manual_seed(PRETRAIN_SEED)
        # Domain centres: three random directions at distance 2.5 from the origin.
        centres = torch.randn(3, INPUT_DIM, generator=g)
        self.centres = 2.5 * centres / centres.norm(dim=1, keepdim=True)
        # The teacher: a random two-layer tanh network; its argmax is the true class.
        self.w1 = torch.randn(INPUT_DIM, 32, generator=g) / math.sqrt(INPUT_DIM)
        self.w2 = torch.randn(32, CLASSES, generator=g) / math.sqrt(32)

    def inputs(self, domain: int, n: int, g: torch.Generator) -> torch.Tensor:
        """n inputs of domain 0 (A), 1 (B) or 2 (C): unit Gaussian noise around its centre."""
        return self.centres[domain] + torch.randn(n, INPUT_DIM, generator=g)

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's class of each input."""
        return (torch.tanh(x @ self.w1) @ self.w2).argmax(dim=1)


def shifted(labels: torch.Tensor) -> torch.Tensor:
    """The narrow task's labelling: every class moved on by one."""
    return (labels + 1) % CLASSES


class Classifier(torch.nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.fc1 = torch.nn.Linear(INPUT_DIM, hidden)
        self.fc2 = torch.nn.Linear(hidden, hidden)
        self.head = torch.nn.Linear(hidden, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1(x))
        x = F.gelu(self.fc2(x))
        return self.head(x)  # logits


def kl_to_frozen(frozen_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of KL(frozen || model) in nats."""
    return F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(frozen_logits, dim=1),
                    log_target=True, reduction="batchmean")


def pretrain(world: World, hidden: int) -> Classifier:
    """Fits the teacher on a mixture of 45% A, 45% B and 10% C (fixed seed, Adam 1e-2)."""
    torch.manual_seed(PRETRAIN_SEED)
    g = torch.Generator().manual_seed(PRETRAIN_SEED + 1)
    model = Classifier(hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sizes = (58, 58, 12)  # 128 per batch
    for _ in range(PRETRAIN_STEPS):
        x = torch.cat([world.inputs(d, n, g) for d, n in enumerate(sizes)])
        loss = F.cross_entropy(model(x), world.labels(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def evaluate(model: Classifier, frozen: Classifier, world: World) -> dict:
    """The point's metrics on held-out inputs (a seed shared by every point)."""
    g = torch.Generator().manual_seed(PRETRAIN_SEED + 2)
    xa, xb, xc = (world.inputs(d, EVAL_SIZE, g) for d in range(3))
    la = model(xa)
    target_a = shifted(world.labels(xa))
    return {
        # NLL (nats) of the narrow task (domain A, shifted labels): did fine-tuning learn it?
        "final_loss": F.cross_entropy(la, target_a).item(),
        # Accuracy on the narrow task (domain A, shifted labels); chance is 0.2.
        "narrow_acc": (la.argmax(1) == target_a).float().mean().item(),
        # Mean KL(frozen || model) (nats) on domain B, the inputs the penalty sees: how far
        # behaviour the fine-tuning never asked to change has moved anyway.
        "ood_shift": kl_to_frozen(frozen(xb), model(xb)).item(),
        # Accuracy on domain B against the teacher's original labels (the pre-trained model's
        # skill there is base_ood_acc): what the drift costs.
        "ood_acc": (model(xb).argmax(1) == world.labels(xb)).float().mean().item(),
        "base_ood_acc": (frozen(xb).argmax(1) == world.labels(xb)).float().mean().item(),
        # Mean KL(frozen || model) (nats) on domain C, seen by neither fine-tuning nor the
        # penalty: does protecting B protect the rest?
        "unseen_shift": kl_to_frozen(frozen(xc), model(xc)).item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lr", type=float, help="overrides the lr parameter")
    parser.add_argument("--kl-weight", type=float, help="overrides the kl_weight parameter")
    parser.add_argument("--seed", type=int, help="overrides the seed parameter")
    parser.add_argument("--out", help="directory for the fine-tuned model (model.pt)")
    args = parser.parse_args()

    p = es.params(defaults=dict(DEFAULTS, seed=es.replicate()))
    if args.seed is not None:
        p["seed"] = args.seed
    if args.lr is not None:
        p["lr"] = args.lr
    if args.kl_weight is not None:
        p["kl_weight"] = args.kl_weight
    torch.set_num_threads(1)
    started = time.perf_counter()

    world = World()
    frozen = pretrain(world, p["hidden"])
    frozen.requires_grad_(False)
    frozen.eval()
    model = Classifier(p["hidden"])
    model.load_state_dict(frozen.state_dict())

    torch.manual_seed(p["seed"])
    g = torch.Generator().manual_seed(p["seed"])
    opt = torch.optim.Adam(model.parameters(), lr=p["lr"])
    for step in range(p["steps"] + 1):
        xa = world.inputs(0, BATCH, g)
        nll = F.cross_entropy(model(xa), shifted(world.labels(xa)))
        xb = world.inputs(1, BATCH, g)
        with torch.no_grad():
            frozen_b = frozen(xb)
        kl = kl_to_frozen(frozen_b, model(xb))
        if step % 10 == 0:
            es.report(step, loss=nll.item(), kl=kl.item())
        if step == p["steps"]:
            break
        loss = nll + p["kl_weight"] * kl
        opt.zero_grad()
        loss.backward()
        opt.step()

    metrics = evaluate(model, frozen, world)
    metrics["train_seconds"] = time.perf_counter() - started  # pre-training + fine-tuning
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))
    es.finish(**metrics)


if __name__ == "__main__":
    main()
