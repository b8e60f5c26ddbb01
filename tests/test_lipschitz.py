"""Lipschitz estimates against closed forms and explicit Jacobians (independent references)."""

from __future__ import annotations

import pytest
import torch

from factmlp.lipschitz import gated_lipschitz_bound, jacobian_norm
from factmlp.mlp import GatedMLP

pytestmark = pytest.mark.usefixtures("single_thread")


def _random_mlp(d: int, h: int, activation: str, seed: int) -> GatedMLP:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return GatedMLP.from_weights(gate_w=r(h, d), gate_b=r(h), up_w=r(h, d) / d**0.5, up_b=r(h), down_w=r(d, h) / h**0.5,
                                 down_b=r(d), activation=activation)


def test_linear_map_jacobian_norm_is_its_largest_singular_value():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(7, 5, generator=g, dtype=torch.float64)
    points = torch.randn(11, 5, generator=g, dtype=torch.float64)
    est = jacobian_norm(lambda x: x @ m.T, points, iters=200)
    sigma_max = torch.linalg.svdvals(m)[0]
    torch.testing.assert_close(est, sigma_max.expand(11), rtol=1e-9, atol=0)


@pytest.mark.parametrize("activation", ["relu", "identity", "silu", "gelu"])
def test_jacobian_norm_matches_explicit_jacobian(activation):
    mlp = _random_mlp(6, 9, activation, seed=1)
    points = torch.randn(5, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    est = jacobian_norm(mlp, points, iters=300)
    for i, x in enumerate(points):
        jac = torch.autograd.functional.jacobian(mlp, x)  # (d_out, d_in), formed explicitly
        ref = torch.linalg.matrix_norm(jac, ord=2)
        assert est[i] == pytest.approx(float(ref), rel=1e-6)


@pytest.mark.parametrize("activation", ["relu", "identity", "silu", "gelu"])
def test_analytic_bound_dominates_the_jacobian_everywhere_in_the_ball(activation):
    mlp = _random_mlp(5, 12, activation, seed=3)
    radius = 1.7
    bound = gated_lipschitz_bound(mlp, radius)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(400, 5, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * radius * torch.rand(400, 1, generator=g, dtype=torch.float64)
    worst = float(jacobian_norm(mlp, x, iters=100).max())
    assert worst <= bound
    # and the bound is a Lipschitz bound: no secant slope inside the ball exceeds it
    y = x.flip(0)
    with torch.no_grad():
        slopes = (mlp(x) - mlp(y)).norm(dim=1) / (x - y).norm(dim=1).clamp_min(1e-12)
    assert float(slopes.max()) <= bound


def test_analytic_bound_is_exact_for_a_constant_gate():
    """gate weights 0, gate bias 1, identity gate: g(x) = W_d (W_u x + b_u) + b_d, whose Lipschitz
    constant is ||W_d W_u||_2 and whose bound is ||W_d||_2 ||W_u||_2 (equal when W_d = I)."""
    d, h = 4, 4
    g = torch.Generator().manual_seed(5)
    up = torch.randn(h, d, generator=g, dtype=torch.float64)
    mlp = GatedMLP.from_weights(gate_w=torch.zeros(h, d, dtype=torch.float64),
                                gate_b=torch.ones(h, dtype=torch.float64),
                                up_w=up, up_b=torch.randn(h, generator=g, dtype=torch.float64),
                                down_w=torch.eye(d, dtype=torch.float64), activation="identity")
    assert gated_lipschitz_bound(mlp, 3.0) == pytest.approx(float(torch.linalg.svdvals(up)[0]), rel=1e-12)
    est = jacobian_norm(mlp, torch.randn(3, d, generator=g, dtype=torch.float64), iters=200)
    torch.testing.assert_close(est, torch.linalg.svdvals(up)[0].expand(3), rtol=1e-9, atol=0)


def test_unknown_activation_has_no_bound():
    mlp = _random_mlp(3, 2, "relu", seed=0)
    mlp.activation = "tanh"
    with pytest.raises(ValueError, match="tanh"):
        gated_lipschitz_bound(mlp, 1.0)
