"""Tests of factmlp.io (atomic writes, seeds, tables) and factmlp.tables.loglog_slope."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from factmlp.io import atomic_path, derive_seed, load_tensors, save_tensors, write_tsv
from factmlp.tables import loglog_slope

# --------------------------------------------------------------------------- derive_seed


def test_derive_seed_is_deterministic_and_63_bit():
    a = derive_seed(7, "mapping", 3)
    assert a == derive_seed(7, "mapping", 3)
    assert isinstance(a, int)
    assert 0 <= a < 2**63
    # usable as a torch seed
    torch.Generator().manual_seed(a)


def test_derive_seed_depends_on_seed_tags_and_their_order():
    seeds = {
        derive_seed(0),
        derive_seed(1),
        derive_seed(0, "a"),
        derive_seed(0, "b"),
        derive_seed(1, "a"),
        derive_seed(0, "a", "b"),
        derive_seed(0, "b", "a"),
    }
    assert len(seeds) == 7


def test_derive_seed_stable_across_processes():
    """Not tied to Python's per-process string hashing: a fresh interpreter with another
    PYTHONHASHSEED derives the same value."""
    code = "from factmlp.io import derive_seed; print(derive_seed(12345, 'values', 2))"
    env = {**os.environ, "PYTHONHASHSEED": "987"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(out.stdout.strip()) == derive_seed(12345, "values", 2)


def test_derive_seed_matches_documented_sha256_recipe():
    # The documented contract ("stable across runs and machines") is met by a fixed hash; the
    # value is recomputed here from SHA-256 independently of the library code path.
    text = "5/family/x".encode()
    expected = int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1
    assert derive_seed(5, "family", "x") == expected


# --------------------------------------------------------------------------- atomic_path


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_path_success_moves_file_into_place(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp != target
        assert tmp.parent == target.parent
        tmp.write_text("hello")
        assert not target.exists()  # not visible under its final name before success
    assert target.read_text() == "hello"
    assert _leftovers(target.parent) == ["out.txt"]


def test_atomic_path_leaves_nothing_when_body_raises(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_atomic_path_keeps_old_file_when_body_raises(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise KeyError("x")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == ["out.txt"]


def test_save_load_tensors_round_trip(tmp_path):
    obj = {"a": torch.arange(5, dtype=torch.int64), "b": torch.randn(3, 2, dtype=torch.float64), "meta": {"k": 1}}
    path = tmp_path / "t.pt"
    save_tensors(obj, path)
    back = load_tensors(path)
    assert torch.equal(back["a"], obj["a"]) and torch.equal(back["b"], obj["b"])
    assert back["meta"] == {"k": 1}
    assert _leftovers(tmp_path) == ["t.pt"]


def test_load_tensors_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_tensors(tmp_path / "nope.pt")


# --------------------------------------------------------------------------- write_tsv


def test_write_tsv_round_trip(tmp_path):
    df = pd.DataFrame(
        {
            "name": ["a", "b c", "d"],
            "n": [1, 2, 3],
            "x": [0.5, 1e-12, 123456.789],
            "ok": [True, False, True],
        }
    )
    path = tmp_path / "t.tsv"
    write_tsv(df, path)
    back = pd.read_csv(path, sep="\t")
    pd.testing.assert_frame_equal(back, df)
    first = path.read_text().splitlines()[0]
    assert first == "name\tn\tx\tok"  # tab separated, no index column
    assert _leftovers(tmp_path) == ["t.tsv"]


# --------------------------------------------------------------------------- loglog_slope


def test_loglog_slope_of_power_law():
    x = np.array([1.0, 2.0, 5.0, 10.0, 100.0])
    assert loglog_slope(x, 3.0 * x**1.5) == pytest.approx(1.5, abs=1e-12)
    assert loglog_slope(list(x), list(0.1 * x ** (-0.5))) == pytest.approx(-0.5, abs=1e-12)


def test_loglog_slope_ignores_nonpositive_and_nonfinite_points():
    x = np.array([1.0, 2.0, 4.0, 8.0, 0.0, 3.0, np.nan])
    y = 2.0 * x**2
    y[5] = -1.0  # negative y is dropped
    assert loglog_slope(x, y) == pytest.approx(2.0, abs=1e-12)


def test_loglog_slope_nan_for_too_few_points():
    assert math.isnan(loglog_slope([1.0], [2.0]))
    assert math.isnan(loglog_slope([2.0, 2.0], [1.0, 3.0]))  # no spread in x
    assert math.isnan(loglog_slope([1.0, 2.0], [0.0, -1.0]))


def test_tensor_digest_hashes_the_bytes_in_order():
    import hashlib

    import torch

    from factmlp.io import tensor_digest

    a = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    b = torch.tensor([4, 1])
    assert tensor_digest(a, b) == hashlib.sha1(a.numpy().tobytes() + b.numpy().tobytes()).hexdigest()
    assert tensor_digest(a.T.contiguous().T) == tensor_digest(a)  # layout does not matter, values do
    assert tensor_digest(a + 1e-12) != tensor_digest(a)


def _in_subprocess(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    return out.stdout.strip()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_path_gives_the_file_the_umask_s_mode(tmp_path, umask, mode):
    target = tmp_path / "t.tsv"
    _in_subprocess(f"import os; os.umask({umask}); from factmlp.io import atomic_path\n"
                   f"with atomic_path({str(target)!r}) as t: t.write_text('x')")
    assert target.stat().st_mode & 0o777 == mode


def test_saved_mlp_files_are_byte_identical_across_processes(tmp_path):
    """safetensors writes its metadata from a per-process hash map: the header must be sorted."""
    code = ("import torch, sys; from factmlp.mlp import GatedMLP; from factmlp.io import save_mlp\n"
            "w = torch.arange(8.0, dtype=torch.float64).reshape(2, 4)\n"
            "m = GatedMLP.from_weights(gate_w=w, up_w=w, down_w=w.T.contiguous())\n"
            "save_mlp(m, sys.argv[1] if len(sys.argv) > 1 else {path!r}, "
            "{{'method': 'gd', 'seed': 0, 'size': 2, 'settings': '{{}}', 'z': 1, 'a': 2}})")
    blobs = []
    for i in range(3):
        path = tmp_path / f"m{i}.safetensors"
        _in_subprocess(code.format(path=str(path)))
        blobs.append(path.read_bytes())
    assert blobs[0] == blobs[1] == blobs[2]
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(tmp_path / "m0.safetensors"))["up.weight"],
                       torch.arange(8.0, dtype=torch.float64).reshape(2, 4))
