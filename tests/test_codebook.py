"""Tests of construction_codebook (factmlp.constructions.codebook): closed-form key encoder + a
value codebook learned on the value table.

References are independent of the code under test: storage is checked by a numpy argmax over
the whole value table; margins by a brute-force loop over every pair; widths by the closed form
(ceil(N / b) + c) m'; storage at m' = d by the theorem that the margin-optimal separators u*
decode every value with rho_i > 0 (the codebook's initialisation at m' = d is the rotated u*).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from factmlp.capacity import measure_capacity
from factmlp.constructions.codebook import (
    CodebookSettings,
    CodebookTimeoutError,
    ConstructionCodebook,
    codebook_margins,
    fit_codebook,
)
from factmlp.embeddings import make_key_value_tables
from factmlp.facts import FactSet, make_mapping
from factmlp.registry import get_method

pytestmark = pytest.mark.usefixtures("single_thread")


def _facts(kind: str, n: int, d: int, seed: int = 0, **params) -> FactSet:
    keys, values = make_key_value_tables(kind, n, n, d, tied=False, seed=seed, keys="spherical", **params)
    return FactSet(keys, values, make_mapping(n, n, kind="permutation", seed=seed))


def _near_degenerate(n: int, d: int, gap: float, seed: int = 0) -> FactSet:
    """Spherical values with value 1 moved to within ``gap`` of value 0 (renormalised)."""
    f = _facts("spherical", n, d, seed)
    v = f.values.clone()
    v[1] = v[0] + gap * torch.nn.functional.normalize(v[1] - v[0], dim=0)
    v[1] = v[1] / v[1].norm()
    return FactSet(f.keys, v, f.mapping)


def _stores(mlp, facts: FactSet) -> bool:
    """Independent storage check: numpy argmax of <g(k), v> over the whole value table."""
    with torch.no_grad():
        out = mlp(facts.keys).numpy()
    pred = np.argmax(out @ facts.values.numpy().T, axis=1)
    return bool((pred == facts.mapping.numpy()).all())


FAMILIES = [
    pytest.param("spherical", {}, id="spherical"),
    pytest.param("spike", {"beta": 16.0, "normalize": False}, id="spike16u"),
    pytest.param("kappa", {"kappa": 16.0, "normalize": False}, id="kappa16u"),
    pytest.param("minilm", {}, id="minilm"),
]


@pytest.mark.parametrize(("kind", "params"), FAMILIES)
def test_smallest_code_stores_every_fact(kind, params):
    facts = _facts(kind, 96, 24, **params)
    res = measure_capacity(facts, get_method("construction_codebook"), seed=0, width_min=1, width_max=24, rel_tol=0.0)
    assert res.found
    method = get_method("construction_codebook").chosen_variant(facts, res.variant)
    mlp, info = method.build(facts, res.min_width, seed=0)
    assert mlp.param_count() == res.param_count  # the variant the search chose, rebuilt
    assert _stores(mlp, facts)
    assert info["codebook_margin"] > 0
    b = int(res.variant.split("=")[1])
    assert mlp.hidden == (math.ceil(96 / b) + 1) * res.min_width  # one constant neuron per coordinate
    assert mlp.param_count() == mlp.hidden * (3 * 24 + 2) + 24
    # far fewer code dimensions than the paper's random decoder needs (review: ~0.5 d at d <= 64)
    assert res.min_width <= 24 // 2


def test_near_degenerate_values_store_at_full_code_dimension():
    # rho of the pair is ~gap/2: the fitted codebook may need m' = d, where it starts from u* (a theorem)
    facts = _near_degenerate(40, 12, gap=1e-3)
    mlp, info = get_method("construction_codebook").build(facts, 12, seed=0)
    assert _stores(mlp, facts)
    assert 0 < info["codebook_margin"] < 1e-2


def test_margins_match_brute_force():
    g = torch.Generator().manual_seed(3)
    values = torch.randn(9, 5, generator=g, dtype=torch.float64)
    dec = torch.randn(5, 3, generator=g, dtype=torch.float64)
    codes = torch.randn(9, 3, generator=g, dtype=torch.float64)
    anchors = torch.tensor([0, 2, 3, 8])
    got = codebook_margins(dec, codes, values, anchors).numpy()
    v, dn, cn = values.numpy(), dec.numpy(), codes.numpy()
    for r, j in enumerate(anchors.tolist()):
        o = dn @ cn[j]
        o = o / np.linalg.norm(o)
        want = min(o @ v[j] - o @ v[i] for i in range(9) if i != j)
        assert got[r] == pytest.approx(want, abs=1e-12)


def test_fit_is_deterministic_and_keeps_its_best_margin():
    facts = _facts("spherical", 64, 16)
    anchors = torch.arange(64)
    a = fit_codebook(facts.values, anchors, 4, seed=1)
    b = fit_codebook(facts.values, anchors, 4, seed=1)
    assert torch.equal(a.decoder, b.decoder) and torch.equal(a.codes, b.codes)
    margin = float(codebook_margins(a.decoder, a.codes, facts.values, anchors).min())
    assert a.margin == pytest.approx(margin, abs=1e-12)


def test_a_fit_past_max_seconds_fails_instead_of_stopping_early(monkeypatch):
    """The machine's speed must not change a codebook. On a fake clock that moves 1 s per reading the fit
    passes max_seconds = 30 long before its steps or early stop: it raises, naming the setting, rather
    than returning a shorter fit. On a clock that never moves, the fit equals the real clock's."""
    import itertools
    import types

    import factmlp.constructions.codebook as cbmod

    facts = _facts("spherical", 64, 16)
    anchors = torch.arange(64)
    settings = CodebookSettings(max_seconds=30.0)
    ref = fit_codebook(facts.values, anchors, 4, seed=1, settings=settings)
    assert ref.steps > 30  # the real fit runs past step 30
    ticks = itertools.count()
    monkeypatch.setattr(cbmod, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    with pytest.raises(CodebookTimeoutError, match="codebook_max_seconds"):
        fit_codebook(facts.values, anchors, 4, seed=1, settings=settings)
    monkeypatch.setattr(cbmod, "time", types.SimpleNamespace(perf_counter=lambda: 0.0))
    frozen = fit_codebook(facts.values, anchors, 4, seed=1, settings=settings)
    assert torch.equal(frozen.decoder, ref.decoder) and torch.equal(frozen.codes, ref.codes)
    assert frozen.steps == ref.steps


def test_unused_values_still_compete():
    # a random map leaves some values unused: they are not anchors but every anchor must beat them
    keys, values = make_key_value_tables("spherical", 60, 60, 12, tied=False, seed=2, keys="spherical")
    facts = FactSet(keys, values, make_mapping(60, 60, kind="random", seed=2))
    res = measure_capacity(facts, get_method("construction_codebook"), seed=0, width_min=1, width_max=12, rel_tol=0.0)
    mlp, _ = get_method("construction_codebook").build(facts, res.min_width, seed=0)
    assert _stores(mlp, facts)


def test_settings_are_validated_by_name():
    with pytest.raises(ValueError, match="temperature"):
        get_method("construction_codebook", codebook_temperature=0.0)
    with pytest.raises(ValueError, match="init"):
        CodebookSettings(init="pca")
    with pytest.raises(ValueError, match="bucket_slacks"):
        get_method("construction_codebook", bucket_slacks=[-1])


def test_bucket_slacks_give_one_variant_per_bucket_size():
    facts = _facts("spherical", 64, 16)
    labels = [lab for lab, _ in ConstructionCodebook().variants(facts)]
    # one bucket fewer than ceil(64/16) = 4: b = ceil(64/3) = 22 > d, (3 + 1) 16 = 64 unknowns >= 64 keys
    assert labels == ["b=22", "b=16", "b=12"]


def test_mined_rivals_give_the_exact_margins():
    from factmlp.constructions.codebook import _mine

    g = torch.Generator().manual_seed(4)
    values = torch.nn.functional.normalize(torch.randn(50, 8, generator=g, dtype=torch.float64), dim=1)
    dec = torch.randn(8, 3, generator=g, dtype=torch.float64)
    codes = torch.randn(50, 3, generator=g, dtype=torch.float64)
    anchors = torch.arange(50)
    margins, rivals = _mine(dec, codes, values, anchors, 5, batch_size=7)
    assert torch.allclose(margins, codebook_margins(dec, codes, values, anchors), atol=1e-12)
    assert rivals.shape == (50, 5) and not (rivals == anchors[:, None]).any()


def test_softmax_over_mined_rivals_stores():
    # past full_softmax_max values the softmax runs over each anchor's mined rivals only
    facts = _facts("spherical", 200, 16)
    s = CodebookSettings(full_softmax_max=64, negatives=8, mine_every=20)
    cb = fit_codebook(facts.values, torch.arange(200), 8, seed=0, settings=s)
    assert cb.margin > 0
    assert cb.margin == pytest.approx(float(codebook_margins(cb.decoder, cb.codes, facts.values,
                                                             torch.arange(200)).min()), abs=1e-9)


@pytest.mark.parametrize("mined", [False, True], ids=["full_softmax", "mined_rivals"])
def test_both_losses_store_and_the_hinge_stops_once_every_pair_clears_its_margin(mined):
    facts = _facts("spherical", 120, 16)
    anchors = torch.arange(120)
    extra = {"full_softmax_max": 64, "negatives": 8, "mine_every": 20} if mined else {}
    for loss in ("ce", "hinge"):
        s = CodebookSettings(loss=loss, hinge_margin=0.02, patience=10_000, **extra)  # no stop on a stall
        cb = fit_codebook(facts.values, anchors, 8, seed=0, settings=s)
        brute = min(  # independent margin: every (anchor, rival) pair by a numpy loop
            (lambda o: min(o @ facts.values[j].numpy() - o @ facts.values[i].numpy() for i in range(120) if i != j))(
                (facts.values.new_tensor(cb.decoder.numpy() @ cb.codes[j].numpy()) /
                 np.linalg.norm(cb.decoder.numpy() @ cb.codes[j].numpy())).numpy())
            for j in range(120))
        assert cb.margin == pytest.approx(brute, abs=1e-9)
        assert cb.margin > 0, loss
        if loss == "hinge":  # only reaching the margin can stop it before its last step
            assert cb.margin >= 0.02 * (1 - s.rel_improve) and cb.steps < s.steps
    with pytest.raises(ValueError, match="loss"):
        CodebookSettings(loss="mse")
    with pytest.raises(ValueError, match="hinge_margin"):
        get_method("construction_codebook", codebook_hinge_margin=0.0)


def test_hand_written_hinge_gradients_equal_autograd():
    # the mined hinge's gradients (fit_codebook's fast path) against autograd of the loss written plainly
    from factmlp.constructions.codebook import hinge_grads

    g = torch.Generator().manual_seed(5)
    values = torch.nn.functional.normalize(torch.randn(40, 12, generator=g, dtype=torch.float64), dim=1)
    dec = torch.randn(12, 4, generator=g, dtype=torch.float64)
    codes = torch.randn(40, 4, generator=g, dtype=torch.float64)
    batch = torch.tensor([3, 7, 0, 21, 39, 7])  # a repeated anchor accumulates
    rivals = torch.stack([torch.randperm(40, generator=g)[:6] for _ in batch])
    rivals = torch.where(rivals == batch[:, None], (rivals + 1) % 40, rivals)
    margin = 0.5  # large enough that some pairs are active and some are not
    loss, ddec, dcodes = hinge_grads(dec, codes, values, batch, rivals, margin)

    d_, c_ = dec.clone().requires_grad_(True), codes.clone().requires_grad_(True)
    total = 0.0
    for j, riv in zip(batch.tolist(), rivals):
        o = d_ @ c_[j] / (d_ @ c_[j]).norm()
        for i in riv.tolist():
            total = total + torch.relu(margin - (o @ values[j] - o @ values[i]))
    (total / len(batch)).backward()
    assert 0 < float(loss) and float(loss) == pytest.approx(float(total.detach()) / len(batch), rel=1e-12)
    assert torch.allclose(ddec, d_.grad, atol=1e-12) and torch.allclose(dcodes, c_.grad, atol=1e-12)
    assert (dcodes[[i for i in range(40) if i not in batch.tolist()]] == 0).all()
