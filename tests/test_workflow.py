"""The Snakemake workflow: dry runs of the shipped configs, lint, and an end-to-end tiny run.

Every run uses a tmp workdir (``--directory``), never the repo's own results/ and logs/.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import (
    DEFAULT_CONFIG,
    PAPER_CONFIG,
    PIPELINE_RULES,
    ROOT,
    TINY_CONFIG,
    copy_config_dir,
    expected_jobs,
    job_stats,
    load_yaml,
    output_of,
    run_snakemake,
)
from factmlp.registry import is_trained


def _expected_stats(config: dict) -> dict[str, int]:
    jobs = expected_jobs(config)
    # a (method, fact set) pair listed by two sweeps is one job
    n_sets = len(jobs["fact_sets"])
    # GD-trained methods: one job per (method, fact set); the set itself, rho and the closed-form
    # methods: one job per fact set (measure_fact_set), also for a rho-only set
    pairs = {job[1:] for job in jobs["capacity"] + jobs["usability"]}
    n_cap = len({p for p in pairs if is_trained(p[0])})
    n_usab = len({job[1:] for job in jobs["usability"]})
    usab = {"measure_usability": n_usab, "aggregate_usability": 1, "plot_usability": 1} if n_usab else {}
    ed = config.get("editing", {})
    # one base model per (base, seed), edited at each of its fractions; a base's own editing setting
    # replaces the section's seeds and fractions
    own = {b.get("name") or b["method"]: b.get("editing") or {} for b in ed.get("base_mlps", [])}
    seeds = {b: o.get("seeds", ed.get("seeds", [0])) for b, o in own.items()}
    n_base = sum(len(s) for s in seeds.values())
    n_edits = sum(len(seeds[b]) * len(o.get("fractions", ed.get("fractions", [0.01, 0.02, 0.05, 0.1])))
                  for b, o in own.items())
    edit = ({"edit_base": n_base, "edit_facts": n_edits, "aggregate_editing": 1, "plot_editing": 1}
            if n_base else {})
    seq = ed.get("sequential") or {}
    n_seq = sum(len(seq.get("seeds") or seeds[b]) for b in seq.get("bases", []))
    if n_seq:
        edit |= {"edit_sequential": n_seq, "aggregate_sequential": 1, "plot_sequential": 1}
    nic = jobs["nichani"]
    parts = [p for p in ("linear", "mlp", "recall", "tradeoff", "sequential") if nic[p]]
    figures = {"memories": ("linear", "mlp"), "recall": ("recall", "tradeoff"), "sequential": ("sequential",)}
    nichani = {
        "nichani_memory_capacity": len(set(nic["linear"])) + len(set(nic["mlp"])),
        "nichani_recall_capacity": len(set(nic["recall"])),
        "nichani_tradeoff": len(set(nic["tradeoff"])),
        "nichani_sequential": len(set(nic["sequential"])),
        "aggregate_nichani": int(bool(parts)),  # one job writes every configured nichani_*.tsv
        **{f"plot_nichani_{f}": 1 for f, needs in figures.items() if set(needs) & set(parts)},
    }
    return {
        **usab,
        **edit,
        **{rule: n for rule, n in nichani.items() if n},
        "measure_fact_set": n_sets,
        **({"measure_capacity": n_cap} if n_cap else {}),
        "aggregate_capacity": 1,
        "aggregate_rho": 1,
        "plot_capacity": len({s["name"] for s in config["capacity"]["sweeps"]}),
        "all": 1,
    }


def _assert_stats(stats: dict[str, int], config: dict, out: str) -> None:
    """Every pipeline rule runs as often as the config asks (rules added later are not checked)."""
    expected = _expected_stats(config)
    got = {rule: stats.get(rule) for rule in expected}
    assert got == expected, out


def _read_tsv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


# --------------------------------------------------------------------------------------------
# dry runs and lint


def test_dry_run_default_config(tmp_path):
    """`snakemake -n` as a user runs it from the repo root (config/ present, no --configfile)."""
    copy_config_dir(tmp_path)
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", timeout=120)
    out = output_of(proc)
    assert proc.returncode == 0, out
    stats = job_stats(out)
    for rule in PIPELINE_RULES:
        assert rule in stats, f"rule {rule} missing from the dry run:\n{out}"
    _assert_stats(stats, load_yaml(DEFAULT_CONFIG), out)
    assert not (tmp_path / "results").exists(), "a dry run created results/"


def test_dry_run_default_config_explicit_configfile(tmp_path):
    """Same DAG when the config is only given with --configfile (no config/ in the workdir)."""
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--configfile", DEFAULT_CONFIG, timeout=120)
    out = output_of(proc)
    assert proc.returncode == 0, out
    _assert_stats(job_stats(out), load_yaml(DEFAULT_CONFIG), out)


def test_lint():
    # lint runs nothing, so the repo root is a safe working directory
    proc = run_snakemake(ROOT, "--lint", timeout=120)
    assert proc.returncode == 0, output_of(proc)


# what a linter's environment lacks: the workflow's own packages (Snakemake and its plugins bring
# numpy and pandas, so those stay importable here; the parse-time test below blocks them too)
_HEAVY = ("torch", "pandera", "scipy", "matplotlib", "seaborn", "safetensors")


def test_lint_without_the_workflow_packages(tmp_path):
    """`snakemake --lint` parses the workflow where torch and the other packages of the jobs cannot
    be imported (the workflow catalog lints with Snakemake alone): it passes, says which checks it
    skipped, and still rejects a config the schema rejects."""
    stubs = tmp_path / "stubs"
    for name in _HEAVY:
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(f"raise ImportError('No module named {name} (blocked)')\n")
    env = {"PYTHONPATH": str(stubs)}
    proc = run_snakemake(ROOT, "--lint", timeout=120, env=env)
    out = output_of(proc)
    assert proc.returncode == 0, out
    assert "torch cannot be imported" in out and "checked against its schema" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("capacity:\n  width_min: 0\n")  # below the schema's minimum
    proc = run_snakemake(ROOT, "--lint", "--configfile", bad, timeout=120, env=env)
    assert proc.returncode != 0 and "capacity.width_min" in output_of(proc), output_of(proc)


def test_parse_time_imports_need_no_numpy_pandas_or_torch():
    """Everything the rule files import at parse time, and validate_config on the default config, in
    an interpreter where torch, numpy, pandas and the jobs' other packages cannot be imported."""
    import subprocess
    import sys

    blocked = (*_HEAVY, "numpy", "pandas")
    code = (
        "import sys, warnings, importlib.abc, yaml\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        f"    def find_spec(self, name, path, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}: raise ImportError(name + ' blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from factmlp.claims.design import claim_designs\n"
        "from factmlp.codehash import code_hash, export_source\n"
        "from factmlp.config import canonical_order, editing_for_base, fact_set_shape, validate_config\n"
        "from factmlp.registry import is_trained, method_names, reference_of\n"
        f"config = yaml.safe_load(open({str(DEFAULT_CONFIG)!r}))\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    validate_config(config, {str(ROOT / 'workflow' / 'schemas' / 'config.schema.yaml')!r})\n"
        "print(len(config['capacity']['sweeps']), any('torch cannot be imported' in str(x.message) for x in w))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n_sweeps, warned = out.stdout.split()
    assert int(n_sweeps) == len(load_yaml(DEFAULT_CONFIG)["capacity"]["sweeps"]) and warned == "True"


def test_dry_run_paper_config(tmp_path):
    """`snakemake -n --configfile config/paper.yaml` from the repo root (extends config/config.yaml)."""
    if not PAPER_CONFIG.exists():
        pytest.skip("config/paper.yaml does not exist yet")
    copy_config_dir(tmp_path)
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--configfile", "config/paper.yaml", timeout=300)
    out = output_of(proc)
    assert proc.returncode == 0, out
    # lists (sweeps, decodability families/points) are replaced, not merged with the smoke config
    _assert_stats(job_stats(out), load_yaml(PAPER_CONFIG), out)


def test_tiny_config_same_jobs_with_and_without_default_config(tmp_path, tiny_config):
    """tests/data/config_tiny.yaml gives the same DAG whether or not config/config.yaml is also loaded."""
    alone = run_snakemake(tmp_path / "alone", "-n", "--cores", "2", "--configfile", tiny_config, timeout=120)
    copy_config_dir(tmp_path / "merged")
    merged = run_snakemake(tmp_path / "merged", "-n", "--cores", "2", "--configfile", tiny_config, timeout=120)
    assert alone.returncode == 0, output_of(alone)
    assert merged.returncode == 0, output_of(merged)
    _assert_stats(job_stats(output_of(alone)), load_yaml(tiny_config), output_of(alone))
    assert job_stats(output_of(merged)) == job_stats(output_of(alone)), output_of(merged)


# --------------------------------------------------------------------------------------------
# end to end


def _hidden_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".")]


