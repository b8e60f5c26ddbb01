"""Claim rules of shared/claims.md (revision 2) on synthetic tables with independently computed answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from factmlp.capacity import measure_capacity
from factmlp.claims.capacity import capacity_claims, closed_form_claims, closed_form_points, point_table, rho_law_fit
from factmlp.claims.common import CLAIM_COLUMNS
from factmlp.claims.usability import usability_claims
from factmlp.mlp import GatedMLP

GD_SETTINGS = {"epochs": 3000, "lr": 0.01, "lr_min": 1e-5, "activation": "identity", "dtype": "float32",
               "device": "cpu", "log_every": 500, "max_seconds": 0.0}
CONS_SETTINGS = {"projection": "orthogonal", "bucket_size": 0, "bucket_sizes": [], "whiten": False,
                 "whiten_ridge": 1e-6, "ridge": 1e-10}


def _settings(method):
    if method.startswith("gd"):
        return json.dumps(GD_SETTINGS, sort_keys=True)
    if method.startswith("construction"):
        return json.dumps({**CONS_SETTINGS, "whiten": method == "construction_whitened"}, sort_keys=True)
    return json.dumps({"activation": "relu", "hermite_degree": 1}, sort_keys=True)


def row(sweep, method, family, d, n, params, *, seed=0, found=True, max_probed=None, variant=""):
    """One capacity.tsv row as scripts/measure_capacity.py + aggregate_capacity.py write it."""
    return {"method": method, "family": family, "d": d, "n_facts": n, "n_values": n, "seed": seed,
            "settings": _settings(method), "found": found, "min_width": 1 if found else None,
            "param_count": params if found else None, "accuracy": 1.0 if found else None,
            "min_margin": 0.1 if found else None, "n_probes": 5, "seconds": 0.1, "size_name": "width",
            "hidden": 1 if found else None, "variant": variant if found else None,
            "max_probed_params": max_probed if max_probed is not None else (params if found else None),
            "sweep": sweep}


def table(rows):
    return pd.DataFrame(rows)


def claims(cap, rho=None, families=None):
    rho = rho if rho is not None else pd.DataFrame(columns=["family", "d", "n_facts", "seed", "rho"])
    out = capacity_claims(cap, rho, families or {"spherical": {"kind": "spherical"}}, scale="test")
    assert list(out.columns) == CLAIM_COLUMNS
    return out.set_index("claim")


# --------------------------------------------------------------------------- capacity.max_probed_params


def test_capacity_result_records_the_largest_probe_found_or_not():
    from test_capacity import ExactAboveThreshold, _orthonormal_facts

    facts = _orthonormal_facts()
    res = measure_capacity(facts, ExactAboveThreshold(threshold=300), seed=0, width_max=200, rel_tol=0)
    assert not res.found
    assert res.max_probed_params == GatedMLP(facts.d, 200).param_count()
    assert res.summary()["max_probed_params"] == res.max_probed_params
    res = measure_capacity(facts, ExactAboveThreshold(threshold=37), seed=0, rel_tol=0)
    assert res.found
    assert res.max_probed_params == max(p.param_count for p in res.probes) >= res.param_count


# --------------------------------------------------------------------------- point table and lower bounds


def test_point_table_median_and_lower_bounds():
    cap = table([row("s", "ntk", "sph", 8, 16, 100, seed=0), row("s", "ntk", "sph", 8, 16, 200, seed=1),
                 row("s", "ntk", "sph", 8, 16, None, seed=2, found=False, max_probed=1000),
                 row("s", "gd", "sph", 8, 16, 30, seed=0, variant="v1"), row("s", "gd", "sph", 8, 16, 50, seed=1)])
    pts = point_table(cap, "s").set_index("method")
    assert pts.loc["ntk", "param_count"] == 200 and pts.loc["ntk", "bound"] == ">="  # median of 100, 200, >=1000
    assert pts.loc["gd", "param_count"] == 40 and pts.loc["gd", "bound"] == "="
    assert pts.loc["gd", "variant"] == "v1" and pts.loc["ntk", "n_seeds"] == 3
    old = cap.drop(columns=["max_probed_params"])  # revision-1 tables: no bound available, point dropped
    assert list(point_table(old, "s")["method"]) == ["gd"]


# --------------------------------------------------------------------------- C1


def _power(sweep, method, exponent, scale_, points=((16, 32), (24, 72), (32, 128), (48, 288), (64, 512)), **kw):
    return [row(sweep, method, "spherical", d, n, scale_ * n ** exponent, **kw) for d, n in points]


def test_c1_slopes_pass_within_0_15_and_fail_beyond():
    cap = table(_power("scaling", "construction", 1.0, 3.0) + _power("scaling", "gd", 1.1, 2.0))
    c = claims(cap).loc["C1"]
    assert c["pass"] == "true" and "construction 1.000, gd 1.100" in c["measured_value"]
    assert "GD: full-batch Adam lr 0.01 cosine to 1e-05, 3000 epochs" in c["evidence"]
    assert "projection orthogonal" in c["evidence"]
    cap = table(_power("scaling", "construction", 1.0, 3.0) + _power("scaling", "gd", 1.2, 2.0))
    assert claims(cap).loc["C1", "pass"] == "false"
    assert claims(table(_power("families", "gd", 1.0, 1.0))).loc["C1", "pass"] == "n/a"


# --------------------------------------------------------------------------- C2


def _c2_table(scaling_ratios, fixed_ratios, *, fixed_d=8, fixed_n=(8, 16, 32)):
    rows = []
    for (d, n), r in zip([(16, 32), (24, 72), (32, 128)], scaling_ratios):
        rows += [row("scaling", "construction", "spherical", d, n, 100), _ntk("scaling", d, n, r)]
    for n, r in zip(fixed_n, fixed_ratios):
        rows += [row("fixed-d", "construction", "spherical", fixed_d, n, 100), _ntk("fixed-d", fixed_d, n, r)]
    return table(rows)


def _ntk(sweep, d, n, r):
    """ratio r: NTK stores at 100 r params; (">=", r): stores nothing, largest probe 100 r."""
    if isinstance(r, tuple):
        return row(sweep, "ntk", "spherical", d, n, None, found=False, max_probed=100 * r[1])
    return row(sweep, "ntk", "spherical", d, n, 100 * r)


def test_c2_thresholds_exactly_as_written():
    c = claims(_c2_table([5, 8, 12], [6, 10, 20])).loc["C2"]
    assert c["pass"] == "true", c
    assert "min 5.0x, median 9.0x, max 20.0x over 6 points (0 lower bounds" in c["measured_value"]
    assert claims(_c2_table([4.9, 8, 12], [6, 10, 20])).loc["C2", "pass"] == "false"  # one ratio 4.9 < 5
    assert claims(_c2_table([5, 8, 12], [6, 10, 19.9])).loc["C2", "pass"] == "false"  # largest < 20


def test_c2_lower_bounds_count():
    # NTK stores nothing at the two largest fixed-d points: ratios >= 30 and >= 64 make the largest >= 20
    c = claims(_c2_table([5, 8, 12], [6, (">=", 30), (">=", 64)])).loc["C2"]
    assert c["pass"] == "true", c
    assert "2 lower bounds >=" in c["measured_value"] and ">=64.0x" in c["measured_value"]
    # a lower bound below 5 cannot confirm ">= 5": fails, and the evidence says why
    c = claims(_c2_table([5, 8, 12], [6, (">=", 3), (">=", 64)])).loc["C2"]
    assert c["pass"] == "false" and "cannot be confirmed >= 5" in c["evidence"]


def test_c2_needs_both_sweeps_and_full_fixed_d_range():
    cap = _c2_table([5, 8, 30], [6, 10, 20])
    only_scaling = cap[cap["sweep"] == "scaling"]
    c = claims(only_scaling).loc["C2"]
    assert c["pass"] == "false" and "'fixed-d' not in this config" in c["evidence"]
    short = _c2_table([5, 8, 30], [6, 10, 20], fixed_n=(8, 16, 31))  # d=8: d^2/2 = 32
    c = claims(short).loc["C2"]
    assert c["pass"] == "false" and "short of d^2/2 = 32" in c["evidence"]
    assert claims(table(_power("families", "gd", 1.0, 1.0))).loc["C2", "pass"] == "n/a"


# --------------------------------------------------------------------------- C3


GEOMS = ["g1", "g2", "g3", "g4", "g5", "g6", "g7"]
FAMS = {**{g: {"kind": "spike", "beta": float(i), "keys": "spherical"} for i, g in enumerate(GEOMS)},
        "tied1": {"kind": "spike", "beta": 1.0}, "spherical": {"kind": "spherical"}}


def _c3_tables(gd_params, cons_params, rhos, *, seeds=(0, 1, 2), geoms=GEOMS, extra_rows=()):
    """Geometry sweep (d=32, |K|=128); per family and seed: params and rho given by functions."""
    rows, rho = list(extra_rows), []
    for f in geoms:
        for s in seeds:
            rows.append(row("geometry", "gd", f, 32, 128, gd_params(f, s), seed=s))
            rows.append(row("geometry", "construction", f, 32, 128, cons_params(f, s), seed=s))
            rho.append({"family": f, "d": 32, "n_facts": 128, "seed": s, "rho": rhos(f, s)})
    return table(rows), pd.DataFrame(rho)


def _rho(f, s):
    return 0.1 + 0.07 * GEOMS.index(f) + 0.01 * s


def test_c3_exact_rho_law_passes_with_r2_one():
    law = lambda f, s: math.exp(5.0 + 0.6 * math.log(1 / _rho(f, s) ** 2))  # noqa: E731
    cap, rho = _c3_tables(law, lambda f, s: 3 * law(f, s), _rho)
    c = claims(cap, rho, FAMS).loc["C3"]
    assert c["pass"] == "true", c
    assert "gd R^2 1.000 (slope 0.60, n=7 geometries)" in c["measured_value"]


def test_c3_noisy_law_r2_matches_numpy_and_fails():
    noise = dict(zip(GEOMS, [0.3, -0.2, 0.25, -0.3, 0.1, 0.2, -0.15]))
    law = lambda f, s: math.exp(5.0 + 0.6 * math.log(1 / _rho(f, s) ** 2))  # noqa: E731
    noisy = lambda f, s: law(f, s) * math.exp(noise[f] + 0.01 * s)  # noqa: E731
    cap, rho = _c3_tables(noisy, law, _rho)
    # independent answer: medians over seeds, then corrcoef^2 of log params on log(1/rho^2)
    x = [math.log(1 / np.median([_rho(f, s) for s in range(3)]) ** 2) for f in GEOMS]
    y = [math.log(np.median([noisy(f, s) for s in range(3)])) for f in GEOMS]
    r2 = np.corrcoef(x, y)[0, 1] ** 2
    assert r2 < 0.97
    c = claims(cap, rho, FAMS).loc["C3"]
    assert c["pass"] == "false"
    assert f"gd R^2 {r2:.3f}" in c["measured_value"]
    assert rho_law_fit(pd.DataFrame({"rho": [math.sqrt(1 / math.exp(v)) for v in x],
                                     "param_count": np.exp(y)}))["r2"] == pytest.approx(r2)


def test_c3_needs_six_geometries_three_seeds_and_spherical_keys():
    law = lambda f, s: math.exp(5.0 + 0.6 * math.log(1 / _rho(f, s) ** 2))  # noqa: E731
    cap, rho = _c3_tables(law, law, _rho, geoms=GEOMS[:5])
    c = claims(cap, rho, FAMS).loc["C3"]
    assert c["pass"] == "false" and "5 value geometries" in c["evidence"]
    cap, rho = _c3_tables(law, law, _rho, seeds=(0, 1))
    c = claims(cap, rho, FAMS).loc["C3"]
    assert c["pass"] == "false" and "only 2 seed(s)" in c["evidence"]
    # a family of the sweep without keys: spherical is left out (here it leaves 5 geometries)
    fams = {**FAMS, "g7": {"kind": "spike"}, "g6": {"kind": "spike"}}
    c = claims(*_c3_tables(law, law, _rho), fams).loc["C3"]
    assert c["pass"] == "false" and "left out: g6, g7" in c["evidence"]
    # absent sweep: n/a; the tied-key sweep alone does not decide
    tied = table([row("families", m, "tied1", 32, 128, 100) for m in ("gd", "construction")])
    assert claims(tied, rho, FAMS).loc["C3", "pass"] == "n/a"


def test_c3_reports_the_tied_key_sweep_beside():
    law = lambda f, s: math.exp(5.0 + 0.6 * math.log(1 / _rho(f, s) ** 2))  # noqa: E731
    cap, rho = _c3_tables(law, law, _rho)
    tied = [row("families", m, f, 32, 128, 500 + 10 * i)
            for i, f in enumerate(GEOMS[:3]) for m in ("gd", "construction")]
    cap = pd.concat([cap, table(tied)], ignore_index=True)
    c = claims(cap, rho, FAMS).loc["C3"]
    assert c["pass"] == "true" and "tied-key sweep 'families' [not deciding]" in c["measured_value"]


# --------------------------------------------------------------------------- C4


C4_FAMS = {"spherical": {"kind": "spherical"}, "a": {"kind": "spike"}, "b": {"kind": "kappa"},
           "c": {"kind": "spike", "keys": "spherical"}}


def _c4_table(gains, *, sweep="families", whitened_variant="whiten=ridge 0.1"):
    rows = [row(sweep, "construction", "spherical", 32, 128, 1000),
            row(sweep, "construction_whitened", "spherical", 32, 128, 100, variant="whiten=off")]
    for fam, gain in gains.items():
        if isinstance(gain, tuple):  # unwhitened stores nothing: gain >= max_probed / whitened
            rows.append(row(sweep, "construction", fam, 32, 128, None, found=False, max_probed=100 * gain[1]))
        else:
            rows.append(row(sweep, "construction", fam, 32, 128, 100 * gain))
        rows.append(row(sweep, "construction_whitened", fam, 32, 128, 100, variant=whitened_variant))
    return table(rows)


def test_c4_every_gain_at_least_one_and_largest_at_least_four():
    c = claims(_c4_table({"a": 1.0, "b": 4.0}), families=C4_FAMS).loc["C4"]
    assert c["pass"] == "true", c  # the spherical family's 10x is not counted
    assert "a 1.00x (whitened: whiten=ridge 0.1)" in c["measured_value"]
    assert "max 4.00x over 2 anisotropic families" in c["measured_value"]
    assert claims(_c4_table({"a": 0.9, "b": 5.0}), families=C4_FAMS).loc["C4", "pass"] == "false"
    assert claims(_c4_table({"a": 1.2, "b": 3.9}), families=C4_FAMS).loc["C4", "pass"] == "false"
    c = claims(_c4_table({"a": 1.2, "b": (">=", 6.0)}), families=C4_FAMS).loc["C4"]  # lower bound counts
    assert c["pass"] == "true" and ">=6.00x" in c["measured_value"]


def test_c4_decides_on_the_union_of_families_and_geometry():
    cap = pd.concat([_c4_table({"a": 1.5, "b": 4.5}), _c4_table({"c": 0.8}, sweep="geometry")], ignore_index=True)
    c = claims(cap, families=C4_FAMS).loc["C4"]
    assert c["pass"] == "false" and "sweep 'geometry'" in c["measured_value"]
    cap = pd.concat([_c4_table({"a": 1.5, "b": 2.0}), _c4_table({"c": 4.0}, sweep="geometry")], ignore_index=True)
    assert claims(cap, families=C4_FAMS).loc["C4", "pass"] == "true"
    no_whitened = table([row("families", "construction", "a", 32, 128, 100)])
    assert claims(no_whitened, families=C4_FAMS).loc["C4", "pass"] == "n/a"


# --------------------------------------------------------------------------- C5


def test_c5_encdec_ratio_at_most_half():
    pts = ((16, 32), (32, 128), (64, 512))
    base = _power("scaling", "gd", 1.0, 1.0, pts) + _power("scaling", "construction", 1.0, 20.0, pts)
    c = claims(table(base + _power("scaling", "gd_encdec", 1.0, 10.0, pts))).loc["C5"]
    assert c["pass"] == "true" and "construction/GD 20.0x" in c["measured_value"]
    assert claims(table(base + _power("scaling", "gd_encdec", 1.0, 10.5, pts))).loc["C5", "pass"] == "false"
    assert claims(table(base)).loc["C5", "pass"] == "n/a"


# --------------------------------------------------------------------------- B1


def _b1_table(ratios_by_method, gd=None, points=((16, 32), (32, 128), (48, 288), (64, 512))):
    rows = []
    for i, (d, n) in enumerate(points):
        rows.append(row("scaling", "gd", "spherical", d, n, 100) if gd is None else gd(d, n))
        for method, ratios in ratios_by_method.items():
            r = ratios[i]
            rows.append(row("scaling", method, "spherical", d, n, None, found=False, max_probed=100 * r[1])
                        if isinstance(r, tuple) else row("scaling", method, "spherical", d, n, 100 * r,
                                                         variant=f"{method}-v"))
    return table(rows)


def b1(cap):
    out = closed_form_claims(cap, scale="test")
    assert list(out.columns) == CLAIM_COLUMNS and list(out["claim"]) == ["B1"]
    return out.iloc[0]


def test_b1_best_closed_form_over_gd_median_at_d_32_and_up():
    cap = _b1_table({"construction": [1.0, 20.0, 6.0, 9.0],
                     "construction_whitened": [1.0, 30.0, 4.0, 7.0],
                     "construction_codebook": [1.0, 5.0, 8.0, 3.0],
                     "gd_encdec": [0.5, 0.5, 0.5, 0.5], "ntk": [0.5, 0.5, 0.5, 0.5]})
    c = b1(cap)  # d >= 32: best 5 (codebook), 4 (whitened), 3 (codebook) -> median 4; d=16 (1.0) ignored
    assert c["pass"] == "true", c
    assert "median best closed-form/GD 4.0x over 3 points" in c["measured_value"]
    assert "construction_codebook [construction_codebook-v] 5.0x" in c["measured_value"]
    assert "construction_whitened [construction_whitened-v] 4.0x" in c["measured_value"]
    assert "GD: full-batch Adam" in c["evidence"]
    exact5 = _b1_table({"construction": [9.0, 5.0, 5.0, 6.0]})
    assert b1(exact5)["pass"] == "true"
    fails = _b1_table({"construction": [1.0, 5.1, 5.1, 6.0]})
    assert b1(fails)["pass"] == "false"


def test_b1_reports_the_best_v2_builder_per_point():
    cap = _b1_table({"construction_codebook": [1.0, 4.0, 4.5, 5.0],
                     "hebbian_whitened": [9.0, 15.0, 16.0, 17.0],
                     "hebbian_data_dependent": [3.0, 6.0, (">=", 7.0), 8.0]})
    c = b1(cap)
    assert c["pass"] == "true"
    # the best v2 builder *that stores* each point: 6 (dd), 16 (whitened; dd stores nothing), 8 (dd) -> 8
    assert "best v2 builder/GD median 8.0x" in c["measured_value"]
    assert "(v2 hebbian_data_dependent 6.0x)" in c["measured_value"]
    assert "(v2 hebbian_whitened 16.0x)" in c["measured_value"]
    pts = closed_form_points(cap, d_min=32)
    assert list(pts["d"]) == [32, 48, 64]
    assert list(pts["gd_params"]) == [100.0, 100.0, 100.0]
    assert list(pts["closed_form"]) == ["construction_codebook"] * 3
    assert list(pts["closed_form_params"]) == [400.0, 450.0, 500.0]
    assert list(pts["v2"]) == ["hebbian_data_dependent", "hebbian_whitened", "hebbian_data_dependent"]
    assert list(pts["v2_params"]) == [600.0, 1600.0, 800.0]
    assert list(pts["v2_bound"]) == ["=", "=", "="]
    # the hebbian builders are not closed-form constructions: alone they cannot decide B1
    assert b1(_b1_table({"hebbian_whitened": [1.0, 1.0, 1.0, 1.0]}))["pass"] == "n/a"


def test_b1_bounds_na_and_no_large_points():
    # no closed-form method stores the d=48 point: a lower bound there makes the median a lower bound
    cap = _b1_table({"construction": [1.0, 2.0, (">=", 3.0), 4.0]})
    c = b1(cap)
    assert c["pass"] == "false" and ">=3.0x" in c["measured_value"]
    # GD stores nothing at d=64: an upper bound on the ratio still confirms <= 5
    gd = lambda d, n: row("scaling", "gd", "spherical", d, n, None, found=False, max_probed=100) if d == 64 else \
        row("scaling", "gd", "spherical", d, n, 100)  # noqa: E731
    c = b1(_b1_table({"construction": [1.0, 2.0, 3.0, 4.0]}, gd=gd))
    assert c["pass"] == "true" and "<=4.0x" in c["measured_value"]
    assert b1(table(_power("families", "gd", 1.0, 1.0)))["pass"] == "n/a"
    small = _b1_table({"construction": [1.0, 1.0]}, points=((8, 8), (16, 32)))
    assert b1(small)["pass"] == "false"


# --------------------------------------------------------------------------- C7


def _usab(rows):
    base = {"family": "spherical", "d": 16, "n_facts": 32, "seed": 0, "status": "ok", "schedule": "insert_then_train",
            "storage_accuracy": 1.0, "params": 10, "capacity_params": 10}
    return pd.DataFrame([{**base, **r} for r in rows])


def _spearman(x, y):
    try:
        from scipy.stats import spearmanr
    except ImportError:  # by hand: Pearson of average ranks
        return float(pd.Series(x).rank().corr(pd.Series(y).rank()))
    return float(spearmanr(x, y).statistic)


def test_c7_within_the_construction_family():
    lip = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    use = [1.0, 0.97, 0.99, 0.8, 0.7, 0.5]  # Spearman -0.943 (one swapped pair)
    margin = [0.9, 0.8, 0.85, 0.3, 0.2, 0.1]
    cons = [{"method": m, "size": i, "usability": u, "lipschitz_jacobian": lj, "lipschitz_bound": 2 * lj,
             "min_margin": mg}
            for i, (m, u, lj, mg) in enumerate(zip(["construction", "construction_whitened"] * 3, use, lip, margin))]
    # rows not in the decision: GD (positive trend), partial storage, the other schedule, a failed job
    other = [{"method": "gd", "size": i, "usability": 0.1 * i, "lipschitz_jacobian": float(i), "lipschitz_bound": 9.0,
              "min_margin": 0.1} for i in range(1, 7)]
    other += [{"method": "construction", "size": 50, "usability": 1.0, "lipschitz_jacobian": 100.0,
               "lipschitz_bound": 1.0, "min_margin": 0.1, "storage_accuracy": 0.9},
              {"method": "construction", "size": 51, "usability": 1.0, "lipschitz_jacobian": 100.0,
               "lipschitz_bound": 1.0, "min_margin": 0.1, "schedule": "pretrain_then_insert"},
              {"method": "construction", "size": 52, "usability": 1.0, "lipschitz_jacobian": 100.0,
               "lipschitz_bound": 1.0, "min_margin": 0.1, "status": "diverged"}]
    out = usability_claims(_usab(cons + other), usable_at=0.99, scale="test").set_index("claim")
    c = out.loc["C7"]
    rj = _spearman(use, lip)
    assert rj == pytest.approx(-0.9428571, abs=1e-6)
    assert c["pass"] == "true", c
    assert f"n=6 MLPs storing all facts, insert_then_train) {rj:.2f}" in c["measured_value"]
    assert f"min_margin) {_spearman(use, margin):.2f}" in c["measured_value"]
    pooled = _spearman(use + [0.1 * i for i in range(1, 7)], lip + [float(i) for i in range(1, 7)])
    assert f"pooled over all methods (n=12): Jacobian {pooled:.2f}" in c["measured_value"]
    # weaker trend: Spearman -0.43 > -0.7 fails
    weak = [1.0, 0.5, 0.9, 0.95, 0.97, 0.3]
    assert _spearman(weak, lip) > -0.7
    cons_weak = [{**r, "usability": u} for r, u in zip(cons, weak)]
    assert usability_claims(_usab(cons_weak + other), usable_at=0.99, scale="test").set_index("claim").loc[
        "C7", "pass"] == "false"
    # no construction in the usability sweeps: n/a; no table at all: n/a
    assert usability_claims(_usab(other[:6]), usable_at=0.99, scale="test").set_index("claim").loc[
        "C7", "pass"] == "n/a"
    assert list(usability_claims(None, usable_at=0.99, scale="test")["pass"]) == ["n/a", "n/a"]


# --------------------------------------------------------------------------- the full table


def test_capacity_claims_without_max_probed_params_column_still_decide():
    cap = _c2_table([5, 8, 30], [6, (">=", 30), 20]).drop(columns=["max_probed_params"])
    c = claims(cap).loc["C2"]
    assert c["pass"] == "true" and "over 5 points (0 lower bounds" in c["measured_value"]


def test_c2_fixed_d_may_hold_several_d_each_up_to_half_d_squared():
    cap = _c2_table([5, 8, 30], [6, 10, 20])
    more = [r for n, ratio in ((64, 7), (128, (">=", 40))) for r in
            (row("fixed-d", "construction", "spherical", 16, n, 100), _ntk("fixed-d", 16, n, ratio))]
    c = claims(pd.concat([cap, table(more)], ignore_index=True)).loc["C2"]
    assert c["pass"] == "true", c
    short = [r for r in more if r["n_facts"] == 64]  # d=16 stops at 64 < 128
    c = claims(pd.concat([cap, table(short)], ignore_index=True)).loc["C2"]
    assert c["pass"] == "false" and "at d=16, short of d^2/2 = 128" in c["evidence"]


def test_rho_law_claims_are_decided_on_the_jl_construction_when_present():
    """C3 and C4 are decided on construction_jl (the JL regime) when the sweep has it; the
    orthogonal construction is then reported beside, not deciding."""
    law = lambda f, s: math.exp(5.0 + 0.6 * math.log(1 / _rho(f, s) ** 2))  # noqa: E731
    cap, rho = _c3_tables(law, law, _rho)
    jl = cap[cap["method"] == "construction"].assign(method="construction_jl", param_count=7.0)  # flat: R^2 nan
    c = claims(pd.concat([cap, jl], ignore_index=True), rho, FAMS).loc["C3"]
    assert c["pass"] == "false" and "construction_jl R^2 nan" in c["measured_value"]
    assert "construction [not deciding] R^2 1.000 (n=7)" in c["measured_value"]
    c = claims(cap, rho, FAMS).loc["C3"]  # without construction_jl: decided on construction
    assert c["pass"] == "true"
    cap = _c4_table({"a": 1.0, "b": 4.0})
    twins = cap.assign(method=cap["method"].str.replace("construction", "construction_jl"),
                       param_count=cap["param_count"] * [1, 1, 0.5, 1, 0.5, 1])
    c = claims(pd.concat([cap, twins], ignore_index=True), families=C4_FAMS).loc["C4"]
    assert c["pass"] == "false" and "decided on construction_jl/construction_jl_whitened" in c["measured_value"]
    assert "construction/construction_whitened in sweep 'families' [not deciding]: a 1.00x, b 4.00x" \
        in c["measured_value"]
    assert claims(cap, families=C4_FAMS).loc["C4"]["pass"] == "true"
