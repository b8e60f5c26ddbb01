r"""The 1-layer language model that holds a fact MLP, for the editing experiments.

Same constraints as :mod:`factmlp.transformer` (tied frozen embeddings, RoPE, value/output
projections identity, no residual stream, frozen pre-MLP norm scale), but causal attention at
every position and a next-token loss on every position, so that non-fact tokens have a loss:

    h = RMSNorm(E[tokens]);  a = CausalAttention_RoPE(h)   (Q, K: small MLPs, trained; V, O = I)
    z = RMSNorm(a) * s
    y = r(z) RMSNorm(F(z) + delta) + (1 - r(z)) RMSNorm(B A z)      F: the frozen fact MLP
    logits = exp(t) RMSNorm(y) E^T                t: a trained scalar log-temperature

The MLP slot is the hebbian-mlps "BinaryMoE": a sigmoid router r (2-layer MLP) mixes the fact
MLP F with a trained rank-``other_rank`` linear "other" expert that writes the template words
(the fact MLP stores only subject -> object). Both experts' outputs are RMS-normalised before the
mix (the hebbian-mlps ``moe_mlp_out_norm`` option), so the router alone decides which expert
speaks, whatever the output scale of the fact MLP (GD, constructed, or edited). ``delta`` (zero
unless set) is added to the fact MLP's output at the last position: the hook through which the
editors fit their target values. Trainable: the Q/K projections, the router, the other expert and
the scalar temperature (argmax-neutral; with frozen unit-norm embeddings the logits could not
otherwise be sharper than sqrt(d), which caps the next-token loss of the template words far above
its floor).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..transformer import rms_norm, rope

__all__ = ["EditLM"]


class _ProjectionMLP(nn.Module):
    """LayerNorm -> Linear -> GELU -> Linear (biases on): the Q/K projection of the hebbian-mlps
    editing model. Linear Q/K cannot tell every subject token from every template word by one
    linear score once there are many more subjects than 2d (measured: base accuracy 0.80 on
    training sentences, 0.16 on paraphrases at d=32 with 256 books)."""

    def __init__(self, d: int, randn) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d, dtype=randn(1, std=0.0).dtype)
        self.w1, self.b1 = randn(d, d, std=d**-0.5), nn.Parameter(torch.zeros(d, dtype=self.norm.weight.dtype))
        self.w2, self.b2 = randn(d, d, std=d**-0.5), nn.Parameter(torch.zeros(d, dtype=self.norm.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.norm(x) @ self.w1.T + self.b1) @ self.w2.T + self.b2


class EditLM(nn.Module):
    def __init__(self, vocab: torch.Tensor, fact_mlp: nn.Module, *, mlp_scale: float, seed: int,
                 other_rank: int = 8, router_hidden: int = 0, rope_base: float = 10000.0,
                 router_token: bool = False, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        d = vocab.shape[1]
        self.register_buffer("vocab", vocab.to(dtype))
        g = torch.Generator().manual_seed(int(seed))

        def randn(*shape, std):
            return nn.Parameter((torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(dtype))

        self.q_proj, self.k_proj = _ProjectionMLP(d, randn), _ProjectionMLP(d, randn)
        hid = router_hidden or d
        self.router_token = bool(router_token)
        d_in = 2 * d if self.router_token else d
        self.router_w1, self.router_b1 = randn(hid, d_in, std=d_in**-0.5), nn.Parameter(torch.zeros(hid, dtype=dtype))
        self.router_w2, self.router_b2 = randn(1, hid, std=hid**-0.5), nn.Parameter(torch.zeros(1, dtype=dtype))
        self.other_a, self.other_b = randn(other_rank, d, std=d**-0.5), randn(d, other_rank, std=other_rank**-0.5)
        self.log_temperature = nn.Parameter(torch.zeros((), dtype=dtype))  # logits scale exp(.), trained
        self.mlp_scale = float(mlp_scale)
        self.rope_base = float(rope_base)
        self.fact_mlp = fact_mlp
        self.fact_mlp.requires_grad_(False)
        self.delta: torch.Tensor | None = None  # (B, d) added to F(z) at the last position

    def set_fact_mlp(self, mlp: nn.Module) -> None:
        mlp.requires_grad_(False)
        self.fact_mlp = mlp

    def mlp_input(self, tokens: torch.Tensor) -> torch.Tensor:
        """z (B, T, d): the MLP slot's input at every position."""
        h = rms_norm(self.vocab[tokens])
        t = tokens.shape[1]
        pos = torch.arange(t, device=tokens.device)
        q = rope(self.q_proj(h), pos, self.rope_base)
        k = rope(self.k_proj(h), pos, self.rope_base)
        scores = q @ k.transpose(1, 2) / math.sqrt(h.shape[-1])
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        att = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        return rms_norm(att @ h) * self.mlp_scale

    def fact_output(self, z: torch.Tensor) -> torch.Tensor:
        dt = next(iter(self.fact_mlp.parameters()), z).dtype
        return self.fact_mlp(z.to(dt)).to(z.dtype)

    def router(self, z: torch.Tensor, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, 1) weight of the fact MLP; reads z and, with ``router_token``, the current token."""
        x = torch.cat([z, rms_norm(self.vocab[tokens])], dim=-1) if self.router_token else z
        hidden = nn.functional.gelu(x @ self.router_w1.T + self.router_b1)
        return torch.sigmoid(hidden @ self.router_w2.T + self.router_b2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, n_tokens) at every position."""
        z = self.mlp_input(tokens)
        fact = self.fact_output(z)
        if self.delta is not None:
            fact = torch.cat([fact[:, :-1], fact[:, -1:] + self.delta[:, None, :]], dim=1)
        return self.readout(fact, self.router(z, tokens), self.other_expert(z))

    def other_expert(self, z: torch.Tensor) -> torch.Tensor:
        """The rank-``other_rank`` linear expert's output, RMS-normalised."""
        return rms_norm((z @ self.other_a.T) @ self.other_b.T)

    def readout(self, fact: torch.Tensor, r: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """Logits from the fact MLP's output, the router weight r and :meth:`other_expert`'s output."""
        y = r * rms_norm(fact) + (1 - r) * other
        return (rms_norm(y) @ self.vocab.T) * self.log_temperature.exp()

    def fact_keys(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h) float64 hidden activations of the fact MLP at the last position: the editors' keys
        (the input of its down projection)."""
        with torch.no_grad():
            z = self.mlp_input(tokens)[:, -1].to(torch.float64)
            return self.fact_mlp.hidden_activations(z)
