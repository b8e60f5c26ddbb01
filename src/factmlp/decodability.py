r"""Decodability rho(V) and the optimal separators u*_i (Dugan et al. 2025, Sec. 3).

For value embeddings v_1..v_n,

.. math::
    \rho_i(V) = \max_{\|u\| \le 1} \min_{j \ne i} \langle u, a_{ij} \rangle,
    \qquad a_{ij} = \frac{v_i - v_j}{\|v_i - v_j\|}, \qquad \rho(V) = \min_i \rho_i(V).

By minimax duality rho_i is the Euclidean distance from the origin to the convex hull of
{a_ij}_j when that distance is positive, and the maximiser is u*_i = x_i/||x_i|| with x_i the
hull's minimum-norm point. rho_i > 0 iff v_i is an exposed vertex of conv(V), i.e. iff some
output can decode to v_i; otherwise rho_i = 0 (with ||u|| <= 1, u = 0 attains 0) and v_i is
*infeasible*.

Algorithm (batched over anchors i, torch, float64):

1. Working set W_i: the ``init_size`` nearest values of v_i.
2. Solve min ||sum_j lambda_j a_ij||^2 over the simplex restricted to W_i by accelerated
   projected gradient (FISTA with adaptive restart), then *polish*: on the support of lambda,
   solve the affine min-norm problem exactly (a small KKT system); keep it if it is feasible
   and no worse. This reaches machine precision once the support is identified.
3. Certify against **all** j: with u = x/||x||, min_j <u, a_ij> <= rho_i <= ||x||. If the gap
   exceeds ``tol`` add the ``grow`` most violated points to W_i and repeat.
4. An anchor whose gap has stopped shrinking (not halved in ``stall_rounds`` rounds), or whose
   working set already holds every point, is finished by Wolfe's min-norm-point algorithm on all
   of its points (exact and finite: corrals of at most d + 1 points, each an exact affine solve).
   Near-degenerate hulls (long thin faces) make the first-order solver crawl there: a 60-value,
   d = 3 table took 100 rounds and 80 s before, ~4 s with the hand-over (Wolfe itself: milliseconds).

The differences a_ij are never materialised for all j: <x, a_ij> = (<x, v_i> - <x, v_j>) /
||v_i - v_j|| needs one (B, d) x (d, n) product per round, so memory is O(B n) and |V| = 4096,
d = 256 runs in seconds on two cores.

The returned ``rho_i`` is the certified lower bound (attained by the returned separator), and
``rho_upper`` the upper bound; ``gap`` is their difference.

Bad input is answered before the solver starts (issue 17). :func:`check_distinct_values` (run by
:func:`decodability` unless ``min_distance=0``) finds every pair of rows closer than
``min_distance`` (default 1e-5) times the table's radius and raises
:class:`NearDuplicateValuesError` naming them; it costs one blocked pairwise-distance pass,
O(|V|^2 d) (|V| = 4096, d = 256: ~0.2 s on one thread). Duplicated rows have rho_i = 0 (no
output can tell them apart); a near-duplicate pair leaves the working-set Gram matrices nearly
singular, so every anchor near the pair crawls: a 256 x 32 spherical table with one row 1e-7
from another took 14 s instead of 0.7 s, 4096 x 128 with a pair 1e-6 apart 144 s instead of 26 s,
and issue 17 reports 40 minutes on a larger one. The solver itself is bounded too: ``max_seconds``
(wall clock of one call) raises :class:`DecodabilityTimeoutError` instead of spinning.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Decodability",
    "decodability",
    "cached_decodability",
    "summarize",
    "InfeasibleValuesError",
    "NearDuplicateValuesError",
    "DecodabilityTimeoutError",
    "close_value_pairs",
    "check_distinct_values",
    "closest_value_pair",
    "MIN_DISTANCE",
    "MAX_SECONDS",
]

from .io import Heartbeat

log = logging.getLogger("factmlp.decodability")
#: seconds between two progress records of a long solve (INFO, logger factmlp.decodability)
PROGRESS_SECONDS = 5.0


class InfeasibleValuesError(ValueError):
    """Some value embeddings cannot be decoded by any output (rho_i <= 0)."""


class NearDuplicateValuesError(InfeasibleValuesError):
    """Two or more value rows are (near-)duplicates: closer than ``min_distance`` x the table radius.

    ``pairs`` (k, 2) and ``distances`` (k,) hold the closest offending pairs (at most 10, closest
    first; distances relative to the radius), ``n_pairs`` how many pairs there are in all. The
    message ends with ``value indices i, j, ...`` (the rows of the pairs shown).
    """

    def __init__(self, message: str, *, pairs: torch.Tensor, distances: torch.Tensor, n_pairs: int) -> None:
        super().__init__(message)
        self.pairs = pairs
        self.distances = distances
        self.n_pairs = n_pairs


class DecodabilityTimeoutError(RuntimeError):
    """The rho solver ran past ``max_seconds`` (see :func:`decodability`)."""


# Default of ``min_distance``: pairs of value rows closer than this, relative to the table's radius
# max_k ||v_k - mean(V)|| (= 1 for unit rows around the origin), are rejected before the solver runs.
# Why 1e-5: any output's logit margin between two such rows is at most their distance times its
# norm, 1e-5 of its scale, which is the rounding noise of a float32 MLP output (relative error
# ~ sqrt(width) 6e-8: 2e-6 at width 1000), so no float32 MLP stores them apart reliably; and the
# solver slows down as a pair closes in, gradually (1024 x 64 spherical, one pair at distance
# 1e-2 / 1e-3 / 1e-4 / 1e-5 / 1e-6: 1.3x / 3x / 4x / 10x / 11x the 3 s of the clean table; 256 x 32 at
# 1e-7: 14 s instead of 0.7 s), since nearly equal directions a_ij, a_ij' make the working-set
# Gram matrices nearly singular. rho itself is scale-free and need not be small for such a pair:
# the check is about the distance, not about rho. Legitimate tables are far above it: the closest
# pair of every fact set of the shipped configs (231 sets: spherical, spike, kappa, MiniLM,
# normalised or not, whitened at any configured ridge or not) is >= 0.1 of the radius, and of the
# whole MiniLM vocabulary (29523 tokens, d = 384) 0.13 (issue 17). Random unit rows reach 1e-5
# only in very low dimension (d = 3 needs |V| ~ 1e5).
MIN_DISTANCE = 1e-5
# Default of ``max_seconds``: wall-clock cap of one decodability call. The largest configured tables
# take 26-78 s on one busy thread (spherical 4096 x 128: 26 s, 8192 x 128: 76 s; MiniLM 4096 x 256:
# 78 s); a solver still busy after 20x that is stuck on a degenerate table, and an error naming it
# beats a job that hits its scheduler runtime with no message. Raise it for much larger tables.
MAX_SECONDS = 1800.0


class _TimeUp(Exception):
    """Internal: the deadline of a decodability call passed (turned into DecodabilityTimeoutError)."""


def _check_deadline(deadline: float) -> None:
    if time.perf_counter() > deadline:
        raise _TimeUp


@torch.no_grad()
def close_value_pairs(
    values: torch.Tensor, min_distance: float = MIN_DISTANCE, *, max_pairs: int = 10, block_elems: int = 1 << 20
) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """Pairs of rows of ``values`` (n, d) closer than ``min_distance`` times the table's radius.

    The radius is R = max_k ||v_k - mean(V)||, so the test is invariant under the shifts, scalings
    and rotations that leave rho unchanged (for unit rows around the origin R ~ 1 and the test
    is on plain distances between the unit rows). Rows with the same direction but different
    norms (v and 2v, in a ``normalize: false`` table) are far apart and not flagged.

    Squared distances come from blocked Gram products of the centred rows (memory ``block_elems``
    floats or 64 rows, O(n^2 d) time; screened in float32 with a rounding margin), and every
    candidate is re-measured exactly in float64 as ||v_i - v_j|| / R. One thread: 4096 x 256 in
    0.2 s, 8192 x 384 in 1.1 s, the whole MiniLM vocabulary (29523 x 384) in 19 s.

    Returns ``(pairs, distances, n_pairs, radius)``: the ``max_pairs`` closest pairs (k, 2) int64
    with i < j, closest first, their relative distances (k,) float64, the number of offending
    pairs in all, and R. A table whose rows are all equal has R = 0: every pair offends.
    """
    v = values.detach().to(device="cpu", dtype=torch.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be (n, d), got shape {tuple(v.shape)}")
    n = v.shape[0]
    empty = (torch.zeros(0, 2, dtype=torch.int64), torch.zeros(0, dtype=torch.float64))
    if n < 2:
        return (*empty, 0, 0.0)
    c = v - v.mean(dim=0, keepdim=True)
    radius = float(c.norm(dim=1).max())
    if radius == 0.0 or not math.isfinite(radius):  # all rows equal (or non-finite: left to the caller)
        if radius == 0.0:
            i, j = torch.triu_indices(n, n, offset=1)[:, : max_pairs]
            return torch.stack([i, j], dim=1), torch.zeros(i.numel(), dtype=torch.float64), n * (n - 1) // 2, 0.0
        return (*empty, 0, radius)
    # Screening in float32 (half the time of float64 matmuls), with a slack that bounds its rounding:
    # for rows of norm <= 1 the float32 dot product (inputs rounded to float32, any summation order)
    # is off by at most (d + 2) eps32 (1 + o(1)), so d2 = sq_i + sq_j - 2 <u_i, u_j> by at most
    # 2 (d + 2) eps32 + 4 eps32; twice that as margin. Every candidate is then measured exactly, so
    # the slack only costs time: pairs closer than ~sqrt(slack) (~1e-2 at d = 384) are re-measured.
    u = (c / radius).to(torch.float32)  # rows of norm <= 1
    sq = (u * u).sum(dim=1)
    eps32 = float(torch.finfo(torch.float32).eps)
    thr2 = float(min_distance) ** 2
    slack = (4.0 * (v.shape[1] + 2) + 16.0) * eps32
    block = min(n, max(64, block_elems // n))  # rows per block: >= 64 keeps the matmuls efficient
    best_i, best_j = torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    best_d = torch.zeros(0, dtype=torch.float64)
    n_pairs = 0
    for start in range(0, n - 1, block):
        stop = min(start + block, n)
        b = stop - start
        # squared distances to the rows j >= start, in place: sq_i + sq_j - 2 <u_i, u_j>
        d2 = (u[start:stop] @ u[start:].T).mul_(-2.0).add_(sq[None, start:]).add_(sq[start:stop, None])
        d2[:, :b].masked_fill_(torch.ones(b, b, dtype=torch.bool).tril_(), math.inf)  # only j > i: each pair once
        hit = d2 <= thr2 + slack
        if not bool(hit.any()):
            continue
        cand = torch.nonzero(hit)
        ii, jj = cand[:, 0] + start, cand[:, 1] + start
        exact = (v[ii] - v[jj]).norm(dim=1) / radius
        keep = exact <= min_distance
        ii, jj, exact = ii[keep], jj[keep], exact[keep]
        n_pairs += int(ii.numel())
        if ii.numel():
            # keep only the closest max_pairs seen so far (memory stays small for all-equal tables)
            all_i, all_j, all_d = torch.cat([best_i, ii]), torch.cat([best_j, jj]), torch.cat([best_d, exact])
            order = torch.argsort(all_d, stable=True)[:max_pairs]
            best_i, best_j, best_d = all_i[order], all_j[order], all_d[order]
    return torch.stack([best_i, best_j], dim=1), best_d, n_pairs, radius


@torch.no_grad()
def closest_value_pair(values: torch.Tensor, *, block_elems: int = 1 << 20) -> tuple[int, int, float]:
    """``(i, j, distance)``: the closest pair of rows of ``values`` (n >= 2, i < j) and its distance
    relative to the table's radius (as in :func:`close_value_pairs`; blocked, float64, the winner
    re-measured exactly)."""
    v = values.detach().to(device="cpu", dtype=torch.float64)
    n = v.shape[0]
    if v.ndim != 2 or n < 2:
        raise ValueError(f"values must be (n, d) with n >= 2, got shape {tuple(v.shape)}")
    c = v - v.mean(dim=0, keepdim=True)
    radius = float(c.norm(dim=1).max())
    u = c / (radius if radius > 0 else 1.0)
    sq = (u * u).sum(dim=1)
    best = (math.inf, 0, 1)
    block = min(n, max(64, block_elems // n))
    for start in range(0, n - 1, block):
        stop = min(start + block, n)
        b = stop - start
        d2 = (u[start:stop] @ u[start:].T).mul_(-2.0).add_(sq[None, start:]).add_(sq[start:stop, None])
        d2[:, :b].masked_fill_(torch.ones(b, b, dtype=torch.bool).tril_(), math.inf)
        k = int(torch.argmin(d2))
        if float(d2.flatten()[k]) < best[0]:
            best = (float(d2.flatten()[k]), start + k // d2.shape[1], start + k % d2.shape[1])
    i, j = best[1], best[2]
    return i, j, float((v[i] - v[j]).norm()) / (radius if radius > 0 else 1.0)


def check_distinct_values(values: torch.Tensor, min_distance: float = MIN_DISTANCE) -> None:
    """Raise :class:`NearDuplicateValuesError` if two rows of ``values`` are closer than
    ``min_distance`` times the table's radius (see :func:`close_value_pairs` and ``MIN_DISTANCE``);
    the message names the closest pairs, their distances and every row index involved."""
    if min_distance <= 0:
        return
    pairs, dist, n_pairs, radius = close_value_pairs(values, min_distance)
    if not n_pairs:
        return
    shown = "; ".join(f"rows {int(i)} and {int(j)} at {float(x):.3g}" for (i, j), x in zip(pairs.tolist(), dist))
    more = f" (the {pairs.shape[0]} closest shown)" if n_pairs > pairs.shape[0] else ""
    idx = sorted({int(k) for k in pairs.flatten().tolist()})
    kind = ("duplicated" if float(dist.max()) == 0.0 else
            "duplicated or near-duplicate" if float(dist.min()) == 0.0 else "near-duplicate")
    raise NearDuplicateValuesError(
        f"{n_pairs} pair(s) of {kind} value rows{more}, closer than min_distance={min_distance:g} relative "
        f"to the table radius {radius:.3g}: {shown}. No output decodes such rows apart in practice (rho_i = 0 "
        "for duplicates; for near-duplicates every logit margin between them is at most their distance) and "
        "the rho solver stalls on them: remove or merge "
        "them (the check is skipped at min_distance 0: decodability.min_distance in a pipeline config, or "
        "the min_distance argument of factmlp.decodability.decodability; the factmlp command always checks). "
        "Offending value indices "
        + ", ".join(map(str, idx)),
        pairs=pairs,
        distances=dist,
        n_pairs=n_pairs,
    )


@dataclass(frozen=True)
class Decodability:
    """Per-value decodability.

    rho_i: (n,) certified lower bound of rho_i (0 for infeasible values).
    rho_upper: (n,) upper bound of rho_i.
    separators: (n, d) unit separators u*_i (zero rows for infeasible values).
    """

    rho_i: torch.Tensor
    rho_upper: torch.Tensor
    separators: torch.Tensor

    @property
    def rho(self) -> float:
        """rho(V) = min_i rho_i."""
        return float(self.rho_i.min())

    @property
    def feasible(self) -> torch.Tensor:
        """(n,) bool: rho_i > 0."""
        return self.rho_i > 0

    def check_feasible(self) -> None:
        """Raise :class:`InfeasibleValuesError` naming the undecodable values."""
        bad = torch.nonzero(~self.feasible).flatten().tolist()
        if bad:
            shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
            raise InfeasibleValuesError(
                f"{len(bad)} value embedding(s) are not decodable (rho_i <= 0: inside the convex hull "
                f"of the others, or duplicated): indices {shown}"
            )


def _project_simplex(y: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of y (B, k) onto the probability simplex."""
    k = y.shape[1]
    s, _ = torch.sort(y, dim=1, descending=True)
    css = s.cumsum(dim=1) - 1.0
    idx = torch.arange(1, k + 1, dtype=y.dtype, device=y.device)
    cond = s - css / idx > 0
    r = cond.to(torch.int64).cumsum(dim=1).argmax(dim=1, keepdim=True)  # last True index
    theta = css.gather(1, r) / (r + 1).to(y.dtype)
    return (y - theta).clamp_min(0.0)


