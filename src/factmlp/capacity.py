"""Smallest hidden width (and parameter count) with which a method stores a whole fact set.

The search assumes success is monotone in width (true in expectation for every method here;
for GD a single seed can be non-monotone near the threshold, as in the papers' own searches,
which use one seed too). It gallops up from ``width_min`` by doubling until a width succeeds,
then bisects between the last failure and the first success until
``hi - lo <= max(1, rel_tol * hi)``. The reported width is the smallest *successful* width
probed. Every probe is recorded.

A probe succeeds iff the float64 MLP reaches storage accuracy 1.0 (every key's argmax is its
value; ties fail). A GD probe that diverges, or a closed-form encoder whose key systems are too
ill-conditioned to fit (e.g. a bucket size b = d on unlucky keys), counts as a failure and is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from .constructions.encoder import EncoderFitError
from .facts import FactSet, evaluate_mlp
from .methods import Method
from .training import TrainingDivergedError

__all__ = ["Probe", "CapacityResult", "measure_capacity", "capacity_tables", "search_min_width", "gallop_bisect"]

log = logging.getLogger("factmlp.capacity")


@dataclass(frozen=True)
class Probe:
    width: int
    param_count: int
    success: bool
    accuracy: float
    min_margin: float
    seconds: float
    status: str  # "ok", "diverged" (GD) or "encoder-fit-error" (closed-form encoder not exact)
    hidden: int | None = None  # hidden width of the built MLP (= width unless size_name != "width")
    variant: str = ""  # which variant of the method was searched ("" when it has one)
    code_dim: int | None = None  # code dimension m' of the built MLP (encoder-decoder methods; None: no code)


@dataclass(frozen=True)
class CapacityResult:
    found: bool
    min_width: int | None
    param_count: int | None
    accuracy: float | None
    min_margin: float | None
    n_probes: int
    seconds: float
    probes: tuple[Probe, ...]
    size_name: str = "width"  # what ``min_width`` counts: "width", or e.g. "code_dim"
    hidden: int | None = None  # hidden width of the smallest storing MLP
    variant: str | None = None  # the variant that gave it
    # param_count of the largest MLP probed (over all variants), found or not (None: no probes).
    # When nothing stored, the method's min params exceed it: the lower bound the claims use.
    max_probed_params: int | None = None
    code_dim: int | None = None  # m' of the smallest storing MLP, for methods with a code (construction*, gd_encdec*)

    def summary(self) -> dict:
        row = asdict(self)
        row.pop("probes")
        return row


def search_min_width(probe, *, width_min: int, width_max: int, rel_tol: float) -> tuple[int | None, list]:
    """Generic gallop-then-bisect search. ``probe(width) -> Probe``; returns (min width or None, probes)."""
    if not 1 <= width_min <= width_max:
        raise ValueError(f"need 1 <= width_min <= width_max, got {width_min}, {width_max}")
    if rel_tol < 0:
        raise ValueError(f"rel_tol must be >= 0, got {rel_tol}")
    probes: list[Probe] = []
    seen: dict[int, Probe] = {}

    def run(w: int) -> bool:
        if w not in seen:
            seen[w] = probe(w)
            probes.append(seen[w])
            if seen[w].status == "encoder-fit-error":  # the key systems do not depend on the size
                raise _VariantFailed
        return seen[w].success

    # lo: largest known failure (width_min - 1: none known)
    try:
        _, hi = gallop_bisect(run, lo=width_min - 1, first=width_min, limit=width_max, rel_tol=rel_tol,
                              relative_to="hi")
    except _VariantFailed:  # a closed-form encoder that cannot fit these keys fails at every size
        return None, probes
    return hi, probes


class _VariantFailed(Exception):
    pass


def gallop_bisect(
    flipped, *, lo: int, first: int, limit: int, rel_tol: float, relative_to: str
) -> tuple[int, int | None]:
    """Boundary of a monotone predicate: ``flipped(x)`` is False below some x* and True from x* on.

    ``lo`` is a point known not to be flipped (it is not probed). Gallop x = first, 2 first, 4 first,
    ... (capped at ``limit``) until a flipped point ``hi``; then bisect (lo, hi) until
    ``hi - lo <= max(1, int(rel_tol * ref))`` with ref = hi or lo (``relative_to``). Returns
    (lo, hi), ``hi`` None when not even ``limit`` is flipped (``lo`` is then the last point probed).
    Shared by the width search here and the facts search of :mod:`factmlp.nichani.associative`.
    """
    if relative_to not in ("hi", "lo"):
        raise ValueError(f"relative_to must be 'hi' or 'lo', got {relative_to!r}")
    x = first
    while not flipped(x):
        lo = x
        if x >= limit:
            return lo, None
        x = min(2 * x, limit)
    hi = x
    while hi - lo > max(1, int(rel_tol * (hi if relative_to == "hi" else lo))):
        mid = (lo + hi) // 2
        if flipped(mid):
            hi = mid
        else:
            lo = mid
    return lo, hi


def measure_capacity(
    facts: FactSet,
    method: Method,
    *,
    seed: int,
    width_min: int = 1,
    width_max: int = 65536,
    rel_tol: float = 0.05,
) -> CapacityResult:
    """Smallest MLP with which ``method`` stores ``facts`` (every fact), with all probes.

    The searched size is the method's ``size_name`` (the hidden width, or the encoder-decoder
    construction's code dimension m'), from its ``min_size(facts)`` (default ``width_min``) up to its
    ``max_size(facts)``; ``hidden``, ``code_dim`` and ``param_count`` always describe the built MLP,
    and ``max_probed_params`` the largest one probed (the lower bound when nothing stored). A method
    with several ``variants(facts)`` (e.g. the construction over several bucket sizes, which sets the
    hidden width per code dimension) is searched once per variant and the variant with the fewest
    parameters is reported; every probe carries its variant label.
    """
    t0 = time.perf_counter()
    size_name = method.size_name
    variants = method.variants(facts)
    probes: list[Probe] = []
    best: Probe | None = None
    for label, variant in variants:
        lo, hi = variant.min_size(facts) or width_min, width_max
        cap = variant.max_size(facts)
        if cap is not None:
            hi = min(hi, cap)
            lo = min(lo, hi)
        width, found = search_min_width(_prober(facts, variant, seed, size_name, label), width_min=lo,
                                        width_max=hi, rel_tol=rel_tol)
        probes += found
        cand = next((p for p in found if p.width == width), None)
        if cand is not None and (best is None or cand.param_count < best.param_count):
            best = cand
    return CapacityResult(
        found=best is not None,
        min_width=best.width if best else None,
        param_count=best.param_count if best else None,
        accuracy=best.accuracy if best else None,
        min_margin=best.min_margin if best else None,
        n_probes=len(probes),
        seconds=time.perf_counter() - t0,
        probes=tuple(probes),
        size_name=size_name,
        hidden=best.hidden if best else None,
        variant=best.variant if best else None,
        max_probed_params=max((p.param_count for p in probes), default=None),
        code_dim=best.code_dim if best else None,
    )


def capacity_tables(facts: FactSet, methods: dict[str, dict], *, family: str, seed: int, width_min: int,
                    width_max: int, rel_tol: float, references: dict[str, dict] | None = None
                    ) -> tuple[list[dict], list[dict]]:
    """:func:`measure_capacity` of each ``{name: settings}`` method on one fact set: one summary row
    per method and one row per probe, each led by the job's columns (method, family, d, n_facts,
    n_values, seed, settings). An empty ``methods`` gives two empty lists.

    ``references``: summary rows of this fact set by method name (a closed-form job's table), for
    the methods built from another method's result (:attr:`~factmlp.methods.Method.reference`, e.g.
    ``gd_encdec`` at the construction's m'); such a method is pinned to its reference's row first,
    and the row's ``settings`` then record the pinned sizes."""
    from .registry import get_method
    from .tables import JOB_COLUMNS, settings_json

    summaries, probes = [], []
    for name, settings in methods.items():
        method = get_method(name, **settings)
        if method.reference is not None:
            row = (references or {}).get(method.reference)
            if row is None:
                raise ValueError(f"method {name!r} is built at {method.reference!r}'s sizes on the same fact set, but "
                                 f"this job was given no {method.reference!r} capacity row (references: "
                                 f"{sorted(references or {})})")
            method = method.pinned(facts, row)
        result = measure_capacity(facts, method, seed=seed, width_min=width_min, width_max=width_max, rel_tol=rel_tol)
        meta = dict(zip(JOB_COLUMNS, (name, family, facts.d, facts.n_facts, facts.n_values, seed,
                                      settings_json(vars(method.settings)))))
        summaries.append({**meta, **result.summary()})
        probes += [{**meta, **asdict(pr)} for pr in result.probes]
        log.info("%s: min %s %s, params %s, %d probes, %.1fs", name, result.size_name, result.min_width,
                 result.param_count, result.n_probes, result.seconds)
    return summaries, probes


