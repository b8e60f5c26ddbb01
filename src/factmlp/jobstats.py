"""Run time and memory of a job, recorded by the job itself, and their summary per rule.

Snakemake's ``benchmark:`` directive times a job from outside, but Snakemake refuses it on a rule
with ``cache: True`` (a result taken from the cache has no run to time), and every heavy rule that
makes an artifact here is cached. Those jobs therefore write their own record, in the benchmark
file's format (:data:`BENCHMARK_COLUMNS`, one row), as one more output: a cache hit restores the
record of the run that computed the result, which is what a user sizing an allocation wants.

What is measured, and why so:
- ``s``: wall seconds since the *process* started (``/proc/self/stat``), so Python's start-up and
  the imports (torch: ~2 s) count as they do in Snakemake's own benchmark; where /proc is absent,
  since this module was imported.
- ``cpu_time``: user + system CPU seconds of the process (``resource.getrusage``); ``mean_load``:
  100 * cpu_time / s, Snakemake's "mean CPU load" in percent (above 100 with several threads).
- ``max_rss``: the process's peak resident set in MiB: ``VmHWM`` of /proc/self/status, the
  high-water mark of this program's own address space. Not ``ru_maxrss``: Linux keeps that across
  ``execve``, so a job forked from a large parent (Snakemake, pytest) would report the parent's
  peak (found by a test: two children of a 1.2-GiB pytest both said 1,232 MiB). Where /proc is
  absent, ``ru_maxrss`` (KiB on Linux, bytes on macOS). Snakemake samples the RSS every 30 s and can
  miss a short peak; a high-water mark cannot.
- ``max_vms``, ``max_uss``, ``max_pss``, ``io_in``, ``io_out`` need a sampling thread (psutil) and are
  left empty rather than guessed.
"""

from __future__ import annotations

import os
import resource
import sys
import time

import pandas as pd

__all__ = ["BENCHMARK_COLUMNS", "process_seconds", "peak_rss_mib", "PeakWindow", "job_benchmark", "write_job_benchmark",
           "runtime_summary"]

#: The columns of a Snakemake benchmark file (snakemake 9.27.1), in its order.
BENCHMARK_COLUMNS = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load",
                     "cpu_time"]

_IMPORTED = time.time()


def process_seconds() -> float:
    """Wall seconds since this process started (Linux: /proc; elsewhere: since this module's import)."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of proc(5), counted after "pid (comm)"
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time() - _IMPORTED


def peak_rss_mib() -> float:
    """This program's peak resident set in MiB (see the module docstring)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024 if sys.platform == "darwin" else 1024)


class PeakWindow:
    """Peak resident set (MiB) of one stretch of a program, e.g. one round of sequential editing:
    :meth:`start` resets the kernel's peak (``5`` to /proc/self/clear_refs, Linux >= 4.0) and
    :meth:`peak` reads it. Where the reset is not possible the peak is the program's so far
    (``reset`` False, said in the tables). The window's peaks also keep the program's overall peak
    (:attr:`overall`), which the reset erases from VmHWM."""

    def __init__(self) -> None:
        self.overall = peak_rss_mib()
        self.reset = False

    def start(self) -> None:
        self.overall = max(self.overall, peak_rss_mib())
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self.reset = True
        except OSError:
            self.reset = False

    def peak(self) -> float:
        p = peak_rss_mib()
        self.overall = max(self.overall, p)
        return p


def job_benchmark() -> dict:
    """This process's record so far: one row of :data:`BENCHMARK_COLUMNS`."""
    wall = process_seconds()
    use = resource.getrusage(resource.RUSAGE_SELF)
    cpu = use.ru_utime + use.ru_stime
    rss_mib = peak_rss_mib()
    h, rem = divmod(int(round(wall)), 3600)
    return {"s": round(wall, 4), "h:m:s": f"{h}:{rem // 60:02d}:{rem % 60:02d}", "max_rss": round(rss_mib, 2),
            "max_vms": None, "max_uss": None, "max_pss": None, "io_in": None, "io_out": None,
            "mean_load": round(100.0 * cpu / wall, 2) if wall > 0 else None, "cpu_time": round(cpu, 2)}


def write_job_benchmark(path) -> dict:
    """Write :func:`job_benchmark` to ``path`` (a one-row TSV in Snakemake's benchmark format, written
    atomically) and return it; call it last in a job."""
    from .io import write_tsv

    row = job_benchmark()
    write_tsv(pd.DataFrame([row], columns=BENCHMARK_COLUMNS), path, schema="benchmark_job")
    return row


def runtime_summary(bench: pd.DataFrame) -> pd.DataFrame:
    """Per rule of the benchmarks table (columns ``rule``, ``s``, ``cpu_time``, ``max_rss``): number of
    jobs, wall seconds (median, max, total), CPU seconds in all and the largest peak memory (MiB),
    slowest rule first: what a cluster allocation per rule is sized from."""
    cols = ["rule", "jobs", "wall_s_median", "wall_s_max", "wall_s_total", "cpu_s_total", "max_rss_mib"]
    if bench.empty:
        return pd.DataFrame(columns=cols)
    num = bench.assign(**{c: pd.to_numeric(bench[c], errors="coerce") for c in ("s", "cpu_time", "max_rss")})
    out = num.groupby("rule").agg(jobs=("s", "size"), wall_s_median=("s", "median"), wall_s_max=("s", "max"),
                                  wall_s_total=("s", "sum"), cpu_s_total=("cpu_time", "sum"),
                                  max_rss_mib=("max_rss", "max")).reset_index()
    out = out.round({c: 3 for c in cols[2:]})
    return out.sort_values(["wall_s_max", "rule"], ascending=[False, True]).reset_index(drop=True)[cols]
