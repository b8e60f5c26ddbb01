"""The job's device is runtime (factmlp.devices): CPU without the gpu resource, and on a machine
with several GPUs every concurrent job leases a different one (file locks), released at the end."""

from __future__ import annotations

import pytest
import torch

from factmlp.devices import gpus_requested, job_device


def test_no_gpu_resource_is_cpu():
    with job_device(0) as dev:
        assert dev == "cpu"
    assert gpus_requested({}) == 0 and gpus_requested({"gpu": 2}) == 2
    with pytest.raises(ValueError, match="gpu"):
        gpus_requested({"gpu": "two"})


def test_gpu_resource_without_cuda_names_the_problem(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(RuntimeError, match="CUDA sees none"):
        with job_device(1):
            pass


def test_single_gpu_needs_no_lease(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with job_device(1, lock_dir=tmp_path) as a, job_device(1, lock_dir=tmp_path) as b:
        assert a == b == "cuda:0"  # SLURM narrows CUDA_VISIBLE_DEVICES to the job's own GPU


def test_concurrent_jobs_lease_distinct_gpus_and_release_them(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    with job_device(1, lock_dir=tmp_path) as a:
        with job_device(1, lock_dir=tmp_path) as b:
            with job_device(1, lock_dir=tmp_path) as c:
                assert sorted([a, b, c]) == ["cuda:0", "cuda:1", "cuda:2"]
                with pytest.raises(TimeoutError, match="no free GPU among 3"):
                    with job_device(1, lock_dir=tmp_path, wait_s=0.2, poll_s=0.05):
                        pass
            with job_device(1, lock_dir=tmp_path) as d:  # c's GPU is free again
                assert d == c


def test_a_lease_taken_by_another_process_is_respected(monkeypatch, tmp_path):
    """The lock is per open file, so another process holding GPU 0 makes this one take GPU 1."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; fh = open(sys.argv[1], 'a+'); fcntl.flock(fh, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(30)"), str(tmp_path / "factmlp-gpu-0.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        with job_device(1, lock_dir=tmp_path) as dev:
            assert dev == "cuda:1"
    finally:
        holder.kill()
        holder.wait()
