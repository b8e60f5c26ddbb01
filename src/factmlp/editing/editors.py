r"""ROME, MEMIT and AlphaEdit on the fact MLP's down projection, and MLP swapping.

Notation (ROME's and MEMIT's papers, Meng et al. 2022, 2023): W (d x h) is the fact MLP's last linear layer, a key
k (h) its input at the last position of a sentence (the gated hidden activation), K1 (h x u) the
keys of the facts to edit, Kp (h x n_p) the keys of the preserved facts (template 0, as the
hebbian-mlps tiny-model baselines do), R (d x u) the residuals. All solves in float64.

Target values follow the hebbian-mlps tiny-model variant: delta_i is added to the fact MLP's output
at the last position of the edit sentence and fitted by Adam (lr, L2 weight decay) on the
cross-entropy of the new object, for a fixed number of steps with an optional early stop; the
target is z_i = F(z) + delta_i, so the residual is exactly r_i = delta_i. MEMIT and AlphaEdit clip
each residual afterwards to ``clip * ||W k_i||`` when ``clip`` is set.

- ROME (sequential rank one): C = Kp Kp^T / n_p (+ ridge); for each edit in turn
  W <- W + r_i (C^{-1} k_i)^T / (k_i^T C^{-1} k_i)  (residuals from the unedited model).
- MEMIT (one layer, one batch): Delta = R K1^T (lambda C + K1 K1^T)^{-1}.
- AlphaEdit: P = projector on the eigenvectors of Kp Kp^T with eigenvalue < tol * (its largest
  eigenvalue); Delta = R K1^T P (K1 K1^T P + alpha I)^{-1}, so Delta Kp ~ 0. The tolerance is
  relative: the reference code's absolute threshold (1e-2) is meant for LLM key covariances, and
  an absolute one on our keys (eigenvalues 8.8 ... 2.8e3 at the smoke scale, review 2026-11 Check 6)
  gave a null space of rank 0 or 1, i.e. no edit at all.
``ridge`` (relative to the mean eigenvalue of C) keeps C invertible when n_p < h; not in the
sources, reported as a setting.
"""

from __future__ import annotations

import torch
from torch import nn

from .lm import EditLM

__all__ = ["fit_deltas", "clip_residuals", "rome_update", "memit_update", "alphaedit_projector",
           "alphaedit_update", "apply_update"]


