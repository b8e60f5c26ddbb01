r"""A learned value codebook behind the closed-form key encoder: ``construction_codebook``.

The encoder-decoder construction (:mod:`factmlp.constructions.encoder_decoder`) stores a fact
set as g(k) = D e(k): the closed-form encoder e maps every key *exactly* to the code c_{f(k)}
of its value, and a linear decoder D (d x m') turns codes into outputs. Decoding needs, for
every value j some key maps to,

.. math::  \langle D c_j, v_j - v_i \rangle > 0 \quad \forall i \ne j ,

i.e. the decoder's image of the code must separate v_j from every other value. The paper takes
c_j = P u*_j and D = P^T with a random JL map P, which needs m' ~ log|V| / rho^2 (and at least
~0.4-0.55 d at d <= 64, review 2026-11 Check 2). Nothing in the construction asks for P to be
random: the hidden width (ceil(|K|/b) + c) m' is linear in m', so a codebook (C, D) fitted to
the *value table* (|V| x m' codes, d x m' decoder; no key enters) with the smallest m' that
still separates every value is the cheapest decoder. The review's fit (Check 3) stored d=32,
|K|=128 at m'=5 instead of 16.

Fit (:func:`fit_codebook`)
-------------------------
``loss="hinge"`` (default) minimises the summed hinge of every (anchor, rival) pair whose
normalised margin is below ``hinge_margin`` (0.02),

.. math::  \mathcal L(C, D) = \sum_j \sum_{i \ne j} \max\big(0,\ \gamma - \langle o_j, v_j - v_i\rangle\big),
           \qquad o_j = D c_j / \lVert D c_j \rVert ,

and stops as soon as every measured margin is >= gamma (to ``rel_improve``: nothing is left to gain). Pairs already
past gamma give no gradient, so each step works only on the violators; the cross-entropy spreads
its gradient over every anchor. Measured (benchmarks/RESULTS.md, issue 14): on 4096 values at
d = 256, m' = 11, the margin crosses zero after ~350 steps instead of ~800 and the fit stops at
margin 0.020 (CE: 0.0115), about half the time; on the smoke scaling sets the same m' at every
point, margins 0.010-0.017 at d = 32-48 (CE 0.005-0.023) and ~0.02 at d = 16-24 (CE 0.03-0.06,
where CE keeps pushing past 0.02). gamma = 0.03 took twice the steps (margin 0.030), 0.05 did
not store in 1,000 steps (every pair pushed at once); 0.02 is the default.

``loss="ce"`` minimises the cross-entropy of the normalised outputs against the value table,

.. math::  \mathcal L(C, D) = \sum_j \mathrm{CE}\big(\mathrm{softmax}_i(\langle o_j, v_i\rangle / T),\ j\big),
           \qquad o_j = D c_j / \lVert D c_j \rVert ,

over the values j that some key maps to (all |V| values compete), by Adam (``steps``, ``lr``).
Normalising o_j makes the loss scale-free, so the temperature T sets how hard it pushes on the
closest competitors: at small T it approaches the max-min-margin problem. Defaults T = 0.01,
lr 0.05, 1,500 steps: on spherical, spike16u and kappa16u values at (d, |K|) = (32, 128), (48, 288)
and (64, 512) they gave the smallest storing m' of T in {0.005, 0.01, 0.02, 0.05} and lr in
{0.02, 0.05} (m' = 4, 5, 5, 4, 6; T = 0.05 needed up to m' = 10 on spike16u). Every ``eval_every`` steps the
exact float64 normalised margin min_j min_{i != j} <o_j, v_j - v_i> (the storage margin of
:func:`factmlp.facts.storage_report`) is measured and the codebook with the largest one is kept;
the fit stops early once the margin has not grown by ``rel_improve`` for ``patience``
evaluations, stored or not (a fit stuck below zero stops too: on the smoke scaling points this
halved the search time, 107 s -> 57 s, and changed one m' of twelve, 3 -> 4 at d = 24), and after
``steps`` at the latest. ``max_seconds`` bounds its wall time: a fit still running then raises
:class:`CodebookTimeoutError` naming the setting instead of returning the codebook it has. (It used
to return it: on a loaded machine the same fit then stopped after fewer steps, so a result could
depend on the machine's load; measured at d = 128, |V| = 2,048, m' = 9 while two other jobs held the
cores: one fit of three stopped at step 800 of 1,050, margin 0.0192 instead of 0.0196, and a
build at m' = 9 whose fit was cut short stored 44% of the facts instead of all.)

Initialisation (``init``): "separators" (default) takes D = the top-m' right singular vectors of
the margin-optimal separators u*_j (:mod:`factmlp.decodability`) and c_j = D^T u*_j, the
closed-form construction's best linear code of dimension m'; "values" the same with the value
table in place of u* (no decodability solve: for very large |V|); "random" a random orthonormal
D with c_j = D^T v_j. With more values than ``anchor_batch`` each step uses a random batch of
anchors j. Up to ``full_softmax_max`` values every value competes in every softmax; past it
(10^5 values: |V|^2 logits per step would take minutes) each anchor's softmax runs over its
``negatives`` closest rivals, re-mined every ``mine_every`` steps by one pass over all pairs in the
code space, which also measures the margins.

The codebook depends on the value table, m' and the seed only; the key encoder stays closed
form, so the build is deterministic and its cost is one small optimisation over |V| x m' + d m'
numbers (seconds) plus the encoder's block-tridiagonal solve.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..decodability import cached_decodability
from ..facts import FactSet
from ..io import Heartbeat, tensor_digest
from ..methods import register
from ..mlp import GatedMLP
from .encoder_decoder import Construction, ConstructionSettings, build_encoder_decoder

log = logging.getLogger("factmlp.constructions.codebook")
#: seconds between two progress records of a long fit (INFO)
PROGRESS_SECONDS = 5.0

__all__ = ["CodebookSettings", "CodebookTimeoutError", "Codebook", "fit_codebook", "hinge_grads", "codebook_margins",
           "learned_codebook", "ConstructionCodebookSettings", "ConstructionCodebook"]

INITS = ("separators", "values", "random")
LOSSES = ("ce", "hinge")


class CodebookTimeoutError(RuntimeError):
    """A codebook fit ran past ``max_seconds`` before its steps or its early stop (see the module docstring)."""


@dataclass(frozen=True)
class CodebookSettings:
    """Settings of :func:`fit_codebook` (see the module docstring)."""

    init: str = "separators"
    loss: str = "hinge"
    hinge_margin: float = 0.02
    temperature: float = 0.01
    steps: int = 1500
    lr: float = 0.05
    eval_every: int = 25
    patience: int = 4
    rel_improve: float = 0.01
    anchor_batch: int = 4096
    max_seconds: float = 120.0
    full_softmax_max: int = 1024
    negatives: int = 32
    mine_every: int = 50

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"codebook init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"codebook loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("temperature", "lr", "max_seconds", "hinge_margin"):
            if not getattr(self, name) > 0:
                raise ValueError(f"codebook {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("steps", "eval_every", "patience", "anchor_batch", "full_softmax_max", "negatives", "mine_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"codebook {name} must be >= 1, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Codebook:
    """decoder (d, m') and codes (|V|, m') in float64; ``margin`` the storage margin over ``anchors``."""

    decoder: torch.Tensor
    codes: torch.Tensor
    margin: float
    steps: int
    seconds: float


@torch.no_grad()
def codebook_margins(decoder: torch.Tensor, codes: torch.Tensor, values: torch.Tensor, anchors: torch.Tensor,
                     *, batch_size: int = 2048) -> torch.Tensor:
    """(len(anchors),) normalised margin <o_j, v_j> - max_{i != j} <o_j, v_i>, o_j = D c_j / ||D c_j||,
    in float64 (positive iff value j is decoded from its code)."""
    d64, c64 = decoder.to(torch.float64), codes.to(torch.float64)
    w64 = values.to(torch.float64) @ d64  # (|V|, m'): <D c, v> = <c, D^T v>, m' << d flops per pair
    out = torch.empty(len(anchors), dtype=torch.float64, device=values.device)
    for s in range(0, len(anchors), batch_size):
        a = anchors[s : s + batch_size]
        c = c64[a]
        sc = (c @ w64.T) / (c @ d64.T).norm(dim=1, keepdim=True).clamp_min(1e-300)
        own = sc.gather(1, a[:, None])[:, 0]
        sc.scatter_(1, a[:, None], float("-inf"))
        rival = sc.max(dim=1).values if w64.shape[0] > 1 else torch.full_like(own, float("-inf"))
        out[s : s + batch_size] = own - rival
    return out


def _init(values: torch.Tensor, anchors: torch.Tensor, code_dim: int, s: CodebookSettings,
          g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    d = values.shape[1]
    if s.init == "random":
        q, r = torch.linalg.qr(torch.randn(d, min(code_dim, d), generator=g, dtype=torch.float64).to(values.device))
        dec = q * torch.sign(torch.diagonal(r))
        src = values
    else:
        src = cached_decodability(values).separators if s.init == "separators" else values
        _, _, vh = torch.linalg.svd(src[anchors], full_matrices=False)
        dec = vh[: min(code_dim, d)].T  # (d, <= m')
    if dec.shape[1] < code_dim:  # m' > d: pad with small random directions (a Gaussian JL tail)
        extra = torch.randn(d, code_dim - dec.shape[1], generator=g, dtype=torch.float64).to(values.device)
        extra = extra * (0.1 / math.sqrt(d))
        dec = torch.cat([dec, extra], dim=1)
    return dec, src @ dec


def _mine(dec: torch.Tensor, codes: torch.Tensor, values: torch.Tensor, anchors: torch.Tensor, k: int,
          *, batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Each anchor's ``k`` highest-scoring rivals (float32 scores in the code space, W = V D) and its
    margin against them recomputed in float64: the exact storage margin whenever the true closest
    rival is among the k (float32 rounding can only reorder near-ties)."""
    d64, c64 = dec.to(torch.float64), codes.to(torch.float64)
    w64 = values.to(torch.float64) @ d64  # (|V|, m'): <D c, v> = <c, D^T v>
    w32 = w64.to(torch.float32)
    rivals = torch.empty(len(anchors), k, dtype=torch.long, device=values.device)
    margins = torch.empty(len(anchors), dtype=torch.float64, device=values.device)
    for st in range(0, len(anchors), batch_size):
        a = anchors[st : st + batch_size]
        sc = c64[a].to(torch.float32) @ w32.T
        sc[torch.arange(len(a), device=a.device), a] = float("-inf")
        top = sc.topk(k, dim=1).indices
        rivals[st : st + batch_size] = top
        c = c64[a]
        norm = (c @ d64.T).norm(dim=1).clamp_min(1e-300)
        own = (c * w64[a]).sum(1)
        riv = torch.einsum("bm,bkm->bk", c, w64[top]).max(dim=1).values
        margins[st : st + batch_size] = (own - riv) / norm
    return margins, rivals


