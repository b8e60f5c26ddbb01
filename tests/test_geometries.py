"""Tests of factmlp.geometries: C3's value geometries chosen by their rho alone.

The candidate tables are made by hand from chosen coordinates x = log(1/rho^2) (rho = exp(-x/2)),
so every expected choice below can be followed on paper: targets t_j = x_min + j (x_max - x_min)/(k - 1),
each taking the nearest unused candidate, and the spread rule widest gap <= range / 4.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from factmlp.geometries import choose_geometries, log_inv_rho2, median_rho, spread


def _table(xs: dict[str, float], seeds=(0, 1, 2)) -> pd.DataFrame:
    """Long candidate table: every family has rho = exp(-x/2) at every seed."""
    return pd.DataFrame([{"family": f, "seed": s, "rho": math.exp(-x / 2)} for f, x in xs.items() for s in seeds])


def _x_of(table: pd.DataFrame, names: list[str]) -> np.ndarray:
    return log_inv_rho2(median_rho(table)[names].to_numpy())


def test_even_pool_takes_the_evenly_spaced_candidates():
    # 15 candidates at x = 0..14; 8 targets at 0, 2, ..., 14 hit candidates exactly
    table = _table({f"g{i:02d}": float(i) for i in range(15)})
    chosen = choose_geometries(table, k_min=8)
    assert chosen == [f"g{i:02d}" for i in range(0, 15, 2)]
    s = spread(_x_of(table, chosen))
    assert s["widest_gap"] == pytest.approx(2.0) and s["span"] == pytest.approx(14.0)
    assert s["max_leverage"] == pytest.approx(1 / 8 + 3.5**2 / 42)  # evenly spaced 8 points: Sxx = 42


def test_gap_in_the_candidates_is_refused_and_named():
    # range 0..4, allowed gap 1; the candidates leave 2.0 between "c" (2) and "d" (4)
    table = _table({"a": 0.0, "a2": 0.5, "b": 1.0, "b2": 1.5, "c": 2.0, "d": 4.0})
    with pytest.raises(ValueError, match=r"gap of 2\.000 in log\(1/rho\^2\) between c \(2\.000\) and d \(4\.000\)"):
        choose_geometries(table, k_min=5)


def test_clustered_design_with_one_far_geometry_is_refused():
    # the audit's shape: six geometries bunched at one end and one far out
    table = _table({"s": 1.05, "m": 1.40, "p": 1.50, "q": 1.79, "k": 2.13, "far": 3.84, "t": 1.2, "u": 1.3})
    with pytest.raises(ValueError, match="between k .* and far"):
        choose_geometries(table, k_min=8)


def test_k_grows_until_the_spread_rule_holds():
    # k = 5 targets 0, 2, 4, 6, 8 take 0, 1.9, 4, 6.1, 8: gaps 2.1 > 8/4. k = 6 takes 0, 1.9, 4, 5.8,
    # 6.1, 8 (gap 2.1 again); k = 7 takes all seven, widest gap 1.9 <= 2.
    xs = {"a": 0.0, "b": 1.9, "c": 2.2, "d": 4.0, "e": 5.8, "f": 6.1, "g": 8.0}
    assert choose_geometries(_table(xs), k_min=5) == list(xs)


def test_equidistant_tie_is_broken_by_name_not_row_order():
    # x = 0..14 without 2; 1.5 and 2.5 are equally near the target 2: the smaller name wins
    xs = {f"g{i:02d}": float(i) for i in range(15) if i != 2}
    low_first = choose_geometries(_table(xs | {"m1": 1.5, "m2": 2.5}), k_min=8)
    assert "m1" in low_first and "m2" not in low_first
    high_first = choose_geometries(_table(xs | {"m1": 2.5, "m2": 1.5}), k_min=8)
    assert "m1" in high_first and "m2" not in high_first
    shuffled = _table(xs | {"m1": 1.5, "m2": 2.5}).sample(frac=1.0, random_state=np.random.RandomState(3))
    assert choose_geometries(shuffled, k_min=8) == low_first
    # distances that differ by rounding only (1e-13 of a range of 14) are still a tie
    near = choose_geometries(_table(xs | {"m1": 2.5 + 1e-12, "m2": 1.5}), k_min=8)
    assert "m1" in near and "m2" not in near


def test_equal_rho_is_one_point_of_the_design():
    # "beta0" has the very rho of "sph" (a spike of beta 0 draws the spherical table): only "beta0"
    # (first by name) is a candidate, so 8 distinct points are needed besides the duplicate
    xs = {f"g{i}": float(i) for i in range(1, 8)}
    table = _table(xs | {"sph": 0.0, "beta0": 0.0})
    chosen = choose_geometries(table, k_min=8)
    assert chosen == ["beta0", *xs]
    with pytest.raises(ValueError, match="8 eligible candidates with distinct rho, fewer than k_min=9"):
        choose_geometries(table, k_min=9)


def test_median_over_seeds_decides_and_a_seed_at_rho_zero_makes_a_candidate_ineligible():
    xs = {f"g{i:02d}": float(i) for i in range(0, 15, 2)}  # 8 points, gaps 2
    table = _table(xs)
    # "a_odd" sits at x = 6 by its median rho (g06's point, and "a_odd" < "g06": it stands for it) but
    # at x = 2.03 by its mean rho (beside g02, which is nearer the target 2: not chosen)
    odd = pd.DataFrame({"family": "a_odd", "seed": [0, 1, 2], "rho": [math.exp(-3.0), math.exp(-3.0), 0.99]})
    assert choose_geometries(pd.concat([table, odd]), k_min=8) == [*list(xs)[:3], "a_odd", *list(xs)[4:]]
    # a family at rho = 0 in one seed (an undecodable value) is never chosen, even at an end
    dead = pd.DataFrame({"family": "dead", "seed": [0, 1, 2], "rho": [0.0, 0.5, 0.5]})
    assert "dead" not in choose_geometries(pd.concat([table, dead]), k_min=8)


def test_rho_floor_caps_the_range_on_the_smallest_rho_over_seeds():
    xs = {f"g{i:02d}": float(i) for i in range(15)}
    table = _table(xs)
    # floor exp(-5): x < 10 at every seed. g10 sits exactly at the floor (rho <= floor: out)
    chosen = choose_geometries(table, k_min=8, rho_floor=math.exp(-10 / 2) * (1 + 1e-12))
    assert max(_x_of(table, chosen)) == pytest.approx(9.0)
    # one seed below the floor is enough: "a_low" has median x 2 (g02's, and the smaller name: it would
    # stand for that point) but x 16 at seed 2; the floor at x 15 keeps every g
    low = pd.DataFrame({"family": "a_low", "seed": [0, 1, 2], "rho": [math.exp(-1.0)] * 2 + [math.exp(-8.0)]})
    assert "a_low" in choose_geometries(pd.concat([table, low]), k_min=8)
    chosen = choose_geometries(pd.concat([table, low]), k_min=8, rho_floor=math.exp(-7.5))
    assert "a_low" not in chosen and "g02" in chosen


@pytest.mark.parametrize("seed", range(20))
def test_random_pools_meet_the_rule_and_span_the_range(seed):
    rng = np.random.default_rng(seed)
    xs = {f"f{i:02d}": float(x) for i, x in enumerate(np.sort(rng.uniform(0.5, 5.0, size=30)))}
    table = _table(xs)
    pool = spread(pd.Series(xs))
    if pool["gap_fraction"] > 0.25:  # no design exists: refused
        with pytest.raises(ValueError, match="the candidates themselves leave a gap"):
            choose_geometries(table, k_min=8)
        return
    chosen = choose_geometries(table, k_min=8)
    x = _x_of(table, chosen)
    assert len(chosen) >= 8 and len(set(chosen)) == len(chosen)
    assert list(x) == sorted(x)
    assert x[0] == pytest.approx(pool["x_min"]) and x[-1] == pytest.approx(pool["x_max"])
    assert np.diff(x).max() <= (x[-1] - x[0]) / 4 + 1e-12
    assert choose_geometries(table.iloc[::-1], k_min=8) == chosen


@pytest.mark.parametrize(
    "table, message",
    [
        (pd.DataFrame({"family": ["a"], "rho": [0.5]}), r"missing column\(s\): 'seed'"),
        (pd.DataFrame({"family": ["a", "a"], "seed": [0, 0], "rho": [0.5, 0.4]}), "appears more than once"),
        (pd.DataFrame({"family": ["a", "a", "b"], "seed": [0, 1, 0], "rho": [0.5, 0.4, 0.3]}),
         r"every seed of the table \[0, 1\]; missing: \{'b': \[1\]\}"),
        (pd.DataFrame({"family": ["a"], "seed": [0], "rho": [1.5]}), r"column 'rho': in_range\(0, 1\): 1.5"),
        (pd.DataFrame({"family": ["a"], "seed": [0], "rho": [float("nan")]}), r"column 'rho': not_nullable"),
    ],
)
def test_bad_candidate_tables_are_refused(table, message):
    with pytest.raises(ValueError, match=message):
        choose_geometries(table, k_min=2)


def test_bad_settings_and_no_spread_are_refused():
    table = _table({"a": 1.0, "b": 1.0 + 1e-300, "c": 1.0})
    with pytest.raises(ValueError, match="k_min must be an integer >= 2"):
        choose_geometries(table, k_min=1)
    with pytest.raises(ValueError, match="rho_floor must lie in"):
        choose_geometries(table, k_min=2, rho_floor=1.0)
    with pytest.raises(ValueError, match="fewer than k_min=2"):  # all three share one x: one candidate
        choose_geometries(table, k_min=2)
