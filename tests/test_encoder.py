"""Tests of factmlp.constructions.encoder: the closed-form piecewise-linear gated-MLP encoder.

Every check evaluates the returned weights independently (numpy, neuron by neuron):

    out_j(x) = sum_{r : coord[r] = j} (up_w[r] . x) * relu(gate_w[r] . x + gate_b[r]),

and compares with the target codes; widths are checked against the closed form
(ceil(N / b) + 2) * m'.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from factmlp.constructions.encoder import PiecewiseEncoder, encoder_width, fit_piecewise_encoder

pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)


def _draw(n: int, d: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian keys (n, d) and Gaussian codes (n, m), float64."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(n, d, generator=g, dtype=torch.float64)
    codes = torch.randn(n, m, generator=g, dtype=torch.float64)
    return keys, codes


def _evaluate(enc: PiecewiseEncoder, x: torch.Tensor) -> np.ndarray:
    """The encoder's output computed from its weights alone (numpy, one neuron at a time)."""
    xn = x.numpy()
    gate_w, gate_b = enc.gate_w.numpy(), enc.gate_b.numpy()
    up_w, coord = enc.up_w.numpy(), enc.coord.numpy()
    out = np.zeros((xn.shape[0], enc.code_dim))
    for r in range(coord.shape[0]):
        out[:, coord[r]] += (xn @ up_w[r]) * np.maximum(xn @ gate_w[r] + gate_b[r], 0.0)
    return out


# (N, d, m', bucket_size)
CASES = [
    pytest.param(50, 8, 3, 1, id="b=1"),
    pytest.param(60, 8, 3, 8, id="b=d"),
    pytest.param(120, 16, 4, 16, id="b=d-16"),
    pytest.param(53, 8, 4, 5, id="N-not-multiple-of-b"),
    pytest.param(200, 16, 16, 12, id="m'=d"),
    pytest.param(97, 12, 5, 8, id="b=d-4"),
    pytest.param(3, 8, 2, 5, id="N<b"),
    pytest.param(1, 8, 2, 4, id="N=1"),
    pytest.param(1, 1, 1, 1, id="N=1,d=1"),
    pytest.param(7, 1, 2, 1, id="d=1"),
    pytest.param(40, 6, 9, 3, id="m'>d"),
]