def _fista_simplex(
    gram: torch.Tensor, lam: torch.Tensor, *, iters: int, tol: float, polish_every: int = 25,
    deadline: float = math.inf,
) -> torch.Tensor:
    """Minimise lam^T G lam over the simplex, batched. gram (B, k, k), lam (B, k) feasible start.

    Every ``polish_every`` iterations the current iterate is polished (exact solve on its
    support); rows whose polished point satisfies the KKT conditions on the working set are
    optimal: they are written to the output and dropped from the batch, so later iterations only
    pay for the rows still running (convergence has a long tail: typically half the rows finish
    in the first few polishes). The loop usually ends long before the Frank-Wolfe gap of plain
    FISTA would reach ``tol``. Past ``deadline`` (time.perf_counter) it raises ``_TimeUp`` at the
    next polish.
    """
    out = lam.clone()
    rows = torch.arange(lam.shape[0])
    g = gram
    # 1/L with L = 2 lambda_max(G); ||G||_F >= lambda_max is a safe, cheap bound (an eigvalsh of
    # the whole batch costs more than the iterations it would save)
    lmax = torch.linalg.matrix_norm(g).clamp_min(1e-12)  # (B,)
    step = (0.5 / lmax)[:, None]
    y, t = lam.clone(), torch.ones(lam.shape[0], 1, dtype=lam.dtype)
    for it in range(iters):
        grad = 2.0 * torch.bmm(g, y[:, :, None])[:, :, 0]
        new = _project_simplex(y - step * grad)
        # adaptive restart (O'Donoghue & Candes): drop momentum when it points uphill
        restart = ((y - new) * (new - lam)).sum(dim=1, keepdim=True) > 0
        t_new = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
        mom = torch.where(restart, torch.zeros_like(t), (t - 1.0) / t_new)
        y = new + mom * (new - lam)
        t = torch.where(restart, torch.ones_like(t), t_new)
        lam = new
        if it % polish_every == polish_every - 1 or it == iters - 1:
            _check_deadline(deadline)
            polished = _polish(g, lam)
            g_lam = torch.bmm(g, polished[:, :, None])[:, :, 0]
            val = (polished * g_lam).sum(dim=1)
            # KKT on the working set: every point's gradient entry >= the objective (FW gap ~ 0)
            ok = (val - g_lam.min(dim=1).values) <= tol * val.clamp_min(1e-300)
            out[rows[ok]] = polished[ok]
            keep = ~ok
            if not bool(keep.any()):
                return out
            if not bool(keep.all()):
                rows, g, lam, y, t, step = rows[keep], g[keep], lam[keep], y[keep], t[keep], step[keep]
    out[rows] = lam
    return out