@pytest.mark.slow
def test_end_to_end_tiny(tiny_run):
    tiny_config = TINY_CONFIG
    cfg = load_yaml(tiny_config)

    # ---- first run: everything (the session's shared tiny run, tests/conftest.py::tiny_run)
    workdir, out, _ = tiny_run
    first_stats = job_stats(out)
    _assert_stats(first_stats, cfg, out)

    results = workdir / "results"
    tables, figures = results / "tables", results / "figures"
    for path in (
        tables / "capacity.tsv",
        tables / "capacity_probes.tsv",
        tables / "rho.tsv",
        figures / "capacity_scaling.pdf",
        figures / "capacity_scaling.png",
        tables / "usability.tsv",
        tables / "editing.tsv",
        tables / "editing_best.tsv",
        figures / "editing.pdf",
        figures / "editing.png",
        figures / "usability.pdf",
        figures / "usability.png",
        results / "claims.tsv",
    ):
        assert path.is_file(), f"{path} missing"
        assert path.stat().st_size > 0, f"{path} is empty"
    assert (figures / "capacity_scaling.pdf").read_bytes().startswith(b"%PDF")
    assert (figures / "capacity_scaling.png").read_bytes().startswith(b"\x89PNG")
    # every figure in three formats; the SVG is well-formed XML with an <svg> root
    stems = {p.stem for p in figures.iterdir()}
    assert stems and all((figures / f"{s}.{ext}").is_file() for s in stems for ext in ("pdf", "png", "svg")), stems
    for stem in stems:
        assert ElementTree.parse(figures / f"{stem}.svg").getroot().tag.endswith("svg"), stem
    assert {"claims.tex", "claims.md"} <= {p.name for p in results.iterdir()}
    assert (results / "claims.tex").read_text().count(r" \\") >= 11  # header + one row per claim

    # ---- capacity table: one successful row per (method, point), params of the gated MLP
    jobs = expected_jobs(cfg)
    rows = _read_tsv(tables / "capacity.tsv")
    assert len(rows) == len(jobs["capacity"])
    by_job = {}
    for row in rows:
        key = (row["sweep"], row["method"], row["family"], int(row["d"]), int(row["n_facts"]), int(row["seed"]))
        assert key not in by_job, f"duplicate row {key}"
        by_job[key] = row
    assert set(by_job) == set(jobs["capacity"])
    width_min, width_max = cfg["capacity"]["width_min"], cfg["capacity"]["width_max"]
    for key, row in by_job.items():
        assert row["found"] == "True", f"{key}: no width up to {width_max} stores the facts: {row}"
        h, d = int(float(row["min_width"])), int(row["d"])
        assert width_min <= h <= width_max
        hidden = int(float(row["hidden"]))  # = min_width unless the searched size is a code dimension m'
        assert hidden == h or row["size_name"] == "code_dim", row
        assert int(float(row["param_count"])) == 3 * hidden * d + 2 * hidden + d, row
        assert float(row["accuracy"]) == 1.0
        assert float(row["min_margin"]) > 0
        assert int(row["n_values"]) == int(row["n_facts"])  # tied, permutation
        # information of a random bijection: log2(|K|!) bits, an exact integer count of maps
        assert row["bits_basis"] == "log2(|K|!)"
        bits = math.log2(math.factorial(int(row["n_facts"])))
        assert float(row["bits"]) == pytest.approx(bits)
        assert float(row["bits_per_param"]) == pytest.approx(bits / int(float(row["param_count"])))
    for sweep, _, family, d, n, seed in jobs["capacity"]:
        ntk = int(float(by_job[(sweep, "ntk", family, d, n, seed)]["param_count"]))
        gd = int(float(by_job[(sweep, "gd", family, d, n, seed)]["param_count"]))
        assert ntk > gd, f"d={d} n={n}: NTK needs {ntk} params, GD {gd}"

    # every probe is recorded; the reported width is a successful probe
    probes = _read_tsv(tables / "capacity_probes.tsv")
    for (_, method, family, d, n, seed), row in by_job.items():
        mine = [
            p for p in probes
            if (p["method"], p["family"], int(p["d"]), int(p["n_facts"]), int(p["seed"]))
            == (method, family, d, n, seed)
        ]
        assert len(mine) == int(row["n_probes"])
        hits = [p for p in mine if int(p["width"]) == int(float(row["min_width"])) and p["variant"] == row["variant"]]
        assert len(hits) == 1 and hits[0]["success"] == "True"

    # ---- quantised storage: one row per (method, format) of every fact set of the design, starting
    # from the float minimum; weight bits counted from the shape (b per weight, a float32 scale per
    # row and float32 biases for the int formats)
    quant_cfg = cfg["capacity"]["quantization"]
    quant = _read_tsv(tables / "quantized.tsv")
    qsweep = next(s for s in cfg["capacity"]["sweeps"] if s["name"] == quant_cfg["sweep"])
    sets = {(fam, p["d"], p["n_facts"], s) for fam in qsweep["families"] for p in qsweep["points"]
            for s in qsweep.get("seeds", [0]) if p["d"] <= quant_cfg["d_max"]}
    assert {(r["family"], int(r["d"]), int(r["n_facts"]), int(r["seed"]), r["method"], r["format"]) for r in quant} \
        == {(*fs, m, f) for fs in sets for m in quant_cfg["methods"] for f in quant_cfg["formats"]}
    for r in quant:
        flt = by_job[(quant_cfg["sweep"], r["method"], r["family"], int(r["d"]), int(r["n_facts"]), int(r["seed"]))]
        assert int(float(r["float_min_width"])) == int(float(flt["min_width"]))
        assert 0 <= int(float(r["at_float_min_n_correct"])) <= int(r["n_facts"])
        if r["found"] != "True":
            continue
        assert int(float(r["min_width"])) >= int(float(r["float_min_width"]))
        h, d = int(float(r["hidden"])), int(r["d"])
        bits = {"bf16": 16, "float32": 32, "int8": 8, "int4": 4}[r["format"]]
        expect = (bits * (3 * h * d + 2 * h + d) if r["format"] in ("bf16", "float32")
                  else bits * 3 * h * d + 32 * 2 * (2 * h + d))
        assert int(float(r["weight_bits"])) == expect, r
        assert float(r["bits_per_weight_bit"]) == pytest.approx(math.log2(math.factorial(int(r["n_facts"]))) / expect)

    # ---- usability table: every (method, size, schedule) row of every usability job, recall in [0, 1]
    usab = _read_tsv(tables / "usability.tsv")
    n_sizes = len(cfg["usability"]["size_multipliers"]) + cfg["usability"].get("span_points", 0)
    for _, method, family, d, n, seed in jobs["usability"]:
        mine = [r for r in usab if (r["method"], r["family"], int(r["d"]), int(r["n_facts"]), int(r["seed"]))
                == (method, family, d, n, seed)]
        assert mine and all(r["status"] == "ok" for r in mine), mine
        assert {r["schedule"] for r in mine} == set(cfg["usability"]["schedules"])
        assert len(mine) <= n_sizes * len(cfg["usability"]["schedules"])
        assert {r["grid"] for r in mine} <= {"multipliers", "span", "both"}
        folder = method if is_trained(method) else "closed_form"  # the job's capacity table (common.smk)
        cap = [r for r in _read_tsv(results / "capacity" / folder / family / f"d{d}_n{n}_s{seed}.tsv")
               if r["method"] == method]
        assert {r["variant"] for r in mine} == {cap[0]["variant"]}  # the whitening the capacity search chose
        for r in mine:
            assert 0.0 <= float(r["usability"]) <= 1.0
            assert float(r["lipschitz_bound"]) >= float(r["lipschitz_jacobian"]) > 0
    claims = {r["claim"]: r for r in _read_tsv(results / "claims.tsv")}
    assert {"C6", "C7", "C8"} <= set(claims)
    assert all(claims[c]["pass"] in ("true", "false") for c in ("C6", "C8")), claims
    # C7's rule reaches its series (the tiny tradeoff sweep: one construction series of 3 storing MLPs); the
    # tiny recall task is easy enough that usability may be 1.0 at every size, when no Spearman is defined
    c7 = claims["C7"]
    assert c7["pass"] in ("true", "false") or "no defined Spearman" in c7["evidence"], c7

    # ---- B1/B2's table: per joint-sweep point, GD beside the best closed-form build (B1: no gradient step on
    # the facts, the v2 Hebbian builders included), the best fitted construction (B2) and the best v2 builder
    cf = _read_tsv(tables / "closed_form_vs_gd.tsv")
    scaling = next(s for s in cfg["capacity"]["sweeps"] if s["name"] == "scaling")
    assert [(int(r["d"]), int(r["n_facts"])) for r in cf] == [(p["d"], p["n_facts"]) for p in scaling["points"]]
    for r in cf:
        assert (r["closed_form"], r["fitted"], r["v2"]) == (
            "hebbian_data_dependent", "construction_codebook", "hebbian_data_dependent"), r
        gd_row = by_job[("scaling", "gd", "spherical", int(r["d"]), int(r["n_facts"]), 0)]
        assert float(r["gd_params"]) == float(gd_row["param_count"])
        for tag in ("closed_form", "fitted"):  # one seed: the median ratio is the ratio of the params
            assert float(r[f"{tag}_ratio"]) == pytest.approx(float(r[f"{tag}_params"]) / float(r["gd_params"]))

    # ---- editing: the best row of every (base, seed, fraction, editor), scores in [0, 1]
    best = _read_tsv(tables / "editing_best.tsv")
    ed = cfg["editing"]
    keys = {(r["method"], int(r["seed"]), float(r["fraction"]), r["editor"]) for r in best}
    assert len(keys) == len(best) == len(ed["base_mlps"]) * len(ed["seeds"]) * len(ed["fractions"]) * len(ed["editors"])
    assert {k[1] for k in keys} == set(ed["seeds"])
    for r in best:
        assert 0.0 <= float(r["score_gm"]) <= 1.0 and float(r["nonfact_ppl_ratio"]) > 0

    # ---- Nichani et al.: one row per job, capacities within the search range, C9 decided
    nic = jobs["nichani"]
    for part in ("linear", "mlp", "recall", "tradeoff", "sequential", "stages"):
        assert (tables / f"nichani_{part}.tsv").stat().st_size > 0
    for fig in ("memories", "recall", "sequential"):
        assert (figures / f"nichani_{fig}.pdf").read_bytes().startswith(b"%PDF")
        assert (figures / f"nichani_{fig}.png").read_bytes().startswith(b"\x89PNG")
    for am in ("linear", "mlp"):
        rows = _read_tsv(tables / f"nichani_{am}.tsv")
        assert {(r["memory"], int(r["d"]), int(r["m"]), int(r["seed"])) for r in rows} == set(nic[am])
        cap = cfg["nichani"][am]["search"]["max_per_param"]
        for r in rows:
            if r["found"] == "True":
                assert cfg["nichani"][am]["search"]["n_min"] <= int(float(r["n_stored"])) <= cap * int(r["axis_params"])
    lin = {(r["memory"], int(r["d"]), int(r["m"])): r for r in _read_tsv(tables / "nichani_linear.tsv")}
    for d in cfg["nichani"]["linear"]["dims"]:  # gradient descent beats the outer-product construction
        assert int(float(lin[("trained", d, d)]["n_stored"])) > int(float(lin[("outer", d, d)]["n_stored"] or 0))
    recall = _read_tsv(tables / "nichani_recall.tsv")
    assert len(recall) == len(nic["recall"]) and all(r["found"] == "True" for r in recall)
    trade = _read_tsv(tables / "nichani_tradeoff.tsv")
    assert len(trade) == len(nic["tradeoff"]) and all(0 <= float(r["best_accuracy"]) <= 1 for r in trade)
    curves = _read_tsv(tables / "nichani_sequential.tsv")
    seq = cfg["nichani"]["sequential"]
    for model, seed in nic["sequential"]:
        steps = [int(r["step"]) for r in curves if (r["model"], int(r["seed"])) == (model, seed)]
        assert steps[0] == 0 and steps[-1] == seq["steps"] and len(steps) == seq["steps"] // seq["eval_every"] + 1
    assert len(_read_tsv(tables / "nichani_stages.tsv")) == len(nic["sequential"])
    assert claims["C9"]["pass"] in ("true", "false"), claims["C9"]

    # ---- rho table: one row per fact set, rho in (0, 1]
    rho = _read_tsv(tables / "rho.tsv")
    assert {(r["family"], int(r["d"]), int(r["n_facts"]), int(r["seed"])) for r in rho} == jobs["fact_sets"]
    assert len(rho) == len(jobs["fact_sets"])
    for r in rho:
        value = float(r["rho"])
        assert math.isfinite(value) and 0 < value <= 1, r

    # ---- one non-empty log per job
    logs = workdir / "logs"
    log_files = sorted(p for p in logs.rglob("*") if p.is_file())
    n_jobs = sum(first_stats.values()) - first_stats["all"]
    assert len(log_files) == n_jobs, [str(p.relative_to(logs)) for p in log_files]
    expected_logs = {"tables/capacity.log", "tables/rho.log"}
    expected_logs |= {f"figures/capacity_{s['name']}.log" for s in cfg["capacity"]["sweeps"]}
    for fam, d, n, s in jobs["fact_sets"]:  # the set, its rho and closed-form searches (one job)
        expected_logs.add(f"capacity/closed_form/{fam}/d{d}_n{n}_s{s}.log")
    for _, method, fam, d, n, s in jobs["capacity"]:
        if is_trained(method):
            expected_logs.add(f"capacity/{method}/{fam}/d{d}_n{n}_s{s}.log")
    for am in ("linear", "mlp"):
        expected_logs |= {f"nichani/{am}/{mem}/d{d}_m{m}_s{s}.log" for mem, d, m, s in nic[am]}
    expected_logs |= {f"nichani/recall/d{d}_h{h}_dh{e}_m{m}_s{s}.log" for d, h, e, m, s in nic["recall"]}
    expected_logs |= {f"nichani/tradeoff/h{h}_m{m}_s{s}.log" for h, m, s in nic["tradeoff"]}
    expected_logs |= {f"nichani/sequential/{model}_s{s}.log" for model, s in nic["sequential"]}
    expected_logs |= {f"figures/nichani_{f}.log" for f in ("memories", "recall", "sequential")}
    missing = expected_logs - {p.relative_to(logs).as_posix() for p in log_files}
    assert not missing, f"jobs without a log: {sorted(missing)}"
    for p in log_files:
        assert p.stat().st_size > 0, f"empty log {p}"

    # no temporary files left behind by the atomic writers
    assert _hidden_files(results) == []

    # ---- second run: nothing to do
    again = run_snakemake(workdir, "--cores", "2", "--configfile", tiny_config, timeout=120)
    out = output_of(again)
    assert again.returncode == 0, out
    assert "Nothing to be done" in out, out

    # ---- deleting one output reruns only the job that makes it (nothing downstream reads it)
    mtimes = {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}
    figure = results / "figures" / "capacity_scaling.png"
    figure.unlink()
    partial = run_snakemake(workdir, "--cores", "2", "--configfile", tiny_config, timeout=120)
    out = output_of(partial)
    assert partial.returncode == 0, out
    stats = job_stats(out)
    assert {rule for rule in stats if rule != "all"} == {"plot_capacity"}, out
    assert stats["plot_capacity"] == 1
    assert figure.stat().st_size > 0
    siblings = {figure, figure.with_suffix(".pdf"), figure.with_suffix(".svg")}
    changed = [p for p, t in mtimes.items() if p not in siblings and p.stat().st_mtime_ns != t]
    assert changed == [], f"files rewritten by the partial rerun: {changed}"
    assert _hidden_files(results) == []


