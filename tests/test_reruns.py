"""Reruns follow what a job reads (issue 16): a job's parameters hold exactly the settings its script
reads plus ``code``, the hash of its script and of the library modules it imports
(:mod:`factmlp.codehash`), and the profiles drop Snakemake's mtime-based code trigger.

The workflow tests dry-run a copy of the tiny run (results and Snakemake's metadata) against a copy
of the workflow and library, so that a library edit can be made without touching the repository.
Both directions are checked: what must rerun does, and what must not does not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, TINY_CONFIG, job_stats, load_yaml, output_of, write_yaml
from factmlp.codehash import code_hash, import_closure

TRIGGERS = ("--rerun-triggers", "mtime", "params", "input", "software-env")  # as profiles/default


# ---- factmlp.codehash on a package made for the test (independent of the repository's layout)

def _package(root: Path) -> Path:
    """pkg/{__init__, a, b, c}.py and pkg/sub/{__init__, d}.py; a imports b inside a function
    (relatively), c is imported by nothing; the script imports pkg.a and, with `from pkg.sub import d`,
    a submodule by name."""
    files = {
        "pkg/__init__.py": "VERSION = 1\n",
        "pkg/a.py": "def f():\n    from .b import g\n    return g()\n",
        "pkg/b.py": "import os\n\ndef g():\n    return os.sep\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from ..a import f\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    script = root / "script.py"
    script.write_text("import numpy\nfrom pkg.a import f\nfrom pkg.sub import d\nprint(f(), d)\n")
    return script


def test_import_closure_follows_the_package_and_nothing_else(tmp_path):
    script = _package(tmp_path)
    got = {p.relative_to(tmp_path).as_posix() for p in import_closure([script], tmp_path, "pkg")}
    assert got == {"pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/sub/__init__.py", "pkg/sub/d.py"}


def test_code_hash_changes_with_the_closure_only(tmp_path):
    script = _package(tmp_path)

    def fresh():
        from factmlp import codehash

        codehash._code_hash.cache_clear()
        codehash._imported.cache_clear()
        return code_hash(script, tmp_path, "pkg")

    h0 = fresh()
    (tmp_path / "pkg/c.py").write_text("import pkg.a  # unused module edited\n")
    later = time.time() + 100
    os.utime(tmp_path / "pkg/b.py", (later, later))  # touched, same text
    assert fresh() == h0
    (tmp_path / "pkg/b.py").write_text("import os\n\ndef g():\n    return os.pathsep\n")
    h1 = fresh()
    assert h1 != h0
    script.write_text(script.read_text() + "# comment\n")
    assert fresh() != h1


def test_every_script_imports_what_its_closure_names():
    """On the repository: each script's closure holds the modules it imports by name (a sanity check
    of the resolver on the real layout, e.g. `from factmlp.editing.experiment import ...`)."""
    import ast

    for script in sorted((ROOT / "scripts").glob("*.py")):
        closure = {p.relative_to(ROOT / "src").with_suffix("").as_posix().replace("/", ".")
                   for p in import_closure([script], ROOT / "src")}
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("factmlp"):
                assert node.module in closure or f"{node.module}.__init__" in closure, (script.name, node.module)


# ---- the workflow on a copy of the tiny run

@pytest.fixture
def tiny_copy(tiny_run, tmp_path):
    """(repo copy, workdir copy): the workflow, scripts and library, and the tiny run's results with
    Snakemake's metadata (modification times kept)."""
    work, _, _ = tiny_run
    repo = tmp_path / "repo"
    for part in ("workflow", "scripts", "src"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy2(ROOT / "Snakefile", repo / "Snakefile")
    dest = tmp_path / "work"
    shutil.copytree(work, dest, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    return repo, dest


def _plan(repo: Path, work: Path, config: Path) -> dict[str, int]:
    """Jobs a dry run would run, by rule (empty when nothing is to be done)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(repo / "Snakefile"), "--directory", str(work),
           "--workflow-profile", "none", *TRIGGERS, "--cores", "2", "--configfile", str(config)]
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300, env=env)
    out = output_of(proc)
    assert proc.returncode == 0, out
    return job_stats(out)


@pytest.mark.slow
def test_changes_rerun_what_they_affect_and_nothing_else(tiny_copy, tmp_path):
    repo, work = tiny_copy
    assert _plan(repo, work, TINY_CONFIG) == {}, "the copy of the tiny run should be complete"

    # Must NOT rerun the heavy jobs: a plot threshold, one more edit fraction, a touched script
    # and an edited module that no heavy job imports... except the ones listed.
    cfg = load_yaml(TINY_CONFIG)
    cfg["usability"]["usable_at"] = 0.95
    cfg["editing"]["fractions"] = [*cfg["editing"]["fractions"], 0.5]
    later = time.time() + 100
    for script in (repo / "scripts").glob("*.py"):
        os.utime(script, (later, later))  # as a git checkout that rewrote unchanged scripts
    plan = _plan(repo, work, write_yaml(cfg, tmp_path / "cosmetic.yaml"))
    n_seeds = len(cfg["editing"]["seeds"])
    assert plan.get("edit_facts") == n_seeds, plan  # the new fraction only, on each seed's base
    assert plan.get("plot_usability") == 1, plan
    for rule in ("measure_usability", "edit_base", "measure_fact_set", "measure_capacity"):
        assert rule not in plan, (rule, plan)

    # One more editing seed: its own base model and edits only (the seed list is no job's parameter)
    cfg = load_yaml(TINY_CONFIG)
    cfg["editing"]["seeds"] = [*cfg["editing"]["seeds"], 9]
    plan = _plan(repo, work, write_yaml(cfg, tmp_path / "seed.yaml"))
    assert plan.get("edit_base") == 1 and plan.get("edit_facts") == len(cfg["editing"]["fractions"]), plan

    # Must rerun: a training setting of the base model, and an edit of a module that usability
    # jobs import (lipschitz.py) but capacity jobs do not.
    cfg = load_yaml(TINY_CONFIG)
    cfg["editing"].setdefault("base", {})["epochs"] = 7
    lip = repo / "src" / "factmlp" / "lipschitz.py"
    original = lip.read_text()
    lip.write_text(original + "\n# edited\n")
    plan = _plan(repo, work, write_yaml(cfg, tmp_path / "science.yaml"))
    n_usability = sum(1 for _ in (work / "results" / "usability").rglob("*.tsv"))
    assert plan.get("measure_usability") == n_usability > 0, plan
    assert plan.get("edit_base") == n_seeds and plan.get("edit_facts") == n_seeds, plan
    for rule in ("measure_fact_set", "measure_capacity"):
        assert rule not in plan, (rule, plan)
    lip.write_text(original)

    # A closed-form method's setting: the fact-set jobs that search it rerun (and rewrite their
    # sets), and so do the usability jobs of that method; the GD searches and GD usability jobs
    # of the same sets do not (their fact-set input is ancient(), the set's settings are params).
    cfg = load_yaml(TINY_CONFIG)
    cfg["methods"].setdefault("construction", {})["projection"] = "gaussian"
    plan = _plan(repo, work, write_yaml(cfg, tmp_path / "closed_form.yaml"))
    n_construction = sum(1 for _ in (work / "results" / "usability" / "construction").rglob("*.tsv"))
    assert plan.get("measure_fact_set", 0) >= 1, plan
    assert plan.get("measure_usability") == n_construction > 0, plan
    assert "measure_capacity" not in plan and "edit_base" not in plan, plan


def _reordered(obj):
    """``obj`` with every mapping's keys in reverse order (a YAML formatter's doing), values unchanged."""
    if isinstance(obj, dict):
        return {k: _reordered(obj[k]) for k in reversed(list(obj))}
    if isinstance(obj, list):
        return [_reordered(v) for v in obj]
    return obj


@pytest.mark.slow
def test_reordering_the_config_keys_reruns_nothing(tiny_copy, tmp_path):
    """Reruns follow values, not key order: the same config with every mapping's keys reversed
    plans no job after a finished run (params are compared as canonical, key-sorted dicts)."""
    repo, work = tiny_copy
    plan = _plan(repo, work, write_yaml(_reordered(load_yaml(TINY_CONFIG)), tmp_path / "reordered.yaml"))
    assert plan == {}, plan