def _wolfe_min_norm(p, x0, *, tol: float, max_iter: int, deadline: float = math.inf):
    """Minimum-norm point of conv(rows of p) (m, d), numpy float64, by Wolfe's algorithm (1976).

    Starts from the point most aligned with ``x0``; stops when ||x||^2 - min_j <x, p_j> <=
    tol ||x|| max(||x||, 1) (the gap rule of :func:`decodability`), when x reaches the origin, or
    after ``max_iter`` major cycles. Each minor cycle solves the affine min-norm problem on the
    corral exactly (KKT system by least squares) and steps back into the hull when a weight
    turns negative. Past ``deadline`` (time.perf_counter) it raises ``_TimeUp``.
    """
    eps = 1e-14
    j = int(np.argmax(p @ x0)) if float(np.abs(x0).sum()) > 0 else 0
    corral, w, x = [j], np.ones(1), p[j].copy()
    for _ in range(max_iter):
        _check_deadline(deadline)
        xx = float(x @ x)
        if xx < 1e-30:
            break
        scores = p @ x
        j = int(np.argmin(scores))
        if xx - scores[j] <= tol * np.sqrt(xx) * max(np.sqrt(xx), 1.0) or j in corral:
            break
        corral.append(j)
        w = np.append(w, 0.0)
        for _ in range(len(corral) + 1):  # minor cycles: each drops at least one point
            pts = p[corral]
            s = len(corral)
            kkt = np.zeros((s + 1, s + 1))
            kkt[:s, :s] = pts @ pts.T
            kkt[:s, s] = kkt[s, :s] = 1.0
            rhs = np.zeros(s + 1)
            rhs[s] = 1.0
            alpha = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:s]
            if (alpha > eps).all():
                w, x = alpha, alpha @ pts
                break
            down = (alpha <= eps) & (w - alpha > 0)
            theta = min(1.0, float(np.min(w[down] / (w[down] - alpha[down])))) if down.any() else 1.0
            w = w + theta * (alpha - w)
            keep = w > eps
            corral = [c for c, k in zip(corral, keep) if k]
            w = w[keep] / w[keep].sum()
            x = w @ p[corral]
    return x


