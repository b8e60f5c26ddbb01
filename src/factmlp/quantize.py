"""Quantised storage: a fact-storing MLP's weights kept at fewer bits, and the bits it then stores
per bit of weights.

Formats (:data:`FORMATS`):

- ``float32``, ``bf16``: every weight and bias rounded to that float type (round to nearest even,
  PyTorch's cast), ``32`` resp. ``16`` bits each.
- ``int8``, ``int4``: *symmetric, per output row*. A weight matrix W (rows = output units: the h
  rows of W_gate and W_up, the d_out rows of W_down) is stored as integers q in [-Q, Q],
  Q = 2^(b-1) - 1 (127, 7), with one scale per row, s_r = max_j |W_rj| / Q (rounded to the scale's
  float type *before* q is computed, so the stored pair (q, s) is exactly what is evaluated):
  q_rj = round(W_rj / s_r), W'_rj = q_rj s_r. The scales and the biases are kept in float
  (``scale_dtype``, float32 by default: ``"scales kept in float"``); an all-zero row gets scale 1.
  Weight bits: b per weight + the scale's bits per row + the scale's bits per bias.

Why per row and symmetric: the usual weight-only format of LLM inference (int8/int4 with a float
scale per output channel). The rounding is written here (a few lines) rather than taken from
PyTorch's quantized tensors, which are deprecated in torch 2.13 and have no signed int4 type; the
tests check it against ``torch.quantize_per_channel`` (int8) and exact small cases (int4). Biases
stay in float because they are few (2h + d of 3hd + 2h + d) and most constructions set them to
zero; they are counted at their bits.

The quantised MLP is evaluated in float64 from the stored values (weight-only quantisation: the
arithmetic is not quantised), so a failure to store is the format's, not the arithmetic's.

Bits per weight bit = the fact set's information (:mod:`factmlp.bits`) / :func:`weight_bits`:
the efficiency of the stored object, scales included.
"""

from __future__ import annotations

import logging
import time

import torch

from .bits import fact_set_bits
from .facts import FactSet, evaluate_mlp
from .mlp import GatedMLP

__all__ = ["FORMATS", "SCALE_DTYPES", "quantize_rows", "quantize_mlp", "weight_bits", "QuantizedMethod",
           "quantized_capacity", "quantized_tables", "check_format", "shape_weight_bits"]

log = logging.getLogger("factmlp.quantize")

#: name -> (kind, bits per weight)
FORMATS = {"float32": ("float", 32), "bf16": ("float", 16), "int8": ("int", 8), "int4": ("int", 4)}
SCALE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}
_FLOAT_DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16}


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown quantisation format {fmt!r}; known: {', '.join(FORMATS)}")


def _scale_dtype(scale_dtype: str) -> torch.dtype:
    if scale_dtype not in SCALE_DTYPES:
        raise ValueError(f"unknown scale_dtype {scale_dtype!r}; known: {', '.join(SCALE_DTYPES)}")
    return SCALE_DTYPES[scale_dtype]


