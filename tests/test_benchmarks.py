"""The benchmark scripts run end to end on tiny arguments and write a well-formed table.

Their timings are not asserted (performance is measured by the scripts, see benchmarks/RESULTS.md);
these tests only keep the scripts from rotting, and check the logic of the GD time budget.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_bench_construction_tiny(tmp_path):
    out = tmp_path / "construction.tsv"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_construction.py"), "--threads", "1",
           "--n-keys", "600", "--n-values", "64", "--d", "16", "--code-dim", "16",
           "--budget-factor", "10", "--big-gd-width", "8", "--gd-n", "48", "--gd-d", "8", "--gd-epochs", "200",
           "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, timeout=600)
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