def _polish(gram: torch.Tensor, lam: torch.Tensor, *, support_tol: float = 1e-10) -> torch.Tensor:
    """Exact affine min-norm point on the support S of lam; kept where feasible and no worse.

    On S the minimiser of lam^T G lam subject to sum(lam) = 1 is lam_S ~ G_S^{-1} 1. G_S is
    nonsingular when the support points are linearly independent, which holds for the optimal
    face of a feasible anchor (its affine hull misses the origin); rows where the Cholesky
    factorisation fails or lam_S has a negative entry keep their iterate.
    """
    b, k = lam.shape
    supp = lam > support_tol * lam.max(dim=1, keepdim=True).values  # (B, k)
    m = supp.to(gram.dtype)
    g_s = gram * m[:, :, None] * m[:, None, :] + torch.diag_embed(1.0 - m)
    chol, info = torch.linalg.cholesky_ex(g_s)
    x = torch.cholesky_solve(m[:, :, None], chol)[:, :, 0] * m  # G_S^{-1} 1 on S, 0 elsewhere
    total = x.sum(dim=1, keepdim=True)
    sol = x / torch.where(total.abs() > 0, total, torch.ones_like(total))
    ok = (info == 0) & torch.isfinite(sol).all(dim=1) & (sol >= -1e-14).all(dim=1) & (total[:, 0] > 0)
    sol = sol.clamp_min(0.0)
    sol = sol / sol.sum(dim=1, keepdim=True).clamp_min(1e-300)

    def value(v: torch.Tensor) -> torch.Tensor:
        return (v * torch.bmm(gram, v[:, :, None])[:, :, 0]).sum(dim=1)

    better = ok & (value(sol) <= value(lam) * (1 + 1e-12) + 1e-300)
    return torch.where(better[:, None], sol, lam)


