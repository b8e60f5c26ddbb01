r"""Usability of fact-storing MLPs inside the 1-layer Transformer (Dugan et al. 2025, Sec. 5, Fig 3).

For one fact set and one method, at several MLP sizes around the method's storage capacity:

- build MLP_1 for the set's map f_1 and MLP_2 for a fresh random permutation f_2 of the same
  embeddings (same method and size, its own seed);
- schedule ``insert_then_train``: train attention with MLP_1 frozen in the slot, swap in MLP_2,
  and measure recall of f_2 with no further training. Usability = that recall;
- schedule ``pretrain_then_insert``: train attention once with an identity MLP on the identity map
  (each key recalls itself), insert MLP_2 and measure recall of f_2 (attention never saw a fact MLP);
- the Lipschitz constant of MLP_2 two ways (:mod:`factmlp.lipschitz`): the max Jacobian spectral
  norm at the keys and the analytic bound on the ball of the largest key norm, both divided by
  the MLP's output gain (see :func:`_lipschitz`: the head's norm makes the raw scale irrelevant).

Sizes are ``round(multiplier * capacity size)`` in the method's own size unit (hidden width, or
code dimension m' for the constructions, capped at d), so one multiplier grid covers every method:
multipliers below 1 give MLPs that store only part of the set (the capacity axis of Fig 3b).
Beside them, ``span_points`` sizes spread from the storage minimum to the method's cap
(:func:`span_sizes`) give each series enough storing MLPs to correlate usability with the
Lipschitz constant within it (Fig 3c, claim C7); both grids are fixed by the config before the
run, and a size on both is built once (column ``grid``).
Choice: f_2 is a permutation when f_1 is (a random function otherwise), drawn from
``derive_seed(seed, "f2")``, so usability measures reading *new* facts, as in the paper's
"swap in an entirely new MLP".
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .facts import FactSet, evaluate_mlp
from .io import derive_seed
from .lipschitz import gated_lipschitz_bound, jacobian_norm
from .methods import Method
from .training import TrainingDivergedError, resolve_device
from .transformer import (
    AttentionSettings,
    RecallTask,
    RecallTransformer,
    build_vocab,
    identity_fact_set,
    mlp_input_scale,
    recall_accuracy,
    train_attention,
)

__all__ = ["SCHEDULES", "UsabilitySettings", "usability_sizes", "span_sizes", "second_fact_set", "measure_usability"]

log = logging.getLogger("factmlp.usability")

SCHEDULES = ("insert_then_train", "pretrain_then_insert")


@dataclass(frozen=True)
class UsabilitySettings:
    size_multipliers: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
    schedules: tuple[str, ...] = SCHEDULES
    norm_tolerance: float = 0.2  # allowed relative spread of key RMS norms (frozen pre-MLP norm)
    power_iters: int = 30  # power iterations of the Jacobian norm
    # sizes from the storage minimum to the cap, beside the multipliers (span_sizes); 0 = none.
    # Not 1: a span needs both of its ends.
    span_points: int = 0

    def __post_init__(self) -> None:
        bad = sorted(set(self.schedules) - set(SCHEDULES))
        if bad:
            raise ValueError(f"unknown schedule(s) {bad}; known: {', '.join(SCHEDULES)}")
        if not self.size_multipliers or min(self.size_multipliers) <= 0:
            raise ValueError(f"size_multipliers must be positive, got {self.size_multipliers}")
        _check_span_points(self.span_points)


def _check_span_points(n) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n == 1:
        raise ValueError(f"span_points must be 0 (no span) or an integer >= 2 (the storage minimum, the cap "
                         f"and the sizes between), got {n!r}")


def span_sizes(lo: int, hi: int, n: int) -> list[int]:
    """``n`` integer sizes from ``lo`` to ``hi``, both included, log-spaced: every integer of
    [lo, hi] when it holds fewer than ``n`` (so ``hi - lo + 1`` distinct sizes at most); none for
    ``n = 0``; only ``lo`` when ``hi <= lo``.

    Log (geometric) spacing, x_k = lo (hi/lo)^(k/(n-1)) rounded half up, because (i) the storage
    minimum is where MLPs change fastest (smallest margins, largest Lipschitz constants), and a
    span that covers a factor of several (a whitened series' minimum far below d, the JL
    decoder's cap of 8 d, the largest multiplier of an uncapped method) would get most of a linear
    grid's points where usability has saturated at 1, ties that carry no rank information for a
    Spearman correlation; (ii) it is the multiplier grid's and Fig 3b's log size axis; (iii) on a
    narrow span (the orthogonal construction, minimum near the cap d) it is within one integer of
    a linear grid. Where rounding makes two points equal (crowding at the small end), each point
    is raised to one above the last and kept below the room the later points need, so ``n`` points
    stay distinct whenever the span holds them.

    >>> span_sizes(20, 32, 6)
    [20, 22, 24, 27, 29, 32]
    """
    _check_span_points(n)
    lo, hi = int(lo), int(hi)
    if lo < 1:
        raise ValueError(f"span_sizes: the storage minimum must be >= 1, got {lo}")
    if n == 0:
        return []
    if hi <= lo:
        return [lo]
    if hi - lo + 1 <= n:
        return list(range(lo, hi + 1))
    out: list[int] = []
    for k in range(n):
        x = lo * (hi / lo) ** (k / (n - 1))
        size = math.floor(x + 0.5)
        if out:
            size = max(size, out[-1] + 1)
        out.append(min(size, hi - (n - 1 - k)))
    return out


def usability_sizes(capacity_size: int, multipliers, max_size: int | None = None, *,
                    span_points: int = 0) -> list[tuple[float, int, str]]:
    """(multiplier, size, grid) triples in increasing size. The multipliers give size =
    max(1, round(m * capacity_size)), capped at ``max_size``; ``span_points`` add
    :func:`span_sizes` from ``capacity_size`` (the storage minimum) to ``max_size`` (for a method
    without a cap: the largest multiplier's size). A size given twice is built once: ``grid`` says
    which grid asked for it (``multipliers``, ``span`` or ``both``), and a span-only size's
    multiplier is size / capacity_size."""
    by_size: dict[int, list] = {}
    for m in sorted(multipliers):
        size = max(1, round(m * capacity_size))
        if max_size is not None:
            size = min(size, max_size)
        by_size.setdefault(size, [float(m), "multipliers"])
    if max_size is not None:  # (a capacity search never reports a size past the cap; kept below it anyway)
        lo, hi = min(capacity_size, max_size), max_size
    else:
        lo, hi = capacity_size, max(capacity_size, round(max(multipliers) * capacity_size))
    for size in span_sizes(lo, hi, span_points):
        if size in by_size:
            by_size[size][1] = "both"
        else:
            by_size[size] = [round(size / capacity_size, 6), "span"]
    return [(m, size, grid) for size, (m, grid) in sorted(by_size.items())]


def second_fact_set(facts: FactSet, seed: int) -> FactSet:
    """The same embeddings with a fresh random map f_2 (a permutation if f_1 is one)."""
    g = torch.Generator().manual_seed(derive_seed(seed, "f2"))
    is_perm = facts.n_facts == facts.n_values and torch.equal(torch.sort(facts.mapping).values,
                                                              torch.arange(facts.n_facts))
    f2 = torch.randperm(facts.n_facts, generator=g) if is_perm else torch.randint(0, facts.n_values,
                                                                                  (facts.n_facts,), generator=g)
    return FactSet(facts.keys, facts.values, f2, dict(facts.meta))


def _lipschitz(mlp: nn.Module, keys: torch.Tensor, iters: int, seed: int) -> tuple[float, float, float]:
    """(Jacobian estimate, analytic bound, output gain), the first two divided by the gain.

    The Transformer normalises the MLP output (RMSNorm before the head) and decodes by argmax, so
    rescaling an MLP changes nothing downstream but scales its Lipschitz constant. Both estimates
    are therefore reported relative to the MLP's typical gain at the keys, median ||g(k)|| /
    median ||k||: a dimensionless sensitivity that compares across methods (NTK outputs are
    ~100x smaller than the constructions' for the same decisions)."""
    mlp = mlp.to(torch.float64)
    with torch.no_grad():
        gain = float(mlp(keys).norm(dim=1).median() / keys.norm(dim=1).median())
    gain = gain if gain > 0 else float("nan")
    jac = float(jacobian_norm(mlp, keys, iters=iters, seed=seed).max())
    bound = gated_lipschitz_bound(mlp, float(keys.norm(dim=1).max()))
    return jac / gain, bound / gain, gain


def measure_usability(facts: FactSet, method: Method, capacity_size: int, *, seed: int,
                      task: RecallTask = RecallTask(), train: AttentionSettings = AttentionSettings(),
                      settings: UsabilitySettings = UsabilitySettings()) -> list[dict]:
    """One row per (size, schedule); see the module docstring. Raises before any training if the
    keys' norms are too unequal for the frozen pre-MLP norm."""
    scale = mlp_input_scale(facts.keys, settings.norm_tolerance)
    vocab, offset = build_vocab(facts, task, seed=derive_seed(seed, "vocab"))
    device = resolve_device(train.device)
    dtype = getattr(torch, train.dtype)
    facts2 = second_fact_set(facts, seed)
    max_size = method.max_size(facts)
    size_name = method.size_name

    def model(mlp: nn.Module, tag: str) -> RecallTransformer:
        return RecallTransformer(vocab, mlp, mlp_scale=scale, seed=derive_seed(seed, "attention", tag),
                                 train_norms=train.train_norms, rope_base=train.rope_base, dtype=dtype).to(device)

    def recall(m: RecallTransformer, fs: FactSet) -> float:
        return recall_accuracy(m, fs, task, target_offset=offset, repeats=train.eval_repeats,
                               seed=derive_seed(seed, "eval"))

    pretrained = None
    if "pretrain_then_insert" in settings.schedules:
        pretrained = model(nn.Identity(), "pretrain")
        pre = train_attention(pretrained, identity_fact_set(facts), task, train, target_offset=0,
                              seed=derive_seed(seed, "train", "pretrain"))
        log.info("attention pre-trained with an identity MLP: recall %.4f in %d steps (%.1fs)", pre["recall"],
                 pre["steps"], pre["seconds"])

    rows = []
    for mult, size, grid in usability_sizes(capacity_size, settings.size_multipliers, max_size,
                                            span_points=settings.span_points):
        t = time.perf_counter()
        try:
            mlp1, _ = method.build(facts, size, seed=seed)
            mlp2, _ = method.build(facts2, size, seed=derive_seed(seed, "mlp2"))
        except TrainingDivergedError as exc:
            log.warning("%s=%d: GD diverged (%s); size skipped", size_name, size, exc)
            continue
        build_s = time.perf_counter() - t
        mlp1, mlp2 = mlp1.to("cpu", torch.float64), mlp2.to("cpu", torch.float64)
        store1, store2 = evaluate_mlp(mlp1, facts), evaluate_mlp(mlp2, facts2)
        lip_jac, lip_bound, gain = _lipschitz(mlp2, facts.keys, settings.power_iters, seed)
        base = {"size_name": size_name, "size": size, "multiplier": mult, "grid": grid, "hidden": mlp2.hidden,
                "params": mlp2.param_count(), "storage_accuracy": store2["accuracy"],
                "storage_accuracy_mlp1": store1["accuracy"], "min_margin": store2["min_margin"],
                "lipschitz_jacobian": lip_jac, "lipschitz_bound": lip_bound, "output_gain": gain,
                "build_seconds": build_s}
        for schedule in settings.schedules:
            if schedule == "insert_then_train":
                m = model(mlp1.to(device), "insert")
                fit = train_attention(m, facts, task, train, target_offset=offset,
                                      seed=derive_seed(seed, "train", "insert"))
                m.swap_mlp(mlp2.to(device))
            else:
                m = pretrained
                fit = {**pre, "seconds": 0.0, "steps": 0}  # trained once, above
                m.swap_mlp(mlp2.to(device))
            usability = recall(m, facts2)
            rows.append({**base, "schedule": schedule, "fit_recall": fit["recall"], "usability": usability,
                         "train_steps": fit["steps"], "train_seconds": fit["seconds"]})
            log.info("%s %s=%d params=%d storage=%.3f lip=%.2f/%.2f %s: fit %.3f usability %.3f (%d steps, %.1fs)",
                     method.name, size_name, size, base["params"], store2["accuracy"], lip_jac, lip_bound, schedule,
                     fit["recall"], usability, fit["steps"], fit["seconds"])
    return rows


def settings_dict(task: RecallTask, train: AttentionSettings, settings: UsabilitySettings) -> dict:
    """All settings of a usability run, flat, for the provenance column."""
    return {**asdict(task), **asdict(train), **asdict(settings)}


def min_usable(table, *, usable_at: float, schedule: str = "insert_then_train"):
    """Per (method, family, d, n_facts, seed): the fewest params whose usability >= ``usable_at``
    (NaN if no probed size is usable) and the storage capacity params, as a DataFrame."""
    import pandas as pd

    rows = table[(table["status"] == "ok") & (table["schedule"] == schedule)]
    keys = ["method", "family", "d", "n_facts", "seed"]
    out = []
    for key, g in rows.groupby(keys):
        usable = g[g["usability"] >= usable_at]
        out.append({**dict(zip(keys, key)), "capacity_params": g["capacity_params"].iloc[0],
                    "usable_params": usable["params"].min() if len(usable) else float("nan"),
                    "best_usability": g["usability"].max()})
    return pd.DataFrame(out, columns=keys + ["capacity_params", "usable_params", "best_usability"])
