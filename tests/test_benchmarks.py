"""The benchmark scripts run end to end on tiny arguments and write a well-formed table.

Their timings are not asserted (performance is measured by the scripts, see benchmarks/RESULTS.md);
these tests only keep the scripts from rotting, and check the logic of the GD time budget.
"""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pandas as pd

from conftest import BENCH_ENV, ROOT, bench_cmd


def test_bench_construction_tiny(tmp_path):
    out = tmp_path / "construction.tsv"
    cmd = [*bench_cmd("construction"), "--threads", "1",
           "--n-keys", "600", "--n-values", "64", "--d", "16", "--code-dim", "16",
           "--budget-factor", "10", "--big-gd-width", "8", "--gd-n", "48", "--gd-d", "8", "--gd-epochs", "200",
           "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    table = pd.read_csv(out, sep="\t").set_index("case")
    assert list(table.index) == ["build", "build_vs_gd", "vs_gd"]
    build, big, small = table.loc["build"], table.loc["build_vs_gd"], table.loc["vs_gd"]
    assert build["accuracy_sample"] == 1.0 and small["accuracy_sample"] == 1.0
    assert build["total_s"] == big["total_s"]  # GD ran on the build's own fact set and budget
    # width 8 cannot store 600 facts: GD stops at the budget (10x the construction) or the epoch cap
    assert not big["gd_reached_100"] and big["speedup_is_lower_bound"]
    assert big["gd_accuracy"] < 1.0
    assert big["gd_s"] >= big["gd_budget_s"] or big["gd_epochs"] == 200  # budget or epoch cap
    # the ratio column is the ratio of the two measured times
    assert abs(big["speedup"] - big["gd_s"] / big["total_s"]) <= 0.01 * big["speedup"]
    assert abs(small["speedup_vs_search"] - small["gd_search_s"] / small["construction_s"]) <= (
        0.1 * small["speedup_vs_search"] + 1.0)


def test_bench_codebook_tiny(tmp_path):
    out = tmp_path / "codebook.tsv"
    cmd = [*bench_cmd("codebook"), "--threads", "1",
           "--n-keys", "400", "--n-values", "64", "--d", "16", "--n", "32", "--same-d", "16", "--gd-epochs", "300",
           "--dense-check", "--device", "cpu", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    table = pd.read_csv(out, sep="\t")
    build = table[table["case"] == "build"].iloc[0]
    # every key checked (the script raises if the parallel-gate and dense checks disagree)
    assert build["found"] and build["accuracy"] == 1.0 and build["n_checked"] == 400 and build["codebook_margin"] > 0
    assert build["min_margin"] > 0 and build["dense_verify_s"] >= 0
    assert build["hidden"] == (400 // 16 + (400 % 16 > 0) + 1) * build["size"]  # b = d, one constant neuron
    same = table[table["case"] == "same_set"].set_index("method")
    assert set(same.index) == {"construction_codebook", "hebbian", "hebbian_whitened", "hebbian_data_dependent", "gd"}
    for m in same.index:  # each row's params are those of a gated MLP at its reported hidden width (every
        h = int(same.loc[m, "hidden"])  # weight and bias: up, gate, down, the two hidden biases, the output bias)
        assert same.loc[m, "found"] and same.loc[m, "params"] == 3 * h * 16 + 2 * h + 16, m
    assert same.loc["gd", "size"] == same.loc["gd", "hidden"]  # GD is sized by its hidden width
    for m in same.index:  # the ratio column is the ratio of the two measured param counts
        assert abs(same.loc[m, "params_over_gd"] - same.loc[m, "params"] / same.loc["gd", "params"]) <= 0.01


def test_snapshot_copies_a_finished_run_with_its_provenance(tmp_path):
    repo = tmp_path / "clone"
    (repo / "results" / "tables").mkdir(parents=True)
    (repo / "results" / "figures").mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (repo / "results" / "claims.tsv").write_text("claim\tpass\nC1\ttrue\n")
    (repo / "results" / "tables" / "capacity.tsv").write_text("a\n1\n")
    (repo / "results" / "figures" / "f.png").write_bytes(b"png")
    (repo / "results" / "figures" / "f.pdf").write_bytes(b"pdf")
    (repo / "config").mkdir()
    (repo / "config" / "medium.yaml").write_text("scale: medium\n")
    out = tmp_path / "docs" / "medium"
    # no claims table yet: refused, nothing written
    missing = subprocess.run([*bench_cmd("snapshot"), "--results", str(tmp_path / "none"), "--out", str(out),
                              "--config", "c.yaml", "--started", "100", "--finished", "200"],
                             capture_output=True, text=True, timeout=60, env=BENCH_ENV)
    assert missing.returncode != 0 and "claims.tsv" in missing.stderr and not out.exists()
    subprocess.run([*bench_cmd("snapshot"), "--results", str(repo / "results"), "--out", str(out),
                    "--config", "config/medium.yaml", "--started", "1000", "--finished", "4600.4"],
                   check=True, capture_output=True, timeout=60, env=BENCH_ENV)
    assert (out / "claims.tsv").read_text() == "claim\tpass\nC1\ttrue\n"
    assert (out / "tables" / "capacity.tsv").is_file() and (out / "figures" / "f.png").is_file()
    assert not (out / "figures" / "f.pdf").exists()
    assert (out / "config.yaml").read_text() == "scale: medium\n"  # the config as it ran, from --repo
    prov = pd.read_csv(out / "provenance.tsv", sep="\t", dtype=str).set_index("key")["value"]
    assert prov["commit"] == head and prov["wall_time_s"] == "3600" and prov["config"] == "config/medium.yaml"
    assert prov["started_utc"].startswith("1970-01-01T00:16:40")


def test_parse_snakemake_log_sums_by_hand(tmp_path):
    """Three jobs written by hand: rule sums, span and slot occupancy computed here independently."""
    log = tmp_path / "run.snakemake.log"
    log.write_text(
        "Select jobs to execute...\n"
        "[Fri Nov 27 22:00:00 2026]\nlocalrule a:\n    jobid: 1\n    wildcards: d=8\n"
        "[Fri Nov 27 22:00:00 2026]\nrule b:\n    jobid: 2\n"
        "[Fri Nov 27 22:01:00 2026]\nFinished jobid: 1 (Rule: a)\n"
        "[Fri Nov 27 22:01:00 2026]\nlocalrule a:\n    jobid: 3\n    wildcards: d=16\n"
        "[Fri Nov 27 22:04:00 2026]\nFinished jobid: 2 (Rule: b)\n"
        "[Fri Nov 27 22:04:00 2026]\nFinished jobid: 3 (Rule: a)\n"
    )
    cmd = [*bench_cmd("parse_snakemake_log"), str(log), "--top", "1"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, env=BENCH_ENV).stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:3]}
    assert rows["a"] == ["2", "4.0", "3.0"]  # 1 min + 3 min, longest 3 min
    assert rows["b"] == ["1", "4.0", "4.0"]
    # 8 job-min over a 4-min span on 2 slots: both slots busy all along
    assert "3 jobs, 8.0 job-min, span 4.0 min, slot occupancy 1.00 at 2 slots" in out
    assert out.rstrip().endswith("b")  # the longest job is b's (4 min), which has no wildcards


def test_job_times_sums_the_jobs_both_runs_have_by_hand(tmp_path):
    """Two runs' job records written by hand: only shared jobs count, A's filtered by record time."""
    import os

    def record(run, rel, wall, cpu, mtime=None):
        path = tmp_path / run / "results" / "benchmarks" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{wall}\t0:00:00\t1.0\t{cpu}\n")
        if mtime is not None:
            os.utime(path, (mtime, mtime))

    early, late = 1796500000, 1796600000  # 2026-12-05 19:46 and 2026-12-06 23:33 UTC
    record("a", "capacity/gd/x/d8.tsv", 120, 60, early)
    record("a", "capacity/gd/x/d16.tsv", 240, 120, early)
    record("a", "editing/base/s0.tsv", 600, 600, late)  # after --a-before: left out
    record("a", "capacity/closed_form/x/d8.tsv", 30, 30, early)  # not in b: left out
    record("b", "capacity/gd/x/d8.tsv", 66, 60)
    record("b", "capacity/gd/x/d16.tsv", 126, 120)
    record("b", "editing/base/s0.tsv", 600, 600)
    out = tmp_path / "t.tsv"
    cmd = [*bench_cmd("job_times"), str(tmp_path / "a"), str(tmp_path / "b"), "--a-before", "2026-12-06T00:00",
           "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, env=BENCH_ENV)
    t = pd.read_csv(out, sep="\t").set_index("group")
    assert list(t.index) == ["capacity/gd", "total"]
    assert t.loc["total"].tolist() == [2, 6.0, 3.0, 3.2, 3.0]  # (120 + 240) / 60, (60 + 120) / 60, (66 + 126) / 60
    cmd[-4:-2] = ["--a-after", "2026-12-06T00:00"]  # A's late job only: the one b also has
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, env=BENCH_ENV)
    t = pd.read_csv(out, sep="\t").set_index("group")
    assert list(t.index) == ["editing/base", "total"] and t.loc["total"].tolist() == [1, 10.0, 10.0, 10.0, 10.0]


def test_fact_mlp_robustness_tiny(tmp_path):
    """At a = 1 the input is the key itself: accuracy is the MLP's storage accuracy (1 for a
    construction that stores every fact); at a = 0.5 with another subject's key half the mass is
    a stored key, so an MLP cannot recall every fact there."""
    out = tmp_path / "robust.tsv"
    cmd = [*bench_cmd("fact_mlp_robustness"), "--d", "16", "--sample", "64",
           "--mlp", '64;construction;16;{}', "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    table = pd.read_csv(out, sep="\t")
    assert list(table["partner"]) == ["template word", "other subject"]
    assert (table["a=1"] == 1.0).all() and table.loc[1, "a=0.5"] < 1.0 and (table["hidden"] > 0).all()


def test_edit_base_recall_tiny(tmp_path):
    """One tiny base: a row with recall per template (12) and the key geometry per trained
    template (8); the per-template recalls of the 8 trained templates average to the base's recall
    as its training measured it (every template holds every book once)."""
    out = tmp_path / "recall.tsv"
    cmd = [*bench_cmd("edit_base_recall"), "--books", "16", "--d", "16",
           "--size", "16", "--base", '{"epochs": 1, "n_decoys": 2}', "--mix-templates", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    row = pd.read_csv(out, sep="\t").iloc[0]
    assert len(row["per_template"].split()) == 12 and bool(row["mix_templates"])
    cos = [float(c) for c in row["cos_input_key"].split()]
    dist = [float(c) for c in row["hidden_dist_t0"].split()]
    assert len(cos) == len(dist) == 8 and all(-1.0 <= c <= 1.0 for c in cos) and dist[0] == 0.0
    per = [float(a) for a in row["per_template"].split()]
    assert abs(sum(per[:8]) / 8 - row["recall"]) <= 0.001, (per, row["recall"])


def test_choose_c3_geometries_tiny(tmp_path):
    """The script measures each candidate's rho as measure_fact_set does, writes it per (family, seed) and
    marks the set that choose_geometries picks from that table; its config entries are named as in config/."""
    import yaml

    from factmlp.decodability import cached_decodability, summarize
    from factmlp.facts import draw_fact_set
    from factmlp.geometries import choose_geometries

    out = tmp_path / "c3.tsv"
    names = ["spherical-v", "spike1-v", "spike2-v", "spike4-v", "spike8-v", "spike16-v", "spike32-v", "spike2u-v",
             "spike4u-v", "spike8u-v", "spike16u-v", "spike32u-v", "kappa16u-v"]
    cmd = [*bench_cmd("choose_c3_geometries"), "--d", "8", "--n-facts", "24",
           "--seeds", "0", "1", "--k-min", "5", "--config", str(ROOT / "config" / "config.yaml"),
           "--candidates", *names, "--out", str(out)]
    proc = subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=BENCH_ENV)
    table = pd.read_csv(out, sep="\t")
    assert sorted(set(table["family"])) == sorted(names) and len(table) == 2 * len(names)
    assert (table["n_values"] == 24).all() and (table["keys"] == "spherical").all()
    # the rho of the pipeline's own fact set (config.yaml: untied keys, |V| = |K|, permutation; default
    # decodability settings), as scripts/measure_fact_set.py computes it: min over values
    specs = {"spherical-v": {"kind": "spherical", "keys": "spherical"},
             "spike4u-v": {"kind": "spike", "beta": 4.0, "normalize": False, "keys": "spherical"}}
    for name, spec in specs.items():
        for seed in (0, 1):
            facts = draw_fact_set(spec, 24, 24, 8, tied=False, mapping="permutation", seed=seed)
            dec = cached_decodability(facts.values, batch_size=256, tol=1e-9, min_distance=1e-5, max_seconds=1800)
            row = table[(table["family"] == name) & (table["seed"] == seed)].iloc[0]
            assert row["rho"] == summarize(dec)["rho"] == float(dec.rho_i.min())
    chosen = sorted(table.loc[table["chosen"], "family"].unique())
    assert chosen == sorted(choose_geometries(table[["family", "seed", "rho"]], k_min=5)) and len(chosen) >= 5
    x = np.sort(table.loc[table["chosen"]].groupby("family")["x"].first().to_numpy())
    assert np.diff(x).max() <= (x[-1] - x[0]) / 4 + 1e-12
    assert x[0] == table["x"].min() and x[-1] == table["x"].max()  # every candidate eligible here: full range
    # the printed config entries: one per chosen family, named by its settings
    entries = yaml.safe_load(proc.stdout.split("embeddings.families entries:\n", 1)[1])
    assert sorted(entries) == chosen
    if "spike4u-v" in entries:
        assert entries["spike4u-v"] == specs["spike4u-v"]
    assert all(e["keys"] == "spherical" for e in entries.values())
    # choosing again from the written table, with a floor that drops the lowest-rho candidate
    floor = float(table.groupby("family")["rho"].min().min())
    again = tmp_path / "again.tsv"
    subprocess.run(cmd[:4] + ["--from-table", str(out), "--k-min", "5", "--rho-floor", str(floor), "--out",
                              str(again)], check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    redo = pd.read_csv(again, sep="\t")
    lowest = table.loc[table["rho"].idxmin(), "family"]
    assert not redo.loc[redo["family"] == lowest, "eligible"].any()
    assert lowest not in set(redo.loc[redo["chosen"], "family"])


def test_efficiency_table_by_hand(tmp_path):
    """Two seeds of GD and of one construction written by hand: medians, ratio to GD, the build time of
    the probe at the minimum (not the search's), the best quantised format, computed here."""
    job = {"sweep": "scaling", "family": "spherical", "d": 16, "n_facts": 32, "variant": ""}
    cap, probes, quant = [], [], []
    for seed, (gd_p, c_p) in enumerate([(100, 300), (120, 500)]):
        for method, params, width in (("gd", gd_p, 2), ("construction", c_p, 9)):
            cap.append({**job, "method": method, "seed": seed, "found": True, "min_width": width,
                        "param_count": params, "bits_per_param": 117.0 / params})
            probes += [{**job, "method": method, "seed": seed, "width": width, "success": True, "seconds": 1.0 + seed},
                       {**job, "method": method, "seed": seed, "width": width - 1, "success": False, "seconds": 50.0}]
            for fmt, bpwb, found in (("int8", 0.02 + seed / 100, True), ("int4", 0.5, False)):
                quant.append({**job, "method": method, "seed": seed, "format": fmt, "found": found,
                              "bits_per_weight_bit": bpwb if found else None})
    cap.append({**job, "method": "ntk", "seed": 0, "found": False, "min_width": None, "param_count": None,
                "bits_per_param": None})
    tables = tmp_path / "run" / "tables"
    tables.mkdir(parents=True)
    for name, rows in (("capacity", cap), ("capacity_probes", probes), ("quantized", quant)):
        pd.DataFrame(rows).to_csv(tables / f"{name}.tsv", sep="\t", index=False)
    out = tmp_path / "eff.md"
    subprocess.run([*bench_cmd("efficiency_table"), str(tmp_path / "run"),
                    "--out", str(out)], check=True, capture_output=True, text=True, timeout=120, env=BENCH_ENV)
    lines = out.read_text().splitlines()
    rows = {line.split("|")[3].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in lines[2:]}
    assert set(rows) == {"gd", "construction"}  # NTK stored nothing: no row
    # construction: params median of 300 and 500; ratio median of 3.0 and 4.17; build 1.5 s (probes at
    # the minimum, 1 and 2 s; not the failed 50-s probes); best format int8 (int4 never stored), 0.025
    assert rows["construction"][3:] == ["2", "400", f"{(117 / 300 + 117 / 500) / 2:.3f}", "int8",
                                        "0.0250", f"{(3.0 + 500 / 120) / 2:.2f}", "1.50", "1.50"]
    assert rows["gd"][8] == "1.00"

    # a paper slice's rows follow: bits of a 16-value permutation, log2(16!), over each method's params
    paper = tmp_path / "slice.tsv"
    pd.DataFrame([{"method": "gd", "d": 8, "n_facts": 16, "found": True, "param_count": 50, "seconds": 10.0},
                  {"method": "construction", "d": 8, "n_facts": 16, "found": True, "param_count": 200, "seconds": 1.0},
                  {"method": "ntk", "d": 8, "n_facts": 16, "found": False, "param_count": None, "seconds": 3.0}]
                 ).to_csv(paper, sep="\t", index=False)
    subprocess.run([*bench_cmd("efficiency_table"), str(tmp_path / "run"),
                    "--paper", str(paper), "--out", str(out)], check=True, capture_output=True, text=True, timeout=120,
                   env=BENCH_ENV)
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in out.read_text().splitlines()[2:]]
    paper_rows = {c[3]: c for c in cells if c[0] == "paper"}
    assert set(paper_rows) == {"gd", "construction"} and all(c[0] == "run" for c in cells if c[0] != "paper")
    bits = math.lgamma(17) / math.log(2)  # log2(16!)
    assert paper_rows["construction"][5:7] == ["200", f"{bits / 200:.3f}"]
    assert paper_rows["construction"][-5:] == ["4.00", "–", "–", "1.0", "10.0"]  # times: whole searches


def test_b2_study_tiny(tmp_path):
    out = tmp_path / "b2.tsv"
    cmd = [*bench_cmd("b2_study"), "--threads", "1", "--d", "16", "--n-facts", "32",
           "--m-start", "6", "--gd-params", "116", "--knot-steps", "300", "--betas", "1.5", "--readout",
           "--readout-steps", "200", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    t = pd.read_csv(out, sep="\t")
    build = t[t["case"] == "build"].iloc[0]
    m, h = int(build["code_dim"]), int(build["hidden"])
    # a gated MLP's weights and biases (d = 16): gate and up h(d + 1) each, down d(h + 1)
    parts = build["gate_params"] + build["up_params"] + build["down_params"]
    assert build["params"] == 3 * h * 16 + 2 * h + 16 == parts
    assert build["gate_rank"] == 1 and build["down_rank"] == m  # one gate direction; a rank-m' decoder
    assert build["ratio_to_gd"] == round(build["params"] / 116, 2)
    cb = t[t["case"] == "codebook"].set_index("code_dim")
    assert list(cb.index) == list(range(1, m + 1)) and bool(cb.loc[m, "stores"])
    assert (cb["min_margin"] > 0).tolist() == cb["stores"].astype(bool).tolist()
    knots = t[t["case"] == "knot_rank"].iloc[0]
    assert 1 <= knots["knot_rank_min"] <= knots["knot_rank_max"] <= min(m, knots["neurons_per_knot"])
    assert 0 <= t[t["case"] == "prune"].iloc[0]["prunable"] <= h
    learned = t[t["case"] == "learned_knots"].iloc[0]
    assert learned["bucket_size"] == 24 and 0.0 <= learned["accuracy"] <= 1.0
    readout = t[t["case"] == "readout"].set_index("hidden")
    # at the width of 3x GD's 116 params ((3 * 116 - 16) // (3 * 16 + 2) = 6) and at the build's width
    assert list(readout.index) == sorted({6, h})
    for width, r in readout.iterrows():
        assert r["params"] == 3 * width * 16 + 2 * width + 16 and r["free_numbers"] == width * 16
        assert 0.0 <= r["accuracy"] <= 1.0 and (r["accuracy"] == 1.0) == (r["min_margin"] > 0)
    # the readout alone (no build) at one of those widths: its own table, the same row
    alone = tmp_path / "readout.tsv"
    subprocess.run([*cmd[:-1], str(alone), "--only", "readout", "--readout-hidden", "6"], check=True, cwd=tmp_path,
                   capture_output=True, timeout=600, env=BENCH_ENV)
    row = pd.read_csv(alone, sep="\t").iloc[0]
    assert row["case"] == "readout" and row["hidden"] == 6 and row["accuracy"] == readout.loc[6, "accuracy"]


def test_b2_hebbian_encoder_tiny(tmp_path):
    """--only hebbian_encoder: one row per target table; a found width stores and one less does not
    (checked here with the builder itself), params are a gated MLP's at that width."""
    from benchmarks.common import pipeline_fact_set
    from factmlp.constructions.hebbian import build_hebbian_mlp
    from factmlp.facts import evaluate_mlp

    out = tmp_path / "heb.tsv"
    subprocess.run([*bench_cmd("b2_study"), "--threads", "1", "--d", "16", "--n-facts", "32", "--gd-params", "116",
                    "--only", "hebbian_encoder", "--code-dim", "6", "--hebbian-width-max", "256", "--out", str(out)],
                   check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    t = pd.read_csv(out, sep="\t").set_index("targets")
    assert list(t.index) == ["codes", "values"] and (t["case"] == "hebbian_encoder").all()
    facts = pipeline_fact_set(16, 32)
    row = t.loc["values"]
    assert bool(row["found"])
    h = int(row["hidden"])
    assert row["params"] == 3 * h * 16 + 2 * h + 16

    def acc(w):
        return evaluate_mlp(build_hebbian_mlp(facts.keys, facts.targets, w, seed=0, variant="data_dependent"),
                            facts)["accuracy"]
    assert acc(h) == 1.0 and (h == 1 or acc(h - 1) < 1.0)


def test_b2_readout_stores_where_a_solution_exists():
    """The readout fit is convex in the up matrix: where some up matrix stores every fact with margin
    (8 facts, d = 8, 64 random gates: 512 free numbers for 56 pair constraints), L-BFGS on the squared
    hinge must find one; and with a single neuron (8 numbers, rank-one logits) it cannot store 8 facts."""
    from benchmarks.common import pipeline_fact_set
    from benchmarks.diagnosis.b2_study import random_gate_readout

    facts = pipeline_fact_set(8, 8)
    wide = random_gate_readout(facts, 64, steps=500)
    assert wide["accuracy"] == 1.0 and wide["min_margin"] > 0 and wide["readout_loss"] < 1e-3
    assert wide["readout_grad_norm"] < 1e-4  # at the optimum of the convex fit
    narrow = random_gate_readout(facts, 1, steps=500)
    assert narrow["accuracy"] < 1.0


def test_sequential_cost_tiny(tmp_path):
    out = tmp_path / "cost.tsv"
    cmd = [*bench_cmd("sequential_cost"), "--threads", "1", "--sizes", "40",
           "--d", "16", "--rounds", "2", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, timeout=600, env=BENCH_ENV)
    t = pd.read_csv(out, sep="\t")
    # one row per (editor, round); 5% of the 40 books a round; hidden = N / 2
    assert sorted(t["editor"].unique()) == ["alphaedit", "memit", "mlp_swap", "rome"]
    assert all(sorted(g) == [1, 2] for _, g in t.groupby("editor")["round"])
    assert (t["batch"] == 2).all() and (t["hidden"] == 20).all() and (t["n_subjects"] == 40).all()
    assert (t["seconds"] >= 0).all() and (t["peak_rss_mib"] > 0).all() and t["score_gm"].between(0, 1).all()


def test_one_layout_one_way_to_run(capsys):
    """Every benchmark is a module in timing/, diagnosis/ or release/ with ``main(argv)``, run only through
    ``python -m benchmarks NAME`` (no ``__main__`` block of its own, no sys.path tricks, no script at the
    top level), listed by ``python -m benchmarks`` and answering ``--help``; an unknown name is refused."""
    import ast
    import importlib
    import inspect

    import pytest

    from benchmarks import GROUPS
    from benchmarks.__main__ import catalog
    from benchmarks.__main__ import main as run

    top = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "common.py"}, top  # no script outside the three groups
    found = catalog()
    on_disk = {p.stem: p.parent.name for g in GROUPS for p in (ROOT / "benchmarks" / g).glob("*.py")
               if not p.name.startswith("_")}
    assert {n: g for n, (g, _) in found.items()} == on_disk and len(on_disk) >= 17
    for name, (group, summary) in found.items():
        source = (ROOT / "benchmarks" / group / f"{name}.py").read_text()
        assert summary, f"{name}: no docstring"
        assert "__main__" not in source and "sys.path" not in source, name
        assert not any(isinstance(n, ast.ImportFrom) and n.level == 0 and n.module and n.module.split(".")[0] in on_disk
                       for n in ast.walk(ast.parse(source))), f"{name} imports another benchmark as a top-level module"
        module = importlib.import_module(f"benchmarks.{group}.{name}")
        assert list(inspect.signature(module.main).parameters) == ["argv"], name
        with pytest.raises(SystemExit) as exit_:
            run([name, "--help"])
        assert exit_.value.code == 0, name
    capsys.readouterr()
    assert run([]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {name} " in listing for name in found)
    unknown = subprocess.run([*bench_cmd("no_such_benchmark")], capture_output=True, text=True, timeout=60,
                             env=BENCH_ENV, cwd=ROOT)
    assert unknown.returncode == 2 and "no_such_benchmark" in unknown.stderr


def test_no_document_names_a_benchmark_path_that_is_gone():
    """Docs, configs, code and tests name benchmarks by a path that exists (or as ``python -m benchmarks NAME``
    with a NAME that exists); dated snapshots under docs/results/ keep the commands they ran with."""
    import re

    from benchmarks.__main__ import catalog

    names = set(catalog())
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "RESULTS.md", *ROOT.glob("docs/*.md"),
             *ROOT.glob("config/*"), *ROOT.glob("src/factmlp/**/*.py"), *ROOT.glob("benchmarks/**/*.py"),
             *ROOT.glob("tests/*.py"), *ROOT.glob("workflow/**/*.smk")]
    bad = []
    for f in files:
        text = f.read_text()
        bad += [f"{f.name}: {p}" for p in re.findall(r"benchmarks/[\w/]+\.py", text) if not (ROOT / p).is_file()]
        bad += [f"{f.name}: {n}" for n in re.findall(r"python -m benchmarks ([a-z]\w*)", text) if n not in names]
    assert not bad, bad


def test_compare_runs_exit_codes(tmp_path):
    """The release tool: 0 for the same results (timing aside), 1 for a changed value or a missing table,
    --allow-new accepts tables only the newer run has, 2 for a folder that is no run."""
    def run(root, rows, extra=False):
        (root / "tables").mkdir(parents=True)
        (root / "claims.tsv").write_text("claim\tpass\nC1\ttrue\n")
        (root / "tables" / "capacity.tsv").write_text("method\tparam_count\tseconds\n" + rows)
        if extra:
            (root / "tables" / "sequential.tsv").write_text("x\n1\n")
        return str(root)

    def code(*args):
        return subprocess.run([*bench_cmd("compare_runs"), *args], capture_output=True, text=True, timeout=120,
                              env=BENCH_ENV, cwd=tmp_path)

    a = run(tmp_path / "a", "gd\t10\t1.0\n")
    same = run(tmp_path / "same", "gd\t10\t7.0\n")
    changed = run(tmp_path / "changed", "gd\t11\t1.0\n")
    newer = run(tmp_path / "newer", "gd\t10\t1.0\n", extra=True)
    ok = code(a, same)
    assert ok.returncode == 0 and "2 equal, 0 different" in ok.stdout
    bad = code(a, changed)
    assert bad.returncode == 1 and "DIFFERENT  tables/capacity.tsv" in bad.stdout and "'10' vs '11'" in bad.stdout
    assert code(a, newer).returncode == 1 and code(a, newer, "--allow-new").returncode == 0
    assert code(newer, a, "--allow-new").returncode == 1  # a table of the reference is missing
    none = code(a, str(tmp_path))
    assert none.returncode == 2 and "no claims.tsv or tables/" in none.stderr
