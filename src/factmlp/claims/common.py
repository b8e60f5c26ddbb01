"""Shared pieces of the claim rows: columns, sweep names, method families, row builders, number
formatting and the method notes of the evidence column.

Every stage module (:mod:`factmlp.claims.capacity`, :mod:`~factmlp.claims.usability`,
:mod:`~factmlp.claims.editing`, :mod:`~factmlp.claims.nichani`) returns rows in
:data:`CLAIM_COLUMNS` built by :func:`claim_row` (a verdict) or :func:`na_row` (not measured at this scale).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

__all__ = ["CLAIM_COLUMNS", "SWEEP_NAMES", "CLOSED_FORM_PREFIX", "FITTED_METHODS", "PAPER_GD", "is_closed_form",
           "is_fitted", "is_paper_construction", "is_v2_builder", "spearman", "POINT_COLUMNS", "as_numeric",
           "claim_row", "na_row", "fmt_ratio", "fmt_point", "confirms_at_least", "confirms_at_most",
           "method_notes"]

CLAIM_COLUMNS = ["claim", "statement", "source", "paper_value", "measured_value", "scale", "pass", "evidence", "design"]
SWEEP_NAMES = {"scaling": "scaling", "fixed-d": "fixed-d", "geometry": "geometry", "families": "families"}
CLOSED_FORM_PREFIX = "construction"  # construction, construction_whitened, construction_jl, ...
# Constructions with a part fitted by an optimiser on the facts (not the MLP's weights by GD): claim B2.
FITTED_METHODS = ("construction_codebook",)
PAPER_GD = {"lr": 1e-3, "lr_min": 1e-6, "epochs": 10000}  # Dugan et al.'s GD protocol
POINT_COLUMNS = ["family", "d", "n_facts"]
_BORING_SETTINGS = {"ridge", "device", "dtype", "log_every", "max_seconds"}


def is_fitted(method: str) -> bool:
    """A fitted construction (claim B2): an optimiser fits part of it on the facts (construction_codebook's
    value codebook, by Adam), but the MLP's weights are not trained by GD."""
    return str(method) in FITTED_METHODS


def is_closed_form(method: str) -> bool:
    """A closed-form build (claim B1): no gradient step on the fact set. Every ``construction*``
    method but the fitted ones, and the v2 Hebbian builders (``hebbian*``: random features with a
    least-squares or Hebbian readout; the data-dependent one refits its factors by ridge least
    squares, solved by conjugate gradients, not by a gradient step on a loss)."""
    m = str(method)
    return (m.startswith(CLOSED_FORM_PREFIX) and not is_fitted(m)) or is_v2_builder(m)


def is_paper_construction(method: str) -> bool:
    """The paper's construction family (claim C7): ``construction``, ``construction_whitened`` and
    their JL-decoder twins; not our fitted codebook variant."""
    return str(method).startswith(CLOSED_FORM_PREFIX) and not is_fitted(method)


def is_v2_builder(method: str) -> bool:
    """A builder of the follow-up paper ("MLPs are Hebbians"): every method named ``hebbian*``."""
    return str(method).startswith("hebbian")



def as_numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype(float)

def spearman(x, y) -> float:
    """Spearman rank correlation (average ranks for ties; NaN with < 3 points or a constant side)."""
    x, y = pd.Series(np.asarray(x, float)), pd.Series(np.asarray(y, float))
    ok = x.notna() & y.notna()
    x, y = x[ok], y[ok]
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return float("nan")
    return float(x.rank().corr(y.rank()))


# --------------------------------------------------------------------------- row builders and formatting


def claim_row(claim, statement, source, paper, measured, scale, passed, evidence) -> dict:
    """One claim row; ``design`` is filled by :func:`factmlp.claims.design.apply_designs`."""
    verdict = "n/a" if passed is None else ("true" if passed else "false")
    return dict(zip(CLAIM_COLUMNS, [claim, statement, source, paper, measured, scale, verdict, evidence, ""]))