@pytest.mark.parametrize(("n", "d", "m", "b"), CASES)
def test_every_key_maps_to_its_code(n, d, m, b):
    keys, codes = _draw(n, d, m, seed=n + 7 * d + m)
    enc = fit_piecewise_encoder(keys, codes, bucket_size=b, seed=3)
    out = _evaluate(enc, keys)
    assert out.shape == (n, m)
    err = float(np.abs(out - codes.numpy()).max())
    assert err < 1e-8
    # the reported fit error is the same quantity (every key is checked at this size)
    assert enc.fit_error < 1e-8
    assert abs(enc.fit_error - err) < 1e-10
    # __call__ agrees with the neuron-by-neuron evaluation, also off the keys
    x = torch.randn(11, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    np.testing.assert_allclose(enc(x).numpy(), _evaluate(enc, x), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(("n", "d", "m", "b"), CASES)
def test_hidden_width_closed_form(n, d, m, b):
    keys, codes = _draw(n, d, m, seed=0)
    enc = fit_piecewise_encoder(keys, codes, bucket_size=b, seed=0)
    expected = (math.ceil(n / b) + 2) * m
    assert encoder_width(n, m, b) == expected
    assert enc.hidden == expected
    assert enc.gate_w.shape == (expected, d) and enc.up_w.shape == (expected, d)
    assert enc.gate_b.shape == (expected,) and enc.coord.shape == (expected,)
    assert enc.code_dim == m
    # each code coordinate is written by exactly ceil(N/b) + 2 neurons
    counts = np.bincount(enc.coord.numpy(), minlength=m)
    assert counts.tolist() == [math.ceil(n / b) + 2] * m


@pytest.mark.parametrize(
    ("n", "m", "b", "expected"),
    [(1, 1, 1, 3), (10, 4, 5, 16), (11, 4, 5, 20), (3, 2, 5, 6), (20000, 16, 60, 5376)],
)
def test_encoder_width_values(n, m, b, expected):
    assert encoder_width(n, m, b) == expected


def test_gate_is_one_unit_direction():
    """Documented structure: every neuron gates on the same unit direction w (with its own knot)."""
    keys, codes = _draw(40, 6, 3, seed=2)
    enc = fit_piecewise_encoder(keys, codes, bucket_size=4, seed=9)
    w = enc.gate_w[0]
    assert torch.equal(enc.gate_w, w.expand_as(enc.gate_w))
    assert abs(float(w.norm()) - 1.0) < 1e-14


def test_linear_in_codes():
    """Encoder(C1 + C2) = Encoder(C1) + Encoder(C2) as functions: on the keys and off them."""
    n, d, m, b = 90, 10, 4, 6
    keys, c1 = _draw(n, d, m, seed=11)
    c2 = torch.randn(n, m, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    e1 = fit_piecewise_encoder(keys, c1, bucket_size=b, seed=5)
    e2 = fit_piecewise_encoder(keys, c2, bucket_size=b, seed=5)
    e12 = fit_piecewise_encoder(keys, c1 + c2, bucket_size=b, seed=5)
    off = torch.randn(25, d, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    for x in (keys, off):
        lhs = _evaluate(e12, x)
        rhs = _evaluate(e1, x) + _evaluate(e2, x)
        scale = max(1.0, float(np.abs(rhs).max()))
        assert float(np.abs(lhs - rhs).max()) < 1e-8 * scale
    # and scaling: Encoder(3 C1) = 3 Encoder(C1)
    e3 = fit_piecewise_encoder(keys, 3.0 * c1, bucket_size=b, seed=5)
    np.testing.assert_allclose(_evaluate(e3, off), 3.0 * _evaluate(e1, off), rtol=1e-8, atol=1e-8)


def test_same_seed_same_weights_and_float64():
    keys, codes = _draw(70, 8, 3, seed=21)
    a = fit_piecewise_encoder(keys, codes, bucket_size=6, seed=4)
    b = fit_piecewise_encoder(keys, codes, bucket_size=6, seed=4)
    c = fit_piecewise_encoder(keys, codes, bucket_size=6, seed=5)
    for name in ("gate_w", "gate_b", "up_w", "coord"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    for name in ("gate_w", "gate_b", "up_w"):
        assert getattr(a, name).dtype == torch.float64, name
    assert a.fit_error == b.fit_error
    assert not torch.equal(a.gate_w, c.gate_w)  # the seed picks the direction w
    # a different seed is still an exact encoder
    assert float(np.abs(_evaluate(c, keys) - codes.numpy()).max()) < 1e-8


def test_float32_inputs_give_float64_weights():
    keys, codes = _draw(30, 5, 2, seed=8)
    enc = fit_piecewise_encoder(keys.float(), codes.float(), bucket_size=3, seed=0)
    assert enc.gate_w.dtype == enc.gate_b.dtype == enc.up_w.dtype == torch.float64
    err = np.abs(_evaluate(enc, keys.float().double()) - codes.float().double().numpy()).max()
    assert err < 1e-8


@pytest.mark.parametrize("b", [0, -1, 17])  # d = 8, 30 keys: b = 17 gives (2 + 1) 8 = 24 unknowns < 30 keys
def test_bad_bucket_size(b):
    keys, codes = _draw(30, 8, 2, seed=0)
    with pytest.raises(ValueError, match="bucket_size"):
        fit_piecewise_encoder(keys, codes, bucket_size=b, seed=0)


def test_codes_row_mismatch():
    keys, codes = _draw(20, 8, 2, seed=0)
    with pytest.raises(ValueError, match="rows"):
        fit_piecewise_encoder(keys, codes[:-1], bucket_size=4, seed=0)
    with pytest.raises(ValueError, match="rows"):
        fit_piecewise_encoder(keys, torch.cat([codes, codes[:1]]), bucket_size=4, seed=0)


@pytest.mark.parametrize("same_code", [True, False])
def test_duplicate_keys_raise(same_code):
    keys, codes = _draw(20, 8, 2, seed=0)
    keys = keys.clone()
    keys[13] = keys[4]
    if same_code:
        codes = codes.clone()
        codes[13] = codes[4]
    with pytest.raises(ValueError, match="duplicate"):
        fit_piecewise_encoder(keys, codes, bucket_size=4, seed=0)


def test_scale_20000_keys():
    """N = 20000, d = 64, m' = 16 at the construction's default bucket size d - 4: exact, fast."""
    n, d, m = 20000, 64, 16
    keys, codes = _draw(n, d, m, seed=99)
    t0 = time.perf_counter()
    enc = fit_piecewise_encoder(keys, codes, bucket_size=d - 4, seed=1)
    seconds = time.perf_counter() - t0
    assert enc.hidden == (math.ceil(n / (d - 4)) + 2) * m
    assert enc.fit_error < 1e-7
    # independent check on 300 random keys (the encoder's own probe uses an evenly spread subset)
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:300]
    err = float(np.abs(_evaluate(enc, keys[idx]) - codes[idx].numpy()).max())
    assert err < 1e-7
    assert seconds < 10.0


def test_bucket_size_d_many_keys_is_exact_or_raises():
    """Square buckets (b = d) with |K| >> d can be too ill-conditioned to solve exactly; the fit
    must then fail loudly instead of returning an inexact encoder."""
    n, d, m = 5000, 8, 4
    keys, codes = _draw(n, d, m, seed=0)
    try:
        enc = fit_piecewise_encoder(keys, codes, bucket_size=d, seed=1)
    except ValueError as exc:
        assert "not exact" in str(exc) and "bucket_size" in str(exc)
        return
    idx = torch.arange(0, n, 10)
    err = float(np.abs(_evaluate(enc, keys[idx]) - codes[idx].numpy()).max())
    assert err < 1e-6 * (1 + float(codes.abs().max()))


@pytest.mark.parametrize(("n", "d", "m", "b"), CASES)
def test_one_constant_neuron_gives_the_two_neuron_encoder_outputs(n, d, m, b):
    """constant_neurons=1 (an always-on neuron: gate row 0, bias 1) computes the same function as
    the ReLU pair, on the keys and off them, with m' fewer neurons; both evaluated neuron by neuron."""
    keys, codes = _draw(n, d, m, seed=n + d + m + b)
    two = fit_piecewise_encoder(keys, codes, bucket_size=b, seed=4)
    one = fit_piecewise_encoder(keys, codes, bucket_size=b, seed=4, constant_neurons=1)
    assert one.hidden == encoder_width(n, m, b, constant_neurons=1) == (math.ceil(n / b) + 1) * m
    assert two.hidden - one.hidden == m
    np.testing.assert_allclose(_evaluate(one, keys), codes.numpy(), atol=1e-8 * (1 + float(codes.abs().max())))
    # off the keys the two encoders are the same function wherever the ReLU pair is constant,
    # i.e. above its knots, which lie a key-range below the lowest key: mixtures of keys are there
    # (far below, the pair is not constant, the always-on neuron is)
    g = torch.Generator().manual_seed(1)
    mix = torch.rand(20, n, generator=g, dtype=torch.float64)
    x = torch.cat([keys, (mix / mix.sum(1, keepdim=True)) @ keys])
    np.testing.assert_allclose(_evaluate(one, x), _evaluate(two, x), rtol=1e-9,
                               atol=1e-9 * (1 + np.abs(_evaluate(two, x)).max()))


def test_constant_neurons_must_be_1_or_2():
    keys, codes = _draw(10, 4, 2, seed=0)
    with pytest.raises(ValueError, match="constant_neurons"):
        fit_piecewise_encoder(keys, codes, bucket_size=2, seed=0, constant_neurons=3)


def test_buckets_larger_than_d_while_knots_suffice():
    # b > d: B = 3 buckets of <= 22 keys, (B + 1) d = 64 unknowns for 64 keys (a square key system)
    keys, codes = _draw(64, 16, 3, seed=8)
    enc = fit_piecewise_encoder(keys, codes, bucket_size=22, seed=1, constant_neurons=1)
    assert enc.hidden == encoder_width(64, 3, 22, constant_neurons=1) == 4 * 3
    np.testing.assert_allclose(_evaluate(enc, keys), codes.numpy(), atol=1e-7)
    with pytest.raises(ValueError, match="fewer unknowns than keys"):
        fit_piecewise_encoder(keys, codes, bucket_size=40, seed=1, constant_neurons=1)  # (2 + 1) 16 < 64
