"""Tests of factmlp.training: the GD baseline."""

from __future__ import annotations

import math

import pytest
import torch

from factmlp.embeddings import make_key_value_tables
from factmlp.facts import FactSet, evaluate_mlp, make_mapping
from factmlp.mlp import GatedMLP
from factmlp.registry import get_method
from factmlp.training import GDSettings, TrainingDivergedError, resolve_device, train_gated_mlp

SMALL = GDSettings(epochs=3000, lr=1e-2)


pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)


@pytest.fixture(scope="module")
def small_facts() -> FactSet:
    keys, values = make_key_value_tables("spherical", 32, 32, 16, tied=True, seed=1)
    return FactSet(keys, values, make_mapping(32, 32, kind="permutation", seed=2))


def _unstorable_facts() -> FactSet:
    """Every key appears twice with two different values: no function can store this set, so
    training never stops early."""
    keys, values = make_key_value_tables("spherical", 8, 16, 4, tied=False, seed=3)
    return FactSet(torch.cat([keys, keys]), values, torch.arange(16))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gd_stores_small_fact_set(small_facts, dtype):
    settings = GDSettings(epochs=3000, lr=1e-2, dtype=dtype)
    mlp, metrics = train_gated_mlp(small_facts, 8, settings=settings, seed=0)
    assert isinstance(mlp, GatedMLP) and mlp.hidden == 8
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" and not p.requires_grad for p in mlp.parameters())
    assert mlp.param_count() == 3 * 8 * 16 + 2 * 8 + 16
    rep = evaluate_mlp(mlp, small_facts)
    assert rep["accuracy"] == 1.0
    assert rep["min_margin"] > 0
    # training stops at the first epoch at which every fact is stored
    assert metrics["train_accuracy"] == 1.0
    assert 1 <= metrics["epochs"] < settings.epochs
    assert set(metrics) >= {"epochs", "train_accuracy", "final_loss", "seconds"}


def test_gd_through_registry(small_facts):
    method = get_method("gd", epochs=3000, lr=1e-2)
    mlp, metrics = method.build(small_facts, 8, seed=0)
    ref, _ = train_gated_mlp(small_facts, 8, settings=SMALL, seed=0)
    for a, b in zip(mlp.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    assert evaluate_mlp(mlp, small_facts)["accuracy"] == 1.0


def test_gd_seed_determinism(small_facts):
    settings = GDSettings(epochs=50, lr=1e-2)
    a, ma = train_gated_mlp(small_facts, 6, settings=settings, seed=7)
    b, mb = train_gated_mlp(small_facts, 6, settings=settings, seed=7)
    c, _ = train_gated_mlp(small_facts, 6, settings=settings, seed=8)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert ma["epochs"] == mb["epochs"] and ma["final_loss"] == mb["final_loss"]
    assert not torch.equal(a.gate.weight, c.gate.weight)


def test_gd_independent_of_global_rng(small_facts):
    # (GatedMLP's nn.Linear constructors still draw from -- and advance -- the global RNG, but the
    # weights are then overwritten from the local generator, so the result does not depend on it)
    torch.manual_seed(0)
    a, _ = train_gated_mlp(small_facts, 4, settings=GDSettings(epochs=5), seed=1)
    torch.manual_seed(99)
    b, _ = train_gated_mlp(small_facts, 4, settings=GDSettings(epochs=5), seed=1)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_gd_runs_to_epoch_cap_when_facts_cannot_be_stored():
    mlp, metrics = train_gated_mlp(_unstorable_facts(), 4, settings=GDSettings(epochs=20, lr=1e-2), seed=0)
    assert metrics["epochs"] == 20
    assert metrics["train_accuracy"] < 1.0


def test_max_seconds_stops_training_early():
    # a tiny budget stops a run that would otherwise go to its 10^6-epoch cap after the first epoch
    settings = GDSettings(epochs=1_000_000, lr=1e-2, max_seconds=1e-9, log_every=0)
    _, metrics = train_gated_mlp(_unstorable_facts(), 4, settings=settings, seed=0)
    assert metrics["epochs"] == 1
    assert metrics["train_accuracy"] < 1.0


def test_max_seconds_must_be_nonnegative(small_facts):
    with pytest.raises(ValueError, match="max_seconds"):
        train_gated_mlp(small_facts, 4, settings=GDSettings(max_seconds=-1.0), seed=0)


@pytest.mark.parametrize("lr", [1e30, float("inf")])
def test_nonfinite_loss_raises(lr):
    with pytest.raises(TrainingDivergedError, match="diverged"):
        train_gated_mlp(_unstorable_facts(), 8, settings=GDSettings(epochs=100, lr=lr), seed=0)


def test_diverged_error_is_runtime_error():
    assert issubclass(TrainingDivergedError, RuntimeError)


def test_epochs_must_be_positive(small_facts):
    with pytest.raises(ValueError):
        train_gated_mlp(small_facts, 4, settings=GDSettings(epochs=0), seed=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_gpu_raises(small_facts):
    with pytest.raises(RuntimeError, match="cuda"):
        train_gated_mlp(small_facts, 4, settings=GDSettings(epochs=5, device="cuda"), seed=0)
    with pytest.raises(RuntimeError):
        resolve_device("cuda:0")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_adam_matches_torch_adam_bit_for_bit(dtype):
    """FusedAdam against the reference optimizer, torch.optim.Adam: same parameters after 200
    steps of a cosine schedule on a small CE problem (and the fallback path likewise)."""
    from factmlp.mlp import GatedMLP
    from factmlp.training import FusedAdam

    g = torch.Generator().manual_seed(3)
    keys = torch.randn(24, 8, generator=g, dtype=dtype)
    target = torch.randint(0, 24, (24,), generator=g)

    def model():
        torch.manual_seed(0)
        return GatedMLP(8, 6, activation="identity", dtype=dtype)

    def lr(e):
        return 1e-3 + 0.5 * (1e-2 - 1e-3) * (1 + math.cos(math.pi * e / 200))

    ref, ours, fallback = model(), model(), model()
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2, fused=True)
    fa, fb = FusedAdam(list(ours.parameters())), FusedAdam(list(fallback.parameters()))
    fb._kernel = None
    fb._opt = torch.optim.Adam(fb.params, betas=fb.betas, eps=fb.eps, fused=True)
    for e in range(200):
        for group in opt.param_groups:
            group["lr"] = lr(e)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(keys) @ keys.T, target).backward()
        opt.step()
        for m, f in ((ours, fa), (fallback, fb)):
            loss = torch.nn.functional.cross_entropy(m(keys) @ keys.T, target)
            f.step(torch.autograd.grad(loss, f.params), lr=lr(e))
    for m in (ours, fallback):
        for p, q in zip(ref.parameters(), m.parameters()):
            assert torch.equal(p, q)