def hinge_grads(dec: torch.Tensor, codes: torch.Tensor, values: torch.Tensor, batch: torch.Tensor,
                rivals: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The mined hinge loss of :func:`fit_codebook` and its gradients, written out by hand.

    Loss: the mean over the anchors ``batch`` of sum_i max(0, margin - (l_0 - l_i)), l_i =
    <c_j, V_i D> / ||D c_j|| over the candidates (column 0 the anchor's own value, then its
    ``rivals``). Returns ``(loss, dL/d dec, dL/d codes)`` (codes' gradient is zero off the batch).

    Why by hand: only the pairs below the margin carry a gradient, and once the fit is under way
    they are a few hundred of the 4,096 x 32 mined pairs, but autograd's backward of the candidate
    gather scatters every pair (10^5 facts, |V| = 4,096, d = 256, m' = 11: 14 ms of a ~17 ms step).
    Scattering only the active pairs halves the fit (7.9 s -> 4.1 s, 400 steps either way;
    benchmarks/RESULTS.md). Checked against autograd (tests/test_codebook.py).
    """
    n_b = len(batch)
    c = codes[batch]  # (B, m')
    y = c @ dec.T  # (B, d): D c_j
    norm = y.norm(dim=1).clamp_min(1e-12)
    w = values @ dec  # (|V|, m')
    cand = torch.cat([batch[:, None], rivals], dim=1)  # (B, 1 + k)
    wc = w.index_select(0, cand.reshape(-1)).view(*cand.shape, -1)  # (B, 1 + k, m')
    score = torch.bmm(wc, c[:, :, None])[:, :, 0]  # <c_j, w_i>
    logits = score / norm[:, None]
    gaps = logits[:, :1] - logits
    active = gaps < margin
    active[:, 0] = False
    loss = ((margin - gaps) * active).sum() / n_b
    dl = active.to(score.dtype) / n_b  # d loss / d logit_i for the rivals, minus their sum for the anchor
    dl[:, 0] = -dl[:, 1:].sum(1)
    ds = dl / norm[:, None]  # d loss / d score
    dnorm = -(dl * score).sum(1) / norm**2
    dc = torch.bmm(ds[:, None, :], wc)[:, 0] + (dnorm / norm)[:, None] * (y @ dec)
    nz = ds.nonzero(as_tuple=True)  # the active pairs and their anchors' own columns only
    dw = torch.zeros_like(w).index_add_(0, cand[nz], ds[nz][:, None] * c[nz[0]])
    ddec = values.T @ dw + ((dnorm / norm)[:, None] * y).T @ c
    dcodes = torch.zeros_like(codes).index_add_(0, batch, dc)
    return loss, ddec, dcodes


def fit_codebook(values: torch.Tensor, anchors: torch.Tensor, code_dim: int, *, seed: int,
                 settings: CodebookSettings = CodebookSettings()) -> Codebook:
    """Codes and decoder of dimension ``code_dim`` for the values ``anchors`` (indices into ``values``);
    see the module docstring. Deterministic given ``seed``.

    With more than ``full_softmax_max`` values the softmax of each anchor runs over its
    ``negatives`` closest rivals only, re-mined (:func:`_mine`, one pass over every pair in the code
    space) every ``mine_every`` steps; the margins measured by those passes choose the codebook kept.
    """
    s = settings
    if code_dim < 1:
        raise ValueError(f"code dimension must be >= 1, got {code_dim}")
    t0 = time.perf_counter()
    values = values.to(torch.float64)
    anchors = torch.as_tensor(anchors, dtype=torch.long).to(values.device)  # the fit runs on the values' device
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    dec0, codes0 = _init(values, anchors, code_dim, s, g)
    mining = values.shape[0] > s.full_softmax_max
    k = min(s.negatives, values.shape[0] - 1)
    if mining:
        margins, rivals = _mine(dec0, codes0, values, anchors, k)
        every = s.mine_every
    else:
        margins, every = codebook_margins(dec0, codes0, values, anchors), s.eval_every
    best = (float(margins.min()), dec0, codes0, 0)
    dec = dec0.to(torch.float32).clone().requires_grad_(True)
    codes = codes0.to(torch.float32).clone().requires_grad_(True)
    v32 = values.to(torch.float32)
    opt = torch.optim.Adam([dec, codes], lr=s.lr)
    stale, step = 0, 0
    beat = Heartbeat(PROGRESS_SECONDS)
    for step in range(1, s.steps + 1):
        pos = (torch.randperm(len(anchors), generator=g)[: s.anchor_batch].to(anchors.device)
               if len(anchors) > s.anchor_batch else torch.arange(len(anchors), device=anchors.device))
        batch = anchors[pos]
        if mining and s.loss == "hinge":  # gradients by hand, only the active pairs scattered
            _, dec.grad, codes.grad = hinge_grads(dec.detach(), codes.detach(), v32, batch, rivals[pos],
                                                  s.hinge_margin)
        else:
            c = codes[batch]
            norm = (c @ dec.T).norm(dim=1, keepdim=True).clamp_min(1e-12)  # ||D c_j||
            w = v32 @ dec  # (|V|, m'): logits <D c_j, v_i> / ||D c_j|| = <c_j, w_i> / ||D c_j||
            if mining:  # column 0 is the anchor's own value, then its mined rivals
                cand = torch.cat([batch[:, None], rivals[pos]], dim=1)
                wc = w.index_select(0, cand.reshape(-1)).view(*cand.shape, -1)  # (index_add backward: fast)
                logits = (c[:, None, :] * wc).sum(-1) / norm  # elementwise: a (b, 1, m) x (b, m, k) bmm is slow
                target = torch.zeros(len(batch), dtype=torch.long, device=batch.device)
            else:
                logits, target = (c @ w.T) / norm, batch
            if s.loss == "ce":
                loss = F.cross_entropy(logits / s.temperature, target)
            else:  # hinge: every (anchor, rival) pair whose normalised margin is below hinge_margin
                gaps = logits.gather(1, target[:, None]) - logits
                gaps = gaps.scatter(1, target[:, None], float("inf"))  # the anchor's own column
                loss = F.relu(s.hinge_margin - gaps).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        if step % every == 0 or step == s.steps:
            with torch.no_grad():
                if mining:
                    margins, rivals = _mine(dec.detach(), codes.detach(), values, anchors, k)
                else:
                    margins = codebook_margins(dec.detach(), codes.detach(), values, anchors)
            m = float(margins.min())
            if beat.due():  # a long fit's progress (large value tables: minutes)
                log.info("codebook m'=%d: step %d of %d, min margin %.3g (%.0f s)", code_dim, step, s.steps, m,
                         time.perf_counter() - t0)
            if m > best[0] + s.rel_improve * abs(best[0]):
                best = (m, dec.detach().to(torch.float64).clone(), codes.detach().to(torch.float64).clone(), step)
                stale = 0
            else:
                stale += 1
            # hinge: every pair's hinge is 0 (to rel_improve): nothing left to gain
            reached = s.loss == "hinge" and m >= (1.0 - s.rel_improve) * s.hinge_margin
            if reached or stale >= s.patience:
                break
        if time.perf_counter() - t0 > s.max_seconds and step < s.steps:
            raise CodebookTimeoutError(
                f"codebook fit (|V| = {values.shape[0]}, m' = {code_dim}) still running after {s.max_seconds:g} s "
                f"at step {step} of {s.steps}: raise max_seconds (codebook_max_seconds of construction_codebook) "
                "or give the job more CPU; stopping early would make the result depend on the machine's load")
    margin, dec_b, codes_b, _ = best
    return Codebook(decoder=dec_b, codes=codes_b, margin=margin, steps=step, seconds=time.perf_counter() - t0)


_FITS: dict = {}


def learned_codebook(settings: CodebookSettings):
    """``(values, anchors, code_dim, seed) -> (decoder, codes, info)`` for
    :func:`~factmlp.constructions.encoder_decoder.build_encoder_decoder`, memoised on the bytes of
    the value table (the capacity search fits one codebook per m' and reuses it for every bucket
    size; 64 entries are kept)."""

    def fit(values: torch.Tensor, anchors: torch.Tensor, code_dim: int, seed: int):
        v = values.detach().to(torch.float64).contiguous()
        key = (tensor_digest(v, anchors), tuple(v.shape), int(code_dim), int(seed), settings)
        if key not in _FITS:
            if len(_FITS) >= 64:
                _FITS.pop(next(iter(_FITS)))
            _FITS[key] = fit_codebook(v, anchors, code_dim, seed=seed, settings=settings)
        cb = _FITS[key]
        return cb.decoder, cb.codes, {"codebook_margin": cb.margin, "codebook_steps": cb.steps,
                                      "codebook_seconds": cb.seconds}

    return fit


@dataclass(frozen=True)
class ConstructionCodebookSettings(ConstructionSettings):
    """:class:`~factmlp.constructions.encoder_decoder.ConstructionSettings` (``projection`` and
    ``code_dim_max_factor`` unused: m' is searched in 1..d) with the encoder fixes on by default
    (one always-on constant neuron per code coordinate; b = d, b = d - 4 and one bucket fewer than
    ceil(N/d), b > d, searched), plus the
    codebook fit's settings (:class:`CodebookSettings`, prefixed ``codebook_``)."""

    constant_neurons: int = 1
    bucket_slacks: tuple = (0, 4)
    fewer_buckets: int = 1
    codebook_init: str = "separators"
    codebook_loss: str = CodebookSettings.loss
    codebook_hinge_margin: float = CodebookSettings.hinge_margin
    codebook_temperature: float = CodebookSettings.temperature
    codebook_steps: int = CodebookSettings.steps
    codebook_lr: float = CodebookSettings.lr
    codebook_max_seconds: float = CodebookSettings.max_seconds

    def __post_init__(self) -> None:
        super().__post_init__()
        self.codebook()  # validates the codebook settings now, naming the bad one

    def codebook(self) -> CodebookSettings:
        return CodebookSettings(init=self.codebook_init, loss=self.codebook_loss,
                                hinge_margin=self.codebook_hinge_margin, temperature=self.codebook_temperature,
                                steps=int(self.codebook_steps), lr=self.codebook_lr,
                                max_seconds=self.codebook_max_seconds)


@register
class ConstructionCodebook(Construction):
    """The closed-form key encoder behind a value codebook learned on the value table (module
    docstring); the searched size is the code dimension m' in 1..d. ``codebook_margin`` in the
    build metrics is the normalised storage margin the codes reach."""

    name = "construction_codebook"
    Settings = ConstructionCodebookSettings

    def max_size(self, facts: FactSet) -> int:
        return facts.d

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        s = self.settings
        return build_encoder_decoder(facts, width, seed=seed, settings=s, codebook=learned_codebook(s.codebook()))
