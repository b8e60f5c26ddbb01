"""Scale-out and rerun guarantees, on the tiny config in tmp workdirs:

- the SLURM executor plugin runs the capacity stage of the tiny config on a one-node SLURM
  cluster on localhost (tests/slurm/setup_slurm.sh installs Debian's
  slurmctld/slurmd/munge and starts them);
- between-workflow caching: with --cache and SNAKEMAKE_OUTPUT_CACHE, a rerun after deleting
  results/ takes every cached rule's outputs from the cache instead of recomputing them;
- determinism: fresh runs with the same seeds give the reference run's tables (timing columns
  aside): the kill -9 test recomputes the capacity and usability stages without a cache, the
  cache test every job that is not cached; same-seed unit tests cover the rest (test_editing,
  test_nichani);
- resilience: a run killed with SIGKILL mid-way, then rerun, gives the same tables as an
  uninterrupted run, and leaves no temporary files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, SNAKEFILE, TINY_CONFIG, job_stats, load_yaml, output_of, run_snakemake, write_yaml
from factmlp.tables import is_timing_column

pytestmark = pytest.mark.slow

CACHED_RULES = ("measure_fact_set", "measure_capacity", "edit_base")  # a subset of the cached rules


def table_digests(results: Path) -> dict[str, str]:
    """sha256 of every results/tables/*.tsv and results/claims.tsv with timing columns dropped
    (wall times differ between runs; every other value must not)."""
    out = {}
    for path in sorted(list((results / "tables").glob("*.tsv")) + [results / "claims.tsv"]):
        if path.name in ("benchmarks.tsv", "runtimes.tsv"):
            continue
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        df = df[[c for c in df.columns if not is_timing_column(c)]]
        out[path.name] = hashlib.sha256(df.to_csv(sep="\t", index=False).encode()).hexdigest()
    return out


@pytest.fixture(scope="module")
def reference_run(tiny_run) -> Path:
    """The session's uninterrupted tiny run (tests/conftest.py::tiny_run)."""
    return tiny_run[0]


def _snakemake_cmd(workdir: Path, *args) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
            "--workflow-profile", "none", *map(str, args)]


def test_kill_9_mid_run_then_rerun_equals_an_uninterrupted_run(reference_run, tmp_path):
    """On the capacity and usability stages of the tiny config (the jobs that write large outputs:
    fact sets, MLPs, GD checkpoints; the other stages' tables come from the same kind of jobs):
    killed mid-run, rerun, every table equals the uninterrupted reference run's."""
    work = tmp_path / "work"
    work.mkdir()
    config = _capacity_and_usability_only(tmp_path / "config_cap_usab.yaml")
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(_snakemake_cmd(work, "--cores", "2", "--configfile", config), cwd=work,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    # wait until some jobs have finished, then SIGKILL the whole process group mid-run
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = (tmp_path / "killed.log").read_text().count("Finished jobid")
        if done >= 5:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed; kill earlier"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    assert not (work / "results" / "claims.tsv").exists()
    rerun = run_snakemake(work, "--cores", "2", "--configfile", config, "--rerun-incomplete", timeout=600)
    out = output_of(rerun)
    if rerun.returncode != 0 and "LockException" in out:
        run_snakemake(work, "--unlock", "--configfile", config)
        rerun = run_snakemake(work, "--cores", "2", "--configfile", config, "--rerun-incomplete", timeout=600)
        out = output_of(rerun)
    assert rerun.returncode == 0, out
    mine, ref = table_digests(work / "results"), table_digests(reference_run / "results")
    mine.pop("claims.tsv")  # C8/C9 are n/a without their stages
    assert {"capacity.tsv", "rho.tsv", "usability.tsv"} <= set(mine) <= set(ref)
    assert mine == {k: ref[k] for k in mine}, {k for k in mine if mine[k] != ref[k]}
    assert [p for p in (work / "results").rglob("*") if p.name.startswith(".")] == []


def test_cache_rerun_takes_cached_rules_from_the_cache_and_equals_the_reference(tiny_run, tmp_path):
    """The session's reference run stored its cached rules' outputs (``--cache``); a run in a fresh
    workdir with that cache must take every cached job from it, run the rest, and end with the
    same tables. (Same-seed determinism of an independent recomputation: the jobs run here that
    are not cached, and the kill -9 test, which recomputes the capacity and usability stages in a
    fresh workdir with no cache.)"""
    reference, _, cache = tiny_run
    assert any(cache.iterdir()), "the reference run stored nothing in the cache"
    work = tmp_path / "work"
    second = _run_env(work, {"SNAKEMAKE_OUTPUT_CACHE": str(cache)}, "--cores", "2", "--cache",
                      "--configfile", TINY_CONFIG)
    out = output_of(second)
    assert second.returncode == 0, out
    stats = job_stats(out)
    for rule in CACHED_RULES:
        assert stats.get(rule), f"rule {rule} did not run at all:\n{out}"
    # every cached job's output came from the cache: one "retrieved from cache" line per job
    n_cached_jobs = sum(stats[r] for r in CACHED_RULES)
    assert out.count("from the cache") + out.count("from cache") >= n_cached_jobs, out
    # and none of them ran its script (the script would have rewritten its log)
    ran = [line for line in out.splitlines() if line.strip().startswith(tuple(f"rule {r}:" for r in CACHED_RULES))]
    assert len(ran) <= n_cached_jobs
    assert (work / "results" / "claims.tsv").is_file()
    ref, fresh = table_digests(reference / "results"), table_digests(work / "results")
    assert set(ref) == set(fresh) and len(ref) >= 5
    assert fresh == ref, {k for k in ref if ref[k] != fresh.get(k)}


def _run_env(workdir: Path, env: dict, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    full = dict(os.environ, MPLBACKEND="Agg", **env)
    full.pop("SNAKEMAKE_PROFILE", None)
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(_snakemake_cmd(workdir, *args), cwd=workdir, capture_output=True, text=True,
                          timeout=timeout, env=full)


def _capacity_and_usability_only(path: Path) -> Path:
    """The tiny config without editing and Nichani stages (23 jobs instead of 41): every kind of
    job the executor handles (cached, benchmarked, GD, plots, claims) at half the submissions;
    the dropped stages run end to end locally in tests/test_workflow.py."""
    cfg = load_yaml(TINY_CONFIG)
    cfg["editing"]["base_mlps"] = []
    nic = cfg["nichani"]
    nic["linear"].update(dims=[], ranks=[])
    nic["mlp"]["trained"].update(dims=[], widths=[])
    nic["mlp"]["ntk"].update(dims=[], widths=[])
    nic["recall"]["points"] = []
    nic["tradeoff"].update(heads=[], mlp_widths=[])
    nic["sequential"]["models"] = []
    return write_yaml(cfg, path)


def _capacity_only(path: Path) -> Path:
    """The capacity stage of the tiny config (12 jobs): fact sets (grouped on SLURM), GD searches,
    tables, figures and claims; the other stages' jobs are submitted the same way."""
    cfg = load_yaml(_capacity_and_usability_only(path))
    cfg["usability"]["sweeps"] = []
    return write_yaml(cfg, path)


@pytest.mark.slurm
def test_slurm_executor_runs_the_tiny_config(tmp_path):
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("the local SLURM cluster needs root and apt-get")
    state = tmp_path / "slurm"
    setup = subprocess.run(["bash", str(ROOT / "tests/slurm/setup_slurm.sh")], capture_output=True, text=True,
                           timeout=600, env=dict(os.environ, SLURM_TEST_DIR=str(state)))
    assert setup.returncode == 0, setup.stdout + setup.stderr
    try:
        work = tmp_path / "work"
        env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        # The profile is the one users take to a cluster; the overrides are this test cluster's:
        # partition "debug", squeue for job status (no accounting database), quick first status check.
        config = _capacity_only(tmp_path / "config_slurm.yaml")
        proc = _run_env(work, env, "--profile", ROOT / "profiles" / "slurm", "--configfile", config,
                        "--jobs", "4", "--default-resources", "slurm_partition=debug",
                        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
                        "--latency-wait", "5", timeout=600)
        out = output_of(proc)
        assert proc.returncode == 0, out
        assert (work / "results" / "claims.tsv").is_file()
        # the compute jobs went through sbatch, the short ones grouped 16 per submission, while
        # the tables and figures were made on this node (localrules)
        submitted = out.count("has been submitted with SLURM jobid")
        stats = job_stats(out)
        local = {r: n for r, n in stats.items() if r.startswith(("aggregate_", "plot_")) or r in ("all", "claims")}
        remote = sum(stats.values()) - sum(local.values())
        assert 0 < submitted < remote, out
        assert all(f"localrule {r}:" in out for r in local), out
    finally:
        subprocess.run(["bash", str(ROOT / "tests/slurm/teardown_slurm.sh")],
                       env=dict(os.environ, SLURM_TEST_DIR=str(state)))
