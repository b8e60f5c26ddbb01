"""Usability experiment: size grids, the second map, the whole protocol with exact MLPs, the adapter's table, summaries
(claims C6-C7: tests/test_claims.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
import torch

from factmlp.facts import FactSet
from factmlp.methods import Method
from factmlp.transformer import AttentionSettings, RecallTask
from factmlp.usability import (
    UsabilitySettings,
    measure_usability,
    min_usable,
    second_fact_set,
    span_sizes,
    usability_sizes,
)
from test_transformer import exact_linear_mlp, tiny_facts

pytestmark = pytest.mark.usefixtures("single_thread")


@dataclass(frozen=True)
class _NoSettings:
    pass


class ExactLinear(Method):
    """Test double: the exact linear memory M k_i = v_f(i) (|K| <= d), whatever the size."""

    name = "exact_linear"
    Settings = _NoSettings

    def build(self, facts, width, *, seed):
        return exact_linear_mlp(facts), {}


def test_usability_sizes_round_cap_and_deduplicate():
    m = "multipliers"
    assert usability_sizes(10, [1.0, 0.5, 2.0]) == [(0.5, 5, m), (1.0, 10, m), (2.0, 20, m)]
    assert usability_sizes(3, [0.1, 0.2, 1.0]) == [(0.1, 1, m), (1.0, 3, m)]  # 0.2*3 rounds to 1 again: dropped
    assert usability_sizes(18, [0.5, 1.0, 2.0, 4.0], max_size=32) == [(0.5, 9, m), (1.0, 18, m), (2.0, 32, m)]


def test_span_sizes_hand_computed():
    # 20 * 1.6^(k/5) = 20, 21.97, 24.14, 26.52, 29.13, 32
    assert span_sizes(20, 32, 6) == [20, 22, 24, 27, 29, 32]
    # 1 * 8^(k/5) = 1, 1.52, 2.30, 3.48, 5.28, 8 rounds to 1, 2, 2, 3, 5, 8: raised to stay distinct
    assert span_sizes(1, 8, 6) == [1, 2, 3, 4, 5, 8]
    assert span_sizes(28, 32, 6) == [28, 29, 30, 31, 32]  # fewer integers than points: all of them
    assert span_sizes(27, 32, 6) == [27, 28, 29, 30, 31, 32]
    assert span_sizes(20, 32, 2) == [20, 32]
    assert span_sizes(32, 32, 6) == [32] and span_sizes(40, 32, 6) == [40]  # minimum at (or past) the cap
    assert span_sizes(20, 32, 0) == []


@pytest.mark.parametrize("lo,hi,n", [(1, 1000, 12), (2, 9, 7), (5, 6, 4), (20, 256, 6), (31, 64, 30)])
def test_span_sizes_are_distinct_increasing_and_keep_both_ends(lo, hi, n):
    sizes = span_sizes(lo, hi, n)
    assert sizes[0] == lo and sizes[-1] == hi
    assert sizes == sorted(set(sizes))
    assert len(sizes) == min(n, hi - lo + 1)


@pytest.mark.parametrize("n", [1, -1, 2.5, True])
def test_span_points_rejects_a_one_point_or_non_integer_span(n):
    with pytest.raises(ValueError, match="span_points must be 0"):
        span_sizes(20, 32, n)
    with pytest.raises(ValueError, match="span_points must be 0"):
        UsabilitySettings(span_points=n)


def test_usability_sizes_add_the_span_beside_the_multipliers():
    # capped (orthogonal construction, m' <= d = 32), storage minimum 20: multipliers 10, 20, 32 (cap), 32;
    # the span 20, 22, 24, 27, 29, 32 shares 20 and 32 with them, each size built once
    sizes = usability_sizes(20, [0.5, 1.0, 2.0, 4.0], max_size=32, span_points=6)
    assert [s for _, s, _ in sizes] == [10, 20, 22, 24, 27, 29, 32]
    assert [g for _, _, g in sizes] == ["multipliers", "both", "span", "span", "span", "span", "both"]
    assert [m for m, _, _ in sizes] == [0.5, 1.0, 1.1, 1.2, 1.35, 1.45, 2.0]
    # no cap: the span ends at the largest multiplier's size (40)
    sizes = usability_sizes(10, [0.5, 1.0, 4.0], span_points=3)
    assert [(s, g) for _, s, g in sizes] == [(5, "multipliers"), (10, "both"), (20, "span"), (40, "both")]
    assert usability_sizes(10, [1.0], max_size=32, span_points=0) == [(1.0, 10, "multipliers")]
    # the span never leaves [storage minimum, cap]: multipliers all below 1, a minimum at the cap
    assert [s for _, s, _ in usability_sizes(10, [0.5], span_points=4)] == [5, 10]
    assert [s for _, s, _ in usability_sizes(32, [0.5, 1.0, 2.0], max_size=32, span_points=6)] == [16, 32]


def test_second_fact_set_is_a_new_permutation_of_the_same_embeddings():
    facts = tiny_facts(n=16)
    f2 = second_fact_set(facts, seed=0)
    assert torch.equal(f2.keys, facts.keys) and torch.equal(f2.values, facts.values)
    assert torch.equal(torch.sort(f2.mapping).values, torch.arange(16))
    assert not torch.equal(f2.mapping, facts.mapping)
    assert torch.equal(second_fact_set(facts, seed=0).mapping, f2.mapping)
    assert not torch.equal(second_fact_set(facts, seed=1).mapping, f2.mapping)


def test_exact_mlps_are_fully_usable_under_both_schedules():
    facts = tiny_facts()
    task = RecallTask(n_junk=2, gap_min=2, gap_max=4)
    train = AttentionSettings(steps=600, batch_size=64, lr=2e-2, eval_every=50, early_stop=1.0, eval_repeats=2)
    rows = measure_usability(facts, ExactLinear(), 4, seed=0, task=task, train=train,
                             settings=UsabilitySettings(size_multipliers=(1.0,), power_iters=100))
    assert [r["schedule"] for r in rows] == ["insert_then_train", "pretrain_then_insert"]
    f2 = second_fact_set(facts, seed=0)
    sigma = float(torch.linalg.svdvals(f2.targets.T @ torch.linalg.pinv(f2.keys.T))[0])
    for r in rows:
        assert r["storage_accuracy"] == 1.0 and r["storage_accuracy_mlp1"] == 1.0
        assert r["fit_recall"] == 1.0 and r["usability"] == 1.0, r
        assert r["lipschitz_jacobian"] * r["output_gain"] == pytest.approx(sigma, rel=1e-6)
        assert r["lipschitz_bound"] >= r["lipschitz_jacobian"] * (1 - 1e-9)
        assert r["params"] == 3 * 16 * 16 + 2 * 16 + 16


# The adapter scripts/measure_usability.py, run as Snakemake runs it (its own process: it points
# stderr at its log) with a stand-in for the `snakemake` object.
_RUN_SCRIPT = """
import runpy, sys
from types import SimpleNamespace as NS
a = eval(sys.argv[1])
snakemake = NS(log=[a["log"]], threads=1, resources={}, input=NS(**a["input"]), output=NS(table=a["table"]),
               wildcards=NS(method=a["method"], family=a["family"]), params=NS(**a["params"]))