@pytest.mark.parametrize(("stage", "own"), [
    ("capacity", {"measure_fact_set", "measure_capacity", "aggregate_capacity", "aggregate_rho", "plot_capacity",
                  "plot_cost_ratios", "plot_claim_figures", "measure_quantized", "aggregate_quantized",
                  "plot_quantized"}),
    ("embeddings", {"measure_fact_set", "aggregate_rho"}),
    ("usability", {"measure_usability", "aggregate_usability", "plot_usability"}),
    ("editing", {"edit_base", "edit_facts", "aggregate_editing", "plot_editing", "edit_sequential",
                 "aggregate_sequential", "plot_sequential"}),
    ("nichani", {"nichani_memory_capacity", "nichani_recall_capacity", "nichani_tradeoff", "nichani_sequential",
                 "aggregate_nichani", "plot_nichani_memories", "plot_nichani_recall", "plot_nichani_sequential"}),
])
def test_each_stage_runs_alone(tmp_path, tiny_config, stage, own):
    """`snakemake <stage>` plans the stage's own jobs (all of them) and, besides the fact sets and GD
    searches usability needs, nothing of another stage; the target rule is named after the stage."""
    proc = run_snakemake(tmp_path, stage, "-n", "--cores", "1", "--configfile", tiny_config, timeout=120)
    out = output_of(proc)
    assert proc.returncode == 0, out
    rules = set(job_stats(out)) - {stage}
    needs = {"measure_fact_set", "measure_capacity"} if stage == "usability" else set()
    assert rules == own | needs, (sorted(rules), out)


