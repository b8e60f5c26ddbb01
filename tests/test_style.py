"""The linters, run by pytest so that CI (.ci/run) and a plain `pytest` enforce them: ruff on the
Python code (rules and exclusions in pyproject.toml's [tool.ruff]) and snakefmt on the workflow.

Both come from the environment running the tests (the `test` extra, environment.yml), found next
to ``sys.executable``; a failure shows the linter's own report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess:
    exe = BIN / tool
    if not exe.exists():
        pytest.fail(f"{tool} is not installed next to {sys.executable} (pip install -e '.[test]')")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check():
    # --no-cache: leave no .ruff_cache in the checkout
    proc = _run("ruff", "check", "--no-cache", ".")
    assert proc.returncode == 0, f"ruff check failed:\n{proc.stdout}{proc.stderr}"


def test_snakefmt_check():
    proc = _run("snakefmt", "--check", "Snakefile", "workflow")
    assert proc.returncode == 0, (f"snakefmt --check failed (`snakefmt Snakefile workflow` fixes it):\n"
                                  f"{proc.stdout}{proc.stderr}")
