"""Tests of factmlp.constructions.gd_encdec: the construction's architecture trained by GD (claim C5).

Expected numbers are hand-computed from the construction's formula: hidden width h = (B + c) m'
(B = ceil(|K|/b) buckets, c constant neurons per code coordinate) and 3 h d + 2 h + d parameters,
checked against the closed-form construction built at the same m' and bucket size. The search's
size unit (buckets for ``gd_encdec``, m' for ``gd_encdec_free``) is read off its probes.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from factmlp.capacity import capacity_tables, measure_capacity
from factmlp.constructions import gd_encdec as ge
from factmlp.constructions.encoder_decoder import ConstructionSettings, build_encoder_decoder, jl_projection
from factmlp.constructions.gd_encdec import GDEncDec, GDEncDecFree, construction_architecture
from factmlp.embeddings import make_key_value_tables
from factmlp.facts import FactSet, evaluate_mlp, make_mapping
from factmlp.io import write_tsv
from factmlp.mlp import GatedMLP
from factmlp.registry import get_method, reference_of
from factmlp.tables import settings_json
from factmlp.training import TrainingDivergedError

pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)

GD = {"epochs": 1500, "lr": 0.01, "lr_min": 1e-5, "activation": "identity", "log_every": 0}


def _facts(n: int, d: int, seed: int = 0) -> FactSet:
    keys, values = make_key_value_tables("spherical", n, n, d, tied=False, seed=seed)
    return FactSet(keys, values, make_mapping(n, n, kind="permutation", seed=seed + 100))


def _construction_row(facts: FactSet, **settings) -> dict:
    """The construction's capacity summary row, as the gd_encdec job reads it (through a TSV)."""
    summaries, _ = capacity_tables(facts, {"construction": settings}, family="spherical", seed=0, width_min=2,
                                   width_max=4096, rel_tol=0.05)
    return summaries[0]


def _via_tsv(row: dict, tmp_path) -> dict:
    path = tmp_path / "closed_form.tsv"
    write_tsv(pd.DataFrame([row]), path)
    return pd.read_csv(path, sep="\t").to_dict("records")[0]


# --------------------------------------------------------------------------- architecture


@pytest.mark.parametrize(("c", "hidden", "params"), [(2, 18, 476), (1, 15, 398)])
def test_param_count_is_the_constructions_at_the_same_m_and_buckets(c, hidden, params):
    """d = 8, |K| = 24, b = 6: B = 4 buckets; m' = 3: h = (4 + c) 3, params = 3 h 8 + 2 h + 8
    (c = 2: h = 18, 476; c = 1: h = 15, 398), for the construction and both trained methods."""
    facts = _facts(24, 8)
    cons, info = build_encoder_decoder(facts, 3, seed=0, settings=ConstructionSettings(bucket_size=6,
                                                                                       constant_neurons=c))
    assert math.ceil(24 / info["bucket_size"]) == 4
    assert (cons.hidden, cons.param_count()) == (hidden, params)
    one_epoch = {**GD, "epochs": 1}
    pinned = GDEncDec(code_dim=3, buckets=4, constant_neurons=c, **one_epoch)
    mlp, metrics = pinned.build(facts, 4, seed=0)
    assert (mlp.hidden, mlp.param_count(), metrics["code_dim"]) == (hidden, params, 3)
    assert sum(p.numel() for p in mlp.parameters()) == params  # every weight and bias
    free = GDEncDecFree(buckets=4, constant_neurons=c, **one_epoch)
    mlp, metrics = free.build(facts, 3, seed=0)
    assert (mlp.hidden, mlp.param_count(), metrics["code_dim"]) == (hidden, params, 3)
    one_bucket, _ = pinned.build(facts, 1, seed=0)  # (1 + c) 3 neurons
    assert one_bucket.hidden == (1 + c) * 3 == pinned.hidden_width(facts, 1)


def test_folded_mlp_is_the_encoder_through_the_constructions_decoder():
    """The folded MLP equals P^T e(x) for the trained encoder e, and P is the construction's own
    (same seed, same m', same kind): its down matrix lies in the span of P's rows."""
    facts = _facts(24, 8)
    mlp, _ = GDEncDec(code_dim=3, buckets=4, **{**GD, "epochs": 5, "dtype": "float64"}).build(facts, 2, seed=7)
    g = torch.Generator().manual_seed(7)
    p = jl_projection(3, 8, kind="orthogonal", generator=g)  # (m', d), as build_encoder_decoder draws it
    down = mlp.down.weight  # (d, h) = P^T E
    torch.testing.assert_close(p.T @ (p @ down), down, rtol=0, atol=1e-12)
    torch.testing.assert_close(p.T @ (p @ mlp.down.bias), mlp.down.bias, rtol=0, atol=1e-12)
    assert torch.linalg.matrix_rank(down) == 3


def test_construction_architecture_reads_m_and_buckets_from_the_row(tmp_path):
    facts = _facts(32, 16)
    row = _via_tsv(_construction_row(facts), tmp_path)  # b = d - 4 = 12: B = ceil(32/12) = 3
    arch = construction_architecture(facts, row)
    assert arch == {"code_dim": int(row["min_width"]), "buckets": 3, "constant_neurons": 2, "projection": "orthogonal"}
    assert int(row["hidden"]) == (3 + 2) * arch["code_dim"]
    row1 = _via_tsv(_construction_row(facts, constant_neurons=1, bucket_size=8), tmp_path)
    assert construction_architecture(facts, row1)["buckets"] == 4
    assert construction_architecture(facts, row1)["constant_neurons"] == 1