def test_gd_encdec_search_reads_the_constructions_table(tmp_path):
    """The capacity job of gd_encdec (built at the construction's m' and buckets) takes the fact
    set's closed-form table as input; GD's job does not."""
    copy_config_dir(tmp_path)
    point = "spherical/d32_n128_s0"
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", f"results/capacity/gd_encdec/{point}.tsv",
                         f"results/capacity/gd/{point}.tsv", timeout=120)
    out = output_of(proc)
    assert proc.returncode == 0, out
    inputs = {}
    for block in out.split("rule measure_capacity:")[1:]:
        lines = dict(line.strip().split(": ", 1) for line in block.splitlines()[1:4] if ": " in line)
        inputs[lines["output"].split("/")[2]] = set(lines["input"].split(", "))
    assert inputs == {"gd_encdec": {f"results/facts/{point}.pt", f"results/capacity/closed_form/{point}.tsv"},
                      "gd": {f"results/facts/{point}.pt"}}, out


def _dot_edges(dot: str) -> set[tuple[str, str]]:
    """(from rule, to rule) of a `snakemake --rulegraph` DOT text."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, flags=re.M))
    return {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)}


def _svg_edges(svg: Path) -> set[tuple[str, str]]:
    """(from rule, to rule) of a Graphviz SVG: node ids from each node's <title>, labels from its <text>."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ElementTree.parse(svg).getroot()
    labels, edges = {}, set()
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        title = g.find("s:title", ns)
        if g.get("class") == "node":
            labels[title.text] = g.find("s:text", ns).text
        elif g.get("class") == "edge":
            edges.add(tuple(title.text.split("->")))
    return {(labels[a], labels[b]) for a, b in edges}


