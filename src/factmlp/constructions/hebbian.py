r"""The v2 builders of "MLPs are Hebbians" (arXiv 2607.10034, code HazyResearch/hebbian-mlps).

Registered here so that they are compared with GD and the constructions on identical fact sets.
Written from the equations; the defaults are those of the reference code (read for facts only).

All three are bilinear random-feature MLPs, a gated MLP with identity gate activation,

.. math::
    \phi(x) = (A_0 x) \odot (A_1 x) \in \mathbb R^m, \qquad g(x) = W \phi(x),

so ``gate_w = A_0``, ``up_w = A_1`` (times the feature scale), ``down_w = W``, biases zero (but
counted: 3 m d + 2 m + d, the same count as every other method here; the reference counts
3 m d). With keys K (N x d), the targets T = V[f] (N x d, the value of each key) and Phi (N x m):

- ``hebbian`` (reference variant "unwhitened"): A_0, A_1 i.i.d. N(0, 1) (A_0 then A_1 from one
  generator seeded with the build seed), features scaled by m^{-1/2}; the raw Hebbian readout
  W = T^T Phi / N.
- ``hebbian_whitened`` ("whitened"): the same features; the ridge readout
  W = (T^T Phi / N)(Phi^T Phi / N + lambda I)^{-1} when m <= N, and its dual form
  W = ((Phi Phi^T + lambda I)^{-1} T)^T Phi when m > N (as in the reference; the two differ
  by the scaling of lambda, which only matters where lambda does).
- ``hebbian_data_dependent`` (reference label "cf_coord_whitened"): A_0, A_1 i.i.d. N(0, 1)
  unscaled; W_0 = the raw readout of these features; then A_1 is refitted with A_0 fixed, and A_0
  with the new A_1 fixed, each as the ridge least-squares problem that makes the score matrix
  of the facts the identity,

  .. math::
      \min_{A} \lVert T W_0 \,[(A_{\text{partner}} K^T) \odot (A K^T)] - I_N \rVert_F^2
               + \lambda \lVert A \rVert_F^2 ,

  (S[i, k] = <t_i, g(k)>; the readout W_0 stays that of the random features), solved by
  conjugate gradients on its normal equations with a Jacobi preconditioner (at most
  min(max(2m, 128), 1024) iterations, relative residual 1e-10); the final readout is the ridge
  readout of the fitted features.

lambda = ``ridge`` = 1e-6 (the reference default). Everything runs in float64 (the reference
switches the CG solve to float32 when m d > 8192; constructions here stay in float64).
m is the hidden width, searched by the capacity search like GD's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..facts import FactSet
from ..methods import Method, register
from ..mlp import GatedMLP

__all__ = ["HebbianSettings", "Hebbian", "HebbianWhitened", "HebbianDataDependent", "bilinear_features",
           "raw_readout", "ridge_readout", "fit_bilinear_factor", "build_hebbian_mlp", "VARIANTS"]

VARIANTS = ("unwhitened", "whitened", "data_dependent")


def bilinear_features(keys: torch.Tensor, a0: torch.Tensor, a1: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """(N, m) features phi(k) = scale (A_0 k) * (A_1 k)."""
    return (keys @ a0.T) * (keys @ a1.T) * scale


def raw_readout(targets: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """(d, m) Hebbian readout T^T Phi / N."""
    return targets.T @ features / features.shape[0]


def ridge_readout(targets: torch.Tensor, features: torch.Tensor, ridge: float) -> torch.Tensor:
    """(d, m) ridge readout: (T^T Phi / N)(Phi^T Phi / N + ridge I)^{-1} if m <= N, else the dual
    ((Phi Phi^T + ridge I)^{-1} T)^T Phi."""
    n, m = features.shape
    if m > n:
        coef = torch.linalg.solve(features @ features.T + ridge * torch.eye(n, dtype=features.dtype), targets)
        return coef.T @ features
    cov = features.T @ features / n + ridge * torch.eye(m, dtype=features.dtype)
    return torch.linalg.solve(cov, raw_readout(targets, features).T).T


def fit_bilinear_factor(partner: torch.Tensor, keys: torch.Tensor, targets: torch.Tensor, readout: torch.Tensor,
                        ridge: float, *, rtol: float = 1e-10, max_iter: int | None = None) -> torch.Tensor:
    """(m, d) factor A minimising ||T W [partner * (A K^T)] - I||_F^2 + ridge ||A||_F^2, where
    ``partner`` = A_other K^T (m, N) and W = ``readout`` (d, m); preconditioned CG on the normal
    equations (module docstring). Bounded: at most ``max_iter`` (default min(max(2m, 128), 1024))
    iterations."""
    m = partner.shape[0]
    max_iter = min(max(2 * m, 128), 1024) if max_iter is None else max_iter
    gram = targets.T @ targets  # (d, d)
    wgw = readout.T @ gram @ readout  # (m, m)

    def op(a: torch.Tensor) -> torch.Tensor:
        feats = partner * (a @ keys.T)  # (m, N)
        return (partner * (wgw @ feats)) @ keys + ridge * a

    rhs = (partner * (readout.T @ targets.T)) @ keys  # (m, d)
    diag = torch.diagonal(wgw)[:, None] * (partner.square() @ keys.square()) + ridge
    inv = 1.0 / diag.clamp_min(max(ridge, torch.finfo(diag.dtype).eps))
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    tol = rtol * float(rhs.norm())
    if tol == 0.0:
        return x
    z = inv * r
    p = z.clone()
    rz = float((r * z).sum())
    for _ in range(max_iter):
        ap = op(p)
        den = float((p * ap).sum())
        if den <= 0.0:
            raise RuntimeError("bilinear factor fit: the normal equations lost positive definiteness")
        alpha = rz / den
        x = x + alpha * p
        r = r - alpha * ap
        if float(r.norm()) <= tol:
            break
        z = inv * r
        rz_new = float((r * z).sum())
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def build_hebbian_mlp(keys: torch.Tensor, targets: torch.Tensor, width: int, *, seed: int, variant: str,
                      ridge: float = 1e-6) -> GatedMLP:
    """The v2 Hebbian MLP of hidden width ``width`` storing keys (N, d) -> targets (N, d)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown Hebbian variant {variant!r}; known: {', '.join(VARIANTS)}")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    k = keys.to(torch.float64)
    t = targets.to(torch.float64)
    d = k.shape[1]
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    a0 = torch.randn(width, d, generator=g, dtype=torch.float64)
    a1 = torch.randn(width, d, generator=g, dtype=torch.float64)
    if variant == "data_dependent":
        w0 = raw_readout(t, bilinear_features(k, a0, a1))
        a1 = fit_bilinear_factor(a0 @ k.T, k, t, w0, ridge)
        a0 = fit_bilinear_factor(a1 @ k.T, k, t, w0, ridge)
        scale = 1.0
    else:
        scale = width**-0.5
    feats = bilinear_features(k, a0, a1, scale)
    w = raw_readout(t, feats) if variant == "unwhitened" else ridge_readout(t, feats, ridge)
    return GatedMLP.from_weights(gate_w=a0 * scale, up_w=a1, down_w=w, activation="identity")


