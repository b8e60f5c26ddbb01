"""Atomic file output, deterministic seed derivation and logging set-up.

Every output of the pipeline is written to a temporary file in the destination folder and
renamed into place, so a killed job never leaves a partial file under its final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

__all__ = [
    "atomic_path",
    "derive_seed",
    "tensor_digest",
    "save_tensors",
    "load_tensors",
    "write_tsv",
    "setup_logging",
]


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed derived from ``seed`` and ``tags`` (stable across runs and machines).

    Different stages draw from independent streams, e.g. ``derive_seed(s, "mapping")``, so
    that changing one stage's draws never shifts another's.
    """
    text = "/".join([str(int(seed))] + [str(t) for t in tags])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def tensor_digest(*tensors) -> str:
    """SHA-1 of the bytes of ``tensors`` (CPU, contiguous, in their dtype): the memo key of the
    per-process caches of results computed from a table (decodability, whitening choice, codebook)."""
    h = hashlib.sha1()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_tensors(obj: dict, path: str | os.PathLike) -> None:
    """``torch.save`` a dict of tensors and plain values, atomically."""
    import torch  # here, not at the top: table-only jobs (aggregation, plots) skip its 2-3 s import

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_tensors(path: str | os.PathLike) -> dict:
    """Load a dict written by :func:`save_tensors` (plain tensors only, ``weights_only``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"tensor file not found: {path}")
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def write_tsv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a tab-separated table atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def setup_logging(logfile: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``factmlp`` logger, warnings and (with ``logfile``) stderr to ``logfile``.

    Redirecting stderr puts a failing job's traceback into its Snakemake log, where
    ``--show-failed-logs`` and the user look for it.
    """
    logger = logging.getLogger("factmlp")
    logger.setLevel(level)
    logger.handlers.clear()
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(logfile, "w", buffering=1)  # noqa: SIM115 (lives as long as the job)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addHandler(handler)
    return logger
