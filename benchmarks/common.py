"""Helpers shared by two or more benchmarks."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

from factmlp.embeddings import make_key_value_tables
from factmlp.facts import FactSet, draw_fact_set, make_mapping

ROOT = Path(__file__).resolve().parents[1]  # the repository root (config/, workflow/)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and its wall time in seconds."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def spherical_fact_set(n_keys: int, n_values: int, d: int, *, tied: bool) -> FactSet:
    """A spherical fact set of any shape, for build-time benchmarks (tables seed 0, map seed 1):
    tied (|K| = |V|, a permutation) or untied (a random map onto |V| values)."""
    keys, values = make_key_value_tables("spherical", n_keys, n_values, d, tied=tied, seed=0)
    mapping = make_mapping(n_keys, n_values, kind="permutation" if tied else "random", seed=1)
    return FactSet(keys, values, mapping)


def pipeline_fact_set(d: int, n: int, *, seed: int = 0) -> FactSet:
    """The spherical, tied, permutation fact set the rule ``measure_fact_set`` draws for (d, n, seed):
    tables and map from seeds derived per stage, so that a point here is the pipeline's point. (Drawn
    from the raw ``seed``, the keys were the first rows of the NTK's gate G, built with the same seed:
    NTK needed 4,480 hidden units instead of 2,560 at d = 128, |K| = 2048.)"""
    return draw_fact_set({"kind": "spherical"}, n, n, d, tied=True, mapping="permutation", seed=seed)


def add_build_point_args(ap: argparse.ArgumentParser) -> None:
    """``--threads`` and the build point both build-time benchmarks measure (``construction``, ``codebook``):
    10^5 keys, 4,096 values, d = 256, a random map (:func:`spherical_fact_set`, untied)."""
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-keys", type=int, default=100_000)
    ap.add_argument("--n-values", type=int, default=4096)
    ap.add_argument("--d", type=int, default=256)
