"""Which torch device a job runs on: a runtime choice, not a science setting.

The device is not part of the config (so moving a run to a GPU box or a cluster edits no config,
reruns nothing and keeps the between-workflow cache keys): a job runs on a GPU when its rule was
given the standard Snakemake resource ``gpu`` (``--set-resources measure_capacity:gpu=1``, as the
``profiles/gpu`` and ``profiles/slurm-gpu`` profiles do), else on the CPU.

On a machine with several GPUs, every GPU job must get its own: Snakemake only counts them
(``--resources gpu=4`` runs at most four GPU jobs at once) and does not say which. :func:`job_device`
therefore leases one: it takes an exclusive, non-blocking ``fcntl`` lock on one file per GPU
(``factmlp-gpu-<i>.lock`` in ``lock_dir``), the first free one wins, and the lock is released when
the job ends (also when it crashes: the kernel drops a dead process's locks). A job that finds
``CUDA_VISIBLE_DEVICES`` narrowed to one GPU (SLURM does this per job) takes that one without a lock.

Results on CPU and GPU agree up to floating-point order (``benchmarks/timing/gpu_checks.py`` measures it);
tables record the device in their ``settings`` column.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

__all__ = ["job_device", "acquire_device", "gpus_requested"]

_HELD: list = []  # leases held until the process exits (acquire_device)


def gpus_requested(resources) -> int:
    """The ``gpu`` resource of a job (Snakemake's ``snakemake.resources``, a mapping or an object with
    attributes; absent: 0)."""
    value = resources.get("gpu", 0) if hasattr(resources, "get") else getattr(resources, "gpu", 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise ValueError(f"resource gpu must be an integer, got {value!r}") from None


@contextlib.contextmanager
def job_device(gpus: int, *, lock_dir: str | os.PathLike | None = None, wait_s: float = 3600.0,
               poll_s: float = 2.0) -> Iterator[str]:
    """Yield the torch device a job runs on: ``"cpu"`` when ``gpus`` is 0, else ``"cuda:<i>"`` for a
    GPU leased to this job for the duration of the ``with`` block.

    ``lock_dir``: where the lock files live (default ``$FACTMLP_GPU_LOCK_DIR`` or the system temp
    folder: one machine's jobs must share it). A job waits up to ``wait_s`` for a free GPU (more
    GPU jobs than GPUs happen only without ``--resources gpu=N``) and then raises, naming the GPUs.
    """
    if gpus < 0:
        raise ValueError(f"resource gpu must be >= 0, got {gpus}")
    if gpus == 0:
        yield "cpu"
        return
    import torch

    n = torch.cuda.device_count()
    if n == 0:
        raise RuntimeError("this job was given a GPU (resource gpu > 0) but CUDA sees none; "
                           "run it without the gpu resource (no --set-resources ...:gpu=1) or on a GPU machine")
    if gpus > 1:
        log.warning("resource gpu=%d: the factmlp jobs use one GPU each; leasing one", gpus)
    if n == 1:
        yield "cuda:0"
        return
    folder = Path(lock_dir or os.environ.get("FACTMLP_GPU_LOCK_DIR") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        for i in range(n):
            fh = open(folder / f"factmlp-gpu-{i}.lock", "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            try:
                log.info("leased GPU %d of %d (lock %s)", i, n, fh.name)
                yield f"cuda:{i}"
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no free GPU among {n} after {wait_s:.0f}s (locks in {folder}); "
                               f"limit GPU jobs with --resources gpu={n}")
        time.sleep(poll_s)


def acquire_device(gpus: int, **kwargs) -> str:
    """:func:`job_device` for a job script: the lease is held until the process exits (the kernel
    releases the lock then, also after a crash), so the script needs no ``with`` block."""
    lease = job_device(gpus, **kwargs)
    device = lease.__enter__()
    _HELD.append(lease)
    return device
