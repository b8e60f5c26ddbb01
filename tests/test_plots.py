"""Figures draw what the tables hold: lower bounds of failed searches, the C7 panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factmlp.plots.capacity import GD_BITS_PER_PARAM, bits_figure, capacity_figure
from factmlp.plots.usability import usability_figure


def _cap_rows():
    rows = []
    for n, (found, params, top) in {16: (True, 100, 120), 32: (True, 210, 250), 64: (False, None, 9000)}.items():
        rows.append({"sweep": "fixed-d", "method": "ntk", "family": "spherical", "d": 16, "n_facts": n, "seed": 0,
                     "found": found, "param_count": params, "max_probed_params": top})
        rows.append({"sweep": "fixed-d", "method": "construction", "family": "spherical", "d": 16, "n_facts": n,
                     "seed": 0, "found": True, "param_count": 10 * n, "max_probed_params": 12 * n})
    return pd.DataFrame(rows)


def test_capacity_figure_draws_a_failed_search_as_a_lower_bound_at_its_largest_probe():
    fig = capacity_figure(_cap_rows(), sweep="fixed-d")
    ax = fig.axes[0]
    points = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    # the only scatter at |K| = 64 for NTK is the lower bound at its largest probed size
    assert any(np.allclose(p, [[64, 9000]]) for p in points)
    assert any("lower bound" in t.get_text() for t in ax.get_legend().get_texts())


def test_capacity_figure_without_the_bound_column_still_draws():
    fig = capacity_figure(_cap_rows().drop(columns="max_probed_params"), sweep="fixed-d")
    assert not any("lower bound" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_usability_figure_reports_spearman_within_constructions_and_pooled():
    rows = []
    for i, (m, lip, use, margin) in enumerate([("construction", 1, 1.0, 0.3), ("construction", 10, 0.9, 0.2),
                                               ("construction_whitened", 100, 0.5, 0.1), ("gd", 5, 0.2, 0.05)]):
        rows.append({"status": "ok", "schedule": "insert_then_train", "method": m, "family": "f", "d": 8,
                     "n_facts": 8, "seed": 0, "size": i + 1, "size_name": "code_dim", "storage_accuracy": 1.0,
                     "usability": use, "lipschitz_jacobian": lip, "min_margin": margin, "figure": "tradeoff",
                     "params": 10 * (i + 1), "capacity_params": 10})
    fig = usability_figure(pd.DataFrame(rows), usable_at=0.99)
    titles = [ax.get_title() for ax in fig.axes]
    # within the construction family usability falls strictly with Lipschitz (-1) and rises with margin (+1)
    assert "constr. -1.00" in titles[2] and "constr. 1.00" in titles[3]
    assert "all -0.40" in titles[2]  # pooled: ranks (1,3,4,2) vs (4,3,2,1)


def test_rho_law_figure_keeps_a_censored_geometry_as_a_lower_bound_outside_the_fit():
    from factmlp.plots.capacity import rho_law_figure

    rho = {"a": 0.6, "b": 0.4, "c": 0.3, "e": 0.1}
    cap = pd.DataFrame([{"sweep": "geometry", "method": "construction_jl", "family": f, "d": 8, "n_facts": 8,
                         "seed": s, "found": not (f == "e" and s == 0), "param_count": 100.0 / r**2,
                         "max_probed_params": 5000.0} for f, r in rho.items() for s in (0, 1, 2)])
    rhos = pd.DataFrame([{"family": f, "d": 8, "n_facts": 8, "seed": s, "rho": r} for f, r in rho.items()
                         for s in (0, 1, 2)])
    ax = rho_law_figure(cap, rhos, sweep="geometry").axes[0]
    offsets = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    # family e: seeds store 10,000 params (twice) and nothing up to 5,000 once: median lower bound 10,000
    assert any(np.allclose(p, [[0.1, 10000.0]]) for p in offsets)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "construction_jl (R$^2$ 1.00)" in labels  # the fit uses the three exact geometries only


def test_editing_figure_draws_every_base_and_editor_with_distinct_styles():
    """Five bases (more than the four line styles) each get a line per editor, the points at
    their edit counts, and no two bases the same (line style, marker)."""
    from factmlp.plots.editing import editing_figure

    rows = []
    for b, n in enumerate([256, 256, 256, 512, 4096]):
        for frac in (0.1, 0.5):
            for editor in ("mlp_swap", "memit"):
                rows.append({"method": f"base{b}", "editor": editor, "n_edits": int(frac * n), "score_gm": 0.9,
                             "score_hm": 0.9, "efficacy": 1.0, "paraphrase": 0.9, "specificity": 0.9,
                             "nonfact_ppl_ratio": 1.0})
    fig = editing_figure(pd.DataFrame(rows))
    lines = fig.axes[0].get_lines()
    assert len(lines) == 5 * 2
    assert sorted(int(x) for line in lines for x in line.get_xdata()) == sorted(r["n_edits"] for r in rows)
    styles = {line.get_label().split("(")[1]: (line.get_linestyle(), line.get_marker()) for line in lines}
    assert len(set(styles.values())) == 5
    assert fig.axes[-1].get_legend() is not None


def test_editing_figure_draws_the_mean_over_seeds_and_their_range():
    """Three seeds per base: one line per (base, editor) at the seeds' mean, a band from their
    minimum to their maximum; one seed draws no band."""
    from factmlp.plots.editing import editing_figure

    scores = {0: (0.90, 0.70), 1: (0.96, 0.40), 2: (0.93, 0.55)}  # seed -> (swap, memit) at both fractions
    rows = [{"method": "b", "seed": s, "editor": e, "n_edits": n, "score_gm": v, "score_hm": v, "efficacy": 1.0,
             "paraphrase": 1.0, "specificity": 1.0, "nonfact_ppl_ratio": 1.0}
            for s, pair in scores.items() for e, v in zip(("mlp_swap", "memit"), pair) for n in (26, 128)]
    ax = editing_figure(pd.DataFrame(rows)).axes[0]
    means = {line.get_label().split(" ")[0]: np.asarray(line.get_ydata()) for line in ax.get_lines()}
    assert means.keys() == {"mlp_swap", "memit"}
    np.testing.assert_allclose(means["mlp_swap"], [0.93, 0.93])
    np.testing.assert_allclose(means["memit"], [0.55, 0.55])
    bands = [c.get_paths()[0].vertices[:, 1] for c in ax.collections]
    assert sorted((round(b.min(), 6), round(b.max(), 6)) for b in bands) == [(0.4, 0.7), (0.9, 0.96)]
    one = editing_figure(pd.DataFrame([r for r in rows if r["seed"] == 0])).axes[0]
    assert not one.collections and "seeds" not in one.get_lines()[0].get_label()


# ---- claim figures (factmlp.plots.claims): C3's rho-law fit and C2's ratio grid


def _rho_fit_tables(methods=("gd", "construction_jl", "construction")):
    """Four untied spherical-key geometries obeying params = c / rho^2 exactly at (d, |K|) = (8, 16),
    3 seeds each with its own rho, one tied family (not a C3 geometry) and another point beside;
    construction_jl stores nothing at geometry ``w`` for seed 2 (a lower bound)."""
    rho = {"u": 0.8, "v": 0.5, "w": 0.3, "x": 0.15, "tied": 0.4}
    cap, rhos = [], []
    for fam, r0 in rho.items():
        for seed in (0, 1, 2):
            r = r0 * (1 + 0.05 * seed)
            rhos.append({"family": fam, "d": 8, "n_facts": 16, "seed": seed, "rho": r})
            for i, m in enumerate(methods):
                found = not (m == "construction_jl" and fam == "w" and seed == 2)
                for n in (16, 32):
                    cap.append({"sweep": "geometry", "method": m, "family": fam, "d": 8, "n_facts": n, "seed": seed,
                                "found": found, "param_count": (10 + i) / r**2 if found else np.nan,
                                "max_probed_params": 50.0})
    families = {f: {"kind": "spherical", "keys": "spherical"} for f in "uvwx"} | {"tied": {"kind": "spherical"}}
    return pd.DataFrame(cap), pd.DataFrame(rhos), families


def test_rho_fit_figure_labels_every_geometry_and_fits_each_seed(tmp_path):
    from factmlp.plots.claims import rho_fit_figure
    from factmlp.plots.common import save_figure

    cap, rho, families = _rho_fit_tables()
    fig = rho_fit_figure(cap, rho, families, sweep="geometry", d=8, n_facts=16)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["gd (decides C3)", "construction_jl (decides C3)",
                                              "construction (beside, not deciding)"]
    for ax in axes:
        # every untied geometry labelled once, the tied family (not a C3 geometry) not at all
        assert sorted(t.get_text() for t in ax.texts) == ["u", "v", "w", "x"]
        # the law holds exactly per seed: R^2 1 for every seed's least-squares line
        assert "median R$^2$ 1.000 over 3 seed(s)" in ax.get_legend().get_title().get_text()
        assert len(ax.get_lines()) == 3
    jl = axes[1]
    labels = [t.get_text() for t in jl.get_legend().get_texts()]
    assert "seed 2: 3 geometries, slope 1.00, R$^2$ 1.000" in labels  # w's censored seed is left out of the fit
    lower = [c.get_offsets() for c in jl.collections if len(c.get_offsets()) and np.allclose(c.get_offsets()[:, 1], 50)]
    assert len(lower) == 1 and np.allclose(lower[0], [[np.log(1 / (0.3 * 1.1) ** 2), 50.0]])
    save_figure(fig, tmp_path / "rho_fit.pdf", tmp_path / "rho_fit.png")
    assert (tmp_path / "rho_fit.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "rho_fit.png").read_bytes().startswith(b"\x89PNG")


def test_rho_fit_figure_falls_back_to_the_orthogonal_construction_and_says_when_absent():
    from factmlp.plots.claims import rho_fit_figure

    cap, rho, families = _rho_fit_tables(methods=("gd", "construction"))
    fig = rho_fit_figure(cap, rho, families, sweep="geometry", d=8, n_facts=16)
    assert [ax.get_title() for ax in fig.axes] == ["gd (decides C3)", "construction (decides C3)"]
    note = rho_fit_figure(cap, rho, families, sweep="other", d=8, n_facts=16)
    assert [t.get_text() for t in note.axes[0].texts] == ["sweep 'other' not in this config"]
    note = rho_fit_figure(cap, rho, families, sweep="geometry", d=8, n_facts=64)
    assert "no family with untied spherical keys at d=8, |K|=64" in note.axes[0].texts[0].get_text()


def _c2_table():
    """NTK / construction = 4, 8, 16 (x seed factor 1, 1.5, 2) at alpha 1/16, 1/8, 1/4 for d = 8 and 16;
    at d = 16, alpha 1/4 NTK stores nothing at seed 0 (probed up to 40x the construction)."""
    rows = []
    for d in (8, 16):
        for k, alpha in enumerate((1 / 16, 1 / 8, 1 / 4)):
            n = int(alpha * d * d)
            for seed, f in enumerate((1.0, 1.5, 2.0)):
                censored = d == 16 and k == 2 and seed == 0
                rows.append({"sweep": "fixed-d", "method": "construction", "family": "spherical", "d": d,
                             "n_facts": n, "seed": seed, "found": True, "param_count": 100.0,
                             "max_probed_params": 200.0})
                rows.append({"sweep": "fixed-d", "method": "ntk", "family": "spherical", "d": d, "n_facts": n,
                             "seed": seed, "found": not censored, "param_count": np.nan if censored else
                             100.0 * 4 * 2**k * f, "max_probed_params": 4000.0})
    return pd.DataFrame(rows)


def test_c2_ratio_figure_draws_one_line_per_d_with_seed_ranges_and_lower_bounds(tmp_path):
    from factmlp.plots.claims import c2_ratio_figure
    from factmlp.plots.common import save_figure

    fig = c2_ratio_figure(_c2_table(), sweep="fixed-d")
    ax = fig.axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}  # one errorbar (data line + bars) per d
    assert sorted(lines) == ["d = 16", "d = 8"]
    assert np.allclose(lines["d = 8"].get_xdata(), [1 / 16, 1 / 8, 1 / 4])
    assert np.allclose(lines["d = 8"].get_ydata(), [6, 12, 24])  # median over seeds of 4, 6, 8 (x 2^k)
    # d = 16 at alpha 1/4: seeds give >= 40 (lower bound), 24 and 32: median 32, a lower bound
    assert np.allclose(lines["d = 16"].get_ydata(), [6, 12, 32])
    open_up = [c for c in ax.collections if c.get_paths() and len(c.get_offsets())
               and np.allclose(c.get_offsets(), [[0.25, 32.0]])]
    assert len(open_up) == 1 and open_up[0].get_facecolors().size == 0
    assert {5.0, 20.0} <= {line.get_ydata()[0] for line in ax.get_lines() if len(set(line.get_ydata())) == 1}
    save_figure(fig, tmp_path / "c2_ratios.pdf", tmp_path / "c2_ratios.png")
    assert (tmp_path / "c2_ratios.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "c2_ratios.png").read_bytes().startswith(b"\x89PNG")


def test_c2_ratio_figure_says_when_its_sweep_is_not_in_the_config():
    from factmlp.plots.claims import c2_ratio_figure

    fig = c2_ratio_figure(_c2_table(), sweep="scaling")
    assert [t.get_text() for t in fig.axes[0].texts] == ["sweep 'scaling' not in this config"]


def _bits_rows():
    """Scaling-sweep rows with hand-set bits per parameter: GD at 1.0/3.0 over two seeds (median 2.0),
    a construction at 0.1, and one failed construction seed whose value must not enter the median."""
    rows = []
    for d in (8, 16):
        for seed, gd_bits in ((0, 1.0), (1, 3.0)):
            rows.append({"sweep": "scaling", "method": "gd", "family": "spherical", "d": d, "n_facts": 2 * d,
                         "seed": seed, "found": True, "bits_per_param": gd_bits * d / 8})
        rows.append({"sweep": "scaling", "method": "construction", "family": "spherical", "d": d,
                     "n_facts": 2 * d, "seed": 0, "found": True, "bits_per_param": 0.1})
        rows.append({"sweep": "scaling", "method": "construction", "family": "spherical", "d": d,
                     "n_facts": 2 * d, "seed": 1, "found": False, "bits_per_param": 50.0})
    return pd.DataFrame(rows)


def test_bits_figure_draws_the_median_over_storing_seeds_and_the_two_bit_line():
    ax = bits_figure(_bits_rows(), sweep="scaling").axes[0]
    series = {tuple(np.round(line.get_ydata(), 6)) for line in ax.get_lines() if len(line.get_xdata()) == 2}
    assert (2.0, 4.0) in series  # GD: median of 1 and 3 at d = 8, of 2 and 6 at d = 16
    assert (0.1, 0.1) in series  # construction: the failed seed's 50 is left out
    assert not any(50.0 in s for s in series)
    assert any(np.allclose(line.get_ydata(), GD_BITS_PER_PARAM) and len(line.get_ydata()) == 2
               and line.get_linestyle() == "--" for line in ax.get_lines())


def test_bits_figure_names_the_missing_column_and_an_empty_sweep():
    with pytest.raises(ValueError, match="bits_per_param"):
        bits_figure(_bits_rows().drop(columns="bits_per_param"), sweep="scaling")
    with pytest.raises(ValueError, match="'joint'"):
        bits_figure(_bits_rows(), sweep="joint")


def test_quantized_figure_draws_storing_seeds_on_top_and_facts_kept_below():
    from factmlp.plots.quantized import quantized_figure

    rows = []
    for seed, (bpb, kept) in enumerate([(0.1, 16), (0.3, 12)]):
        rows.append({"method": "gd", "d": 16, "n_facts": 16, "seed": seed, "format": "int4", "found": True,
                     "bits_per_weight_bit": bpb, "at_float_min_n_correct": kept})
        rows.append({"method": "construction", "d": 16, "n_facts": 16, "seed": seed, "format": "int4",
                     "found": False, "bits_per_weight_bit": None, "at_float_min_n_correct": 4})
    fig = quantized_figure(pd.DataFrame(rows))
    top, bottom = fig.axes[0], fig.axes[1]
    tops = [np.round(c.get_offsets(), 6).tolist() for c in top.collections if len(c.get_offsets())]
    tops += [np.round(np.c_[line.get_xdata(), line.get_ydata()], 6).tolist() for line in top.get_lines()
             if len(line.get_xdata())]
    assert [[16.0, 0.2]] in tops  # GD: median of 0.1 and 0.3; the construction stored in no seed: no point
    assert not any(abs(p[1] - 0.25) < 1e-9 for t in tops for p in t)  # 0.25 would be 4/16, a kept fraction
    kept = {tuple(np.round(line.get_ydata(), 6)) for line in bottom.get_lines() if len(line.get_xdata())}
    assert (0.875,) in kept and (0.25,) in kept  # means of 16/16, 12/16 and of 4/16, 4/16
    with pytest.raises(ValueError, match="at_float_min_n_correct"):
        quantized_figure(pd.DataFrame(rows).drop(columns="at_float_min_n_correct"))