@torch.no_grad()
def decodability(
    values: torch.Tensor,
    *,
    batch_size: int = 256,
    tol: float = 1e-9,
    init_size: int = 32,
    grow: int = 32,
    max_rounds: int = 100,
    inner_iters: int = 2000,
    inner_tol: float = 1e-12,
    infeasible_tol: float = 1e-9,
    stall_rounds: int = 3,
    min_distance: float = MIN_DISTANCE,
    max_seconds: float | None = MAX_SECONDS,
) -> Decodability:
    """rho_i(V), upper bounds and unit separators u*_i for every row of ``values`` (n, d).

    Parameters
    ----------
    values : (n, d) tensor, converted to float64. n >= 2.
    batch_size : anchors solved together (memory O(batch_size * n)).
    tol : target gap rho_upper - rho_i, relative to rho_upper (absolute below 1).
    init_size, grow : initial working-set size and points added per round.
    max_rounds : cap on working-set rounds; a warning is logged if some gap is still above tol.
    inner_iters : cap on FISTA iterations per round.
    inner_tol : relative Frank-Wolfe gap at which FISTA hands over to the exact polish step.
    infeasible_tol : values with rho_upper below this are reported infeasible (rho_i = 0).
    stall_rounds : rounds without halving an anchor's gap after which Wolfe's algorithm finishes it.
    min_distance : before any solving, rows closer than this times the table's radius raise
        :class:`NearDuplicateValuesError` naming them (:func:`check_distinct_values`; default
        ``MIN_DISTANCE`` = 1e-5, see its comment). 0 skips the check: exact duplicates are then
        reported infeasible (rho_i = 0) and near-duplicates are solved, slowly.
    max_seconds : wall-clock cap of this call (default ``MAX_SECONDS`` = 1800); past it the solver
        raises :class:`DecodabilityTimeoutError` (how far it got, and the closest pair of rows).
        None: no cap (``max_rounds`` and ``inner_iters`` still bound the iterations, not the time).

    Returns
    -------
    Decodability with rho_i (n,), rho_upper (n,), separators (n, d).

    Raises
    ------
    ValueError : bad shape, NaN or Inf; :class:`NearDuplicateValuesError` (a ValueError and an
        :class:`InfeasibleValuesError`) for (near-)duplicate rows.
    DecodabilityTimeoutError : the solver ran past ``max_seconds``.
    """
    v = values.detach().to(device="cpu", dtype=torch.float64)
    if v.ndim != 2 or v.shape[0] < 2:
        raise ValueError(f"values must be (n, d) with n >= 2, got shape {tuple(v.shape)}")
    if not torch.isfinite(v).all():
        raise ValueError("values contain NaN or Inf")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0 or None, got {max_seconds!r}")
    t0 = time.perf_counter()
    deadline = math.inf if max_seconds is None else t0 + float(max_seconds)
    check_distinct_values(v, min_distance)  # seconds, before any solving (issue 17)
    try:
        return _solve(v, deadline=deadline, batch_size=batch_size, tol=tol, init_size=init_size, grow=grow,
                      max_rounds=max_rounds, inner_iters=inner_iters, inner_tol=inner_tol,
                      infeasible_tol=infeasible_tol, stall_rounds=stall_rounds)
    except _TimeUp as exc:
        i, j, dist = closest_value_pair(v)
        closest = f"; its closest pair of rows, {i} and {j}, is {dist:.3g} of the table radius apart"
        raise DecodabilityTimeoutError(
            f"decodability of a {tuple(v.shape)} value table did not finish within max_seconds={max_seconds:g} "
            f"(stopped after {time.perf_counter() - t0:.1f} s, {exc.args[0] if exc.args else ''}){closest}. A table "
            "this slow is usually degenerate (rows nearly duplicated or nearly inside the hull of the others); "
            "raise max_seconds (None: no cap) if it is not"
        ) from None