def test_construction_that_stored_nothing_gives_its_cap():
    facts = _facts(24, 8)
    row = {"method": "construction", "d": 8, "n_facts": 24, "found": False, "min_width": float("nan"),
           "hidden": float("nan"), "settings": settings_json(vars(ConstructionSettings(bucket_sizes=(6, 4))))}
    assert construction_architecture(facts, row) == {"code_dim": 8, "buckets": 4, "constant_neurons": 2,
                                                     "projection": "orthogonal"}  # min(ceil(24/6), ceil(24/4))
    with pytest.raises(ValueError, match="not of this fact set"):
        construction_architecture(_facts(24, 12), row)


def test_unpinned_method_refuses_to_build_and_labels_round_trip():
    facts = _facts(24, 8)
    assert reference_of("gd_encdec") == reference_of("gd_encdec_free") == "construction"
    with pytest.raises(ValueError, match="construction's sizes"):
        get_method("gd_encdec").build(facts, 1, seed=0)
    pinned = GDEncDec(code_dim=5, buckets=4, constant_neurons=1, projection="gaussian")
    [(label, same)] = pinned.variants(facts)
    assert label == "m'=5,B=4,c=1,gaussian" and same is pinned
    assert get_method("gd_encdec", **GD).chosen_variant(facts, label).settings == GDEncDec(
        pinned.settings, **GD).settings
    free = GDEncDecFree(buckets=4)
    assert free.variants(facts)[0][0] == "B=4,c=2,orthogonal"
    assert GDEncDecFree().chosen_variant(facts, "B=4,c=2,orthogonal").settings == free.settings
    with pytest.raises(ValueError, match="no variant"):
        GDEncDecFree().chosen_variant(facts, "m'=5,B=4,c=1,gaussian")


# --------------------------------------------------------------------------- capacity search


def test_search_size_is_buckets_at_the_constructions_m(monkeypatch, tmp_path):
    """gd_encdec searches n = 1 .. B buckets (from 1 whatever width_min, never past B) at the
    construction's m'; gd_encdec_free searches m' at the construction's B. A stand-in trainer that
    stores from a fixed hidden width makes the boundary known."""
    facts = _facts(32, 16)
    row = _via_tsv(_construction_row(facts), tmp_path)
    m, B = int(row["min_width"]), 3

    def fake_train(facts, *, code_dim, hidden, settings, seed):
        if hidden < (B + 2) * m:  # stores from n = B buckets only: the construction's own MLP
            zeros = torch.zeros(hidden, facts.d, dtype=torch.float64)
            return GatedMLP.from_weights(gate_w=zeros, up_w=zeros, down_w=zeros.T.clone()), {"code_dim": code_dim}
        return build_encoder_decoder(facts, m, seed=seed)[0], {"code_dim": code_dim}

    monkeypatch.setattr(ge, "train_encoder_decoder", fake_train)
    method = get_method("gd_encdec").pinned(facts, row)
    res = measure_capacity(facts, method, seed=0, width_min=2, width_max=4096, rel_tol=0.05)
    assert res.size_name == "n_buckets" and res.found and res.min_width == B and res.code_dim == m
    assert [p.width for p in res.probes] == [1, 2, B]  # from 1, not width_min = 2; capped at B, not 4
    assert all(p.hidden == (p.width + 2) * m for p in res.probes)

    monkeypatch.setattr(ge, "train_encoder_decoder", lambda facts, **kw: (_ for _ in ()).throw(
        TrainingDivergedError("stand-in")))
    res = measure_capacity(facts, method, seed=0, width_min=1, width_max=4096, rel_tol=0.05)
    assert not res.found and [p.width for p in res.probes] == [1, 2, B]
    hidden = (B + 2) * m  # a diverged probe counts the MLP it would have built
    assert res.max_probed_params == 3 * hidden * 16 + 2 * hidden + 16

    free = get_method("gd_encdec_free").pinned(facts, row)
    res = measure_capacity(facts, free, seed=0, width_min=2, width_max=4096, rel_tol=0.05)
    assert res.size_name == "code_dim" and [p.width for p in res.probes][:1] == [2]
    assert all(p.hidden == (B + 2) * p.width for p in res.probes) and max(p.width for p in res.probes) <= 16


def test_capacity_tables_needs_the_constructions_row():
    with pytest.raises(ValueError, match="no 'construction' capacity row"):
        capacity_tables(_facts(24, 8), {"gd_encdec": GD}, family="spherical", seed=0, width_min=1, width_max=64,
                        rel_tol=0.05)


def test_end_to_end_stores_a_small_fact_set(tmp_path):
    """The capacity job's path on d = 16, |K| = 32: the construction's row, then gd_encdec pinned to
    it; the reported MLP stores every fact, at the construction's m', with the formula's params,
    and the variant label rebuilds it (as the usability stage does)."""
    facts = _facts(32, 16)
    row = _via_tsv(_construction_row(facts), tmp_path)
    m = int(row["min_width"])
    summaries, probes = capacity_tables(facts, {"gd_encdec": GD}, family="spherical", seed=0, width_min=2,
                                        width_max=4096, rel_tol=0.05, references={"construction": row})
    s = summaries[0]
    assert s["found"] and s["accuracy"] == 1.0 and s["size_name"] == "n_buckets" and s["code_dim"] == m
    h = (s["min_width"] + 2) * m
    assert s["hidden"] == h and s["param_count"] == 3 * h * 16 + 2 * h + 16
    assert s["param_count"] <= int(row["param_count"])  # at most the construction's B buckets
    assert json.loads(s["settings"])["code_dim"] == m and s["variant"] == f"m'={m},B=3,c=2,orthogonal"
    rebuilt = get_method("gd_encdec", **GD).chosen_variant(facts, s["variant"])
    mlp, _ = rebuilt.build(facts, s["min_width"], seed=0)
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0 and mlp.param_count() == s["param_count"]
