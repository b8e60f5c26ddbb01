r"""NTK MLP construction (Nichani, Lee, Bietti 2024, Sec. 3; Dugan et al.'s "NTK" baseline).

A gated MLP ``F(x) = D [ (U x) * act(G x) ]`` with hidden width m:

- ``G`` (m, d): i.i.d. N(0, 1) gate, not normalised;
- ``D`` (d, m): i.i.d. N(0, 1), each column normalised to unit norm;
- ``U`` (m, d): one Hebbian / one-gradient-step sum over the facts,

.. math::
    U_k = \frac{1}{m} \sum_j h_p(g_k \cdot x_j)\, (d_k \cdot v_{f(j)})\, x_j^\top,

with h_p the normalised probabilists' Hermite polynomial He_p/sqrt(p!). In expectation the
score is a polynomial-kernel associative memory, (c_p/d) sum_j <v, v_f(j)> (x.x_j)^{p+1};
finite-width noise needs m d >~ N log N and kernel cross-talk limits N to ~d^{p+1}.
``act`` must have a nonzero Hermite coefficient of degree p (ReLU: p in {1, 2}).

All biases are zero but exist, and are counted (3 m d + 2 m + d). Built in float64.

Variants (Dugan et al. Fig. 2a and 5), each a registered method:

- ``ntk_whitened``: built for whitened values, W^T folded into D (:mod:`factmlp.whitening`);
  at the fixed ``whiten_ridge``, or, with ``whiten_ridges`` (empty by default here), at the
  option ("off" or a ridge) that maximises rho_min of the value table, reported as the capacity
  search's variant label, as for ``construction_whitened``;
- ``ntk_ustar``: "margin-optimal output embeddings": the Hebbian targets v_f(j) are replaced by
  the optimal separators u*_f(j) of the values (:mod:`factmlp.decodability`).

"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..facts import FactSet
from ..methods import Method, register
from ..mlp import GatedMLP
from ..whitening import fold_whitening, parse_whiten_ridges, pinned_whitening, whiten_with_choice

__all__ = ["NTKSettings", "NTK", "NTKWhitened", "NTKUStar", "hermite", "build_ntk_mlp"]


def hermite(p: int, z: torch.Tensor) -> torch.Tensor:
    """Normalised probabilists' Hermite polynomial h_p(z) = He_p(z)/sqrt(p!)."""
    if p < 0:
        raise ValueError(f"Hermite degree must be >= 0, got {p}")
    h_prev, h = torch.zeros_like(z), torch.ones_like(z)
    for n in range(p):  # h_{n+1} = (z h_n - sqrt(n) h_{n-1}) / sqrt(n+1)
        h_prev, h = h, (z * h - math.sqrt(n) * h_prev) / math.sqrt(n + 1)
    return h


_CHUNK_ELEMENTS = 1 << 24  # (keys x width) entries per chunk: 128 MiB in float64


def build_ntk_mlp(
    keys: torch.Tensor,
    targets: torch.Tensor,
    width: int,
    *,
    seed: int,
    activation: str = "relu",
    hermite_degree: int = 1,
) -> GatedMLP:
    """The NTK MLP storing keys (N, d) -> targets (N, d) (targets = v_f(j) or u*_f(j)).

    Randomness: G then D are drawn from one CPU generator seeded with ``seed``.
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    x = keys.to(torch.float64)  # (N, d)
    t = targets.to(torch.float64)  # (N, d)
    d = x.shape[1]
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    gate = torch.randn(width, d, generator=g, dtype=torch.float64)  # G (m, d)
    down = torch.randn(d, width, generator=g, dtype=torch.float64)  # D (d, m)
    down = down / down.norm(dim=0, keepdim=True)
    # U = (1/m) sum_j h_p(G x_j) * (D^T t_j) x_j^T, summed over key chunks: one (N, m) table
    # would take N m 8 bytes (4 GB at N = 8192, m = 65536)
    up = torch.zeros(width, d, dtype=torch.float64)
    chunk = max(1, _CHUNK_ELEMENTS // width)
    for s in range(0, x.shape[0], chunk):
        xs = x[s : s + chunk]
        coef = hermite(hermite_degree, xs @ gate.T) * (t[s : s + chunk] @ down)  # (chunk, m)
        up += coef.T @ xs
    up /= width  # U (m, d)
    return GatedMLP.from_weights(gate_w=gate, up_w=up, down_w=down, activation=activation)


@dataclass(frozen=True)
class NTKSettings:
    """activation: gate nonlinearity (ReLU as in Dugan et al.'s baseline); hermite_degree: p (1);
    whiten (+ whiten_ridge): build for whitened values; whiten_ridges: whitening options ("off"
    and/or ridges >= 0), the one with the largest rho_min of the value table is used (empty: the
    fixed whiten_ridge; needs whiten); output: "values" or "separators" (u*)."""

    activation: str = "relu"
    hermite_degree: int = 1
    whiten: bool = False
    whiten_ridge: float = 1e-6  # used when whiten_ridges is empty
    whiten_ridges: tuple = ()  # "off" and/or ridges >= 0; if set, chosen by rho per value table
    output: str = "values"

    def __post_init__(self) -> None:
        object.__setattr__(self, "whiten_ridges", parse_whiten_ridges(self.whiten_ridges))
        if self.whiten_ridges and not self.whiten:
            raise ValueError("whiten_ridges lists whitening options but whiten is false; set whiten: true "
                             "(or use ntk_whitened) or leave whiten_ridges empty")


@register
class NTK(Method):
    """Nichani et al.'s NTK construction; see the module docstring."""

    name = "ntk"
    Settings = NTKSettings

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        from .encoder_decoder import target_separators

        s = self.settings
        values, w, whiten_info = whiten_with_choice(facts.values, whiten=s.whiten, ridge=s.whiten_ridge,
                                                    ridges=s.whiten_ridges)
        if s.output == "values":
            targets = values[facts.mapping]
        elif s.output == "separators":
            targets = target_separators(facts, values)
        else:
            raise ValueError(f"ntk output must be 'values' or 'separators', got {s.output!r}")
        mlp = build_ntk_mlp(
            facts.keys, targets, width, seed=seed, activation=s.activation, hermite_degree=s.hermite_degree
        )
        return (fold_whitening(mlp, w) if w is not None else mlp), whiten_info

    def variants(self, facts: FactSet) -> list[tuple[str, "NTK"]]:
        """Just this method, or, with ``whiten_ridges``, this method pinned to the whitening option
        chosen for this value table and labelled with it (``whiten=off``, ``whiten=ridge 0.1``)."""
        tag, pinned = pinned_whitening(facts.values, whiten=self.settings.whiten, ridges=self.settings.whiten_ridges)
        return [(tag, type(self)(self.settings, **pinned) if pinned else self)]


@dataclass(frozen=True)
class NTKWhitenedSettings(NTKSettings):
    whiten: bool = True


@register
class NTKWhitened(NTK):
    """NTK built for whitened values (Dugan et al. Fig. 2a)."""

    name = "ntk_whitened"
    Settings = NTKWhitenedSettings


@dataclass(frozen=True)
class NTKUStarSettings(NTKSettings):
    output: str = "separators"


@register
class NTKUStar(NTK):
    """NTK with margin-optimal output embeddings u* (Dugan et al. Fig. 5)."""

    name = "ntk_ustar"
    Settings = NTKUStarSettings
