r"""Associative memories and their capacity (Nichani, Lee, Bietti 2024, Sec. 3, Fig. 1).

An associative memory maps input embeddings e_x (keys) to output embeddings u_y (values) of a
map f: [N] -> [M]; it *stores* f when ``argmax_y <u_y, F(e_x)> = f(x)`` for every x. As in the
paper's Fig. 1, f(x) = x (M = N, so the linear AM can store d^2/log d associations rather than
the O(d) of a map into few outputs), and keys and values are two independent tables of
Gaussian rows normalised to the unit sphere (:func:`memory_facts`).

Memories (the ``memory`` name is the config key, the path component and the table column):

``outer`` (linear)
    The correlation-matrix memory W = sum_x u_f(x) e_x^T (d^2 parameters). Rank m < d:
    W = (sum_x u_f(x) e_x^T) P^T P with P (m, d) a random matrix with orthonormal rows, i.e. the
    outer-product memory read through a random m-dimensional subspace, stored as the factors
    A = U_f^T E P^T (d, m) and B = P (m, d). This is our choice for the rank-m remark of the
    paper's Thm 1 (its construction is not in our sources): the signal e_x^T P^T P e_x ~ m/d
    against cross-talk ~ sqrt(N m)/d^{3/2} gives m d >~ N log N, the same law as full rank.
``trained`` (linear)
    W (or A B at rank m) trained by full-batch Adam on the cross-entropy of the scores
    ``(W e_x) . u_y`` over all N outputs (:func:`factmlp.training.fit_full_batch`: cosine
    schedule, stop at 100% accuracy). The paper uses AdamW lr=1000 without schedule (accuracy
    is scale invariant, so that acts like sign descent); we use a moderate lr with a cosine
    decay, which reaches the same capacities in fewer steps at small d.
``trained`` (MLP)
    The paper's MLP F(z) = W_2^T relu(W_1 z + b_1), W_1, W_2 (m, d), trained the same way.
``ntk`` (MLP)
    The registered NTK construction (:mod:`factmlp.constructions.ntk`), Nichani et al.'s MLP
    associative memory as a gated MLP D[(U z) * relu(G z)], with its configured settings.

Initialisation (trained memories): LeCun normal, N(0, 1/fan_in) weights and zero biases, drawn
from a local generator (Flax's default, which the paper's code uses, truncates at 2 sigma; the
difference is immaterial for capacity).

The capacity axis is the paper's: d^2 for the full-rank linear memory, m d for the rank-m
memory and for both MLPs (the MLP's true count is 2 m d + m; the gated NTK MLP's is
3 m d + 2 m + d, reported as ``param_count``).

Capacity search (:func:`largest_stored`): the largest N whose whole map is stored. Every probe
draws fresh embeddings and a fresh initialisation from ``derive_seed(seed, ..., N)`` (as the
paper's search does), so success is monotone in N only in distribution: gallop by doubling from
``n_min`` while probes succeed, then bisect between the largest success and the smallest
failure; the reported N is the largest successful probe. A probe succeeds at accuracy 1.0 (the
paper counts >= 0.99 at the best checkpoint as stored; ``min_accuracy`` is a setting).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..capacity import gallop_bisect
from ..facts import FactSet, evaluate_mlp
from ..io import derive_seed
from ..training import GDSettings, TrainingDivergedError, fit_full_batch

__all__ = ["LINEAR_MEMORIES", "MLP_MEMORIES", "TrainSettings", "SearchSettings", "LinearMemory", "ReluMLP",
           "memory_facts", "outer_product_memory", "train_linear_memory", "train_relu_mlp", "largest_stored",
           "memory_capacity", "capacity_axis", "capacity_constants"]

log = logging.getLogger("factmlp.nichani.associative")

LINEAR_MEMORIES = ("outer", "trained")
MLP_MEMORIES = ("trained", "ntk")


@dataclass(frozen=True)
class TrainSettings:
    """Full-batch Adam training of a memory (cosine schedule from lr to lr_min over ``steps``)."""

    steps: int = 2000
    lr: float = 0.01
    lr_min: float = 1e-5
    dtype: str = "float32"  # training precision; storage is checked on the float64 copy
    device: str = "cpu"

    def gd(self) -> GDSettings:
        return GDSettings(epochs=self.steps, lr=self.lr, lr_min=self.lr_min, dtype=self.dtype, device=self.device,
                          log_every=0)


@dataclass(frozen=True)
class SearchSettings:
    """Search over N in [n_min, max_per_param * capacity axis]; bisection stops at
    hi - lo <= max(1, rel_tol * lo); a probe succeeds at accuracy >= min_accuracy."""

    n_min: int = 4
    max_per_param: float = 1.0
    rel_tol: float = 0.05
    min_accuracy: float = 1.0

    def __post_init__(self) -> None:
        if self.n_min < 1 or self.max_per_param <= 0:
            raise ValueError(f"need n_min >= 1 and max_per_param > 0, got {self.n_min}, {self.max_per_param}")
        if not 0 <= self.rel_tol <= 1:
            raise ValueError(f"rel_tol must lie in [0, 1], got {self.rel_tol}")
        if not 0 < self.min_accuracy <= 1:
            raise ValueError(f"min_accuracy must lie in (0, 1], got {self.min_accuracy}")

    def n_max(self, axis_params: int) -> int:
        return max(self.n_min, int(self.max_per_param * axis_params))


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def _unit_rows(n: int, d: int, seed: int) -> torch.Tensor:
    x = torch.randn(n, d, generator=_generator(seed), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def memory_facts(n: int, d: int, *, seed: int) -> FactSet:
    """N keys e_x and N values u_y (independent unit Gaussian tables, float64) with f(x) = x."""
    if n < 1 or d < 1:
        raise ValueError(f"need n >= 1 and d >= 1, got n={n}, d={d}")
    keys = _unit_rows(n, d, derive_seed(seed, "keys"))  # (N, d)
    values = _unit_rows(n, d, derive_seed(seed, "values"))  # (N, d)
    return FactSet(keys, values, torch.arange(n), {"n": n, "d": d, "seed": seed})


class LinearMemory(nn.Module):
    """F(z) = W z, with W (d, d) at full rank or W = A B (A (d, m), B (m, d)) at rank m < d."""

    def __init__(self, d: int, rank: int | None = None, *, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        rank = d if rank is None else int(rank)
        if not 1 <= rank <= d:
            raise ValueError(f"rank must lie in [1, d={d}], got {rank}")
        self.d, self.rank = d, rank
        if rank == d:
            self.w = nn.Parameter(torch.zeros(d, d, dtype=dtype))
        else:
            self.a = nn.Parameter(torch.zeros(d, rank, dtype=dtype))
            self.b = nn.Parameter(torch.zeros(rank, d, dtype=dtype))

    def matrix(self) -> torch.Tensor:  # (d, d)
        return self.w if self.rank == self.d else self.a @ self.b

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., d) -> (..., d)
        return x @ self.matrix().T


class ReluMLP(nn.Module):
    """The paper's MLP memory F(z) = W_2^T relu(W_1 z + b_1), W_1 and W_2 (m, d), b_1 (m,)."""

    def __init__(self, d: int, width: int, *, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.w1 = nn.Parameter(torch.zeros(width, d, dtype=dtype))
        self.b1 = nn.Parameter(torch.zeros(width, dtype=dtype))
        self.w2 = nn.Parameter(torch.zeros(width, d, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., d) -> (..., d)
        return torch.relu(x @ self.w1.T + self.b1) @ self.w2


def _lecun_(param: nn.Parameter, fan_in: int, g: torch.Generator) -> None:
    with torch.no_grad():
        param.copy_(torch.randn(param.shape, generator=g, dtype=torch.float64) / math.sqrt(fan_in))


def outer_product_memory(facts: FactSet, rank: int | None = None, *, seed: int = 0) -> LinearMemory:
    """W = sum_x u_f(x) e_x^T (float64); at rank m < d read through a random m-dim subspace P
    (orthonormal rows, drawn from ``seed``): A = U_f^T E P^T, B = P. See the module docstring."""
    d = facts.d
    mem = LinearMemory(d, rank)
    w = facts.targets.T @ facts.keys  # (d, d) = sum_x u_f(x) e_x^T
    with torch.no_grad():
        if mem.rank == d:
            mem.w.copy_(w)
        else:
            q, _ = torch.linalg.qr(torch.randn(d, mem.rank, generator=_generator(seed), dtype=torch.float64))
            p = q.T  # (m, d), orthonormal rows
            mem.a.copy_(w @ p.T)
            mem.b.copy_(p)
    return mem.requires_grad_(False)


def train_linear_memory(facts: FactSet, rank: int | None = None, *, settings: TrainSettings = TrainSettings(),
                        seed: int) -> tuple[LinearMemory, dict]:
    """W (or A B) trained on the cross-entropy of the scores over all outputs; float64 copy returned."""
    mem = LinearMemory(facts.d, rank)
    g = _generator(seed)
    if mem.rank == facts.d:
        _lecun_(mem.w, facts.d, g)
    else:
        _lecun_(mem.a, mem.rank, g)
        _lecun_(mem.b, facts.d, g)
    return _fit(mem, facts, settings, f"linear rank={mem.rank}")


def train_relu_mlp(facts: FactSet, width: int, *, settings: TrainSettings = TrainSettings(),
                   seed: int) -> tuple[ReluMLP, dict]:
    """The paper's ReLU MLP memory of width m trained like :func:`train_linear_memory`."""
    mlp = ReluMLP(facts.d, width)
    g = _generator(seed)
    _lecun_(mlp.w1, facts.d, g)
    _lecun_(mlp.w2, width, g)
    return _fit(mlp, facts, settings, f"relu mlp width={width}")


def _fit(model: nn.Module, facts: FactSet, settings: TrainSettings, label: str):
    from ..training import resolve_device

    dtype = {"float32": torch.float32, "float64": torch.float64}[settings.dtype]
    model = model.to(device=resolve_device(settings.device), dtype=dtype)
    metrics = fit_full_batch(model, facts, settings=settings.gd(), label=label)
    return model.to(device="cpu", dtype=torch.float64).requires_grad_(False), metrics


def largest_stored(probe, *, n_min: int, n_max: int, rel_tol: float) -> tuple[int | None, list[dict]]:
    """Largest N in [n_min, n_max] with ``probe(N)["success"]``: gallop up by doubling from n_min
    while probes succeed, then bisect between the largest success ``lo`` and the smallest failure
    ``hi`` until ``hi - lo <= max(1, rel_tol * lo)``. Returns (N or None if n_min fails, probes in
    order). Each N is probed at most once."""
    if not 1 <= n_min <= n_max:
        raise ValueError(f"need 1 <= n_min <= n_max, got {n_min}, {n_max}")
    probes: list[dict] = []
    seen: dict[int, bool] = {}

    def ok(n: int) -> bool:
        if n not in seen:
            p = probe(n)
            seen[n] = bool(p["success"])
            probes.append({"n": n, **p})
        return seen[n]

    if not ok(n_min):
        return None, probes
    if n_min == n_max:
        return n_min, probes
    lo, _ = gallop_bisect(lambda n: not ok(n), lo=n_min, first=min(2 * n_min, n_max), limit=n_max,
                          rel_tol=rel_tol, relative_to="lo")
    return lo, probes


def capacity_axis(family: str, d: int, m: int) -> int:
    """The paper's parameter axis: d^2 for the full-rank linear memory, m d otherwise."""
    return d * d if family == "linear" and m == d else m * d


def _builder(family: str, memory: str, m: int, train: TrainSettings, ntk: dict):
    """build(facts, seed) -> (module, metrics) for one memory kind."""
    if family == "linear":
        if memory == "outer":
            return lambda facts, seed: (outer_product_memory(facts, m, seed=seed), {})
        if memory == "trained":
            return lambda facts, seed: train_linear_memory(facts, m, settings=train, seed=seed)
        raise ValueError(f"unknown linear memory {memory!r}; known: {', '.join(LINEAR_MEMORIES)}")
    if family == "mlp":
        if memory == "trained":
            return lambda facts, seed: train_relu_mlp(facts, m, settings=train, seed=seed)
        if memory == "ntk":
            from ..registry import get_method

            method = get_method("ntk", **ntk)
            return lambda facts, seed: method.build(facts, m, seed=seed)
        raise ValueError(f"unknown MLP memory {memory!r}; known: {', '.join(MLP_MEMORIES)}")
    raise ValueError(f"unknown memory family {family!r}; known: linear, mlp")


def _param_count(module: nn.Module) -> int:
    if hasattr(module, "param_count"):
        return int(module.param_count())
    return sum(p.numel() for p in module.parameters())


def memory_capacity(family: str, memory: str, *, d: int, m: int, seed: int,
                    search: SearchSettings = SearchSettings(), train: TrainSettings = TrainSettings(),
                    ntk: dict | None = None) -> tuple[dict, list[dict]]:
    """Largest N that a memory of dimension d and size m (rank, or MLP width) stores.

    ``family`` is ``linear`` (m = rank, m = d for full rank) or ``mlp`` (m = hidden width);
    ``memory`` names the kind (module docstring). ``ntk``: settings of the NTK method. Returns
    the summary row and one row per probe (N, accuracy, success, parameter count, seconds)."""
    if not 1 <= m or (family == "linear" and m > d):
        raise ValueError(f"invalid size m={m} for a {family} memory of d={d}")
    build = _builder(family, memory, m, train, ntk or {})
    t0 = time.perf_counter()

    def probe(n: int) -> dict:
        t = time.perf_counter()
        facts = memory_facts(n, d, seed=derive_seed(seed, "facts", n))
        try:
            module, metrics = build(facts, derive_seed(seed, "build", n))
            rep = evaluate_mlp(module, facts)
            status, params = "ok", _param_count(module)
        except TrainingDivergedError as exc:
            log.warning("N=%d diverged: %s", n, exc)
            rep, metrics, status, params = {"accuracy": 0.0, "min_margin": float("nan")}, {}, "diverged", None
        out = {"accuracy": rep["accuracy"], "min_margin": rep["min_margin"],
               "success": status == "ok" and rep["accuracy"] >= search.min_accuracy, "param_count": params,
               "train_steps": metrics.get("epochs", 0), "status": status, "seconds": time.perf_counter() - t}
        log.info("%s %s d=%d m=%d N=%d acc=%.4f success=%s (%.2fs)", family, memory, d, m, n, out["accuracy"],
                 out["success"], out["seconds"])
        return out

    axis = capacity_axis(family, d, m)
    n_max = search.n_max(axis)
    n_best, probes = largest_stored(probe, n_min=search.n_min, n_max=n_max, rel_tol=search.rel_tol)
    best = next((p for p in probes if p["n"] == n_best), None)
    fails = [p["n"] for p in probes if not p["success"] and (n_best is None or p["n"] > n_best)]
    row = {"family": family, "memory": memory, "d": d, "m": m, "seed": seed,
           "axis_params": axis, "found": n_best is not None,
           "n_stored": n_best, "n_failed": min(fails) if fails else None,
           "at_n_max": n_best == n_max, "param_count": best["param_count"] if best else None,
           "n_probes": len(probes), "seconds": time.perf_counter() - t0,
           "settings": {**asdict(search), **(asdict(train) if memory == "trained" else {}),
                        **(dict(ntk or {}) if memory == "ntk" else {})}}
    return row, probes


def capacity_constants(table, *, family: str, memory: str, full_rank: bool | None = None):
    """The constant C of ``axis = C N ln N`` at each size of one memory, from a capacity table
    (columns family, memory, d, m, seed, axis_params, found, n_stored, at_n_max).

    ``full_rank`` (linear only): True keeps m = d, False keeps m < d, None keeps both. Searches
    that stored nothing, hit the N cap (a lower bound only) or stored a single association are
    left out. Per (d, m): the median N over seeds and C = axis / (N ln N). Returns the per-size
    DataFrame (columns d, m, axis_params, n_stored, C) sorted by axis."""
    import pandas as pd

    rows = table[(table["family"] == family) & (table["memory"] == memory)]
    if full_rank is not None:
        rows = rows[(rows["m"] == rows["d"]) == full_rank]
    rows = rows[rows["found"].astype(bool) & ~rows["at_n_max"].astype(bool)]
    rows = rows[rows["n_stored"].astype(float) > 1]
    cols = ["d", "m", "axis_params", "n_stored", "C"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    med = rows.groupby(["d", "m", "axis_params"])["n_stored"].median().reset_index()
    n = med["n_stored"].astype(float)
    med["C"] = med["axis_params"].astype(float) / (n * n.apply(math.log))
    return med.sort_values("axis_params")[cols].reset_index(drop=True)
