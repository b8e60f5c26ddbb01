"""factmlp's benchmarks: measurements made outside the pipeline, each writing a table.

One layout, one way to run. Every benchmark is a module in one of three groups and is run from the
repository root as

    python -m benchmarks                  # list every benchmark: group, name, what it measures
    python -m benchmarks NAME [ARGS...]   # run one (``NAME --help`` for its options)

- ``benchmarks/timing/``: speed and memory targets (build time, cost per round, GPU checks), each
  against a baseline measured in the same run on the same machine.
- ``benchmarks/diagnosis/``: studies behind a verdict (why a claim fails, which design a claim uses,
  how far a fix goes).
- ``benchmarks/release/``: tools that turn a finished run into committed results (snapshots, the
  efficiency table, job times from a Snakemake log).

Each module has ``main(argv) -> int | None`` and a docstring whose first line says what it measures;
helpers two or more benchmarks share live in :mod:`benchmarks.common`. Tables go to
``benchmarks/results/`` (or ``--out``); what they showed is written up in ``benchmarks/RESULTS.md``.
Timings are never asserted in tests (tests/test_benchmarks.py runs each on a tiny case).
"""

GROUPS = ("timing", "diagnosis", "release")
