"""The encoder-decoder structure trained by gradient descent (Dugan et al. 2025, Fig. 2c): method ``gd_encdec``.

A gated encoder MLP d -> width -> m' behind a linear decoder P^T (d x m') fixed at a JL projection
(:func:`factmlp.constructions.encoder_decoder.jl_projection`, the closed-form construction's
decoder), trained end to end with the GD baseline's loss and schedule
(:func:`factmlp.training.fit_full_batch`) and folded into one gated MLP of width ``width``, so that
its parameter count compares with every other method's. It lives beside the closed-form
construction (:mod:`factmlp.constructions.encoder_decoder`) because it is the same structure with
the encoder learned instead of solved; the GD training itself is :mod:`factmlp.training`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..facts import FactSet
from ..methods import Method, register
from ..mlp import GatedMLP
from ..training import GDSettings, _check, _init_gated_, fit_full_batch
from .encoder_decoder import jl_projection

__all__ = ["GDEncDecSettings", "GDEncDec", "train_encoder_decoder"]


class _EncoderDecoder(torch.nn.Module):
    """x -> P^T E [(U x + b) * act(G x + c)] + P^T e: a gated encoder into R^{m'} and a linear decoder
    P^T (d x m'), fixed at its JL initialisation unless ``train_decoder``."""

    def __init__(self, d: int, width: int, decoder: torch.Tensor, *, activation: str, train_decoder: bool):
        super().__init__()
        self.encoder = GatedMLP(d, width, decoder.shape[1], activation=activation, dtype=torch.float64)
        self.decoder = torch.nn.Parameter(decoder.clone(), requires_grad=train_decoder)  # (d, m')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x) @ self.decoder.T

    def folded(self) -> GatedMLP:
        """The same map as one gated MLP of width h: down = P^T E, bias P^T e (float64)."""
        e = self.encoder.to(torch.float64)
        dec = self.decoder.detach().to(torch.float64)
        return GatedMLP.from_weights(gate_w=e.gate.weight, gate_b=e.gate.bias, up_w=e.up.weight, up_b=e.up.bias,
                                     down_w=dec @ e.down.weight, down_b=dec @ e.down.bias, activation=e.activation)


@dataclass(frozen=True)
class GDEncDecSettings(GDSettings):
    """GD settings plus the encoder-decoder structure: code dimension m' (0 = ceil(d/2)), JL
    projection of the decoder, and whether the decoder trains too."""

    code_dim: int = 0
    projection: str = "orthogonal"
    train_decoder: bool = False


def train_encoder_decoder(
    facts: FactSet, width: int, *, settings: GDEncDecSettings = GDEncDecSettings(), seed: int
) -> tuple[GatedMLP, dict]:
    """GD-trained encoder (gated MLP d -> width -> m') behind a JL decoder P^T (Dugan et al. Fig. 2c).

    The encoder is trained end to end through the decoder with the same loss and schedule as the
    GD baseline (:func:`fit_full_batch`); the result is folded into one gated MLP of width
    ``width`` (down = P^T E), so its parameter count is comparable with every other method.
    Choice (not in the paper's captions): cross-entropy through a fixed decoder rather than MSE
    to the closed-form codes, so the encoder only needs the argmax, not the exact code.
    """
    dtype, device = _check(settings)
    m = settings.code_dim or math.ceil(facts.d / 2)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    proj = jl_projection(min(m, facts.d), facts.d, kind=settings.projection, generator=g)  # (m', d)
    model = _EncoderDecoder(facts.d, width, proj.T, activation=settings.activation,
                            train_decoder=settings.train_decoder)
    _init_gated_(model.encoder, g)
    model = model.to(device=device, dtype=dtype)
    metrics = fit_full_batch(model, facts, settings=settings, label=f"gd_encdec width={width} m'={m}")
    return model.to(device="cpu", dtype=torch.float64).folded(), {**metrics, "code_dim": m}


@register
class GDEncDec(Method):
    """GD-trained encoder with a JL decoder, folded into one gated MLP; see train_encoder_decoder."""

    name = "gd_encdec"
    Settings = GDEncDecSettings
    trained = True

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        return train_encoder_decoder(facts, width, settings=self.settings, seed=seed)
