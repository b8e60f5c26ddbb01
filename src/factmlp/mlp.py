"""The gated MLP that every method returns.

    g(x) = W_down [ (W_up x + b_up) * act(W_gate x + b_gate) ] + b_down

with hidden width h: W_gate, W_up (h, d_in), W_down (d_out, h). This is the form of Dugan et
al.'s encoder ("D[sigma(Gx) * (Ax)]"), of the NTK baseline and of the GD baseline, so widths
and parameter counts compare directly. Biases always exist (zero where a construction does not
use them) and :meth:`GatedMLP.param_count` counts every weight and bias: 3 h d + 2 h + d for
d_in = d_out = d.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "GatedMLP", "activation_fn", "parallel_gate_forward"]

ACTIVATIONS = ("relu", "identity", "silu", "gelu")


def activation_fn(name: str):
    """The gate activation called ``name`` (one of :data:`ACTIVATIONS`)."""
    table = {
        "relu": torch.relu,
        "identity": lambda z: z,
        "silu": nn.functional.silu,
        "gelu": nn.functional.gelu,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return table[name]


class GatedMLP(nn.Module):
    """Single-hidden-layer gated MLP; see the module docstring."""

    def __init__(
        self,
        d_in: int,
        hidden: int,
        d_out: int | None = None,
        *,
        activation: str = "relu",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if int(hidden) < 1:
            raise ValueError(f"hidden width must be >= 1, got {hidden}")
        d_out = d_in if d_out is None else d_out
        self.activation = activation
        self._act = activation_fn(activation)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init must not advance the global RNG
            self.gate = nn.Linear(d_in, hidden, dtype=dtype)
            self.up = nn.Linear(d_in, hidden, dtype=dtype)
            self.down = nn.Linear(hidden, d_out, dtype=dtype)

    @property
    def hidden(self) -> int:
        return self.gate.out_features

    def hidden_activations(self, x: torch.Tensor) -> torch.Tensor:  # (..., d_in) -> (..., hidden)
        """up(x) * act(gate(x)): the input of the down projection (the editors' keys)."""
        return self.up(x) * self._act(self.gate(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., d_in) -> (..., d_out)
        return self.down(self.hidden_activations(x))

    def param_count(self) -> int:
        """Every stored weight and bias (3 h d + 2 h + d when d_in = d_out = d)."""
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def from_weights(
        cls,
        *,
        gate_w: torch.Tensor,
        up_w: torch.Tensor,
        down_w: torch.Tensor,
        gate_b: torch.Tensor | None = None,
        up_b: torch.Tensor | None = None,
        down_b: torch.Tensor | None = None,
        activation: str = "relu",
    ) -> "GatedMLP":
        """A frozen float64 MLP with the given weights (missing biases are zero)."""
        h, d_in = gate_w.shape
        if up_w.shape != (h, d_in):
            raise ValueError(f"up_w must have shape {(h, d_in)}, got {tuple(up_w.shape)}")
        if down_w.ndim != 2 or down_w.shape[1] != h:
            raise ValueError(f"down_w must have shape (d_out, {h}), got {tuple(down_w.shape)}")
        mlp = cls(d_in, h, down_w.shape[0], activation=activation, dtype=torch.float64)
        with torch.no_grad():
            for lin, w, b in ((mlp.gate, gate_w, gate_b), (mlp.up, up_w, up_b), (mlp.down, down_w, down_b)):
                lin.weight.copy_(w)
                lin.bias.copy_(b if b is not None else torch.zeros_like(lin.bias))
        mlp.requires_grad_(False)
        return mlp


@torch.no_grad()
def parallel_gate_forward(mlp: GatedMLP, x: torch.Tensor, *, rtol: float = 1e-12) -> torch.Tensor:
    r"""``mlp(x)`` for a ReLU-gated MLP whose gate rows are all parallel, in O(n d d_out + h d d_out)
    instead of the dense O(n h d).

    When every gate row is s_n w (one unit vector w, any scales s_n and biases b_n; rows of zeros
    allowed), a neuron's gate is a ramp along z = w.x: ReLU(s_n z + b_n) = s_n (z - t_n) for z > t_n
    if s_n > 0 (t_n = -b_n / s_n), |s_n| (t_n - z) for z < t_n if s_n < 0, and the constant
    ReLU(b_n) if s_n = 0. The neurons active at z are then a prefix (s_n > 0, sorted by t_n) and a
    suffix (s_n < 0), so with the running sums A1 = sum_n s_n W_n u_n^T, A2 = sum_n s_n t_n W_n u_n^T
    (and their bias terms) over the active neurons, g(x) = z (A1 x + a1) - (A2 x + a2) + b_down.
    Inputs are grouped by how many ramps they have passed, the sums updated between groups: the
    cost no longer grows with h x n. The closed-form encoders (one random direction w for every
    gate) are such MLPs; this checks storage on 10^5-10^6 keys where the dense pass would take
    minutes to hours (benchmarks/timing/codebook.py). Reads only the MLP's weights; the
    parallelism is checked on them (max |G - s w^T| <= ``rtol`` max |G|, else ValueError).
    Float64, on the weights' device; agrees with the dense pass to rounding (tests/test_mlp.py).
    """
    if mlp.activation != "relu":
        raise ValueError(f"parallel_gate_forward needs ReLU gates, got {mlp.activation!r}")
    dt = torch.float64
    gw, gb = mlp.gate.weight.to(dt), mlp.gate.bias.to(dt)
    uw, ub = mlp.up.weight.to(dt), mlp.up.bias.to(dt)
    dw, db = mlp.down.weight.to(dt), mlp.down.bias.to(dt)
    x = x.to(device=gw.device, dtype=dt)
    norms = gw.norm(dim=1)
    scale = float(gw.abs().max()) if gw.numel() else 0.0
    w = gw[int(norms.argmax())] / norms.max().clamp_min(1e-300)
    s = gw @ w
    if scale > 0 and float((gw - s[:, None] * w[None, :]).abs().max()) > rtol * scale:
        raise ValueError("the gate rows are not parallel: parallel_gate_forward does not apply (use mlp(x))")
    z = x @ w
    out = db.expand(x.shape[0], -1).clone()
    zero = s == 0
    if zero.any():  # constant gates: a linear map
        a = torch.relu(gb[zero])
        out += (x @ uw[zero].T + ub[zero]) @ (dw[:, zero] * a).T
    for sign in (1.0, -1.0):
        sel = (s * sign) > 0
        if not sel.any():
            continue
        t = -gb[sel] / s[sel]
        order = torch.argsort(t * sign)  # the order in which the ramps switch on as sign*z grows
        t, sn, u, bu, wd = t[order], s[sel][order], uw[sel][order], ub[sel][order], dw[:, sel][:, order]
        # active neurons for an input: s>0: t_n < z (a prefix of t ascending); s<0: t_n > z (a prefix of t descending)
        passed = torch.searchsorted((t * sign).contiguous(), (z * sign).contiguous(), side="left")
        a1 = torch.zeros(wd.shape[0], x.shape[1] + 1, dtype=dt, device=x.device)  # [A1 | a1]
        a2 = torch.zeros_like(a1)
        uu = torch.cat([u, bu[:, None]], dim=1)  # (h_sel, d + 1): up rows with their bias
        xx = torch.cat([x, torch.ones_like(z)[:, None]], dim=1)
        groups, inv = torch.unique(passed, return_inverse=True)
        done = 0
        for gi, p in enumerate(groups.tolist()):
            if p > done:  # add the ramps switched on since the last group
                blk = wd[:, done:p] * sn[done:p]
                a1 += blk @ uu[done:p]
                a2 += (blk * t[done:p]) @ uu[done:p]
                done = p
            if p == 0:
                continue
            rows = (inv == gi).nonzero(as_tuple=True)[0]
            xr = xx[rows]
            out[rows] += z[rows, None] * (xr @ a1.T) - xr @ a2.T
    return out
