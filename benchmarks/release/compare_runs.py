"""Do two runs (or snapshots) hold the same results? Every results table compared, timing columns dropped.

    python -m benchmarks compare_runs docs/results/medium RUN/results [--allow-new]

Each folder is a run's ``results/`` or a snapshot under ``docs/results/``: its ``claims.tsv`` and
``tables/*.tsv`` are compared as text (:func:`factmlp.tables.compare_runs`), without the columns that
measure a job (wall time, memory: :func:`factmlp.tables.is_timing_column`) and without the run
records (benchmarks.tsv, runtimes.tsv). One line per table: ``equal``, ``DIFFERENT`` with the columns
and the first row that differ, or ``only in A`` / ``only in B``. Exit 0 if every table of A is in B and
equal (``--allow-new``: tables only in B, e.g. a stage added since A, do not count against it),
else 1. Used to check that a refactor or a rerun reproduced a committed snapshot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from factmlp.tables import compare_runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="a run's results/ or a snapshot folder (the reference)")
    ap.add_argument("b", help="the run to check against it")
    ap.add_argument("--allow-new", action="store_true", help="tables only in B are not a difference")
    args = ap.parse_args(argv)
    for folder in (args.a, args.b):
        if not (Path(folder) / "claims.tsv").is_file() and not (Path(folder) / "tables").is_dir():
            print(f"compare_runs: {folder}: no claims.tsv or tables/ (a run's results/ or a snapshot folder)",
                  file=sys.stderr)
            return 2
    r = compare_runs(args.a, args.b)
    for name in r["equal"]:
        print(f"equal      {name}")
    for name, why in r["different"].items():
        print(f"DIFFERENT  {name}: {why}")
    for name in r["only_a"]:
        print(f"only in A  {name}")
    for name in r["only_b"]:
        print(f"only in B  {name}")
    ok = not r["different"] and not r["only_a"] and (args.allow_new or not r["only_b"])
    print(f"{len(r['equal'])} equal, {len(r['different'])} different, {len(r['only_a'])} only in A, "
          f"{len(r['only_b'])} only in B: {'same results' if ok else 'NOT the same results'}")
    return 0 if ok else 1
