"""Nichani et al. 2024: associative memories, the capacity search, the recall task and model,
sequential learning, and claim C9 on hand-made tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from factmlp.claims.nichani import nichani_claims
from factmlp.facts import FactSet, evaluate_mlp
from factmlp.nichani.associative import (
    LinearMemory,
    SearchSettings,
    TrainSettings,
    capacity_constants,
    largest_stored,
    memory_capacity,
    memory_facts,
    outer_product_memory,
    train_linear_memory,
    train_relu_mlp,
)
from factmlp.nichani.recall_task import (
    FactTask,
    RecallModelSpec,
    RecallTrainSettings,
    RecallTransformer,
    answer_table,
    every_fact_sequences,
    sample_sequences,
    train_recall,
)
from factmlp.nichani.sequential import (
    OrthogonalAttention,
    SequentialSettings,
    split_losses,
    stage_summary,
    train_sequential,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _orthonormal(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=g, dtype=torch.float64))
    return q.T  # (n, d), orthonormal rows


# ---- linear associative memories


@pytest.mark.parametrize("n", [1, 5, 12])
def test_outer_product_stores_orthonormal_associations_exactly(n):
    """With orthonormal keys, W e_x = sum_x' u_f(x') (e_x'.e_x) = u_f(x): every value is recalled
    exactly, for any map f (here a permutation of orthonormal values)."""
    d = 12
    keys, values = _orthonormal(n, d, 0), _orthonormal(n, d, 1)
    mapping = torch.randperm(n, generator=torch.Generator().manual_seed(2))
    facts = FactSet(keys, values, mapping)
    mem = outer_product_memory(facts)
    out = mem(keys)
    torch.testing.assert_close(out, values[mapping], rtol=0, atol=1e-12)
    rep = evaluate_mlp(mem, facts)
    assert rep["accuracy"] == 1.0
    if n > 1:  # scores are <u_f(x), u_y> = delta: normalised margin exactly 1
        assert rep["min_margin"] == pytest.approx(1.0, abs=1e-12)


def test_outer_product_matrix_is_the_sum_of_outer_products():
    facts = memory_facts(7, 5, seed=3)
    expected = torch.zeros(5, 5, dtype=torch.float64)
    for x in range(7):  # W = sum_x u_f(x) e_x^T, term by term
        expected += torch.outer(facts.values[int(facts.mapping[x])], facts.keys[x])
    torch.testing.assert_close(outer_product_memory(facts).matrix(), expected, rtol=0, atol=1e-12)


def test_rank_m_memory_is_the_outer_product_read_through_a_subspace():
    facts = memory_facts(20, 10, seed=4)
    mem = outer_product_memory(facts, 3, seed=5)
    w = mem.matrix()
    assert int(torch.linalg.matrix_rank(w)) == 3
    p = mem.b  # (m, d), orthonormal rows
    torch.testing.assert_close(p @ p.T, torch.eye(3, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(w, outer_product_memory(facts).matrix() @ p.T @ p, rtol=0, atol=1e-12)
    assert sum(t.numel() for t in mem.parameters()) == 2 * 3 * 10


def test_memory_facts_are_unit_independent_tables_with_identity_map():
    a = memory_facts(16, 8, seed=0)
    torch.testing.assert_close(a.keys.norm(dim=1), torch.ones(16, dtype=torch.float64))
    torch.testing.assert_close(a.values.norm(dim=1), torch.ones(16, dtype=torch.float64))
    assert torch.equal(a.mapping, torch.arange(16))
    assert not torch.allclose(a.keys, a.values)
    assert torch.equal(memory_facts(16, 8, seed=0).keys, a.keys)
    assert not torch.equal(memory_facts(16, 8, seed=1).keys, a.keys)


def test_trained_memories_store_an_easy_set():
    facts = memory_facts(8, 16, seed=0)  # N = d/2: far below capacity
    lin, m1 = train_linear_memory(facts, settings=TrainSettings(steps=500, lr=0.05), seed=0)
    mlp, m2 = train_relu_mlp(facts, 8, settings=TrainSettings(steps=500, lr=0.03), seed=0)
    assert evaluate_mlp(lin, facts)["accuracy"] == 1.0 and m1["train_accuracy"] == 1.0
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0
    assert lin.w.dtype == torch.float64 and sum(p.numel() for p in mlp.parameters()) == 2 * 8 * 16 + 8


def test_linear_memory_rejects_a_rank_above_d():
    with pytest.raises(ValueError, match="rank"):
        LinearMemory(4, 5)


# ---- capacity search


@pytest.mark.parametrize("answer", [1, 2, 3, 37, 64, 100])
def test_largest_stored_finds_a_known_threshold(answer):
    calls = []

    def probe(n):
        calls.append(n)
        return {"success": n <= answer}

    n, probes = largest_stored(probe, n_min=1, n_max=100, rel_tol=0.0)
    assert n == answer
    assert len(calls) == len(set(calls)) == len(probes)  # each N once
    assert len(calls) <= 2 * math.ceil(math.log2(100)) + 2
    assert [p["n"] for p in probes] == calls


def test_largest_stored_tolerance_none_and_cap():
    n, probes = largest_stored(lambda n: {"success": n <= 90}, n_min=4, n_max=1000, rel_tol=0.1)
    assert 90 * 0.9 <= n <= 90 and next(p for p in probes if p["n"] == n)["success"]
    n, _ = largest_stored(lambda n: {"success": n <= 3}, n_min=4, n_max=100, rel_tol=0.0)
    assert n is None
    n, probes = largest_stored(lambda n: {"success": True}, n_min=3, n_max=50, rel_tol=0.0)
    assert n == 50 and [p["n"] for p in probes] == [3, 6, 12, 24, 48, 50]
    with pytest.raises(ValueError):
        largest_stored(lambda n: {"success": True}, n_min=0, n_max=5, rel_tol=0.0)


def test_memory_capacity_of_the_outer_product_is_deterministic_and_consistent():
    search = SearchSettings(n_min=2, rel_tol=0.0)
    row, probes = memory_capacity("linear", "outer", d=16, m=16, seed=0, search=search)
    again, _ = memory_capacity("linear", "outer", d=16, m=16, seed=0, search=search)
    assert row["n_stored"] == again["n_stored"] and row["found"]
    assert row["axis_params"] == 256 and row["param_count"] == 256
    assert row["n_failed"] == row["n_stored"] + 1  # rel_tol 0: the threshold is bracketed exactly
    assert all(p["accuracy"] == 1.0 for p in probes if p["success"])
    assert 2 <= row["n_stored"] < 256 / math.log(row["n_stored"])  # the outer product is far from d^2


def test_memory_capacity_of_rank_m_and_ntk_memories():
    """The trained rank-m memory stores more than the rank-m outer product; the NTK MLP reports the
    gated MLP's true parameter count on the m d axis."""
    search = SearchSettings(n_min=2, rel_tol=0.1)
    trained, _ = memory_capacity("linear", "trained", d=16, m=4, seed=0, search=search,
                                 train=TrainSettings(steps=300, lr=0.05))
    outer, _ = memory_capacity("linear", "outer", d=16, m=4, seed=0, search=search)
    assert trained["axis_params"] == outer["axis_params"] == 64 and trained["param_count"] == 2 * 4 * 16
    assert trained["n_stored"] > (outer["n_stored"] or 0)
    ntk, probes = memory_capacity("mlp", "ntk", d=16, m=256, seed=0, search=search,
                                  ntk={"activation": "relu", "hermite_degree": 1})
    assert ntk["found"] and ntk["axis_params"] == 256 * 16 and ntk["param_count"] == 3 * 256 * 16 + 2 * 256 + 16
    with pytest.raises(ValueError, match="unknown MLP memory"):
        memory_capacity("mlp", "outer", d=16, m=4, seed=0)


# ---- recall task and model


def test_answer_table_uses_the_relation_blocks():
    task = FactTask(10, 3, 4, 8)
    t = answer_table(task, seed=0)
    assert t.shape == (10, 3)
    assert torch.equal(t // 4, torch.arange(3).expand(10, 3))
    s = FactTask(8, 3, 4, 8, structured=True)
    t = answer_table(s, seed=0)
    for subj in range(8):
        for rel in range(3):
            assert int(t[subj, rel]) == rel * 4 + (subj * 4) // 8


def test_sequences_hold_one_subject_one_relation_noise_and_eos():
    task = FactTask(5, 3, 2, 9, n_noise=7)
    table = answer_table(task, seed=1)
    x, y, s, r = sample_sequences(task, table, 500, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 9) and task.vocab_size == 5 + 3 + 7 + 1
    assert (x[:, -1] == task.eos).all()
    body = x[:, :-1]
    is_subj, is_rel = body < 5, (body >= 5) & (body < 8)
    assert (is_subj.sum(1) == 1).all() and (is_rel.sum(1) == 1).all()
    assert ((body >= 8) & (body < 15) | is_subj | is_rel).all()
    assert torch.equal(body[is_subj], s) and torch.equal(body[is_rel] - 5, r)
    assert torch.equal(y, table[s, r])
    ps = is_subj.float().argmax(1)
    assert len(set(ps.tolist())) == 8  # the subject is seen at every position but EOS
    x, y, s, r = every_fact_sequences(task, table, repeats=2, seed=0)
    assert len(x) == 2 * 15 and len({(int(a), int(b)) for a, b in zip(s, r)}) == 15


def _reference_logits(model: RecallTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The model written out for one sequence, head by head (independent of the einsums)."""
    x = model.embed[tokens]  # (T, d)
    heads = []
    for h in range(model.spec.heads):
        q = x[-1] @ model.q[h]
        scores = torch.stack([(x[t] @ model.k[h]) @ q for t in range(len(tokens))]) / math.sqrt(model.spec.head_dim)
        w = torch.exp(scores - scores.max())
        w = w / w.sum()
        heads.append(sum(w[t] * (x[t] @ model.v[h]) for t in range(len(tokens))))
    a = torch.cat(heads) @ model.o
    hidden = torch.clamp(a @ model.w1 + model.b1, min=0)
    return (a + hidden @ model.w2) @ model.unembed.T


def test_recall_transformer_matches_a_written_out_reference_and_counts_params():
    task = FactTask(4, 3, 2, 6)
    spec = RecallModelSpec(d=8, heads=3, head_dim=2, mlp_width=5)
    model = RecallTransformer(task, spec, seed=0)
    with torch.no_grad():
        model.b1.normal_()
    x, _, _, _ = sample_sequences(task, answer_table(task, seed=0), 3, generator=torch.Generator().manual_seed(0))
    out = model(x)
    for i in range(3):
        torch.testing.assert_close(out[i], _reference_logits(model, x[i]), rtol=1e-5, atol=1e-5)
    trainable = sum(p.numel() for p in model.parameters())
    assert trainable == spec.param_count + spec.mlp_width  # the paper's count leaves out b_1
    assert spec.param_count == 4 * 3 * 2 * 8 + 2 * 5 * 8
    assert {n for n, _ in model.named_buffers()} == {"embed", "unembed"}  # frozen embeddings


def test_train_recall_stores_a_small_task():
    task = FactTask(2, 2, 2, 4)
    spec = RecallModelSpec(d=16, heads=2, head_dim=8, mlp_width=16)
    run = train_recall(task, spec, settings=RecallTrainSettings(steps=400, batch_size=64, lrs=(0.01,), eval_every=20,
                                                                 eval_repeats=4), seed=0)
    assert run["stored"] and run["best_accuracy"] == 1.0 and run["steps"] < 400


# ---- sequential learning


def test_orthogonal_attention_equals_the_sum_over_positions():
    task = FactTask(4, 2, 3, 7, n_noise=5)
    x, _, _, _ = sample_sequences(task, answer_table(task, seed=0), 6, generator=torch.Generator().manual_seed(1))
    for attention in ("linear", "softmax"):
        model = OrthogonalAttention(task, attention, init_scale=0.0)
        g = torch.Generator().manual_seed(2)
        with torch.no_grad():
            model.a.copy_(torch.randn(model.a.shape, generator=g, dtype=torch.float64))
            model.v.copy_(torch.randn(model.v.shape, generator=g, dtype=torch.float64))
        out = model(x)
        for i in range(6):
            s = model.a[task.eos, x[i]]  # (T,): e_EOS^T A e_{z_t} per position
            w = s if attention == "linear" else torch.softmax(s, 0)
            ref = sum(w[t] * model.v[x[i, t]] for t in range(task.length))
            torch.testing.assert_close(out[i], ref, rtol=1e-10, atol=1e-12)


def test_split_losses_against_probabilities():
    torch.manual_seed(0)
    logits = torch.randn(5, 6, dtype=torch.float64)  # R = 3 blocks of D = 2
    targets = torch.tensor([0, 3, 5, 2, 1])
    p = torch.softmax(logits, 1)
    out = split_losses(logits, targets, 2)
    rel = [-(p[i, 2 * (t // 2)] + p[i, 2 * (t // 2) + 1]).log() for i, t in enumerate(targets.tolist())]
    sub = [-sum(p[i, 2 * b + t % 2] for b in range(3)).log() for i, t in enumerate(targets.tolist())]
    assert out["relation_loss"] == pytest.approx(float(torch.stack(rel).mean()))
    assert out["subject_loss"] == pytest.approx(float(torch.stack(sub).mean()))
    assert out["loss"] == pytest.approx(float(-p[torch.arange(5), targets].log().mean()))
    uniform = split_losses(torch.zeros(2, 6, dtype=torch.float64), torch.tensor([0, 4]), 2)
    assert uniform["loss"] == pytest.approx(math.log(6)) and uniform["relation_loss"] == pytest.approx(math.log(3))


def test_stage_summary_on_a_hand_made_curve():
    ln8 = math.log(8)
    curve = [{"step": s, "loss": loss, "relation_loss": rel} for s, loss, rel in
             [(0, math.log(32), 1.4), (100, 3.0, 1.0), (200, ln8 + 0.01, 0.1), (300, ln8, 0.01), (400, 0.1, 0.0)]]
    st = stage_summary(curve, answers_per_relation=8, n_answers=32, tol=0.1)
    assert st["relation_step"] == 200 and st["fact_step"] == 400 and st["hallucination_steps"] == 200
    assert st["plateau_loss"] == pytest.approx(ln8, abs=0.02)
    never = stage_summary(curve[:2], answers_per_relation=8, n_answers=32)
    assert math.isnan(never["relation_step"]) and math.isnan(never["fact_step"])


def test_linear_attention_learns_the_relation_before_the_subject():
    """The paper's Fig. 5 in miniature: the relation loss drops while the total loss sits at ln D."""
    task = FactTask(8, 2, 4, 8, n_noise=6, structured=True)
    curve = train_sequential(task, "linear", settings=SequentialSettings(steps=3000, batch_size=64, lr=0.3,
                                                                         eval_every=50, eval_repeats=2), seed=0)
    st = stage_summary(curve, answers_per_relation=4, n_answers=8)
    assert st["relation_step"] < st["fact_step"], st
    assert st["plateau_loss"] == pytest.approx(math.log(4), abs=0.1)


# ---- claim C9


def _capacity_table(family, memory, sizes, c, d_of=lambda s: s):
    """Rows whose N solves axis = c N ln N at each size (d = m = size for the linear memory)."""
    rows = []
    for s in sizes:
        d, m = d_of(s), s
        axis = d * d if family == "linear" and d == m else d * m
        n = 2.0
        for _ in range(100):  # fixed point of n = axis / (c ln n)
            n = axis / (c * math.log(n))
        rows.append({"family": family, "memory": memory, "d": d, "m": m, "seed": 0, "axis_params": axis,
                     "found": True, "n_stored": round(n), "at_n_max": False})
    return pd.DataFrame(rows)


def test_capacity_constants_recover_c():
    t = _capacity_table("linear", "trained", [16, 32, 64], 1.3)
    c = capacity_constants(t, family="linear", memory="trained", full_rank=True)
    assert list(c["d"]) == [16, 32, 64]
    assert c["C"].to_list() == pytest.approx([1.3] * 3, rel=0.02)
    capped = t.assign(at_n_max=[False, False, True])
    assert len(capacity_constants(capped, family="linear", memory="trained")) == 2


def test_nichani_claim_passes_fails_and_is_na():
    linear = pd.concat([_capacity_table("linear", "trained", [8, 16, 32, 64], 1.3),
                        _capacity_table("linear", "outer", [8, 16, 32], 8.0)])
    mlp = _capacity_table("mlp", "trained", [8, 16, 32], 0.35, d_of=lambda s: 16)
    row = nichani_claims(linear, mlp, scale="test").iloc[0]
    assert row["claim"] == "C9" and row["pass"] == "true", row["measured_value"]
    assert "C median 1.30" in row["measured_value"] and "C median 0.35" in row["measured_value"]
    assert "outer-product d^2 [not deciding]" in row["measured_value"]
    # capacity stuck (the saturation of a memory at fixed d): C drifts by more than 2x over the sizes
    bad = mlp.assign(n_stored=[mlp["n_stored"].iloc[0]] * len(mlp))
    assert nichani_claims(linear, bad, scale="test").iloc[0]["pass"] == "false"
    assert nichani_claims(None, mlp, scale="test").iloc[0]["pass"] == "true"  # decided on what was measured
    assert nichani_claims(None, None, scale="test").iloc[0]["pass"] == "n/a"
    one_size = mlp.iloc[:1]
    assert nichani_claims(None, one_size, scale="test").iloc[0]["pass"] == "false"
