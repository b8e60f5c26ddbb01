"""Shared helpers for the workflow tests: the repo root, a Snakemake runner and a tiny config.

Snakemake is always run in a subprocess with ``--directory <workdir>`` (a tmp dir unless a
test says otherwise), so tests never read or write the repo's own results/ and logs/.

The Snakefile's ``configfile: "config/config.yaml"`` is relative to the working directory.
A workdir without config/ only sees the ``--configfile`` given on the command line; a workdir
with a copy of config/ behaves like the repo root, where a ``--configfile`` *extends*
config/config.yaml (mappings are merged, lists replaced).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SNAKEFILE = ROOT / "Snakefile"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"
PAPER_CONFIG = ROOT / "config" / "paper.yaml"
MEDIUM_CONFIG = ROOT / "config" / "medium.yaml"
TINY_CONFIG = ROOT / "tests" / "data" / "config_tiny.yaml"
# Benchmarks run the one way the README documents, ``python -m benchmarks NAME``, from a test's tmp
# dir (so nothing lands in the checkout) with the repository root on the path instead of the cwd.
BENCH_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


def bench_cmd(name: str) -> list[str]:
    """The command line that runs benchmark ``name`` (``python -m benchmarks NAME``)."""
    return [sys.executable, "-m", "benchmarks", name]

# Rules of the pipeline (besides the target rule ``all``).
PIPELINE_RULES = (
    "measure_fact_set",
    "measure_capacity",
    "aggregate_capacity",
    "aggregate_rho",
    "plot_capacity",
)


def run_snakemake(workdir, *args, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run Snakemake on the repo's Snakefile in ``workdir``; return the completed process.

    The process also runs with ``cwd=workdir``, so relative paths in ``args`` (e.g.
    ``--configfile config/paper.yaml``) resolve against the workdir. Output is captured as text;
    the workflow profile is disabled so that a user's or the repo's profile cannot leak in.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--workflow-profile",
        "none",
        *map(str, args),
    ]
    full = dict(os.environ, **(env or {}))
    full.setdefault("MPLBACKEND", "Agg")
    full.pop("SNAKEMAKE_PROFILE", None)
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=full)


def output_of(proc: subprocess.CompletedProcess) -> str:
    """stdout and stderr of a finished Snakemake run, as one string (for asserts and messages)."""
    return f"{proc.stdout}\n{proc.stderr}"


def job_stats(text: str) -> dict[str, int]:
    """The last "Job stats" table in Snakemake's output as {rule: count} (without "total")."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Job stats:"]
    if not starts:
        return {}
    stats: dict[str, int] = {}
    for line in lines[starts[-1] + 1 :]:
        parts = line.split()
        if not parts:
            if stats:
                break
            continue
        if parts[0] in ("job",) or set(parts[0]) <= {"-"}:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            stats[parts[0]] = int(parts[1])
    return stats


def load_yaml(path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def write_yaml(data: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    return path


def expected_jobs(config: dict) -> dict:
    """Capacity jobs and fact sets a (validated or raw) config asks for, as the workflow defines them.

    Returns ``{"capacity": [(sweep, method, family, d, n, seed), ...], "usability": [same],
    "fact_sets": {(family, d, n, seed)}, "nichani": {part: [job, ...]}}`` (a usability job needs the
    capacity of its method too; see :func:`nichani_jobs`).
    """
    capacity = []
    for sweep in config["capacity"]["sweeps"]:
        for method, family, point, seed in itertools.product(
            sweep["methods"], sweep["families"], sweep["points"], sweep.get("seeds", [0])
        ):
            capacity.append((sweep["name"], method, family, point["d"], point["n_facts"], seed))
    usability = []
    for sweep in config.get("usability", {}).get("sweeps", []):
        for method, family, point, seed in itertools.product(
            sweep["methods"], sweep["families"], sweep["points"], sweep.get("seeds", [0])
        ):
            usability.append((sweep["name"], method, family, point["d"], point["n_facts"], seed))
    sets = {(fam, d, n, s) for _, _, fam, d, n, s in capacity + usability}
    dec = config.get("decodability", {})
    for fam, point, seed in itertools.product(dec.get("families", []), dec.get("points", []), dec.get("seeds", [0])):
        sets.add((fam, point["d"], point["n_facts"], seed))
    return {"capacity": capacity, "usability": usability, "fact_sets": sets, "nichani": nichani_jobs(config)}


def nichani_jobs(config: dict) -> dict[str, list]:
    """Jobs of the Nichani stage per part, from a raw config (absent keys: the schema's empty lists).

    ``linear``/``mlp``: (memory, d, m, seed); ``recall``: (d, heads, head_dim, mlp_width, seed);
    ``tradeoff``: (heads, mlp_width, seed); ``sequential``: (model, seed).
    """
    nic = config.get("nichani") or {}
    lin, mlp = nic.get("linear", {}), nic.get("mlp", {})
    lin_sizes = [(d, d) for d in lin.get("dims", [])] + [(lin.get("rank_d", 32), r) for r in lin.get("ranks", [])]
    linear = [(mem, d, m, s) for mem in lin.get("memories", ["outer", "trained"]) for d, m in lin_sizes
              for s in lin.get("seeds", [0])]
    mlps = [(mem, d, m, s) for mem in ("trained", "ntk")
            for d, m in itertools.product(mlp.get(mem, {}).get("dims", []), mlp.get(mem, {}).get("widths", []))
            for s in mlp.get("seeds", [0])]
    rec, tr, seq = nic.get("recall", {}), nic.get("tradeoff", {}), nic.get("sequential", {})
    recall = [(p["d"], p["heads"], p["head_dim"], p["mlp_width"], s) for p in rec.get("points", [])
              for s in rec.get("seeds", [0])]
    tradeoff = list(itertools.product(tr.get("heads", []), tr.get("mlp_widths", []), tr.get("seeds", [0])))
    sequential = list(itertools.product(seq.get("models", []), seq.get("seeds", [0])))
    return {"linear": linear, "mlp": mlps, "recall": recall, "tradeoff": tradeoff, "sequential": sequential}


def copy_config_dir(workdir) -> Path:
    """Copy the repo's config/ into ``workdir`` (so the Snakefile's default configfile is found)."""
    dest = Path(workdir) / "config"
    shutil.copytree(ROOT / "config", dest)
    return dest


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    """Path of a copy of tests/data/config_tiny.yaml in ``tmp_path`` (the whole pipeline in ~30 s)."""
    dest = tmp_path / "config_tiny.yaml"
    shutil.copyfile(TINY_CONFIG, dest)
    return dest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, str, Path]:
    """One uninterrupted run of the tiny config in a session tmp workdir, with ``--cache`` into a
    session cache directory: (workdir, its output, cache directory). Shared by the end-to-end test
    (which reruns in it, leaving every table as it was), the resilience test (which compares its
    tables with these) and the cache test (which reruns from this cache)."""
    work = tmp_path_factory.mktemp("tiny_run")
    cache = tmp_path_factory.mktemp("tiny_cache")
    proc = run_snakemake(work, "--cores", "2", "--cache", "--configfile", TINY_CONFIG, timeout=600,
                         env={"SNAKEMAKE_OUTPUT_CACHE": str(cache)})
    out = output_of(proc)
    assert proc.returncode == 0, out
    return work, out, cache


@pytest.fixture(scope="module")
def single_thread():
    """Run a module's torch code on one thread (restored afterwards): numerical tests are small,
    and on 2 busy cores extra threads only contend."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
