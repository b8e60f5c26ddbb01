"""Wall and CPU time of the same jobs in two runs, from each run's per-job records: did shared cores slow one?

    python -m benchmarks job_times RUN_A RUN_B [--a-before 2026-12-06T07:30] [--a-after ...] [--b-before ...]
        [--out benchmarks/results/job_times.tsv]

RUN_A and RUN_B are run folders (clones the pipeline ran in). A job's record is the Snakemake
``benchmark:`` file of its rule under ``results/benchmarks/`` (``s`` = wall seconds, ``cpu_time`` =
CPU seconds), named by the job's stage and wildcards, so the same file name in both runs is the same
job. ``--a-before`` keeps only the jobs of A whose record was written before that UTC time (one
segment of a run that was cut, e.g. the part that ran beside a test suite), ``--a-after`` only
those written at or after it (the same for B). A run compared with itself lists its own jobs. Only the jobs both runs
have (after that filter) are compared: one row per stage folder and kind (``capacity/gd`` ...) and
a total, each with the job count and both runs' summed wall and CPU minutes. On a quiet machine a
single-threaded job's wall is about its CPU time; wall well above CPU means the job waited for a core.
"""

from __future__ import annotations

import argparse
import csv
import datetime
from pathlib import Path

import pandas as pd

from factmlp.io import write_tsv


def job_records(run: str | Path, before: float | None = None,
                after: float | None = None) -> dict[str, tuple[float, float]]:
    """{record path below results/benchmarks: (wall s, CPU s)} of a run, only those written in [after, before)."""
    root = Path(run) / "results" / "benchmarks"
    out = {}
    for path in sorted(root.rglob("*.tsv")):
        mtime = path.stat().st_mtime
        if (before is not None and mtime >= before) or (after is not None and mtime < after):
            continue
        with open(path) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if rows:
            out[path.relative_to(root).as_posix()] = (float(rows[0]["s"]), float(rows[0]["cpu_time"]))
    return out


def compare(a: dict, b: dict) -> pd.DataFrame:
    """One row per stage/kind over the jobs both have, then a total row (minutes)."""
    rows = []
    for key in sorted(set(a) & set(b)):
        parts = key.split("/")
        rows.append({"group": "/".join(parts[:2]) if len(parts) > 2 else parts[0],
                     "a_wall_min": a[key][0] / 60, "a_cpu_min": a[key][1] / 60,
                     "b_wall_min": b[key][0] / 60, "b_cpu_min": b[key][1] / 60})
    if not rows:
        raise SystemExit("job_times: the two runs have no job record in common")
    df = pd.DataFrame(rows)
    by = df.groupby("group", sort=True).agg(jobs=("a_wall_min", "size"), a_wall_min=("a_wall_min", "sum"),
                                            a_cpu_min=("a_cpu_min", "sum"), b_wall_min=("b_wall_min", "sum"),
                                            b_cpu_min=("b_cpu_min", "sum")).reset_index()
    total = {"group": "total", "jobs": len(df), **{c: df[c].sum() for c in
                                                   ("a_wall_min", "a_cpu_min", "b_wall_min", "b_cpu_min")}}
    return pd.concat([by, pd.DataFrame([total])], ignore_index=True).round(2)


def _utc(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_a")
    ap.add_argument("run_b")
    ap.add_argument("--a-before", help="UTC time (ISO): only A's jobs recorded before it")
    ap.add_argument("--a-after", help="UTC time (ISO): only A's jobs recorded at or after it")
    ap.add_argument("--b-before", help="UTC time (ISO): only B's jobs recorded before it")
    ap.add_argument("--b-after", help="UTC time (ISO): only B's jobs recorded at or after it")
    ap.add_argument("--out", default="benchmarks/results/job_times.tsv")
    args = ap.parse_args(argv)
    for run in (args.run_a, args.run_b):
        if not (Path(run) / "results" / "benchmarks").is_dir():
            raise SystemExit(f"job_times: {run}/results/benchmarks is not a folder (not a run?)")
    table = compare(job_records(args.run_a, _utc(args.a_before), _utc(args.a_after)),
                    job_records(args.run_b, _utc(args.b_before), _utc(args.b_after)))
    print(table.to_string(index=False))
    write_tsv(table, args.out)
    print(f"wrote {args.out}")
    return 0