def fit_deltas(model: EditLM, tokens: torch.Tensor, targets: torch.Tensor, *, steps: int, lr: float,
               weight_decay: float, stop_loss: float | None, last_position: bool = False) -> torch.Tensor:
    """(u, d) float64 deltas: delta_i makes the model predict ``targets[i]`` at the end of ``tokens[i]``.

    Adam is elementwise, so fitting all rows at once with the summed loss equals fitting each
    edit alone. Early stop (checked after a step) when the mean loss falls below ``stop_loss``.

    ``last_position``: run the model once and keep what delta does not change at the last
    position (the MLP input z, the router weight, the other expert's output, the fact MLP's
    output), then fit on the output head alone. The same function of delta as the full forward
    pass (delta enters at the last position only and nothing before it reads that position), at
    a cost per step independent of the sentence length and of the fact MLP's width; it rounds
    differently, so it is a setting (EditSettings.fit_last_position) and the default keeps the
    full pass, whose results the snapshots hold."""
    dtype = model.vocab.dtype
    delta = nn.Parameter(torch.zeros(tokens.shape[0], model.vocab.shape[1], dtype=dtype))
    opt = torch.optim.Adam([delta], lr=lr, weight_decay=weight_decay, fused=True)
    if last_position:
        with torch.no_grad():
            z = model.mlp_input(tokens)
            r, other = model.router(z, tokens)[:, -1], model.other_expert(z[:, -1])
            fact = model.fact_output(z[:, -1])

        def last_logits() -> torch.Tensor:
            return model.readout(fact + delta, r, other)
    else:
        def last_logits() -> torch.Tensor:
            model.delta = delta
            return model(tokens)[:, -1]
    try:
        for _ in range(steps):
            loss = nn.functional.cross_entropy(last_logits(), targets, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if stop_loss is not None:
                with torch.no_grad():
                    after = nn.functional.cross_entropy(last_logits(), targets)
                if float(after) < stop_loss:
                    break
    finally:
        model.delta = None
    return delta.detach().to(torch.float64)


def clip_residuals(residuals: torch.Tensor, current: torch.Tensor, clip: float | None) -> torch.Tensor:
    """Columns r_i of ``residuals`` (d, u) rescaled to at most ``clip * ||current_i||``."""
    if clip is None:
        return residuals
    limit = clip * current.norm(dim=0)
    norm = residuals.norm(dim=0)
    return residuals * torch.where(norm > limit, limit / norm.clamp_min(1e-300), torch.ones_like(norm))


def _second_moment(keys: torch.Tensor, ridge: float) -> torch.Tensor:
    """Kp Kp^T / n_p + ridge * (mean eigenvalue) I, (h, h)."""
    c = keys @ keys.T / keys.shape[1]
    return c + ridge * (torch.trace(c) / c.shape[0]).clamp_min(1e-300) * torch.eye(c.shape[0], dtype=c.dtype)


def rome_update(w: torch.Tensor, k1: torch.Tensor, r: torch.Tensor, kp: torch.Tensor, *, ridge: float) -> torch.Tensor:
    """The summed sequential rank-one updates (d, h)."""
    c = _second_moment(kp, ridge)
    u = torch.linalg.solve(c, k1)  # (h, u): C^{-1} k_i
    delta = torch.zeros_like(w)
    for i in range(k1.shape[1]):
        delta += torch.outer(r[:, i], u[:, i]) / (u[:, i] @ k1[:, i])
    return delta


def memit_update(k1: torch.Tensor, r: torch.Tensor, kp: torch.Tensor, *, lam: float, ridge: float) -> torch.Tensor:
    """Delta = R K1^T (lambda C + K1 K1^T)^{-1}, (d, h)."""
    a = lam * _second_moment(kp, ridge) + k1 @ k1.T
    return torch.linalg.solve(a, k1 @ r.T).T  # a symmetric: (a^{-1} K1 R^T)^T = R K1^T a^{-1}


def alphaedit_projector(kp: torch.Tensor, *, tol: float) -> torch.Tensor:
    """P (h, h): the projector on the eigenvectors of Kp Kp^T whose eigenvalue is below ``tol``
    times the largest one (computed once per sequence of edits, as AlphaEdit's code does)."""
    evals, evecs = torch.linalg.eigh(kp @ kp.T)
    null = evecs[:, evals < tol * evals.max().clamp_min(1e-300)]
    return null @ null.T


def alphaedit_update(k1: torch.Tensor, r: torch.Tensor, kp: torch.Tensor | None, *, tol: float, alpha: float = 1.0,
                     projector: torch.Tensor | None = None, cp: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, int]:
    """Delta = R K1^T P ((K1 K1^T + Cp) P + alpha I)^{-1} and rank(P); P projects on the eigenvectors
    of Kp Kp^T whose eigenvalue is below ``tol`` times the largest one (or is ``projector``).

    ``cp``: sequential editing's sum of K K^T over the keys of earlier batches (AlphaEdit's code:
    zero before the first batch, each batch's keys added after it), which keeps later updates off
    the earlier edits; None for one batch. Computed as solve(P (K1 K1^T + Cp) + alpha I, P K1 R^T)^T."""
    p = alphaedit_projector(kp, tol=tol) if projector is None else projector
    h = k1.shape[0]
    gram = k1 @ k1.T if cp is None else k1 @ k1.T + cp
    x = torch.linalg.solve(p @ gram + alpha * torch.eye(h, dtype=k1.dtype), p @ k1 @ r.T)
    return x.T, int(round(float(torch.trace(p))))


def apply_update(model: EditLM, delta: torch.Tensor) -> None:
    """W <- W + Delta on the fact MLP's down projection."""
    with torch.no_grad():
        w = model.fact_mlp.down.weight
        w.add_(delta.to(w.dtype))
