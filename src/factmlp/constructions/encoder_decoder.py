r"""Dugan et al.'s closed-form encoder-decoder fact-storing MLP (float64).

g(x) = P^T e(x): the encoder e (a gated MLP, :mod:`factmlp.constructions.encoder`) maps every key
k exactly to its *code* c_k = P u*_{f(k)} in R^{m'}, where u*_j is the margin-optimal separator of
value j (:mod:`factmlp.decodability`) and P (m' x d) a random JL projection; the decoder P^T is
folded into the output matrix, so g is one gated MLP of hidden width (ceil(|K|/b) + 2) m'.

Why it decodes: <g(k), v_i - v_j> = <P u*_i, P (v_i - v_j)>, within JL distortion of
<u*_i, v_i - v_j> >= rho_i ||v_i - v_j|| > 0; so the argmax is right once the distortion is below
rho, i.e. m' ~ log|V| / rho^2. At m' = d an orthogonal P is a rotation and decoding is exact by
the definition of rho, so the code dimension searched is 1..d.

Choices the paper leaves open (settings, see :class:`ConstructionSettings`):

- ``projection="orthogonal"``: P has orthonormal rows (a random m'-dimensional subspace), a JL
  map with smaller distortion than i.i.d. Gaussian entries ("gaussian", N(0, 1/m')).
- ``bucket_size``: keys per gadget b <= d; 0 means d - 4 (construction notes: b close to d gives
  the fewest neurons, the slack keeps each bucket's key system well conditioned).
- ``whiten``: build for whitened values and fold W^T into the output (:mod:`factmlp.whitening`).

Value sets with an undecodable target (rho_i <= 0: a value inside the hull of the others, or a
duplicate) raise :class:`~factmlp.decodability.InfeasibleValuesError` before any work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..decodability import InfeasibleValuesError, cached_decodability
from ..facts import FactSet
from ..methods import Method, register
from ..mlp import GatedMLP
from ..whitening import fold_whitening, whiten_values
from .encoder import fit_piecewise_encoder

__all__ = ["ConstructionSettings", "Construction", "ConstructionWhitened", "jl_projection", "build_encoder_decoder", "target_separators"]


def jl_projection(code_dim: int, d: int, *, kind: str, generator: torch.Generator) -> torch.Tensor:
    """(m', d) random projection: orthonormal rows, or i.i.d. N(0, 1/m') entries."""
    if not 1 <= code_dim <= d:
        raise ValueError(f"code dimension must lie in [1, d={d}], got {code_dim}")
    if kind == "orthogonal":
        q, r = torch.linalg.qr(torch.randn(d, code_dim, generator=generator, dtype=torch.float64))
        return (q * torch.sign(torch.diagonal(r))).T  # (m', d), Haar-distributed rows
    if kind == "gaussian":
        return torch.randn(code_dim, d, generator=generator, dtype=torch.float64) / code_dim**0.5
    raise ValueError(f"unknown projection {kind!r}; known: orthogonal, gaussian")


def target_separators(facts: FactSet, values: torch.Tensor) -> torch.Tensor:
    """(n_facts, d) separator u*_{f(k)} of every key's value; raises if a target value is undecodable."""
    dec = cached_decodability(values)
    used = torch.unique(facts.mapping)
    bad = used[~dec.feasible[used]]
    if bad.numel():
        shown = ", ".join(map(str, bad[:10].tolist()))
        raise InfeasibleValuesError(
            f"{bad.numel()} target value(s) have rho_i <= 0 (inside the convex hull of the other values, "
            f"or duplicated), so no output decodes to them: value indices {shown}"
        )
    return dec.separators[facts.mapping]


@dataclass(frozen=True)
class ConstructionSettings:
    """projection: "orthogonal" | "gaussian"; bucket_size: b (0 = d - 4); bucket_sizes: several b
    for the capacity search, which keeps the cheapest (b sets the hidden width per code dimension,
    h = (ceil(|K|/b) + 2) m', so this searches width and m' together); whiten and its ridge;
    ridge: relative Tikhonov term of the encoder's key system (removed by refinement)."""

    projection: str = "orthogonal"
    bucket_size: int = 0
    bucket_sizes: tuple[int, ...] = ()  # if set, the capacity search tries each (0 = d - 4)
    whiten: bool = False
    whiten_ridge: float = 1e-6
    ridge: float = 1e-10


def build_encoder_decoder(
    facts: FactSet, code_dim: int, *, seed: int, settings: ConstructionSettings = ConstructionSettings()
) -> tuple[GatedMLP, dict]:
    """The closed-form encoder-decoder MLP with code dimension ``code_dim`` (m')."""
    s = settings
    d = facts.d
    b = s.bucket_size or max(1, d - 4)
    if not 1 <= b <= d:
        raise ValueError(f"bucket_size must lie in [1, d={d}], got {b}")
    values, w = (whiten_values(facts.values, ridge=s.whiten_ridge) if s.whiten else (facts.values, None))
    seps = target_separators(facts, values)  # (N, d)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    proj = jl_projection(code_dim, d, kind=s.projection, generator=g)  # P (m', d)
    codes = seps @ proj.T  # (N, m')
    enc = fit_piecewise_encoder(facts.keys, codes, bucket_size=b, seed=int(seed) + 1, ridge=s.ridge)
    down = proj.T[:, enc.coord]  # (d, h): neuron writing code coordinate j gets column P^T e_j
    mlp = GatedMLP.from_weights(gate_w=enc.gate_w, gate_b=enc.gate_b, up_w=enc.up_w, down_w=down, activation="relu")
    if w is not None:
        mlp = fold_whitening(mlp, w)
    return mlp, {"code_dim": code_dim, "bucket_size": b, "encoder_fit_error": enc.fit_error}


@register
class Construction(Method):
    """Closed-form encoder-decoder; the searched size is the code dimension m' (1..d)."""

    name = "construction"
    Settings = ConstructionSettings
    size_name = "code_dim"

    def max_size(self, facts: FactSet) -> int:
        return facts.d

    def variants(self, facts: FactSet) -> list[tuple[str, "Construction"]]:
        """One variant per entry of ``bucket_sizes`` that fits this fact set (b <= d), or just this one."""
        sizes = [int(b) for b in self.settings.bucket_sizes if int(b) <= facts.d]
        if not sizes:
            return [("", self)]
        return [(f"b={b or 'd-4'}", type(self)(self.settings, bucket_size=b, bucket_sizes=())) for b in sizes]

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        return build_encoder_decoder(facts, width, seed=seed, settings=self.settings)


@dataclass(frozen=True)
class ConstructionWhitenedSettings(ConstructionSettings):
    whiten: bool = True


@register
class ConstructionWhitened(Construction):
    """The closed-form construction built for whitened values (Dugan et al. Fig. 2a)."""

    name = "construction_whitened"
    Settings = ConstructionWhitenedSettings
