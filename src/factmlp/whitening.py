r"""Embedding whitening of the value table, folded into the output layer at no parameter cost.

With mu the mean and Sigma the covariance of the values, W = (Sigma + r I)^{-1/2} with
r = ridge * tr(Sigma)/d, and whitened values v~_j = W (v_j - mu). An MLP g~ built for (K, V~)
becomes an MLP for (K, V) by replacing its output layer (D, b) with (W^T D, W^T b):

.. math::
    \langle W^\top \tilde g(k), v_j \rangle = \langle \tilde g(k), \tilde v_j \rangle
        + \langle \tilde g(k), W \mu \rangle ,

and the last term is the same for every j, so every argmax decision is unchanged (Dugan et al.
2025, Sec. 4; the derivation is ours). Whitening raises rho for anisotropic values (so the
code dimension m' ~ log|V|/rho^2 drops) at the price of a Lipschitz constant up to
||W||_2 = (lambda_min(Sigma) + r)^{-1/2} times larger.

``ridge`` is relative to the mean eigenvalue; it is required when |V| <= d (Sigma singular) and a
setting of the methods that whiten.
"""

from __future__ import annotations

import torch

from .mlp import GatedMLP

__all__ = ["whitening_transform", "whiten_values", "fold_whitening"]


def whitening_transform(values: torch.Tensor, *, ridge: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu (d,), W (d, d) symmetric) with W = (Sigma + ridge tr(Sigma)/d I)^{-1/2}, float64."""
    if ridge < 0:
        raise ValueError(f"whitening ridge must be >= 0, got {ridge}")
    v = values.to(torch.float64)
    mu = v.mean(dim=0)
    centred = v - mu
    sigma = centred.T @ centred / v.shape[0]  # (d, d)
    d = sigma.shape[0]
    sigma = sigma + ridge * (sigma.trace() / d) * torch.eye(d, dtype=torch.float64)
    evals, evecs = torch.linalg.eigh(sigma)
    # eigh returns the zero eigenvalues of a singular covariance as rounding noise (+-1e-18), so
    # singularity is judged relative to the largest eigenvalue
    if float(evals.min()) <= 1e-12 * d * float(evals.max().clamp_min(1e-300)):
        raise ValueError(
            f"value covariance is singular (|V|={v.shape[0]}, d={d}); whitening needs ridge > 0"
        )
    w = (evecs * evals.rsqrt()) @ evecs.T
    return mu, 0.5 * (w + w.T)


def whiten_values(values: torch.Tensor, *, ridge: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Whitened values (n, d) and the transform W (d, d)."""
    mu, w = whitening_transform(values, ridge=ridge)
    return (values.to(torch.float64) - mu) @ w.T, w


@torch.no_grad()
def fold_whitening(mlp: GatedMLP, w: torch.Tensor) -> GatedMLP:
    """The MLP x -> W^T mlp(x): W^T folded into the output layer (same parameter count)."""
    return GatedMLP.from_weights(
        gate_w=mlp.gate.weight, gate_b=mlp.gate.bias, up_w=mlp.up.weight, up_b=mlp.up.bias,
        down_w=w.T @ mlp.down.weight, down_b=w.T @ mlp.down.bias, activation=mlp.activation,
    )