def quantize_rows(w: torch.Tensor, bits: int, *, scale_dtype: str = "float32") -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row integer quantisation of a 2-D ``w``: ``(q, scale)`` with ``q`` (int8 tensor,
    values in [-Q, Q], Q = 2^(bits-1) - 1) and ``scale`` (float64 holding values of ``scale_dtype``),
    such that ``q * scale[:, None]`` is the stored matrix. Rounding is to nearest, ties to even."""
    if w.ndim != 2:
        raise ValueError(f"quantize_rows needs a 2-D tensor, got shape {tuple(w.shape)}")
    if not 2 <= int(bits) <= 8:
        raise ValueError(f"bits must be in 2..8, got {bits}")
    qmax = 2 ** (int(bits) - 1) - 1
    w = w.to(torch.float64)
    amax = w.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    scale = scale.to(_scale_dtype(scale_dtype)).to(torch.float64)
    # a scale rounded down may put max|w|/s a hair above Q: clamp (the row's extreme then rounds to Q)
    q = torch.clamp(torch.round(w / scale[:, None]), -qmax, qmax).to(torch.int8)
    return q, scale


def quantize_mlp(mlp: GatedMLP, fmt: str, *, scale_dtype: str = "float32") -> GatedMLP:
    """A float64 copy of ``mlp`` holding exactly the values stored in format ``fmt`` (see the module
    docstring); ``mlp`` is not changed."""
    check_format(fmt)
    kind, bits = FORMATS[fmt]
    w = {name: getattr(mlp, name).weight.detach().to(torch.float64) for name in ("gate", "up", "down")}
    b = {name: getattr(mlp, name).bias.detach().to(torch.float64) for name in ("gate", "up", "down")}
    if kind == "float":
        dt = _FLOAT_DTYPES[fmt]
        w = {k: v.to(dt).to(torch.float64) for k, v in w.items()}
        b = {k: v.to(dt).to(torch.float64) for k, v in b.items()}
    else:
        sdt = _scale_dtype(scale_dtype)
        for k in w:
            q, s = quantize_rows(w[k], bits, scale_dtype=scale_dtype)
            w[k] = q.to(torch.float64) * s[:, None]
        b = {k: v.to(sdt).to(torch.float64) for k, v in b.items()}
    return GatedMLP.from_weights(gate_w=w["gate"], up_w=w["up"], down_w=w["down"], gate_b=b["gate"],
                                 up_b=b["up"], down_b=b["down"], activation=mlp.activation)


def weight_bits(mlp: GatedMLP, fmt: str, *, scale_dtype: str = "float32") -> int:
    """Bits needed to store ``mlp`` in format ``fmt``: every weight and bias, and the per-row scales
    of the integer formats."""
    return shape_weight_bits(mlp.gate.in_features, mlp.hidden, mlp.down.out_features, fmt, scale_dtype=scale_dtype)


def shape_weight_bits(d_in: int, hidden: int, d_out: int, fmt: str, *, scale_dtype: str = "float32") -> int:
    """:func:`weight_bits` of a gated MLP of that shape: W_gate, W_up (hidden x d_in), W_down
    (d_out x hidden), their biases, and one scale per row of each matrix in the integer formats."""
    check_format(fmt)
    kind, bits = FORMATS[fmt]
    n_weights = 2 * hidden * d_in + d_out * hidden
    n_biases = 2 * hidden + d_out
    if kind == "float":
        return bits * (n_weights + n_biases)
    n_rows = 2 * hidden + d_out
    return bits * n_weights + torch.finfo(_scale_dtype(scale_dtype)).bits * (n_rows + n_biases)


class QuantizedMethod:
    """A method whose every build is stored in ``fmt``: what :func:`factmlp.capacity.measure_capacity`
    searches to find the smallest size that stores a fact set *after* quantisation. ``start``: the
    smallest size to try (the float search's minimum, for a method with one variant: a quantised MLP
    is a perturbed float one, so it is not expected to store below the float minimum)."""

    def __init__(self, inner, fmt: str, *, scale_dtype: str = "float32", start: int | None = None) -> None:
        check_format(fmt)
        _scale_dtype(scale_dtype)
        self.inner, self.fmt, self.scale_dtype, self.start = inner, fmt, scale_dtype, start
        self.name = f"{inner.name}@{fmt}"
        self.size_name = inner.size_name
        self.settings = inner.settings

    def variants(self, facts: FactSet):
        inner = self.inner.variants(facts)
        start = self.start if len(inner) == 1 else None
        return [(label, QuantizedMethod(v, self.fmt, scale_dtype=self.scale_dtype, start=start)) for label, v in inner]

    def min_size(self, facts: FactSet):
        own = self.inner.min_size(facts)
        if self.start is None:
            return own
        return max(own or 1, int(self.start))

    def max_size(self, facts: FactSet):
        return self.inner.max_size(facts)

    def hidden_width(self, facts: FactSet, size: int) -> int:
        return self.inner.hidden_width(facts, size)

    def chosen_variant(self, facts: FactSet, label) -> "QuantizedMethod":
        return QuantizedMethod(self.inner.chosen_variant(facts, label), self.fmt, scale_dtype=self.scale_dtype)

    def build(self, facts: FactSet, width: int, *, seed: int):
        mlp, info = self.inner.build(facts, width, seed=seed)
        return quantize_mlp(mlp, self.fmt, scale_dtype=self.scale_dtype), info


def quantized_capacity(facts: FactSet, method, formats: list[str], *, seed: int, float_row: dict, mapping: str,
                       width_min: int, width_max: int, rel_tol: float, scale_dtype: str = "float32",
                       max_factor: float | None = 8.0) -> list[dict]:
    """Per format: the float-minimal MLP of ``method`` (rebuilt at the float search's size and
    variant, ``float_row``: its capacity row) quantised (facts stored, margin), and the smallest size
    storing every fact after quantisation (the search of :func:`factmlp.capacity.measure_capacity`
    on :class:`QuantizedMethod`), with its weight bits and bits per weight bit. A format that stores
    nothing up to the largest size is reported as not found, with the largest size probed.

    ``max_factor``: the search stops at ``max_factor`` times the float minimum (``None``: at
    ``width_max``). A bound on the search's time, needed because a trained method (GD) whose
    quantised MLP never stores would otherwise train at every doubling up to ``width_max``; a
    format not found within it is reported with ``max_probed_params`` as its lower bound."""
    from .capacity import measure_capacity

    info_bits = fact_set_bits(facts.n_facts, facts.n_values, mapping)
    found_float = str(float_row.get("found")).lower() in ("true", "1")
    size = int(float_row["min_width"]) if found_float else None
    chosen = method.chosen_variant(facts, float_row.get("variant")) if found_float else None
    rows = []
    for fmt in formats:
        t0 = time.perf_counter()
        row = {"format": fmt, "format_bits": FORMATS[fmt][1], "scale_dtype": scale_dtype, "bits": info_bits,
               "float_min_width": size, "float_param_count": float_row.get("param_count") if found_float else None}
        if chosen is not None:
            mlp, _ = chosen.build(facts, size, seed=seed)
            rep = evaluate_mlp(quantize_mlp(mlp, fmt, scale_dtype=scale_dtype), facts)
            row.update(at_float_min_n_correct=rep["n_correct"], at_float_min_accuracy=rep["accuracy"],
                       at_float_min_margin=rep["min_margin"], at_float_min_stores=rep["accuracy"] == 1.0)
        qm = QuantizedMethod(method, fmt, scale_dtype=scale_dtype, start=size)
        top = width_max if size is None or max_factor is None else min(width_max, max(int(max_factor * size), size))
        res = measure_capacity(facts, qm, seed=seed, width_min=width_min, width_max=top, rel_tol=rel_tol)
        wbits = (shape_weight_bits(facts.d, res.hidden, facts.d, fmt, scale_dtype=scale_dtype)
                 if res.found else None)
        row.update(found=res.found, min_width=res.min_width, hidden=res.hidden, param_count=res.param_count,
                   variant=res.variant, accuracy=res.accuracy, min_margin=res.min_margin,
                   max_probed_params=res.max_probed_params, n_probes=res.n_probes, weight_bits=wbits,
                   bits_per_param=info_bits / res.param_count if res.found else None,
                   bits_per_weight_bit=info_bits / wbits if wbits else None,
                   seconds=time.perf_counter() - t0)
        log.info("%s at %s: float minimum %s stores %s/%d; smallest storing %s %s (%s weight bits, %.3g bits per "
                 "weight bit)", method.name, fmt, size, row.get("at_float_min_n_correct"), facts.n_facts,
                 res.size_name, res.min_width, wbits, row["bits_per_weight_bit"] or float("nan"))
        rows.append(row)
    return rows


def quantized_tables(facts: FactSet, methods: dict[str, dict], float_rows: dict[str, dict], formats: list[str], *,
                     family: str, seed: int, mapping: str, width_min: int, width_max: int, rel_tol: float,
                     scale_dtype: str = "float32", max_factor: float | None = 8.0) -> list[dict]:
    """:func:`quantized_capacity` of each ``{name: settings}`` method on one fact set, one row per
    (method, format) led by the job's columns. ``float_rows``: each method's capacity row on this
    fact set (and the rows of the methods they are built from, e.g. the construction's for
    ``gd_encdec``)."""
    from .registry import get_method
    from .tables import JOB_COLUMNS, settings_json

    rows = []
    for name, settings in methods.items():
        if name not in float_rows:
            raise ValueError(f"no capacity row of method {name!r} on this fact set (have: {sorted(float_rows)})")
        method = get_method(name, **settings)
        if method.reference is not None:
            method = method.pinned(facts, float_rows[method.reference])
        meta = dict(zip(JOB_COLUMNS, (name, family, facts.d, facts.n_facts, facts.n_values, seed,
                                      settings_json(vars(method.settings)))))
        for row in quantized_capacity(facts, method, formats, seed=seed, float_row=float_rows[name], mapping=mapping,
                                      width_min=width_min, width_max=width_max, rel_tol=rel_tol,
                                      scale_dtype=scale_dtype, max_factor=max_factor):
            rows.append({**meta, **row})
    return rows
