"""Usability experiment: size grid, the second map, the whole protocol with exact MLPs, summaries, claims."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
import torch

from factmlp.claims.usability import usability_claims
from factmlp.facts import FactSet
from factmlp.methods import Method
from factmlp.transformer import AttentionSettings, RecallTask
from factmlp.usability import UsabilitySettings, measure_usability, min_usable, second_fact_set, usability_sizes
from test_transformer import exact_linear_mlp, tiny_facts

pytestmark = pytest.mark.usefixtures("single_thread")


@dataclass(frozen=True)
class _NoSettings:
    pass


class ExactLinear(Method):
    """Test double: the exact linear memory M k_i = v_f(i) (|K| <= d), whatever the size."""

    name = "exact_linear"
    Settings = _NoSettings

    def build(self, facts, width, *, seed):
        return exact_linear_mlp(facts), {}


def test_usability_sizes_round_cap_and_deduplicate():
    assert usability_sizes(10, [1.0, 0.5, 2.0]) == [(0.5, 5), (1.0, 10), (2.0, 20)]
    assert usability_sizes(3, [0.1, 0.2, 1.0]) == [(0.1, 1), (1.0, 3)]  # 0.2*3 rounds to 1 again: dropped
    assert usability_sizes(18, [0.5, 1.0, 2.0, 4.0], max_size=32) == [(0.5, 9), (1.0, 18), (2.0, 32)]


def test_second_fact_set_is_a_new_permutation_of_the_same_embeddings():
    facts = tiny_facts(n=16)
    f2 = second_fact_set(facts, seed=0)
    assert torch.equal(f2.keys, facts.keys) and torch.equal(f2.values, facts.values)
    assert torch.equal(torch.sort(f2.mapping).values, torch.arange(16))
    assert not torch.equal(f2.mapping, facts.mapping)
    assert torch.equal(second_fact_set(facts, seed=0).mapping, f2.mapping)
    assert not torch.equal(second_fact_set(facts, seed=1).mapping, f2.mapping)


def test_exact_mlps_are_fully_usable_under_both_schedules():
    facts = tiny_facts()
    task = RecallTask(n_junk=2, gap_min=2, gap_max=4)
    train = AttentionSettings(steps=600, batch_size=64, lr=2e-2, eval_every=50, early_stop=1.0, eval_repeats=2)
    rows = measure_usability(facts, ExactLinear(), 4, seed=0, task=task, train=train,
                             settings=UsabilitySettings(size_multipliers=(1.0,), power_iters=100))
    assert [r["schedule"] for r in rows] == ["insert_then_train", "pretrain_then_insert"]
    f2 = second_fact_set(facts, seed=0)
    sigma = float(torch.linalg.svdvals(f2.targets.T @ torch.linalg.pinv(f2.keys.T))[0])
    for r in rows:
        assert r["storage_accuracy"] == 1.0 and r["storage_accuracy_mlp1"] == 1.0
        assert r["fit_recall"] == 1.0 and r["usability"] == 1.0, r
        assert r["lipschitz_jacobian"] * r["output_gain"] == pytest.approx(sigma, rel=1e-6)
        assert r["lipschitz_bound"] >= r["lipschitz_jacobian"] * (1 - 1e-9)
        assert r["params"] == 3 * 16 * 16 + 2 * 16 + 16


def test_unequal_key_norms_fail_before_any_training():
    facts = tiny_facts()
    keys = facts.keys.clone()
    keys[0] *= 3
    bad = FactSet(keys, keys, facts.mapping)
    with pytest.raises(ValueError, match="norm_tolerance"):
        measure_usability(bad, ExactLinear(), 4, seed=0)


def _table(rows):
    base = {"family": "spherical", "d": 16, "n_facts": 32, "seed": 0, "status": "ok", "schedule": "insert_then_train",
            "storage_accuracy": 1.0, "lipschitz_bound": 1.0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_min_usable_takes_the_smallest_usable_size():
    t = _table([
        {"method": "gd", "size": 4, "params": 400, "capacity_params": 400, "usability": 0.6},
        {"method": "gd", "size": 8, "params": 800, "capacity_params": 400, "usability": 0.995},
        {"method": "gd", "size": 16, "params": 1600, "capacity_params": 400, "usability": 1.0},
        {"method": "ntk", "size": 64, "params": 9000, "capacity_params": 9000, "usability": 0.9},
    ])
    out = min_usable(t, usable_at=0.99).set_index("method")
    assert out.loc["gd", "usable_params"] == 800
    assert pd.isna(out.loc["ntk", "usable_params"])
    assert out.loc["ntk", "best_usability"] == 0.9


def test_usability_claims_pass_and_fail_rules():
    rows = [{"method": "construction", "size": s, "params": 10 * s, "capacity_params": 10, "usability": u,
             "lipschitz_jacobian": lip} for s, u, lip in [(1, 0.5, 9.0), (2, 0.8, 5.0), (3, 0.995, 2.0), (4, 1.0, 1.0)]]
    # C7 is decided within the construction family: GD rows (here a positive trend) are only pooled beside it
    gd = [{"method": "gd", "size": s, "params": 10 * s, "capacity_params": 10, "usability": 0.2 * s,
           "lipschitz_jacobian": float(s)} for s in (1, 2, 3, 4)]
    claims = usability_claims(_table(rows + gd), usable_at=0.99, scale="test").set_index("claim")
    assert claims.loc["C6", "pass"] == "true"
    assert claims.loc["C7", "pass"] == "true"  # Spearman = -1 within the construction family
    assert "insert_then_train) -1.00" in claims.loc["C7", "measured_value"]
    assert "pooled over all methods (n=8)" in claims.loc["C7", "measured_value"]
    rows = [{**r, "lipschitz_jacobian": 10.0 - r["lipschitz_jacobian"], "usability": min(r["usability"], 0.9)}
            for r in rows]
    claims = usability_claims(_table(rows), usable_at=0.99, scale="test").set_index("claim")
    assert claims.loc["C6", "pass"] == "false"
    assert claims.loc["C7", "pass"] == "false"  # positive correlation
    na = usability_claims(None, usable_at=0.99, scale="test").set_index("claim")
    assert list(na["pass"]) == ["n/a", "n/a"]
