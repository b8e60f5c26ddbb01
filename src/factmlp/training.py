"""Gradient-descent training of gated MLPs: the GD baseline of Dugan et al. (2025).

Full-batch Adam on the cross-entropy of the logits ``g(K) V^T`` against the fact map, with a
cosine learning-rate schedule from ``lr`` to ``lr_min`` over ``epochs`` steps (one step = one
epoch, the whole fact set). Training stops as soon as every fact is stored (argmax accuracy
1.0 on the logits of the current step, which costs nothing extra), or at the epoch cap. A
non-finite loss raises :class:`TrainingDivergedError`.

Choices the papers leave open (all are settings):

- ``activation="identity"``: the bilinear gate that the hebbian-mlps code uses for its GD
  capacity runs; ReLU/SiLU are available.
- float32 training (as that code does) for speed; the returned MLP is converted to float64 and
  the caller checks storage there, so a probe only succeeds if the float64 MLP stores every fact.
- Initialisation is PyTorch's default Linear init (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
  and biases), drawn from a local generator seeded by ``seed``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch

from .facts import FactSet
from .methods import Method, register
from .mlp import GatedMLP

__all__ = ["GDSettings", "GD", "TrainingDivergedError", "train_gated_mlp", "resolve_device"]

log = logging.getLogger("factmlp.training")


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or Inf."""


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda if available else cpu; ``"cuda"`` without a GPU raises."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but no CUDA GPU is available")
    return torch.device(device)


@dataclass(frozen=True)
class GDSettings:
    """Settings of the GD baseline (defaults follow the hebbian-mlps GD capacity runs)."""

    epochs: int = 10000  # cap on full-batch Adam steps
    lr: float = 1e-3  # peak learning rate
    lr_min: float = 1e-6  # cosine schedule floor
    activation: str = "identity"  # bilinear gate
    dtype: str = "float32"  # training precision; storage is checked in float64
    device: str = "cpu"  # "cpu", "cuda", or "auto"
    log_every: int = 1000  # epochs between progress lines


def _init_linear_(lin: torch.nn.Linear, g: torch.Generator) -> None:
    bound = 1.0 / math.sqrt(lin.in_features)
    with torch.no_grad():
        lin.weight.copy_(torch.rand(lin.weight.shape, generator=g, dtype=torch.float64) * 2 * bound - bound)
        lin.bias.copy_(torch.rand(lin.bias.shape, generator=g, dtype=torch.float64) * 2 * bound - bound)


def train_gated_mlp(
    facts: FactSet, width: int, *, settings: GDSettings = GDSettings(), seed: int
) -> tuple[GatedMLP, dict]:
    """Train a width-``width`` gated MLP on ``facts``; returns the float64 MLP and metrics.

    Metrics: ``epochs`` run, ``train_accuracy`` (float32 logits), ``final_loss``, ``seconds``.
    """
    s = settings
    if s.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {s.epochs}")
    dtype = {"float32": torch.float32, "float64": torch.float64}[s.dtype]
    device = resolve_device(s.device)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    mlp = GatedMLP(facts.d, width, activation=s.activation, dtype=torch.float64)
    for lin in (mlp.gate, mlp.up, mlp.down):
        _init_linear_(lin, g)
    mlp = mlp.to(device=device, dtype=dtype)
    keys = facts.keys.to(device=device, dtype=dtype)  # (N, d)
    values = facts.values.to(device=device, dtype=dtype)  # (n_values, d)
    target = facts.mapping.to(device)  # (N,)
    opt = torch.optim.Adam(mlp.parameters(), lr=s.lr)
    t0 = time.perf_counter()
    acc, loss_val, epoch = 0.0, float("nan"), 0
    for epoch in range(1, s.epochs + 1):
        lr = s.lr_min + 0.5 * (s.lr - s.lr_min) * (1 + math.cos(math.pi * (epoch - 1) / s.epochs))
        for group in opt.param_groups:
            group["lr"] = lr
        logits = mlp(keys) @ values.T  # (N, n_values)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss_val = float(loss.detach())
        if not math.isfinite(loss_val):
            raise TrainingDivergedError(
                f"GD diverged at epoch {epoch} (loss={loss_val}, width={width}, lr={s.lr})"
            )
        acc = float((logits.argmax(dim=1) == target).to(torch.float64).mean())
        if s.log_every and epoch % s.log_every == 0:
            log.info("gd width=%d epoch=%d loss=%.3e acc=%.4f lr=%.2e", width, epoch, loss_val, acc, lr)
        if acc == 1.0:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    mlp = mlp.to(device="cpu", dtype=torch.float64).requires_grad_(False)
    return mlp, {
        "epochs": epoch,
        "train_accuracy": acc,
        "final_loss": loss_val,
        "seconds": time.perf_counter() - t0,
    }


@register
class GD(Method):
    """Gated MLP trained by full-batch Adam; see the module docstring."""

    name = "gd"
    Settings = GDSettings

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        return train_gated_mlp(facts, width, settings=self.settings, seed=seed)
