"""benchmarks/diagnosis/paper_slice_claims.py: the C2/C3 paper slice for a lent GPU machine, on a tiny case on the CPU.

Checks that its tables carry the columns factmlp.claims reads, that it prints both verdicts, that a
rerun skips the rows it has, that a GD search cut by the budget resumes from its cached probes with
the same result, that its fact sets are the pipeline's, and that its settings are the configs'.
"""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest
import torch
import yaml

from benchmarks.diagnosis import paper_slice_claims
from conftest import BENCH_ENV, ROOT, bench_cmd

# 7 geometries whose log(1/rho^2) at d = 16, |K| = 32 leave no gap wider than a quarter of the range
GEOMETRIES = ["spike2-v", "spike4-v", "spike2u-v", "spike8-v", "kappa4u-v", "spike16-v", "spike4u-v"]
TINY = ["--d", "16", "--alphas", "1/8", "1/4", "--gd-epochs", "100", "--ntk-width-max", "2048", "--threads", "1",
        "--budget-s", "300", "--geometries", *GEOMETRIES]
CLAIM_COLUMNS = ["method", "family", "d", "n_facts", "seed", "found", "param_count", "max_probed_params", "min_width",
                 "variant", "seconds", "sweep"]


def _run(out, *extra):
    return subprocess.run([*bench_cmd("paper_slice_claims"), "--out", str(out), *TINY, *extra], check=True,
                          cwd=out.parent, capture_output=True, text=True, timeout=600, env=BENCH_ENV).stdout


def test_tiny_slice_writes_claim_tables_prints_verdicts_and_resumes(tmp_path):
    out = tmp_path / "slice"
    first = _run(out, "--gd-workers", "1", "--cpu-workers", "1")  # the pools, as on the GPU machine
    cap = pd.read_csv(out / "capacity.tsv", sep="\t")
    rho = pd.read_csv(out / "rho.tsv", sep="\t")
    assert set(CLAIM_COLUMNS) <= set(cap.columns)
    assert {"family", "d", "n_facts", "seed", "rho"} <= set(rho.columns)
    c2 = cap[cap["sweep"] == "scaling"]  # the sweep config/paper.yaml decides C2 on
    assert sorted(set(zip(c2["method"], c2["n_facts"]))) == [(m, n) for m in ("construction", "ntk") for n in (32, 64)]
    c3 = cap[cap["sweep"] == "geometry"]
    assert sorted(set(c3["family"])) == sorted(GEOMETRIES) and set(c3["n_facts"]) == {32}  # d^2/8
    assert sorted(c3["method"].value_counts().items()) == [("construction", 7), ("construction_jl", 7), ("gd", 7)]
    assert sorted(rho["family"]) == sorted(GEOMETRIES)
    assert '"epochs": 100' in c3[c3["method"] == "gd"]["settings"].iloc[0]  # the GD protocol travels with the row
    assert "C2 pass=" in first and "C3 pass=" in first and "widest gap" in first  # C3's design spread met: a fit

    # a rerun has nothing to do and prints the same verdicts; --compare matches C2's points (here with itself)
    again = _run(out, "--gd-workers", "0", "--cpu-workers", "0", "--compare", str(out / "capacity.tsv"))
    assert "to run: 0 closed-form tasks, 0 GD searches" in again
    assert len(pd.read_csv(out / "capacity.tsv", sep="\t")) == len(cap)
    assert [line for line in again.splitlines() if line.startswith("C")][:2] == \
        [line for line in first.splitlines() if line.startswith("C")]
    table = paper_slice_claims.compare(paper_slice_claims.Tables(out), out / "capacity.tsv", "scaling")
    assert list(table["n_facts"]) == [32, 64] and table["within_25pct"].all() and (table["rel_diff"] == 0).all()

    # a GD search cut by the budget (here: its rows removed) replays its finished probes on the rerun
    cap[cap["method"] != "gd"].to_csv(out / "capacity.tsv", sep="\t", index=False)
    _run(out, "--gd-workers", "0", "--cpu-workers", "0")
    redo = pd.read_csv(out / "capacity.tsv", sep="\t")
    gd_before = cap[cap["method"] == "gd"].set_index("family")
    gd_after = redo[redo["method"] == "gd"].set_index("family").loc[gd_before.index]
    assert (gd_after["cached_probes"] == gd_after["n_probes"]).all()
    assert (gd_after["min_width"] == gd_before["min_width"]).all()
    assert (gd_after["param_count"] == gd_before["param_count"]).all()


def test_out_of_budget_tasks_are_skipped_not_run(tmp_path):
    out = tmp_path / "slice"
    text = _run(out, "--gd-workers", "0", "--cpu-workers", "0", "--min-start-s", "1000")
    assert "0 tasks done" in text and "skipped" in text
    assert not (out / "capacity.tsv").exists()


def test_fact_sets_are_the_pipelines():
    """The slice draws (family, d, n, seed) as scripts/measure_fact_set.py does, the spherical set as the other
    paper slices do (benchmarks.common.pipeline_fact_set), and names families as config/*.yaml does."""
    from benchmarks.common import pipeline_fact_set
    from factmlp.facts import draw_fact_set

    m = paper_slice_claims
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    for name, spec in config["embeddings"]["families"].items():
        if spec.get("keys") == "spherical":
            assert m.family_spec(name) == {k: (float(v) if k in ("beta", "kappa") else v) for k, v in spec.items()}
    a = m.draw("spike4u-v", m.family_spec("spike4u-v"), 16, 32, 3)
    b = draw_fact_set({"kind": "spike", "beta": 4.0, "normalize": False, "keys": "spherical"}, 32, 32, 16, tied=False,
                      mapping="permutation", seed=3)
    assert all(torch.equal(x, y) for x, y in ((a.keys, b.keys), (a.values, b.values), (a.mapping, b.mapping)))
    c, e = m.draw("spherical", m.family_spec("spherical"), 16, 32, 1), pipeline_fact_set(16, 32, seed=1)
    assert all(torch.equal(x, y) for x, y in ((c.keys, e.keys), (c.values, e.values), (c.mapping, e.mapping)))
    with pytest.raises(ValueError, match="kind\\[param\\]"):
        m.family_spec("spike-v")


def test_settings_are_the_configs():
    from factmlp.config import validate_config

    m = paper_slice_claims
    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    for scale in ("paper", "medium"):
        config = validate_config(yaml.safe_load((ROOT / "config" / f"{scale}.yaml").read_text()), schema)
        for method, settings in m.SCALES[scale].items():
            assert config["methods"][method] == settings, (scale, method)
        assert {k: config["capacity"][k] for k in m.SEARCH} == m.SEARCH
        assert {k: config["facts"][k] for k in m.FACTS} == m.FACTS
        assert {k: config["decodability"][k] for k in m.DECODABILITY} == m.DECODABILITY
        assert {c: config["claims"]["designs"][c]["sweep"] for c in ("C2", "C3")} == m.DESIGN_SWEEPS[scale]
