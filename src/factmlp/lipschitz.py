r"""Two estimates of an MLP's Lipschitz constant (Dugan et al. 2025, Fig 3c).

- :func:`jacobian_norm`: the spectral norm ||J_g(x)||_2 at each given point (the keys), by power
  iteration on J^T J with forward- and reverse-mode products (no Jacobian is formed). Its maximum
  over the keys is a *lower* bound on the Lipschitz constant over any set containing the keys,
  and the local quantity that governs how far a perturbed key's output moves.
- :func:`gated_lipschitz_bound`: an analytic *upper* bound over the ball ||x|| <= R for the gated
  MLP g(x) = W_d [(W_u x + b_u) * act(W_g x + b_g)] + b_d. Its Jacobian is
  W_d [diag(act(g(x))) W_u + diag(u(x) * act'(g(x))) W_g], and on the ball
  |g_r(x)| <= ||w_g,r|| R + |b_g,r| =: G_r, |u_r(x)| <= U_r likewise, |act(z)| <= |z|, |act'| <= c_act, so

      L <= ||W_d||_2 ( ||diag(G) W_u||_2' + c_act ||diag(U) W_g||_2' ),

  with ||diag(a) W||_2' = min(max_r a_r ||W||_2, ||diag(a) W||_F), both valid bounds.
"""

from __future__ import annotations

import torch

from .mlp import GatedMLP

__all__ = ["jacobian_norm", "gated_lipschitz_bound", "ACT_SLOPE_BOUND"]

# sup |act'(z)| for each gate activation (|act(z)| <= |z| holds for all of them)
ACT_SLOPE_BOUND = {"relu": 1.0, "identity": 1.0, "silu": 1.0999, "gelu": 1.1290}


def jacobian_norm(fn, points: torch.Tensor, *, iters: int = 50, seed: int = 0) -> torch.Tensor:
    """(n,) spectral norm of the Jacobian of the row-wise map ``fn`` at each row of ``points``.

    ``fn`` must act on each row independently (an MLP does), so one batched jvp/vjp gives every
    row's product. Power iteration from a random start; ``iters`` rounds.
    """
    x = points.detach()
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=g, dtype=x.dtype)
    v = v / v.norm(dim=1, keepdim=True)
    sigma = torch.zeros(x.shape[0], dtype=x.dtype)
    for _ in range(max(1, iters)):
        _, jv = torch.func.jvp(fn, (x,), (v,))
        _, vjp_fn = torch.func.vjp(fn, x)
        (jtjv,) = vjp_fn(jv)
        sigma = jv.norm(dim=1)
        nrm = jtjv.norm(dim=1, keepdim=True)
        v = torch.where(nrm > 0, jtjv / nrm.clamp_min(1e-300), v)
    _, jv = torch.func.jvp(fn, (x,), (v,))
    return torch.maximum(sigma, jv.norm(dim=1))


def _diag_norm_bound(a: torch.Tensor, w: torch.Tensor) -> float:
    spectral = float(a.max() * torch.linalg.matrix_norm(w, ord=2))
    frobenius = float(torch.linalg.matrix_norm(a[:, None] * w))
    return min(spectral, frobenius)


def gated_lipschitz_bound(mlp: GatedMLP, radius: float) -> float:
    """Upper bound on the Lipschitz constant of ``mlp`` over the ball ||x|| <= ``radius``."""
    if mlp.activation not in ACT_SLOPE_BOUND:
        raise ValueError(f"no slope bound for activation {mlp.activation!r}")
    with torch.no_grad():
        wg, bg = mlp.gate.weight.double(), mlp.gate.bias.double()
        wu, bu = mlp.up.weight.double(), mlp.up.bias.double()
        wd = mlp.down.weight.double()
        gmax = wg.norm(dim=1) * radius + bg.abs()
        umax = wu.norm(dim=1) * radius + bu.abs()
        inner = _diag_norm_bound(gmax, wu) + ACT_SLOPE_BOUND[mlp.activation] * _diag_norm_bound(umax, wg)
        return float(torch.linalg.matrix_norm(wd, ord=2)) * inner