def test_committed_rule_graph_is_the_workflows(tmp_path):
    """docs/rulegraph.svg (README) has exactly the rules and edges `snakemake --rulegraph` gives on
    the default config; regenerate it with the README's command when a rule or an edge changes."""
    proc = run_snakemake(tmp_path, "--rulegraph", "--configfile", ROOT / "config" / "config.yaml", timeout=300)
    assert proc.returncode == 0, output_of(proc)
    expected = _dot_edges(proc.stdout)
    assert ("measure_fact_set", "all") in expected and len(expected) > 40, sorted(expected)
    committed = _svg_edges(ROOT / "docs" / "rulegraph.svg")
    assert committed == expected, (f"missing in docs/rulegraph.svg: {sorted(expected - committed)}; "
                                   f"not in the workflow: {sorted(committed - expected)}")


def test_heavy_rules_ask_for_more_memory_and_time_on_a_retry(tmp_path):
    """Snakemake evaluates a rule's resources with the job's attempt number; on a retry (the profiles'
    `retries: 1`, after an out-of-memory or time-limit kill) the heavy rules ask for attempt x their
    base mem_mb and runtime. Evaluated through Snakemake's own Rule.expand_resources on the parsed
    workflow (the tiny config), in a subprocess."""
    import json
    import subprocess
    import sys

    code = f"""
import json
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.iocontainers import Wildcards
from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, ResourceSettings,
                                      StorageSettings)
with SnakemakeApi(OutputSettings(quiet={{"all"}})) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1),
                      config_settings=ConfigSettings(configfiles=[Path({str(TINY_CONFIG)!r})]),
                      storage_settings=StorageSettings(), snakefile=Path({str(ROOT / "Snakefile")!r}),
                      workdir=Path({str(tmp_path)!r}))
    wf.dag(DAGSettings())
    out = {{}}
    for rule in wf._workflow.rules:
        got = [rule.expand_resources(Wildcards(fromdict={{}}), [], a) for a in (1, 2, 3)]
        out[rule.name] = [[g.get("mem_mb"), g.get("runtime")] for g in got]
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    heavy = ("measure_fact_set", "measure_capacity", "measure_usability", "edit_base", "edit_facts", "edit_sequential",
             "nichani_memory_capacity", "nichani_recall_capacity", "nichani_tradeoff", "nichani_sequential")
    for name in heavy:
        (m1, t1), (m2, t2), (m3, t3) = res[name]
        assert m1 > 0 and t1 > 0 and (m2, t2) == (2 * m1, 2 * t1) and (m3, t3) == (3 * m1, 3 * t1), (name, res[name])
