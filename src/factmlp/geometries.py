r"""Value geometries for the rho law, chosen by their rho alone (claim C3, revision 3).

Claim C3 fits log(min params) on x = log(1/rho^2) across value geometries. Its design asks for at
least 8 geometries "chosen by their rho alone, spread evenly over log(1/rho^2) (no gap wider than a
quarter of the range)": a design whose x values cluster at one end, with one geometry far out, lets
that one point decide the fit (its leverage h = 1/n + (x - mean)^2 / Sxx approaches 1). The choice
is made *before* any MLP is measured and reads nothing but rho, so it cannot favour geometries on
which the law happens to hold.

:func:`choose_geometries` implements the rule, deterministically (it does not depend on the order
of the rows, and every tie is broken by the family name):

1. **Coordinate.** Per candidate family, the median over seeds of rho (the paper's rho: the minimum
   over values, column ``rho`` of the rho table, :func:`factmlp.decodability.summarize`), and
   x = log(1/rho_med^2) = -2 log rho_med. The median is the statistic the claim checks the spread
   on (:mod:`factmlp.claims.capacity`), so the design is verified on the same numbers it was chosen by.
2. **Eligibility.** A candidate is eligible iff its rho exceeds ``rho_floor`` at *every* seed. With
   the default floor 0 this drops the candidates with rho = 0 at some seed: one of their values is no
   exposed vertex of conv(V), no output decodes to it, no MLP stores that fact set, and there is no
   finite size to fit. A positive floor, fixed before the run, keeps out geometries that a deciding
   method cannot store within its size cap (the JL construction's m' <= code_dim_max_factor * d): a
   search that stores nothing is left out of the fit for that seed, so such a geometry would silently
   shrink the design. The floor is on the smallest rho over seeds because one failing seed is enough.
   Candidates with exactly equal x are one point of the design: only the first by name is kept (e.g.
   a spike of beta = 0 draws the spherical table itself).
3. **Even targets.** For k = k_min, k_min + 1, ..., the k targets t_j = x_min + j (x_max - x_min) / (k - 1)
   over the eligible candidates' range are visited in increasing order, and each takes the unused
   candidate nearest to it (ties, up to 1e-9 of the range: the smaller name). The first k whose
   chosen set has no gap between neighbouring x wider than ``max_gap_fraction`` (1/4) of its range
   is the answer. Both ends of the eligible range are always chosen, so the design spans every x
   the eligible candidates reach.
4. **Failure.** Fewer than k_min eligible candidates, or no spread at all, raise ValueError. At
   k = (number of eligible candidates) every candidate is chosen, so if no k passes, the candidates
   themselves leave a gap wider than a quarter of their range: the error names that gap, which new
   candidates must fill (or the range must be cut at it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .schemas import validate_table

__all__ = ["MAX_GAP_FRACTION", "median_rho", "log_inv_rho2", "spread", "choose_geometries"]

# C3's spread rule (claims revision 3): no gap between neighbouring geometries wider than this
# fraction of the range of log(1/rho^2). With evenly spaced x and n >= 8 the gaps are 1/(n-1) <= 1/7.
MAX_GAP_FRACTION = 0.25
# Slack of the gap comparison, as in the claim's check (float sums of logs are not exact).
_GAP_SLACK = 1e-12
# Candidates whose distances to a target differ by less than this fraction of the range are tied
# (and the smaller name wins): x = -2 log rho carries rounding of ~1e-16, which must not decide.
_TIE = 1e-9


def median_rho(candidates: pd.DataFrame) -> pd.Series:
    """Median rho over seeds per family: a Series indexed by family name (sorted), float.

    ``candidates`` is a long table with columns ``family``, ``seed`` and ``rho`` (one row per fact
    set, like results/tables/rho.tsv). Every family must have the same seeds, each once, so that no
    candidate's median rests on fewer draws than another's; rho must lie in [0, 1] (rho is a cosine
    of a unit separator with unit directions).
    """
    validate_table(candidates, "rho", columns=["family", "seed", "rho"], source="candidate table")
    if candidates.empty:
        raise ValueError("candidate table is empty")
    table = candidates[["family", "seed", "rho"]].copy()
    table["rho"] = table["rho"].astype(float)
    dup = table[table.duplicated(["family", "seed"], keep=False)]
    if not dup.empty:
        raise ValueError(f"(family, seed) appears more than once: {sorted(set(zip(dup['family'], dup['seed'])))[:5]}")
    every = sorted(set(table["seed"]))
    lacking = {f: sorted(set(every) - set(s)) for f, s in table.groupby("family")["seed"]}
    lacking = {f: m for f, m in lacking.items() if m}
    if lacking:
        raise ValueError(f"every family needs every seed of the table {every}; missing: {lacking}")
    return table.groupby("family")["rho"].median().sort_index()


def log_inv_rho2(rho) -> np.ndarray | float:
    """x = log(1/rho^2) = -2 log rho, the regressor of the rho law (inf at rho = 0)."""
    with np.errstate(divide="ignore"):
        return -2.0 * np.log(rho)


def spread(x: pd.Series | Sequence[float]) -> dict:
    """How evenly points cover their range of x: ``n``, ``x_min``, ``x_max``, ``span``, ``widest_gap``
    (between neighbours in sorted order), ``gap_fraction`` = widest_gap / span, ``gap_between`` (the
    labels, or sorted positions, of the two points around it) and ``max_leverage`` (the largest
    h = 1/n + (x - mean)^2 / Sxx of a simple regression on x; 2/n is the lowest possible maximum
    for n >= 2 points, approached by two equal clusters at the ends, and 1 means one point decides the slope)."""
    s = pd.Series(x, dtype=float) if not isinstance(x, pd.Series) else x.astype(float)
    s = s.sort_values(kind="stable")
    v = s.to_numpy()
    n = len(v)
    if n < 2:
        raise ValueError(f"spread needs at least 2 points, got {n}")
    gaps = np.diff(v)
    i = int(np.argmax(gaps))
    span = float(v[-1] - v[0])
    sxx = float(((v - v.mean()) ** 2).sum())
    lev = float(np.max(1.0 / n + (v - v.mean()) ** 2 / sxx)) if sxx > 0 else float("nan")
    return {"n": n, "x_min": float(v[0]), "x_max": float(v[-1]), "span": span, "widest_gap": float(gaps[i]),
            "gap_fraction": float(gaps[i]) / span if span > 0 else float("inf"),
            "gap_between": (s.index[i], s.index[i + 1]), "max_leverage": lev}


def _pick(x: pd.Series, k: int) -> list[str]:
    """Step 3 for one k: each of k evenly spaced targets, in increasing order, takes the nearest unused
    candidate (ties: the smaller name). ``x`` is indexed by name and sorted by name."""
    lo, hi = float(x.min()), float(x.max())
    unused = dict(x.items())
    chosen = []
    for j in range(k):
        t = lo + (hi - lo) * j / (k - 1)
        dist = {f: abs(v - t) for f, v in unused.items()}
        near = min(dist.values()) + _TIE * (hi - lo)  # rounding in log(rho) must not break a tie
        name = min(f for f, dd in dist.items() if dd <= near)
        chosen.append(name)
        del unused[name]
    return chosen


def choose_geometries(candidates: pd.DataFrame, k_min: int = 8, *, rho_floor: float = 0.0,
                      max_gap_fraction: float = MAX_GAP_FRACTION) -> list[str]:
    """The families to run, chosen from ``candidates`` by their rho alone (the module's rule).

    Parameters
    ----------
    candidates : long table with columns ``family``, ``seed``, ``rho`` (rho = min over values),
        the same seeds for every family (:func:`median_rho`).
    k_min : the fewest geometries to choose (C3: 8); more are chosen only where k_min evenly spaced
        targets would leave a gap wider than ``max_gap_fraction`` of the range.
    rho_floor : a candidate is eligible iff its rho > rho_floor at every seed (0: rho > 0, the
        decodable ones); a positive floor caps x at log(1/rho_floor^2).
    max_gap_fraction : the spread rule: widest gap between neighbouring x <= this times the range.

    Returns
    -------
    list of family names, sorted by x = log(1/rho_med^2) (ties by name); at least ``k_min`` long, its
    widest gap at most ``max_gap_fraction`` of its range, which is the candidates' whole range.

    Raises
    ------
    ValueError : bad table (:func:`median_rho`), fewer than ``k_min`` eligible candidates, no spread
        in rho, or candidates that themselves leave a gap wider than the rule allows (named).
    """
    if int(k_min) != k_min or k_min < 2:
        raise ValueError(f"k_min must be an integer >= 2, got {k_min!r}")
    if not 0 < max_gap_fraction <= 1:
        raise ValueError(f"max_gap_fraction must lie in (0, 1], got {max_gap_fraction!r}")
    if not 0 <= rho_floor < 1:
        raise ValueError(f"rho_floor must lie in [0, 1), got {rho_floor!r}")
    rho = median_rho(candidates)
    worst = candidates.assign(family=candidates["family"].astype(str)).groupby("family")["rho"].min().astype(float)
    below = sorted(worst.index[worst <= rho_floor])
    x = pd.Series(log_inv_rho2(rho.drop(below).to_numpy()), index=rho.drop(below).index, dtype=float)
    x = x[~x.duplicated(keep="first")]  # equal x: one point of the design (index is sorted: first by name)
    dropped = f" (ineligible, rho <= {rho_floor:g} at some seed: {', '.join(below)})" if below else ""
    if len(x) < k_min:
        raise ValueError(f"{len(x)} eligible candidates with distinct rho, fewer than k_min={k_min}{dropped}")
    if not float(x.max() - x.min()) > 0:
        raise ValueError(f"the candidates have no spread in rho (all log(1/rho^2) = {float(x.iloc[0]):.4g})")
    for k in range(int(k_min), len(x) + 1):
        chosen = _pick(x, k)
        s = spread(x[chosen])
        if s["widest_gap"] <= max_gap_fraction * s["span"] + _GAP_SLACK:
            return sorted(chosen, key=lambda f: (float(x[f]), f))
    s = spread(x)  # every candidate was chosen at the last k: the gap is the candidates' own
    a, b = s["gap_between"]
    raise ValueError(
        f"no choice of >= {k_min} candidates meets the spread rule: the candidates themselves leave a gap of "
        f"{s['widest_gap']:.3f} in log(1/rho^2) between {a} ({float(x[a]):.3f}) and {b} ({float(x[b]):.3f}), wider "
        f"than {max_gap_fraction:g} of their range {s['x_min']:.3f}..{s['x_max']:.3f} "
        f"({max_gap_fraction * s['span']:.3f}); add candidates with rho near {math.exp(-(x[a] + x[b]) / 4):.4g} "
        f"or cut the range there{dropped}")
