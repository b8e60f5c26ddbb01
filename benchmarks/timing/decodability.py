"""Benchmark: wall time of decodability(V) at growing |V| and d (target: |V|=4096, d=256 in minutes).

    python -m benchmarks decodability [--threads 2] [--out benchmarks/results/decodability.tsv]

Writes one row per (family, n, d): seconds, rho, the certified gap, and the thread count.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from factmlp.decodability import decodability
from factmlp.embeddings import make_embeddings
from factmlp.io import write_tsv

CASES = [("spherical", 1024, 64, {}), ("spike", 1024, 64, {"beta": 4.0}),
         ("spherical", 4096, 256, {}), ("spike", 4096, 256, {"beta": 4.0})]


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/decodability.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for kind, n, d, params in CASES:
        values = make_embeddings(kind, n, d, seed=0, **params)
        t0 = time.perf_counter()
        dec = decodability(values)
        secs = time.perf_counter() - t0
        rows.append({"family": kind, **params, "n_values": n, "d": d, "threads": args.threads,
                     "seconds": round(secs, 2), "rho": dec.rho,
                     "max_gap": float((dec.rho_upper - dec.rho_i).max())})
        print(rows[-1], flush=True)
    write_tsv(pd.DataFrame(rows), args.out)