def na_row(claim, statement, source, paper, scale, why) -> dict:
    return claim_row(claim, statement, source, paper, "not measured", scale, None, why)

def fmt_ratio(value: float, bound: str, digits: int = 1) -> str:
    if bound == "?":
        return "undetermined (neither stores)"
    prefix = {"=": "", ">=": ">=", "<=": "<="}[bound]
    return f"{prefix}{value:.{digits}f}x"

def fmt_point(r) -> str:
    return f"{r['family']} d={int(r['d'])} |K|={int(r['n_facts'])}"

def confirms_at_least(value: float, bound: str, threshold: float) -> bool:
    return bound in ("=", ">=") and bool(value >= threshold)

def confirms_at_most(value: float, bound: str, threshold: float) -> bool:
    return bound in ("=", "<=") and bool(value <= threshold)


# --------------------------------------------------------------------------- method notes (evidence)


def _settings_of(cap: pd.DataFrame, method: str, sweeps) -> list[dict]:
    """The distinct parsed ``settings`` JSON of a method's rows in these sweeps."""
    if "settings" not in cap:
        return []
    rows = cap[(cap["method"] == method) & cap["sweep"].isin(list(sweeps))]
    out = []
    for text in dict.fromkeys(str(s) for s in rows["settings"].dropna()):
        try:
            s = json.loads(text)
        except ValueError:
            continue
        if isinstance(s, dict) and s not in out:
            out.append(s)
    return out

def _gd_protocol(s: dict, label: str) -> str:
    def g(key, fmt):
        return format(s[key], fmt) if key in s and s[key] is not None else "?"

    text = f"{label}: full-batch Adam lr {g('lr', 'g')} cosine to {g('lr_min', 'g')}, {g('epochs', '')} epochs"
    if "activation" in s:
        text += f", activation {s['activation']}"
    try:
        paper = all(float(s[k]) == v for k, v in PAPER_GD.items())
    except (KeyError, TypeError, ValueError):
        paper = False
    return text + (" (the paper's protocol)" if paper else
                   " (not the paper's protocol: lr 1e-3 cosine to 1e-6, 10,000 epochs)")

def _method_note(cap: pd.DataFrame, method: str, sweeps) -> str:
    """The method's variant for the evidence: the GD protocol of gd-trained methods, the settings
    of the others (``settings`` JSON) and the variants its searches kept (``variant`` column)."""
    settings = _settings_of(cap, method, sweeps)
    label = {"gd": "GD", "gd_encdec": "GD enc-dec"}.get(method, method)
    if method.startswith("gd"):
        parts = [_gd_protocol(s, label) for s in settings] or [f"{label}: settings not recorded"]
        extra = [", ".join(f"{k} {s[k]}" for k in ("code_dim", "projection", "train_decoder") if k in s)
                 for s in settings]
        parts = [p + (f", {e}" if e else "") for p, e in zip(parts, extra)] if settings else parts
    else:
        parts = [f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(s.items()) if _shown(k, v, s))
                 for s in settings] or [f"{label}: settings not recorded"]
    text = " | ".join(parts)
    if "variant" in cap:
        rows = cap[(cap["method"] == method) & cap["sweep"].isin(list(sweeps))]
        variants = sorted({str(v) for v in rows["variant"].dropna() if str(v)})
        if variants:
            text += f" (variants kept: {'/'.join(variants)})"
    return text

def _shown(key: str, value, settings: dict) -> bool:
    """Whether a setting names the variant: not bookkeeping, not empty, no ridge of a method that does not whiten."""
    if key in _BORING_SETTINGS or value is None or value == [] or value == "":
        return False
    return not (key.startswith("whiten_") and settings.get("whiten") is False)

def method_notes(cap: pd.DataFrame, methods, sweeps) -> str:
    present = [m for m in methods if ((cap["method"] == m) & cap["sweep"].isin(list(sweeps))).any()]
    return "; ".join(_method_note(cap, m, sweeps) for m in present)
