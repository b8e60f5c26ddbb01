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

Choosing the whitening strength per value table (:func:`choose_whitening`). The paper is silent
about the ridge, and no single ridge is fair to every family: on anisotropic, unnormalised values
whitening raises rho_min several-fold, while on row-normalised families it *lowers* rho_min at
every ridge (review 2026-11, Check 7: spike8 0.349 raw -> 0.195 at ridge 1e-6, 0.286 at 10). The
methods that whiten can therefore take a list of options, each a ridge or ``"off"`` (no
whitening), and keep the option whose whitened table has the largest rho_min. The construction's
cost is driven by rho (its code dimension m' ~ log|V| / rho^2), so choosing by rho chooses by the
quantity the cost depends on, from the value table alone, without looking at the capacity search
(no probe, no key, no seed). Ties go to ``"off"``, then to the smaller ridge (the weakest
transform, which also has the smallest Lipschitz cost ||W||_2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from .io import tensor_digest
from .mlp import GatedMLP

__all__ = [
    "whitening_transform", "whiten_values", "fold_whitening", "OFF", "parse_whiten_ridges", "whitening_label",
    "choose_whitening", "whiten_with_choice", "pinned_whitening",
]

OFF = "off"  # the whitening option "no whitening"


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


def parse_whiten_ridges(ridges: Iterable) -> tuple:
    """The whitening options as a tuple of ``"off"`` and float ridges >= 0 (lists from YAML become
    tuples; numeric strings such as YAML 1.1's ``1e-6`` become floats). Raises on anything else."""
    if isinstance(ridges, (str, bytes)) or not isinstance(ridges, Iterable):
        raise ValueError(f"whiten_ridges must be a list of ridges >= 0 or {OFF!r}, got {ridges!r}")
    out: list = []
    for r in ridges:
        if isinstance(r, str) and r.strip().lower() == OFF:
            out.append(OFF)
            continue
        try:
            x = float(r)
        except (TypeError, ValueError):
            raise ValueError(f"whiten_ridges entries must be {OFF!r} or a number >= 0, got {r!r}") from None
        if isinstance(r, bool) or not math.isfinite(x) or x < 0:
            raise ValueError(f"whiten_ridges entries must be {OFF!r} or a number >= 0, got {r!r}")
        out.append(x)
    return tuple(out)


def whitening_label(option) -> str:
    """``"off"`` or ``"ridge <r>"`` (``%g`` format: ``ridge 1e-06``, ``ridge 0.1``, ``ridge 10``)."""
    return OFF if option == OFF else f"ridge {float(option):g}"


_CHOICES: dict[tuple, tuple[str, float | None, dict[str, float]]] = {}


def choose_whitening(values: torch.Tensor, ridges: Iterable) -> tuple[str, float | None, dict[str, float]]:
    """The whitening option among ``ridges`` (ridges >= 0 and/or ``"off"``) that maximises rho_min
    of the value table, ties broken towards ``"off"`` and then the smaller ridge.

    Returns ``(label, ridge, rho_by_option)``: the chosen option's label (:func:`whitening_label`),
    its ridge (None for ``"off"``), and rho_min of every option by label (NaN for an option that
    cannot whiten this table: ridge 0 with a singular covariance). rho_min is
    :func:`factmlp.decodability.cached_decodability` of the raw (``"off"``) or whitened table,
    whose certified lower bound is within a relative 1e-9 of the true value, so two options
    within a relative 1e-9 of each other count as a tie. See the module docstring for why rho
    is the criterion. Memoised on the bytes of ``values`` and the options, so a capacity search
    that builds many MLPs for one table computes it once.
    """
    from .decodability import cached_decodability

    options = parse_whiten_ridges(ridges)
    if not options:
        raise ValueError("choose_whitening needs at least one option")
    v = values.detach().to(device="cpu", dtype=torch.float64).contiguous()
    key = (tensor_digest(v), tuple(v.shape), options)
    if key in _CHOICES:
        label, ridge, rhos = _CHOICES[key]
        return label, ridge, dict(rhos)
    # canonical order: "off" first, then increasing ridge; the first option within the tie
    # tolerance of the best rho wins
    order = ([OFF] if OFF in options else []) + sorted({r for r in options if r != OFF})
    rhos: dict[str, float] = {}
    for opt in order:
        if opt == OFF:
            table = v
        else:
            try:
                table = whiten_values(v, ridge=opt)[0]
            except ValueError:  # ridge 0 and a singular covariance
                rhos[whitening_label(opt)] = float("nan")
                continue
        rhos[whitening_label(opt)] = cached_decodability(table).rho
    finite = [r for r in rhos.values() if not math.isnan(r)]
    if not finite:
        raise ValueError(f"no whitening option in {list(options)} applies to this value table "
                         "(singular covariance: add a ridge > 0 or 'off')")
    best = max(finite)
    chosen = next(o for o in order if not math.isnan(rhos[whitening_label(o)])
                  and rhos[whitening_label(o)] >= best - 1e-9 * abs(best))
    result = (whitening_label(chosen), None if chosen == OFF else float(chosen), rhos)
    if len(_CHOICES) >= 16:
        _CHOICES.pop(next(iter(_CHOICES)))
    _CHOICES[key] = result
    return result[0], result[1], dict(rhos)


def whiten_with_choice(
    values: torch.Tensor, *, whiten: bool, ridge: float, ridges: Iterable = ()
) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """The values a whitening method builds for, its transform W (None: not whitened) and metrics.

    ``whiten`` False: the raw values. ``whiten`` True with ``ridges`` empty: whitened at the fixed
    ``ridge``. ``whiten`` True with ``ridges``: the option :func:`choose_whitening` picks; the
    metrics then hold ``whiten_choice`` (its label) and ``whiten_rho`` (rho_min it achieves), and
    ``"off"`` returns the raw values, so the method is then exactly its unwhitened counterpart.
    """
    options = parse_whiten_ridges(ridges)
    if not whiten:
        return values, None, {}
    if not options:
        v, w = whiten_values(values, ridge=ridge)
        return v, w, {}
    label, r, rhos = choose_whitening(values, options)
    metrics = {"whiten_choice": label, "whiten_rho": rhos[label]}
    if r is None:
        return values, None, metrics
    v, w = whiten_values(values, ridge=r)
    return v, w, metrics


def pinned_whitening(values: torch.Tensor, *, whiten: bool, ridges: Iterable) -> tuple[str, dict]:
    """(label, settings overrides) that pin a whitening method to the option chosen for ``values``:
    ``("whiten=ridge 0.1", {"whiten_ridges": (0.1,)})``, or ``("", {})`` when the method does not
    choose (``whiten`` false or no ``ridges``). Shared by the methods' ``variants()``, so the
    capacity table's ``variant`` column records the choice."""
    options = parse_whiten_ridges(ridges)
    if not (whiten and options):
        return "", {}
    label, ridge, _ = choose_whitening(values, options)
    return f"whiten={label}", {"whiten_ridges": (OFF,) if ridge is None else (ridge,)}
