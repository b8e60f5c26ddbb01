"""A job's own run-time record (factmlp.jobstats): what it measures is checked against what a child
process is made to do, and the per-rule summary against hand-computed medians and maxima."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pandas as pd
import pytest

from factmlp.jobstats import BENCHMARK_COLUMNS, runtime_summary, write_job_benchmark
from factmlp.schemas import validate_table

CHILD = """
import json, sys, time
import numpy as np
from factmlp.jobstats import job_benchmark
t = time.process_time()
block = np.ones(int(sys.argv[1]) * 2**20 // 8)  # touch sys.argv[1] MiB
while time.process_time() - t < float(sys.argv[2]):  # burn sys.argv[2] s of CPU
    block.sum()
time.sleep(0.5)  # wall time that is not CPU time
print(json.dumps(job_benchmark()))
"""


def _child(mib: int, cpu_s: float) -> tuple[dict, float]:
    """The child's record and the wall time the parent waited for it."""
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-c", CHILD, str(mib), str(cpu_s)], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout), time.monotonic() - t


def test_peak_memory_and_cpu_time_follow_what_the_process_did():
    ballast = bytearray(1200 * 2**20)  # a large parent: its peak must not leak into the children's
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    (small, _), (big, waited) = _child(8, 0.1), _child(400, 0.6)
    del ballast
    assert small["max_rss"] < 1000, small  # the child's own peak (python, numpy), not the parent's
    assert big["max_rss"] - small["max_rss"] >= 350  # the 400 MiB array, in MiB (not KiB, not bytes)
    assert big["cpu_time"] >= 0.55 and small["cpu_time"] >= 0.05
    # wall time from the process's start: the CPU loop and the 0.5 s sleep at least, and no more
    # than the parent waited for the whole process
    assert 0.5 <= big["s"] <= waited + 0.05, (big, waited)
    assert big["mean_load"] == pytest.approx(100.0 * big["cpu_time"] / big["s"], rel=0.02)  # of rounded values
    h, m, s = map(int, big["h:m:s"].split(":"))
    assert 3600 * h + 60 * m + s == round(big["s"])


def test_record_is_one_row_in_snakemakes_benchmark_format(tmp_path):
    path = tmp_path / "job.tsv"
    row = write_job_benchmark(path)
    table = pd.read_csv(path, sep="\t")
    assert list(table.columns) == BENCHMARK_COLUMNS and len(table) == 1
    assert table.loc[0, "s"] == pytest.approx(row["s"]) and table.loc[0, "max_rss"] > 0
    assert table[["max_vms", "max_uss", "max_pss", "io_in", "io_out"]].isna().all().all()  # not sampled: empty
    validate_table(table, "benchmark_job")


def test_runtime_summary_per_rule():
    bench = pd.DataFrame({"rule": ["a", "a", "a", "b"], "s": [1.0, 5.0, 3.0, 2.0], "cpu_time": [1, 4, 2, 2],
                          "max_rss": [100.0, 300.0, 200.0, 50.0]})
    out = runtime_summary(bench)
    validate_table(out, "runtimes")
    a = out.set_index("rule").loc["a"]
    assert list(out["rule"]) == ["a", "b"]  # slowest job first
    assert (a["jobs"], a["wall_s_median"], a["wall_s_max"], a["wall_s_total"], a["cpu_s_total"],
            a["max_rss_mib"]) == (3, 3.0, 5.0, 9.0, 7, 300.0)
    assert runtime_summary(bench.iloc[:0]).empty
