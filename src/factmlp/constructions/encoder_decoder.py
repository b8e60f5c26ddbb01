r"""Dugan et al.'s closed-form encoder-decoder fact-storing MLP (float64).

g(x) = P^T e(x): the encoder e (a gated MLP, :mod:`factmlp.constructions.encoder`) maps every key
k exactly to its *code* c_k = P u*_{f(k)} in R^{m'}, where u*_j is the margin-optimal separator of
value j (:mod:`factmlp.decodability`) and P (m' x d) a random JL projection; the decoder P^T is
folded into the output matrix, so g is one gated MLP of hidden width (ceil(|K|/b) + 2) m'.

Why it decodes: <g(k), v_i - v_j> = <P u*_i, P (v_i - v_j)>, within JL distortion of
<u*_i, v_i - v_j> >= rho_i ||v_i - v_j|| > 0; so the argmax is right once the distortion is below
rho, i.e. m' ~ log|V| / rho^2. At m' = d an orthogonal P is a rotation and decoding is exact by
the definition of rho, so with an orthogonal P the code dimension searched is 1..d.

That cap hides the rho law: at small d the JL regime m' ~ log|V| / rho^2 lies *above* d for
small rho, and an orthogonal P (at most d orthonormal rows) cannot get there; the search then
returns m' <= d whatever rho is (review 2026-11, Check 2: spike16u, rho 0.117, needs m' = 178
with a Gaussian P searched up to 8d, but m' = 29 capped at d = 32; the log-log slope of m' on
1/rho^2 over 8 families is 0.19 capped and 0.63 uncapped). ``construction_jl``
(:class:`ConstructionJL`) is the construction with the paper's Gaussian JL decoder and m'
searched up to ``code_dim_max_factor * d`` (default 8 d). The encoder fits any number of code
coordinates, so m' > d only widens the MLP: h = (ceil(|K|/b) + 2) m'.

Choices the paper leaves open (settings, see :class:`ConstructionSettings`):

- ``projection="orthogonal"``: P has orthonormal rows (a random m'-dimensional subspace), a JL
  map with smaller distortion than i.i.d. Gaussian entries ("gaussian", N(0, 1/m')); only
  Gaussian maps exist for m' > d.
- ``code_dim_max_factor``: the capacity search tries m' up to ceil(factor * d) with a Gaussian
  P; an orthogonal P is always capped at d. 1 for ``construction`` (m' <= d, as before), 8 for
  ``construction_jl``.
- ``bucket_size``: keys per gadget b <= d; 0 means d - 4 (construction notes: b close to d gives
  the fewest neurons, the slack keeps each bucket's key system well conditioned).
- ``whiten``: build for whitened values and fold W^T into the output (:mod:`factmlp.whitening`),
  at the fixed ``whiten_ridge``, or, when ``whiten_ridges`` lists options (ridges and/or
  ``"off"``; ``construction_whitened``'s default), at the option that maximises rho_min of this
  value table (:func:`factmlp.whitening.choose_whitening`). The capacity search reports the
  choice as its variant label (``whiten=off``, ``whiten=ridge 0.1``); ``"off"`` is the plain
  construction, so on families where whitening lowers rho the whitened method equals it.

Value sets with an undecodable target (rho_i <= 0: a value inside the hull of the others, or a
duplicate) raise :class:`~factmlp.decodability.InfeasibleValuesError` before any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..decodability import InfeasibleValuesError, cached_decodability
from ..facts import FactSet
from ..methods import Method, register
from ..mlp import GatedMLP
from ..whitening import fold_whitening, parse_whiten_ridges, pinned_whitening, whiten_with_choice
from .encoder import fit_piecewise_encoder

__all__ = [
    "ConstructionSettings", "Construction", "ConstructionWhitened", "ConstructionJL", "ConstructionJLWhitened",
    "jl_projection", "build_encoder_decoder", "target_separators",
]


def jl_projection(code_dim: int, d: int, *, kind: str, generator: torch.Generator) -> torch.Tensor:
    """(m', d) random projection: orthonormal rows (m' <= d), or i.i.d. N(0, 1/m') entries (any
    m' >= 1: past d a Gaussian map is no longer a projection onto a subspace, but it still
    preserves inner products up to a distortion ~ 1/sqrt(m'), which is what decoding needs)."""
    if code_dim < 1:
        raise ValueError(f"code dimension must be >= 1, got {code_dim}")
    if kind == "orthogonal":
        if code_dim > d:
            raise ValueError(
                f"code dimension {code_dim} > d={d} is impossible with an orthogonal projection "
                f"(R^{d} has at most {d} orthonormal rows); use projection='gaussian' for m' > d"
            )
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
    h = (ceil(|K|/b) + c) m', so this searches width and m' together); constant_neurons: c, the
    encoder's neurons per code coordinate for its constant term (2: a ReLU pair along the gadget
    direction, the first reading of the paper's gadgets; 1: one always-on neuron, gate row 0 and
    bias 1, the same encoder outputs with m' fewer neurons); whiten and its ridge;
    whiten_ridges: whitening options ("off" and/or ridges >= 0) of which the one with the largest
    rho_min of the value table is used (empty: the fixed whiten_ridge; needs whiten);
    code_dim_max_factor: the capacity search tries m' up to ceil(factor d) with a Gaussian P
    (an orthogonal P stays capped at d whatever the factor); ridge: relative Tikhonov term of the
    encoder's key system (removed by refinement); bucket_slacks: bucket sizes relative to d
    (b = d - s, s >= 0) for the capacity search, beside bucket_sizes (a setting that follows d
    across a sweep: (0, 4) tries b = d and b = d - 4; a b whose key systems are too ill-conditioned
    fails its probes, see :class:`~factmlp.constructions.encoder.EncoderFitError`); fewer_buckets:
    the capacity search also tries B = ceil(N/d) - k buckets for k = 1..fewer_buckets (b = ceil(N/B)
    > d, kept while (B + 1) d >= N: m' fewer neurons per bucket dropped, a key system closer to
    square, rejected by the fit check where too ill-conditioned). Lists (from YAML) become tuples."""

    projection: str = "orthogonal"
    bucket_size: int = 0
    bucket_sizes: tuple[int, ...] = ()  # if set, the capacity search tries each (0 = d - 4)
    bucket_slacks: tuple[int, ...] = ()  # if set, the capacity search also tries b = d - s for each s
    fewer_buckets: int = 0  # the capacity search also tries 1..this many buckets fewer than ceil(N/d) (b > d)
    whiten: bool = False
    whiten_ridge: float = 1e-6  # used when whiten_ridges is empty
    whiten_ridges: tuple = ()  # "off" and/or ridges >= 0; if set, chosen by rho per value table
    code_dim_max_factor: float = 1.0  # max m' = ceil(factor d) for gaussian; orthogonal: d
    ridge: float = 1e-10
    constant_neurons: int = 2  # per code coordinate for the encoder's constant: 2 (ReLU pair) or 1 (always-on)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bucket_sizes", tuple(int(b) for b in self.bucket_sizes))
        object.__setattr__(self, "bucket_slacks", tuple(int(b) for b in self.bucket_slacks))
        if int(self.fewer_buckets) < 0:
            raise ValueError(f"fewer_buckets must be >= 0, got {self.fewer_buckets}")
        if any(b < 0 for b in self.bucket_slacks):
            raise ValueError(f"bucket_slacks must be >= 0 (b = d - slack), got {self.bucket_slacks}")
        object.__setattr__(self, "whiten_ridges", parse_whiten_ridges(self.whiten_ridges))
        if self.whiten_ridges and not self.whiten:
            raise ValueError("whiten_ridges lists whitening options but whiten is false; set whiten: true "
                             "(or use construction_whitened) or leave whiten_ridges empty")
        if self.constant_neurons not in (1, 2):  # 0 is unstable: see factmlp.constructions.encoder
            raise ValueError(f"constant_neurons must be 1 or 2, got {self.constant_neurons!r}")
        if not (isinstance(self.code_dim_max_factor, (int, float)) and self.code_dim_max_factor > 0):
            raise ValueError(f"code_dim_max_factor must be a number > 0, got {self.code_dim_max_factor!r}")

    def max_code_dim(self, d: int) -> int:
        """Largest m' the capacity search tries: ceil(code_dim_max_factor d) for a Gaussian P (at
        least 1), d for an orthogonal one (m' > d orthonormal rows do not exist)."""
        if self.projection == "gaussian":
            return max(1, math.ceil(self.code_dim_max_factor * d - 1e-9))
        return d


def build_encoder_decoder(
    facts: FactSet, code_dim: int, *, seed: int, settings: ConstructionSettings = ConstructionSettings(),
    codebook=None,
) -> tuple[GatedMLP, dict]:
    """The closed-form encoder-decoder MLP with code dimension ``code_dim`` (m').

    ``codebook``: None for the paper's decoder (codes P u*_j, decoder P^T with a random P), or a
    function ``(values, anchors, code_dim, seed) -> (decoder (d, m'), codes (|V|, m'), info)`` fitted
    on the (whitened, if set) value table, e.g. :func:`factmlp.constructions.codebook.learned_codebook`.
    """
    s = settings
    d = facts.d
    b = s.bucket_size or max(1, d - 4)
    if b < 1:
        raise ValueError(f"bucket_size must be >= 1, got {b}")
    values, w, whiten_info = whiten_with_choice(facts.values, whiten=s.whiten, ridge=s.whiten_ridge,
                                                ridges=s.whiten_ridges)
    if codebook is None:
        seps = target_separators(facts, values)  # (N, d)
        g = torch.Generator(device="cpu")
        g.manual_seed(int(seed))
        proj = jl_projection(code_dim, d, kind=s.projection, generator=g)  # P (m', d)
        decoder, codes, info = proj.T, seps @ proj.T, {}  # (d, m'), (N, m')
    else:
        decoder, value_codes, info = codebook(values, torch.unique(facts.mapping), code_dim, int(seed))
        codes = value_codes[facts.mapping]
    enc = fit_piecewise_encoder(facts.keys, codes, bucket_size=b, seed=int(seed) + 1, ridge=s.ridge,
                                constant_neurons=s.constant_neurons)
    down = decoder[:, enc.coord]  # (d, h): neuron writing code coordinate j gets decoder column j
    mlp = GatedMLP.from_weights(gate_w=enc.gate_w, gate_b=enc.gate_b, up_w=enc.up_w, down_w=down, activation="relu")
    mlp = mlp.to(facts.keys.device)  # built on a GPU when the fact set is there (benchmarks/timing/codebook.py)
    if w is not None:
        mlp = fold_whitening(mlp, w)
    return mlp, {"code_dim": code_dim, "bucket_size": b, "encoder_fit_error": enc.fit_error, **info, **whiten_info}


@register
class Construction(Method):
    """Closed-form encoder-decoder; the searched size is the code dimension m' (1..d with an
    orthogonal P, 1..ceil(code_dim_max_factor d) with a Gaussian one)."""

    name = "construction"
    Settings = ConstructionSettings
    size_name = "code_dim"

    def max_size(self, facts: FactSet) -> int:
        return self.settings.max_code_dim(facts.d)

    def variants(self, facts: FactSet) -> list[tuple[str, "Construction"]]:
        """One variant per entry of ``bucket_sizes`` that fits this fact set (b <= d), per entry
        of ``bucket_slacks`` (b = d - s) and per bucket count of ``fewer_buckets`` (b > d), or just
        this one.

        With ``whiten_ridges`` the whitening option is chosen here, once per value table
        (:func:`factmlp.whitening.choose_whitening`), and every variant is pinned to it
        (``whiten_ridges`` of one entry) and labelled with it, e.g. ``whiten=ridge 0.1`` or
        ``b=28,whiten=off``, so the capacity table's ``variant`` column records the choice.
        """
        s = self.settings
        sizes = [int(b) for b in s.bucket_sizes if int(b) <= facts.d]
        sizes += [b for b in (max(1, facts.d - sl) for sl in s.bucket_slacks) if b not in sizes]
        n, d = facts.n_facts, facts.d
        for k in range(1, int(s.fewer_buckets) + 1):  # b > d: one bucket fewer per k, while (B+1) d >= N
            n_buckets = math.ceil(n / d) - k
            b = math.ceil(n / n_buckets) if n_buckets >= 1 else 0
            if n_buckets >= 1 and (math.ceil(n / b) + 1) * d >= n and b not in sizes:
                sizes.insert(0, b)
        tag, pinned = pinned_whitening(facts.values, whiten=s.whiten, ridges=s.whiten_ridges)
        if not sizes:
            return [(tag, type(self)(s, **pinned) if pinned else self)]
        return [(",".join(x for x in (f"b={b or 'd-4'}", tag) if x),
                 type(self)(s, bucket_size=b, bucket_sizes=(), bucket_slacks=(), fewer_buckets=0, **pinned))
                for b in sizes]

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        return build_encoder_decoder(facts, width, seed=seed, settings=self.settings)


@dataclass(frozen=True)
class ConstructionWhitenedSettings(ConstructionSettings):
    whiten: bool = True
    # from no whitening to strong shrinkage towards the identity; chosen per value table by rho
    whiten_ridges: tuple = ("off", 1e-6, 1e-3, 1e-2, 0.1, 1.0, 10.0)


@register
class ConstructionWhitened(Construction):
    """The closed-form construction built for whitened values (Dugan et al. Fig. 2a).

    The whitening strength is chosen per value table, among ``whiten_ridges`` ("off" included),
    by the rho_min it yields (:func:`factmlp.whitening.choose_whitening`): the paper does not give
    its ridge, and a fixed one is unfair to row-normalised families, where whitening lowers rho at
    every ridge (review 2026-11, Check 7). There the choice is "off" and this method *is*
    ``construction`` (gain exactly 1); on anisotropic unnormalised values it whitens.
    """

    name = "construction_whitened"
    Settings = ConstructionWhitenedSettings


@dataclass(frozen=True)
class ConstructionJLSettings(ConstructionSettings):
    projection: str = "gaussian"
    code_dim_max_factor: float = 8.0


@register
class ConstructionJL(Construction):
    """The construction with an uncapped Gaussian JL decoder: i.i.d. N(0, 1/m') P, m' searched up
    to ``code_dim_max_factor`` d (8 d by default), so that the search can reach the JL regime
    m' ~ log|V| / rho^2 when it lies above d (small d, small rho; review 2026-11, Check 2:
    spike16u at d = 32 needs m' = 178 Gaussian, while the orthogonal search stops at m' <= 32)."""

    name = "construction_jl"
    Settings = ConstructionJLSettings


@dataclass(frozen=True)
class ConstructionJLWhitenedSettings(ConstructionJLSettings):
    whiten: bool = True
    whiten_ridges: tuple = ConstructionWhitenedSettings.whiten_ridges


@register
class ConstructionJLWhitened(ConstructionJL):
    """``construction_jl`` built for whitened values, the whitening strength chosen per value table
    by rho as in :class:`ConstructionWhitened`: the whitening gain of claim C4 in the JL regime,
    where the cost follows rho (the orthogonal decoder's cap at m' = d caps its gain at d / m')."""

    name = "construction_jl_whitened"
    Settings = ConstructionJLWhitenedSettings