@dataclass(frozen=True)
class HebbianSettings:
    """variant: "unwhitened" | "whitened" | "data_dependent"; ridge: lambda of the ridge readout
    and of the data-dependent factor fits (reference default 1e-6)."""

    variant: str = "unwhitened"
    ridge: float = 1e-6

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown Hebbian variant {self.variant!r}; known: {', '.join(VARIANTS)}")
        if not self.ridge >= 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge!r}")


@register
class Hebbian(Method):
    """v2 Hebbian bilinear random-feature builder, raw readout (module docstring)."""

    name = "hebbian"
    Settings = HebbianSettings

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        s = self.settings
        mlp = build_hebbian_mlp(facts.keys, facts.targets, width, seed=seed, variant=s.variant, ridge=s.ridge)
        return mlp, {"variant": s.variant}


@dataclass(frozen=True)
class HebbianWhitenedSettings(HebbianSettings):
    variant: str = "whitened"


@register
class HebbianWhitened(Hebbian):
    """v2 Hebbian builder with the ridge ("whitened") readout."""

    name = "hebbian_whitened"
    Settings = HebbianWhitenedSettings


@dataclass(frozen=True)
class HebbianDataDependentSettings(HebbianSettings):
    variant: str = "data_dependent"


@register
class HebbianDataDependent(Hebbian):
    """v2 data-dependent Hebbian builder: bilinear factors refitted by ridge least squares."""

    name = "hebbian_data_dependent"
    Settings = HebbianDataDependentSettings