def _prober(facts: FactSet, method: Method, seed: int, size_name: str, label: str):
    """probe(size) -> Probe: build with ``method`` at that size and check storage in float64."""

    def probe(width: int) -> Probe:
        t = time.perf_counter()
        try:
            mlp, info = method.build(facts, width, seed=seed)
        except (TrainingDivergedError, EncoderFitError) as exc:
            status = "diverged" if isinstance(exc, TrainingDivergedError) else "encoder-fit-error"
            log.warning("probe %s=%d failed (%s): %s", size_name, width, status, exc)
            from .mlp import GatedMLP

            hidden = method.hidden_width(facts, width)
            return Probe(width, GatedMLP(facts.d, hidden).param_count(), False, 0.0, float("nan"),
                         time.perf_counter() - t, status, hidden, label)
        rep = evaluate_mlp(mlp, facts)
        p = Probe(width, mlp.param_count(), rep["accuracy"] == 1.0, rep["accuracy"], rep["min_margin"],
                  time.perf_counter() - t, "ok", mlp.hidden, label, info.get("code_dim"))
        log.info("%s%s %s=%d hidden=%d params=%d acc=%.4f margin=%.3e success=%s (%.2fs)", method.name,
                 f" [{label}]" if label else "", size_name, width, p.hidden, p.param_count, p.accuracy,
                 p.min_margin, p.success, p.seconds)
        return p

    return probe