runpy.run_path(a["script"], init_globals={"snakemake": snakemake}, run_name="__main__")
"""


def test_measure_usability_script_writes_the_chosen_whitening_on_every_row(tmp_path):
    """Claim C7 forms (method, whitening) series: each row carries the ``variant`` label its capacity
    search chose (here a whitening strength on anisotropic values) and the grid its size came from."""
    import subprocess
    import sys

    from conftest import ROOT
    from factmlp.capacity import capacity_tables
    from factmlp.facts import draw_fact_set

    family = {"kind": "spike", "beta": 16.0, "normalize": False, "keys": "spherical"}
    facts = draw_fact_set(family, 32, 32, 16, tied=False, mapping="permutation", seed=0)
    facts.save(tmp_path / "facts.pt")
    settings = {"whiten_ridges": ["off", 0.1, 1.0]}
    summary, _ = capacity_tables(facts, {"construction_whitened": settings}, family="spike16u-v", seed=0,
                                 width_min=1, width_max=4096, rel_tol=0.05)
    pd.DataFrame(summary).to_csv(tmp_path / "capacity.tsv", sep="\t", index=False)
    chosen = summary[0]["variant"]
    assert chosen.startswith("whiten=") and summary[0]["found"]
    usability = {"task": {"n_junk": 2, "gap_min": 2, "gap_max": 4}, "size_multipliers": [1.0, 4.0],
                 "span_points": 3, "schedules": ["insert_then_train"], "norm_tolerance": 0.2, "power_iters": 5,
                 "train": {"steps": 10, "batch_size": 16, "eval_every": 10, "eval_repeats": 1}}
    args = {"script": str(ROOT / "scripts" / "measure_usability.py"), "log": str(tmp_path / "job.log"),
            "table": str(tmp_path / "usability.tsv"), "method": "construction_whitened", "family": "spike16u-v",
            "input": {"facts": str(tmp_path / "facts.pt"), "capacity": str(tmp_path / "capacity.tsv")},
            "params": {"usability": usability, "settings": settings, "seed": 0}}
    proc = subprocess.run([sys.executable, "-c", _RUN_SCRIPT, repr(args)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "job.log").read_text()
    table = pd.read_csv(tmp_path / "usability.tsv", sep="\t")
    assert list(table.columns[:2]) == ["method", "variant"]
    assert set(table["variant"]) == {chosen}
    # storage minimum m', the cap d = 16 (4x), the span's three points between them
    m = int(summary[0]["min_width"])
    assert list(table["size"]) == sorted({m, 16, *span_sizes(m, 16, 3)})
    assert table.set_index("size").loc[[m, 16], "grid"].tolist() == ["both", "both"]


def test_unequal_key_norms_fail_before_any_training():
    facts = tiny_facts()
    keys = facts.keys.clone()
    keys[0] *= 3
    bad = FactSet(keys, keys, facts.mapping)
    with pytest.raises(ValueError, match="norm_tolerance"):
        measure_usability(bad, ExactLinear(), 4, seed=0)


def _table(rows):
    base = {"family": "spherical", "d": 16, "n_facts": 32, "seed": 0, "status": "ok", "schedule": "insert_then_train",
            "storage_accuracy": 1.0, "lipschitz_bound": 1.0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_min_usable_takes_the_smallest_usable_size():
    t = _table([
        {"method": "gd", "size": 4, "params": 400, "capacity_params": 400, "usability": 0.6},
        {"method": "gd", "size": 8, "params": 800, "capacity_params": 400, "usability": 0.995},
        {"method": "gd", "size": 16, "params": 1600, "capacity_params": 400, "usability": 1.0},
        {"method": "ntk", "size": 64, "params": 9000, "capacity_params": 9000, "usability": 0.9},
    ])
    out = min_usable(t, usable_at=0.99).set_index("method")
    assert out.loc["gd", "usable_params"] == 800
    assert pd.isna(out.loc["ntk", "usable_params"])
    assert out.loc["ntk", "best_usability"] == 0.9