def _solve(v: torch.Tensor, *, deadline: float, batch_size: int, tol: float, init_size: int, grow: int,
           max_rounds: int, inner_iters: int, inner_tol: float, infeasible_tol: float,
           stall_rounds: int) -> Decodability:
    """The solver of :func:`decodability` on a checked float64 table (see there)."""
    n, d = v.shape
    sq = (v * v).sum(dim=1)  # (n,)
    rho_lo = torch.zeros(n, dtype=torch.float64)
    rho_hi = torch.zeros(n, dtype=torch.float64)
    seps = torch.zeros(n, d, dtype=torch.float64)
    scale = float(sq.max().sqrt())
    beat, t0 = Heartbeat(PROGRESS_SECONDS), time.perf_counter()

    for start in range(0, n, batch_size):
        if start and beat.due():  # a long table's progress (a build's first probe waits on it)
            log.info("rho(V): %d of %d values solved (d=%d, %.0f s)", start, n, d, time.perf_counter() - t0)
        idx = torch.arange(start, min(start + batch_size, n))
        b = idx.numel()
        dots = v[idx] @ v.T  # (B, n)
        dist = (sq[idx, None] + sq[None, :] - 2.0 * dots).clamp_min(0.0).sqrt()  # (B, n)
        # the Gram form above has an absolute error ~ 1e-8 scale: re-measure close pairs exactly,
        # so that a_ij keeps its accuracy for close rows (and for tables far from the origin)
        close = torch.nonzero(dist < 1e-3 * scale)
        step = max(1, (1 << 20) // d)  # chunks of at most 2^20 differences (a far-shifted table has many)
        for c0 in range(0, close.shape[0], step):
            rr, cc = close[c0:c0 + step, 0], close[c0:c0 + step, 1]
            dist[rr, cc] = (v[idx[rr]] - v[cc]).norm(dim=1)
        dist[torch.arange(b), idx] = float("inf")  # exclude j = i
        dup = (dist <= 1e-12 * scale).any(dim=1)  # duplicated value: never decodable
        dist = torch.where(dist <= 1e-12 * scale, torch.full_like(dist, float("inf")), dist)
        k0 = min(init_size, n - 1)
        work = torch.topk(dist, k0, dim=1, largest=False).indices  # (B, k) nearest neighbours
        lam = torch.full((b, k0), 1.0 / k0, dtype=torch.float64)
        done = dup.clone()
        lo = torch.zeros(b, dtype=torch.float64)
        hi = torch.zeros(b, dtype=torch.float64)
        x = torch.zeros(b, d, dtype=torch.float64)
        vb = v[idx][:, None, :]

        def directions(cols: torch.Tensor) -> torch.Tensor:  # a_ij for j in cols: (B, c, d)
            a = (vb - v[cols]) / dist.gather(1, cols)[:, :, None]
            return torch.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)

        a = directions(work)  # (B, k, d)
        gram = a @ a.transpose(1, 2)  # (B, k, k), extended by the new columns each round
        wolfe = torch.zeros(b, dtype=torch.bool)  # anchors finished by Wolfe's algorithm
        x_wolfe = torch.zeros(b, d, dtype=torch.float64)
        best_gap = torch.full((b,), float("inf"), dtype=torch.float64)
        stalled = torch.zeros(b, dtype=torch.int64)
        for rnd in range(max_rounds):
            act = ~done  # finished anchors keep their solution
            if time.perf_counter() > deadline:
                raise _TimeUp(f"anchors {start}..{start + b - 1} of {n}, round {rnd + 1}: {int(act.sum())} unfinished")
            if bool(act.any()):
                try:
                    sub = _fista_simplex(gram[act], lam[act], iters=inner_iters, tol=inner_tol, deadline=deadline)
                except _TimeUp:
                    raise _TimeUp(f"anchors {start}..{start + b - 1} of {n}, round {rnd + 1}: {int(act.sum())} "
                                  "unfinished") from None
                lam[act] = _polish(gram[act], sub)
            x = torch.einsum("bk,bkd->bd", lam, a)  # (B, d) min-norm point of the working hull
            x = torch.where(wolfe[:, None], x_wolfe, x)
            hi = x.norm(dim=1)
            u = x / hi.clamp_min(1e-300)[:, None]
            uv = u @ v.T  # (B, n)
            scores = (uv[torch.arange(b), idx][:, None] - uv) / dist  # <u, a_ij>, inf-dist -> 0
            scores[torch.arange(b), idx] = float("inf")
            scores = torch.where(torch.isinf(dist), torch.full_like(scores, float("inf")), scores)
            lo = scores.min(dim=1).values
            gap = hi - lo
            done = done | (gap <= tol * hi.clamp_min(1.0)) | (hi < infeasible_tol) | wolfe
            if bool(done.all()):
                break
            shrinking = gap < 0.5 * best_gap
            best_gap = torch.where(shrinking, gap, best_gap)
            stalled = torch.where(shrinking, torch.zeros_like(stalled), stalled + 1)
            hand = ~done & ((stalled >= stall_rounds) | (work.shape[1] >= n - 1))
            if bool(hand.any()):
                for r in torch.nonzero(hand).flatten().tolist():
                    cols = torch.nonzero(torch.isfinite(dist[r])).flatten()
                    pts = ((v[idx[r]] - v[cols]) / dist[r, cols, None]).numpy()
                    try:
                        x_wolfe[r] = torch.from_numpy(_wolfe_min_norm(pts, x[r].numpy(), tol=tol,
                                                                      max_iter=10 * (d + len(cols)), deadline=deadline))
                    except _TimeUp:
                        raise _TimeUp(f"anchor {int(idx[r])} of {n}, Wolfe's algorithm in round {rnd + 1}") from None
                wolfe |= hand
                continue  # the next round certifies the Wolfe points against all j
            # add the most violated points (smallest <u, a_ij>) not yet in the working set
            scores.scatter_(1, work, float("inf"))
            q = min(grow, n - 1 - work.shape[1]) if work.shape[1] < n - 1 else 0
            if q <= 0:
                continue  # every point is in the working set: keep iterating on it
            new = torch.topk(scores, q, dim=1, largest=False).indices  # (B, q)
            # finished anchors (or ones with fewer violations) get harmless duplicates instead
            fresh = torch.isfinite(scores.gather(1, new)) & ~done[:, None]
            new = torch.where(fresh, new, work[:, :1].expand_as(new))
            work = torch.cat([work, new], dim=1)
            lam = torch.cat([lam, torch.zeros(b, q, dtype=torch.float64)], dim=1)
            a_new = directions(new)  # (B, q, d)
            cross = a_new @ a.transpose(1, 2)  # (B, q, k)
            gram = torch.cat([torch.cat([gram, cross.transpose(1, 2)], dim=2),
                              torch.cat([cross, a_new @ a_new.transpose(1, 2)], dim=2)], dim=1)
            a = torch.cat([a, a_new], dim=1)
        else:
            log.warning("decodability: %d anchors did not reach tol=%g in %d rounds", int((~done).sum()), tol,
                        max_rounds)
        infeasible = dup | (hi < infeasible_tol) | (lo <= 0)
        rho_lo[idx] = torch.where(infeasible, torch.zeros_like(lo), torch.minimum(lo, hi))
        rho_hi[idx] = torch.where(dup | (hi < infeasible_tol), torch.zeros_like(hi), hi)
        seps[idx] = torch.where(infeasible[:, None], torch.zeros_like(x), x / hi.clamp_min(1e-300)[:, None])
    return Decodability(rho_i=rho_lo, rho_upper=rho_hi, separators=seps)


