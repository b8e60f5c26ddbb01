"""Quantised storage: the rounding against PyTorch's own per-channel quantiser and exact small
cases, weight bits counted by hand, and a quantised MLP that loses a fact reported as failing."""

from __future__ import annotations

import math

import pytest
import torch

from factmlp.facts import FactSet
from factmlp.mlp import GatedMLP
from factmlp.quantize import (
    QuantizedMethod,
    quantize_mlp,
    quantize_rows,
    quantized_capacity,
    shape_weight_bits,
    weight_bits,
)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")  # deprecated in torch: why factmlp rounds by hand
def test_int8_rows_match_torch_quantize_per_channel():
    w = torch.randn(16, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q, scale = quantize_rows(w, 8, scale_dtype="float32")
    ref = torch.quantize_per_channel(w.float(), scale.float(), torch.zeros(16, dtype=torch.int64), 0, torch.qint8)
    assert torch.equal(q, ref.int_repr())
    assert torch.allclose(scale, w.abs().amax(dim=1) / 127, rtol=1e-6)
    assert int(q.abs().max()) == 127 and int(q.min()) >= -127  # symmetric: -128 never used


def test_int4_rows_on_an_exact_small_case():
    w = torch.tensor([[0.7, -0.33, 0.12, 0.0], [0.0, 0.0, 0.0, 0.0], [-1.4, 0.5, 0.05, 1.0]], dtype=torch.float64)
    q, scale = quantize_rows(w, 4, scale_dtype="float64")
    # Q = 7: row 0 scale 0.1 -> 7, -3.3, 1.2, 0; row 1 all zero (scale 1); row 2 scale 0.2 -> -7, 2.5, 0.25, 5
    assert q.tolist() == [[7, -3, 1, 0], [0, 0, 0, 0], [-7, 2, 0, 5]]  # 2.5 rounds to even
    assert torch.allclose(scale, torch.tensor([0.1, 1.0, 0.2], dtype=torch.float64))


def test_bf16_rounds_to_eight_significant_bits():
    mlp = GatedMLP.from_weights(gate_w=torch.tensor([[1 + 2**-7, 1 + 2**-9]], dtype=torch.float64),
                                up_w=torch.tensor([[3.0, -0.5]], dtype=torch.float64),
                                down_w=torch.tensor([[1.0], [1 + 2**-8]], dtype=torch.float64))
    out = quantize_mlp(mlp, "bf16")
    assert out.gate.weight.tolist() == [[1 + 2**-7, 1.0]]
    assert out.down.weight.tolist() == [[1.0], [1.0]]  # 1 + 2^-8 is a tie: to even
    assert out.up.weight.tolist() == [[3.0, -0.5]]
    assert mlp.gate.weight.tolist() == [[1 + 2**-7, 1 + 2**-9]]  # the original is untouched


def test_weight_bits_counted_by_hand():
    mlp = GatedMLP(4, 2)  # weights 2*2*4 + 4*2 = 24, biases 2*2 + 4 = 8
    assert weight_bits(mlp, "float32") == 32 * 32
    assert weight_bits(mlp, "bf16") == 16 * 32
    # int4: 4 bits per weight; one float32 scale per row (2 + 2 + 4 rows) and float32 biases
    assert weight_bits(mlp, "int4") == 4 * 24 + 32 * (8 + 8)
    assert weight_bits(mlp, "int8", scale_dtype="bfloat16") == 8 * 24 + 16 * (8 + 8)
    assert shape_weight_bits(4, 2, 4, "int4") == weight_bits(mlp, "int4")
    with pytest.raises(ValueError, match="int3"):
        weight_bits(mlp, "int3")


class _Fixed:
    """A method that returns one hand-made MLP at every size."""

    name, size_name, settings = "fixed", "width", None

    def __init__(self, mlp):
        self.mlp = mlp

    def variants(self, facts):
        return [("", self)]

    def chosen_variant(self, facts, label):
        return self

    def min_size(self, facts):
        return None

    def max_size(self, facts):
        return None

    def hidden_width(self, facts, size):
        return self.mlp.hidden

    def build(self, facts, width, *, seed):
        return self.mlp, {}


def _two_facts():
    eye = torch.eye(2, dtype=torch.float64)
    facts = FactSet(keys=eye.clone(), values=eye.clone(), mapping=torch.tensor([0, 1]))
    # g(x) = W_down (W_up x) with a constant gate of 1: key e1 gives (0.93, 1.0), stored by 0.07.
    # int4 rounds W_down's first row [1, 0.93] with scale 1/7 to [1, 1]: a tie, which fails.
    f64 = torch.float64
    mlp = GatedMLP.from_weights(gate_w=torch.zeros(2, 2, dtype=f64), gate_b=torch.ones(2, dtype=f64), up_w=eye.clone(),
                                down_w=torch.tensor([[1.0, 0.93], [0.0, 1.0]], dtype=f64), activation="identity")
    return facts, mlp


def test_a_quantised_mlp_that_loses_a_fact_is_reported_as_failing():
    facts, mlp = _two_facts()
    row = {"found": True, "min_width": 2, "param_count": mlp.param_count(), "variant": ""}
    rows = {r["format"]: r for r in quantized_capacity(facts, _Fixed(mlp), ["float32", "int8", "int4"], seed=0,
                                                       float_row=row, mapping="permutation", width_min=1,
                                                       width_max=64, rel_tol=0.05, max_factor=4)}
    assert rows["float32"]["at_float_min_stores"] and rows["float32"]["found"]
    assert rows["int8"]["at_float_min_stores"] and rows["int8"]["found"]  # 0.93 * 127 = 118.1 -> 118
    assert not rows["int4"]["at_float_min_stores"] and rows["int4"]["at_float_min_n_correct"] == 1
    assert not rows["int4"]["found"] and rows["int4"]["bits_per_weight_bit"] is None
    assert rows["int4"]["max_probed_params"] == mlp.param_count()
    # information of a 2-permutation: 1 bit; int8 stores it in 8*6 weight bits + 32*(6 rows + 6 biases)
    assert rows["int8"]["weight_bits"] == 8 * 12 + 32 * 12
    assert math.isclose(rows["int8"]["bits_per_weight_bit"], 1.0 / (8 * 12 + 32 * 12))


def test_the_quantised_search_stops_at_max_factor_times_the_float_minimum():
    facts, mlp = _two_facts()
    seen = []

    class Recording(_Fixed):
        def build(self, facts, width, *, seed):
            seen.append(width)
            return self.mlp, {}

    quantized_capacity(facts, Recording(mlp), ["int4"], seed=0, float_row={"found": True, "min_width": 3,
                       "param_count": 1, "variant": ""}, mapping="permutation", width_min=1, width_max=1024,
                       rel_tol=0.05, max_factor=4)
    assert seen[0] == 3 and max(seen) == 12 and min(seen[1:]) >= 3  # the float minimum rebuilt, then 3..12


def test_quantized_method_names_its_format_and_rejects_unknown_ones():
    facts, mlp = _two_facts()
    qm = QuantizedMethod(_Fixed(mlp), "int8")
    assert qm.name == "fixed@int8"
    built, _ = qm.build(facts, 2, seed=0)
    assert built.down.weight[0, 1].item() == pytest.approx(118 / 127)
    with pytest.raises(ValueError, match="scale_dtype"):
        QuantizedMethod(_Fixed(mlp), "int8", scale_dtype="float8")
