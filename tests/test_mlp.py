"""The parallel-gate forward pass against the dense one (its independent reference)."""

from __future__ import annotations

import pytest
import torch

from factmlp.mlp import GatedMLP, parallel_gate_forward


def _parallel_mlp(d: int, h: int, d_out: int, seed: int) -> GatedMLP:
    g = torch.Generator().manual_seed(seed)
    w = torch.nn.functional.normalize(torch.randn(d, generator=g, dtype=torch.float64), dim=0)
    s = torch.randn(h, generator=g, dtype=torch.float64)
    s[::5] = 0.0  # constant gates (rows of zeros), some with negative bias (always off)
    s[1::7] = -s[1::7].abs()  # ramps that switch off as z grows
    gate_b = torch.randn(h, generator=g, dtype=torch.float64)
    if h > 3:  # two ramps with the same knot
        gate_b[3] = gate_b[2] * s[3] / s[2]
    return GatedMLP.from_weights(gate_w=s[:, None] * w[None, :], gate_b=gate_b,
                                 up_w=torch.randn(h, d, generator=g, dtype=torch.float64),
                                 up_b=torch.randn(h, generator=g, dtype=torch.float64),
                                 down_w=torch.randn(d_out, h, generator=g, dtype=torch.float64),
                                 down_b=torch.randn(d_out, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("d,h,d_out", [(6, 40, 6), (16, 200, 9), (3, 2, 3)])
def test_parallel_gate_forward_equals_the_dense_pass(d, h, d_out):
    mlp = _parallel_mlp(d, h, d_out, seed=d + h)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, d, generator=g, dtype=torch.float64) * 2
    x[7] = x[3]  # repeated inputs land in one group
    dense = mlp(x)
    fast = parallel_gate_forward(mlp, x)
    assert torch.allclose(fast, dense, rtol=1e-10, atol=1e-10)


def test_inputs_exactly_on_a_knot_and_a_built_encoder():
    # an input with z exactly at a ramp's knot (ReLU(0) = 0 either side), then a real construction MLP
    mlp = _parallel_mlp(4, 12, 4, seed=3)
    w = mlp.gate.weight[mlp.gate.weight.norm(dim=1).argmax()]
    w = w / w.norm()
    s = mlp.gate.weight @ w
    n = int(torch.nonzero(s != 0)[0])
    x = (-mlp.gate.bias[n] / s[n]) * w[None, :]  # w.x = t_n
    assert torch.allclose(parallel_gate_forward(mlp, x), mlp(x), atol=1e-12)

    from factmlp.embeddings import make_key_value_tables
    from factmlp.facts import FactSet, make_mapping
    from factmlp.registry import get_method

    keys, values = make_key_value_tables("spherical", 300, 300, 24, tied=True, seed=0)
    facts = FactSet(keys, values, make_mapping(300, 300, kind="permutation", seed=1))
    built, _ = get_method("construction_codebook").build(facts, 6, seed=0)
    assert torch.allclose(parallel_gate_forward(built, keys), built(keys), rtol=1e-9, atol=1e-11)


def test_non_parallel_gates_are_refused():
    mlp = GatedMLP(5, 8)
    with pytest.raises(ValueError, match="not parallel"):
        parallel_gate_forward(mlp, torch.randn(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="ReLU"):
        parallel_gate_forward(GatedMLP(5, 8, activation="silu"), torch.randn(3, 5, dtype=torch.float64))