def summarize(dec: Decodability) -> dict:
    """One tidy row: rho(V) = min_i rho_i, its distribution over values, and the certificate gap."""
    r = dec.rho_i
    return {
        "rho": float(r.min()),
        "rho_p05": float(torch.quantile(r, 0.05)),
        "rho_median": float(r.median()),
        "rho_mean": float(r.mean()),
        "rho_max_gap": float((dec.rho_upper - dec.rho_i).max()),
        "n_values": int(r.numel()),
        "n_infeasible": int((~dec.feasible).sum()),
    }


_CACHE: dict[tuple, Decodability] = {}


def cached_decodability(values: torch.Tensor, **kwargs) -> Decodability:
    """:func:`decodability` memoised on the bytes of ``values`` (a capacity search builds many
    MLPs for one fact set; its separators are computed once per process). Keeps 4 entries."""
    from .io import tensor_digest

    v = values.detach().to(device="cpu", dtype=torch.float64).contiguous()
    # keyed on every setting, defaults filled in: an explicit tol=1e-9 hits the entry of a default call
    bound = inspect.signature(decodability).bind(v, **kwargs)
    bound.apply_defaults()
    key = (tensor_digest(v), tuple(v.shape), tuple(sorted((k, x) for k, x in bound.arguments.items() if k != "values")))
    if key not in _CACHE:
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = decodability(v, **kwargs)
    return _CACHE[key]
