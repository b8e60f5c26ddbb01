"""Gradient-descent training of gated MLPs: the GD baseline of Dugan et al. (2025).

Full-batch Adam on the cross-entropy of the logits ``g(K) V^T`` against the fact map, with a
cosine learning-rate schedule from ``lr`` to ``lr_min`` over ``epochs`` steps (one step = one
epoch, the whole fact set). Training stops as soon as every fact is stored (argmax accuracy
1.0 on the logits of the current step, which costs nothing extra), or at the epoch cap. A
non-finite loss raises :class:`TrainingDivergedError`. The trainer, :func:`fit_full_batch`, is
shared with the GD-trained encoder-decoder (:mod:`factmlp.constructions.gd_encdec`) and the trained
associative memories (:mod:`factmlp.nichani.associative`).

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

__all__ = ["GDSettings", "GD", "TrainingDivergedError", "fit_full_batch", "train_gated_mlp", "resolve_device",
           "check_gd_settings", "init_gated_"]

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
    max_seconds: float = 0.0  # wall-clock cap on one training run, 0 = none (machine-dependent: benchmarks only)


def init_gated_(mlp: GatedMLP, g: torch.Generator) -> None:
    """PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from ``g``."""
    with torch.no_grad():
        for lin in (mlp.gate, mlp.up, mlp.down):
            bound = 1.0 / math.sqrt(lin.in_features)
            lin.weight.copy_(torch.rand(lin.weight.shape, generator=g, dtype=torch.float64) * 2 * bound - bound)
            lin.bias.copy_(torch.rand(lin.bias.shape, generator=g, dtype=torch.float64) * 2 * bound - bound)


class FusedAdam:
    """Adam (no weight decay) through the kernel behind ``torch.optim.Adam(fused=True)``, called
    directly: the same update bit for bit, without the optimizer wrapper's per-step Python work,
    which dominates the tiny full-batch problems of a capacity search (1,000s of epochs of
    (128 x 32)-sized matmuls: ~25% faster per epoch on CPU). Falls back to ``torch.optim.Adam``
    where the kernel is missing."""

    def __init__(self, params: list[torch.Tensor], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.betas, self.eps = params, betas, eps
        self._kernel = getattr(torch, "_fused_adam_", None)
        if self._kernel is None:
            self._opt = torch.optim.Adam(params, betas=betas, eps=eps)
            return
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        # step counters as torch.optim.Adam keeps them for the fused kernel: float32 scalars on the params' device
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in params]

    @torch.no_grad()
    def step(self, grads, *, lr: float) -> None:
        if self._kernel is None:
            for p, g in zip(self.params, grads):
                p.grad = g
            for group in self._opt.param_groups:
                group["lr"] = lr
            self._opt.step()
            return
        torch._foreach_add_(self.steps, 1)
        self._kernel(self.params, list(grads), self.exp_avg, self.exp_avg_sq, [], self.steps, lr=lr,
                     beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps, amsgrad=False,
                     maximize=False)


def fit_full_batch(model: torch.nn.Module, facts: FactSet, *, settings: GDSettings, label: str) -> dict:
    """Train ``model`` (keys -> outputs in R^d) in place: full-batch Adam on the cross-entropy of
    the logits model(K) V^T, cosine schedule, stop at 100% argmax accuracy or the epoch cap.

    The model must already be on the training device and dtype. Raises
    :class:`TrainingDivergedError` on a non-finite loss. Returns ``epochs``, ``train_accuracy``,
    ``final_loss`` and ``seconds``.
    """
    s = settings
    param = next(model.parameters())
    keys = facts.keys.to(device=param.device, dtype=param.dtype)  # (N, d)
    values = facts.values.to(device=param.device, dtype=param.dtype)  # (n_values, d)
    target = facts.mapping.to(param.device)  # (N,)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = FusedAdam(params)
    t0 = time.perf_counter()
    acc, loss_val, epoch = 0.0, float("nan"), 0
    for epoch in range(1, s.epochs + 1):
        lr = s.lr_min + 0.5 * (s.lr - s.lr_min) * (1 + math.cos(math.pi * (epoch - 1) / s.epochs))
        logits = model(keys) @ values.T  # (N, n_values)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss_val = float(loss.detach())
        if not math.isfinite(loss_val):
            raise TrainingDivergedError(f"{label} diverged at epoch {epoch} (loss={loss_val}, lr={s.lr})")
        acc = float((logits.argmax(dim=1) == target).to(torch.float64).mean())
        if s.log_every and epoch % s.log_every == 0:
            log.info("%s epoch=%d loss=%.3e acc=%.4f lr=%.2e", label, epoch, loss_val, acc, lr)
        if acc == 1.0:
            break
        if s.max_seconds and time.perf_counter() - t0 >= s.max_seconds:
            log.info("%s stopped by max_seconds=%g at epoch %d (acc=%.4f)", label, s.max_seconds, epoch, acc)
            break
        opt.step(torch.autograd.grad(loss, params), lr=lr)
    return {"epochs": epoch, "train_accuracy": acc, "final_loss": loss_val, "seconds": time.perf_counter() - t0}


def check_gd_settings(settings: GDSettings) -> tuple[torch.dtype, torch.device]:
    if settings.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {settings.epochs}")
    if settings.max_seconds < 0:
        raise ValueError(f"max_seconds must be >= 0 (0 = no cap), got {settings.max_seconds}")
    return {"float32": torch.float32, "float64": torch.float64}[settings.dtype], resolve_device(settings.device)


def train_gated_mlp(
    facts: FactSet, width: int, *, settings: GDSettings = GDSettings(), seed: int
) -> tuple[GatedMLP, dict]:
    """Train a width-``width`` gated MLP on ``facts``; returns the float64 MLP and metrics."""
    dtype, device = check_gd_settings(settings)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    mlp = GatedMLP(facts.d, width, activation=settings.activation, dtype=torch.float64)
    init_gated_(mlp, g)
    mlp = mlp.to(device=device, dtype=dtype)
    metrics = fit_full_batch(mlp, facts, settings=settings, label=f"gd width={width}")
    return mlp.to(device="cpu", dtype=torch.float64).requires_grad_(False), metrics


@register
class GD(Method):
    """Gated MLP trained by full-batch Adam; see the module docstring."""

    name = "gd"
    Settings = GDSettings
    trained = True

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        return train_gated_mlp(facts, width, settings=self.settings, seed=seed)
