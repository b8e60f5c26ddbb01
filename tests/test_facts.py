"""Tests of factmlp.facts: FactSet validation and persistence, fact maps, the storage check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factmlp.facts import FactSet, evaluate_mlp, make_mapping, storage_report
from factmlp.io import save_tensors
from factmlp.mlp import GatedMLP

F64 = torch.float64


def _orthonormal_rows(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=g, dtype=F64))
    return q.T.contiguous()  # (n, d), orthonormal rows


def _unit_rows(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    return x / x.norm(dim=1, keepdim=True)


def _valid_parts():
    keys = _unit_rows(6, 4, 0)
    values = _unit_rows(5, 4, 1)
    mapping = torch.tensor([0, 1, 2, 3, 4, 0], dtype=torch.int64)
    return keys, values, mapping


# --------------------------------------------------------------------------- FactSet


def test_factset_properties():
    keys, values, mapping = _valid_parts()
    fs = FactSet(keys, values, mapping, {"family": "x"})
    assert fs.n_facts == 6 and fs.n_values == 5 and fs.d == 4
    assert torch.equal(fs.targets, values[mapping])


def _bad(name):
    keys, values, mapping = _valid_parts()
    if name == "d mismatch":
        values = _unit_rows(5, 3, 1)
    elif name == "mapping length":
        mapping = mapping[:5]
    elif name == "mapping 2-D":
        mapping = mapping[:, None]
    elif name == "keys 1-D":
        keys = keys[0]
    elif name == "float32 keys":
        keys = keys.to(torch.float32)
    elif name == "float32 values":
        values = values.to(torch.float32)
    elif name == "int32 mapping":
        mapping = mapping.to(torch.int32)
    elif name == "nan keys":
        keys = keys.clone()
        keys[2, 1] = float("nan")
    elif name == "inf values":
        values = values.clone()
        values[0, 0] = float("inf")
    elif name == "mapping too large":
        mapping = mapping.clone()
        mapping[3] = 5
    elif name == "mapping negative":
        mapping = mapping.clone()
        mapping[1] = -1
    elif name == "no keys":
        keys, mapping = keys[:0], mapping[:0]
    elif name == "no values":
        values = values[:0]
    return keys, values, mapping


@pytest.mark.parametrize(
    "name",
    [
        "d mismatch",
        "mapping length",
        "mapping 2-D",
        "keys 1-D",
        "float32 keys",
        "float32 values",
        "int32 mapping",
        "nan keys",
        "inf values",
        "mapping too large",
        "mapping negative",
        "no keys",
        "no values",
    ],
)
def test_factset_validation(name):
    with pytest.raises(ValueError):
        FactSet(*_bad(name))


def test_factset_save_load_round_trip(tmp_path):
    keys, values, mapping = _valid_parts()
    meta = {"family": "spherical", "seed": 3, "beta": 1.5}
    path = tmp_path / "facts.pt"
    FactSet(keys, values, mapping, meta).save(path)
    back = FactSet.load(path)
    assert torch.equal(back.keys, keys) and back.keys.dtype == F64
    assert torch.equal(back.values, values) and back.values.dtype == F64
    assert torch.equal(back.mapping, mapping) and back.mapping.dtype == torch.int64
    assert back.meta == meta
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.pt"]


def test_factset_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.pt"
    save_tensors({"keys": torch.zeros(2, 2, dtype=F64)}, path)
    with pytest.raises(ValueError, match="mapping"):
        FactSet.load(path)


# --------------------------------------------------------------------------- make_mapping


@pytest.mark.parametrize("n", [1, 2, 17, 500])
def test_permutation_mapping(n):
    f = make_mapping(n, n, kind="permutation", seed=4)
    assert f.dtype == torch.int64 and f.shape == (n,)
    assert torch.equal(torch.sort(f).values, torch.arange(n))
    assert torch.equal(f, make_mapping(n, n, kind="permutation", seed=4))


def test_permutation_mapping_depends_on_seed():
    assert not torch.equal(
        make_mapping(100, 100, kind="permutation", seed=1), make_mapping(100, 100, kind="permutation", seed=2)
    )


@pytest.mark.parametrize(("n_keys", "n_values"), [(1000, 7), (10, 10), (5, 200)])
def test_random_mapping(n_keys, n_values):
    f = make_mapping(n_keys, n_values, kind="random", seed=8)
    assert f.dtype == torch.int64 and f.shape == (n_keys,)
    assert int(f.min()) >= 0 and int(f.max()) < n_values
    assert torch.equal(f, make_mapping(n_keys, n_values, kind="random", seed=8))
    if n_keys >= 100 * n_values:
        assert f.unique().numel() == n_values  # every value is hit when keys are plentiful


def test_permutation_needs_equal_sizes():
    with pytest.raises(ValueError):
        make_mapping(5, 6, kind="permutation", seed=0)


def test_unknown_mapping_kind():
    with pytest.raises(ValueError, match="bijection|unknown"):
        make_mapping(5, 5, kind="bijection", seed=0)


# --------------------------------------------------------------------------- storage_report


def _identity_case(n=6, d=8):
    values = torch.eye(d, dtype=F64)[:n]  # orthonormal: <v_i, v_j> = delta_ij exactly
    mapping = torch.tensor([(3 * i + 1) % n for i in range(n)], dtype=torch.int64)
    return values, mapping


def test_storage_report_perfect_outputs():
    values, mapping = _identity_case()
    rep = storage_report(values[mapping], values, mapping)
    # margin of every key: <v_f, v_f> - max_{j != f} <v_f, v_j> = 1 - 0 = 1
    assert rep == {"accuracy": 1.0, "n_correct": 6, "n_facts": 6, "min_margin": 1.0, "mean_margin": 1.0}


def test_storage_report_is_scale_invariant():
    values, mapping = _identity_case()
    scales = torch.tensor([0.01, 1.0, 3.0, 1e4, 7.0, 0.5], dtype=F64)[:, None]
    rep = storage_report(values[mapping] * scales, values, mapping)
    assert rep["accuracy"] == 1.0
    assert rep["min_margin"] == pytest.approx(1.0, abs=1e-15)


def test_storage_report_tie_is_a_failure():
    values, mapping = _identity_case()
    out = values[mapping].clone()
    rival = (int(mapping[2]) + 1) % values.shape[0]
    out[2] = values[mapping[2]] + values[rival]  # equal scores for the target and a rival
    rep = storage_report(out, values, mapping)
    assert rep["n_correct"] == 5
    assert rep["accuracy"] == 5 / 6
    assert rep["min_margin"] == 0.0


def test_storage_report_wrong_argmax_costs_one_over_n():
    values, mapping = _identity_case()
    out = values[mapping].clone()
    wrong = (int(mapping[4]) + 2) % values.shape[0]
    out[4] = values[wrong]
    rep = storage_report(out, values, mapping)
    assert rep["n_correct"] == 5
    assert rep["accuracy"] == pytest.approx(1.0 - 1 / 6, abs=1e-15)
    # the wrong key's margin: <v_w, v_f> - <v_w, v_w> = 0 - 1
    assert rep["min_margin"] == -1.0
    assert rep["mean_margin"] == pytest.approx((5 * 1.0 - 1.0) / 6, abs=1e-15)


def test_storage_report_zero_output_fails():
    values, mapping = _identity_case()
    out = values[mapping].clone()
    out[0] = 0.0
    rep = storage_report(out, values, mapping)
    assert rep["n_correct"] == 5
    assert rep["min_margin"] <= 0.0


@pytest.mark.parametrize("batch_size", [1, 3, 4096])
def test_storage_report_against_numpy(batch_size):
    """Random outputs and values: accuracy and margins recomputed with numpy."""
    rng = np.random.default_rng(0)
    n_keys, n_values, d = 40, 9, 5
    values = rng.standard_normal((n_values, d))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    mapping = rng.integers(0, n_values, n_keys)
    out = values[mapping] + 0.6 * rng.standard_normal((n_keys, d))
    g = out / np.linalg.norm(out, axis=1, keepdims=True)
    scores = g @ values.T
    correct = scores[np.arange(n_keys), mapping]
    scores[np.arange(n_keys), mapping] = -np.inf
    margins = correct - scores.max(axis=1)
    expected_correct = int((margins > 0).sum())
    assert 0 < expected_correct < n_keys  # a mixed case
    rep = storage_report(
        torch.from_numpy(out), torch.from_numpy(values), torch.from_numpy(mapping), batch_size=batch_size
    )
    assert rep["n_correct"] == expected_correct
    assert rep["n_facts"] == n_keys
    assert rep["accuracy"] == expected_correct / n_keys
    assert rep["min_margin"] == pytest.approx(margins.min(), abs=1e-12)
    assert rep["mean_margin"] == pytest.approx(margins.mean(), abs=1e-12)


def test_storage_report_single_value():
    values = torch.tensor([[1.0, 0.0]], dtype=F64)
    mapping = torch.zeros(3, dtype=torch.int64)
    out = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 2.0]], dtype=F64)
    assert storage_report(out, values, mapping)["accuracy"] == 1.0  # argmax over one value


# --------------------------------------------------------------------------- evaluate_mlp


def _memory_mlp(keys: torch.Tensor, targets: torch.Tensor, activation: str) -> GatedMLP:
    """Key-value memory by hand: hidden unit i has gate and up rows k_i and down column t_i. With
    orthonormal keys, hidden_i(k_j) = <k_i, k_j> act(<k_i, k_j>) = delta_ij for act in
    {identity, relu}, so g(k_j) = t_j exactly."""
    return GatedMLP.from_weights(gate_w=keys, up_w=keys.clone(), down_w=targets.T.contiguous(), activation=activation)


@pytest.mark.parametrize("activation", ["identity", "relu"])
def test_evaluate_mlp_on_exact_memory(activation):
    n, d = 10, 12
    keys = _orthonormal_rows(n, d, seed=3)
    values = _unit_rows(15, d, seed=4)
    mapping = make_mapping(n, 15, kind="random", seed=5)
    facts = FactSet(keys, values, mapping)
    mlp = _memory_mlp(keys, facts.targets, activation)
    torch.testing.assert_close(mlp(keys), facts.targets, rtol=0, atol=1e-12)
    rep = evaluate_mlp(mlp, facts, batch_size=4)
    assert rep["accuracy"] == 1.0 and rep["n_correct"] == n
    # margin of key j: 1 - max_{l != f(j)} <v_f(j), v_l> (unit values, exact outputs)
    gram = (values @ values.T).numpy()
    np.fill_diagonal(gram, -np.inf)
    expected = 1.0 - gram.max(axis=1)[mapping.numpy()]
    assert rep["min_margin"] == pytest.approx(expected.min(), abs=1e-10)
    assert rep["mean_margin"] == pytest.approx(expected.mean(), abs=1e-10)


def test_evaluate_mlp_counts_swapped_facts():
    n = d = 8
    keys = _orthonormal_rows(n, d, seed=6)
    values = _unit_rows(n, d, seed=7)
    mapping = make_mapping(n, n, kind="permutation", seed=8)
    facts = FactSet(keys, values, mapping)
    targets = facts.targets.clone()
    targets[[1, 5]] = targets[[5, 1]]  # keys 1 and 5 now decode to each other's value
    rep = evaluate_mlp(_memory_mlp(keys, targets, "identity"), facts)
    assert rep["n_correct"] == n - 2
    assert rep["accuracy"] == (n - 2) / n


def test_evaluate_mlp_converts_float32_modules():
    n = d = 6
    keys = _orthonormal_rows(n, d, seed=9)
    facts = FactSet(keys, keys.clone(), make_mapping(n, n, kind="permutation", seed=1))
    mlp = _memory_mlp(keys, facts.targets, "relu").to(torch.float32)
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0


def test_draw_fact_set_follows_its_family_and_seed():
    from factmlp.facts import draw_fact_set

    tied = draw_fact_set({"kind": "spike", "beta": 4.0}, 16, 16, 8, tied=True, mapping="permutation", seed=3,
                         meta={"family": "spike4"})
    assert torch.equal(tied.keys, tied.values) and sorted(tied.mapping.tolist()) == list(range(16))
    assert tied.meta == {"family": "spike4", "seed": 3, "mapping": "permutation"}
    again = draw_fact_set({"kind": "spike", "beta": 4.0}, 16, 16, 8, tied=True, mapping="permutation", seed=3)
    assert torch.equal(again.values, tied.values) and torch.equal(again.mapping, tied.mapping)
    other = draw_fact_set({"kind": "spike", "beta": 4.0}, 16, 16, 8, tied=True, mapping="permutation", seed=4)
    assert not torch.equal(other.values, tied.values)
    untied = draw_fact_set({"kind": "spike", "beta": 4.0, "keys": "spherical"}, 16, 16, 8, tied=False,
                           mapping="permutation", seed=3)
    assert not torch.equal(untied.keys, untied.values)
    torch.testing.assert_close(untied.keys.norm(dim=1), torch.ones(16, dtype=untied.keys.dtype))
    with pytest.raises(ValueError, match="kind"):
        draw_fact_set({"beta": 4.0}, 16, 16, 8, tied=True, mapping="permutation", seed=3)


def test_fact_set_shape_ties_only_tied_families():
    from factmlp.config import fact_set_shape

    assert fact_set_shape(64, {"kind": "spike"}, tied=True, values_per_key=0.5) == (True, 64)
    assert fact_set_shape(64, {"kind": "spike", "keys": "spherical"}, tied=True, values_per_key=0.5) == (False, 32)
    assert fact_set_shape(64, {"kind": "spike"}, tied=False, values_per_key=1.0) == (False, 64)
    assert fact_set_shape(3, {"kind": "spike"}, tied=False, values_per_key=0.01) == (False, 1)
