"""Figures draw what the tables hold: lower bounds of failed searches, the C7 panels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factmlp.plots.capacity import capacity_figure
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
