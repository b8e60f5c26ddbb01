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

__all__ = ["ACTIVATIONS", "GatedMLP", "activation_fn"]

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
