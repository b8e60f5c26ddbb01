"""Fact sets (K, V, f) and the storage check.

An MLP ``g`` stores a fact set when ``argmax_v <g(k), v> = f(k)`` for every key ``k``
(Dugan et al. 2025, Sec. 2; Nichani et al. 2024, Sec. 3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from .io import load_tensors, save_tensors

__all__ = ["FactSet", "MAPPINGS", "make_mapping", "storage_report", "evaluate_mlp"]

MAPPINGS = ("permutation", "random")


@dataclass(frozen=True)
class FactSet:
    """Keys ``(n_keys, d)``, values ``(n_values, d)`` (float64) and ``mapping`` ``(n_keys,)``.

    ``mapping[i]`` is the index of the value of key ``i``; the target embedding of key ``i`` is
    ``values[mapping[i]]``. ``meta`` carries provenance (family, seed, ...), saved with the set.
    """

    keys: torch.Tensor
    values: torch.Tensor
    mapping: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        k, v, f = self.keys, self.values, self.mapping
        if not all(isinstance(t, torch.Tensor) for t in (k, v, f)):
            raise TypeError("keys, values and mapping must be torch tensors, got "
                            f"{type(k).__name__}, {type(v).__name__}, {type(f).__name__}")
        if k.ndim != 2 or v.ndim != 2:
            raise ValueError(f"keys and values must be 2-D, got shapes {tuple(k.shape)} and {tuple(v.shape)}")
        if k.shape[1] != v.shape[1]:
            raise ValueError(f"keys have d={k.shape[1]} but values have d={v.shape[1]}")
        if f.ndim != 1 or f.shape[0] != k.shape[0]:
            raise ValueError(f"mapping must have shape ({k.shape[0]},), got {tuple(f.shape)}")
        if f.dtype != torch.int64:
            raise ValueError(f"mapping must be int64, got {f.dtype}")
        if k.shape[0] == 0 or v.shape[0] == 0:
            raise ValueError("a fact set needs at least one key and one value")
        if int(f.min()) < 0 or int(f.max()) >= v.shape[0]:
            raise ValueError(f"mapping indices must lie in [0, {v.shape[0]}), got [{int(f.min())}, {int(f.max())}]")
        for name, t in (("keys", k), ("values", v)):
            if t.dtype != torch.float64:
                raise ValueError(f"{name} must be float64, got {t.dtype}")
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} contain NaN or Inf")

    @property
    def n_facts(self) -> int:
        return self.keys.shape[0]

    @property
    def n_values(self) -> int:
        return self.values.shape[0]

    @property
    def d(self) -> int:
        return self.keys.shape[1]

    @property
    def targets(self) -> torch.Tensor:
        """(n_facts, d) value embedding of each key."""
        return self.values[self.mapping]

    def save(self, path: str | os.PathLike) -> None:
        save_tensors(
            {"keys": self.keys, "values": self.values, "mapping": self.mapping, "meta": dict(self.meta)},
            path,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FactSet":
        obj = load_tensors(path)
        missing = {"keys", "values", "mapping"} - set(obj)
        if missing:
            raise ValueError(f"{path} is not a fact set file: missing {sorted(missing)}")
        return cls(obj["keys"], obj["values"], obj["mapping"], obj.get("meta", {}))


def make_mapping(n_keys: int, n_values: int, *, kind: str, seed: int) -> torch.Tensor:
    """The fact map f as an (n_keys,) int64 index tensor.

    ``permutation``: a uniformly random bijection (needs ``n_keys == n_values``).
    ``random``: each key gets an independent uniform value (a random function).
    """
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    if kind == "permutation":
        if n_keys != n_values:
            raise ValueError(f"a permutation map needs n_keys == n_values, got {n_keys} != {n_values}")
        return torch.randperm(n_keys, generator=g)
    if kind == "random":
        return torch.randint(0, n_values, (n_keys,), generator=g)
    raise ValueError(f"unknown mapping kind {kind!r}; known: {', '.join(MAPPINGS)}")


@torch.no_grad()
def storage_report(
    outputs: torch.Tensor, values: torch.Tensor, mapping: torch.Tensor, *, batch_size: int = 4096
) -> dict:
    """Accuracy of ``argmax_v <g(k), v>`` and the minimum normalised margin.

    The margin of key ``i`` is ``<g_i, v_f(i)> - max_{j != f(i)} <g_i, v_j>`` with
    ``g_i = g(k_i)/||g(k_i)||``; the set is stored iff the minimum margin is positive
    (ties count as failures). Computed in batches of keys, in float64.

    Returns ``{"accuracy", "n_correct", "n_facts", "min_margin", "mean_margin"}``.
    """
    outputs = outputs.to(torch.float64)
    values = values.to(device=outputs.device, dtype=torch.float64)  # on the outputs' device (a GPU check)
    mapping = mapping.to(outputs.device)
    n = outputs.shape[0]
    margins = torch.empty(n, dtype=torch.float64, device=outputs.device)
    for start in range(0, n, batch_size):
        out = outputs[start : start + batch_size]
        f = mapping[start : start + batch_size]
        norms = out.norm(dim=1, keepdim=True)
        scores = (out / torch.where(norms > 0, norms, torch.ones_like(norms))) @ values.T  # (b, n_values)
        correct = scores.gather(1, f[:, None])[:, 0]
        scores.scatter_(1, f[:, None], float("-inf"))
        rival = scores.max(dim=1).values if values.shape[0] > 1 else torch.full_like(correct, float("-inf"))
        margin = correct - rival
        margins[start : start + batch_size] = torch.where(norms[:, 0] > 0, margin, torch.full_like(margin, -1.0))
    n_correct = int((margins > 0).sum())
    return {
        "accuracy": n_correct / n,
        "n_correct": n_correct,
        "n_facts": n,
        "min_margin": float(margins.min()),
        "mean_margin": float(margins.mean()),
    }


@torch.no_grad()
def evaluate_mlp(mlp: torch.nn.Module, facts: FactSet, *, batch_size: int = 4096,
                 parallel_gates: bool = False) -> dict:
    """:func:`storage_report` of ``mlp`` on ``facts`` (run in float64 on the CPU). Keys go through
    in batches of at most ``batch_size`` and at most 2^24 hidden activations (128 MiB per
    hidden-sized tensor, whatever the width).

    ``parallel_gates``: compute the outputs with :func:`factmlp.mlp.parallel_gate_forward` (every
    key, no hidden-sized tensor; ValueError unless the gate rows are parallel), on the device the
    MLP's weights are on: the check of 10^5-10^6-key constructions."""
    if parallel_gates:
        from .mlp import parallel_gate_forward

        keys = facts.keys.to(mlp.gate.weight.device)
        return storage_report(parallel_gate_forward(mlp, keys), facts.values, facts.mapping, batch_size=batch_size)
    mlp = mlp.to(device="cpu", dtype=torch.float64)
    hidden = int(getattr(mlp, "hidden", 0) or 1)
    batch_size = max(1, min(batch_size, (1 << 24) // hidden))
    outs = torch.cat([mlp(facts.keys[s : s + batch_size]) for s in range(0, facts.n_facts, batch_size)])
    return storage_report(outs, facts.values, facts.mapping, batch_size=batch_size)


def draw_fact_set(family: dict, n_keys: int, n_values: int, d: int, *, tied: bool, mapping: str, seed: int,
                  meta: dict | None = None) -> FactSet:
    """One fact set (K, V, f) of an embedding family: ``family`` is its config entry (``kind`` and the
    kind's parameters, optionally ``keys: spherical`` for untied spherical keys); the tables and the
    map draw from seeds derived from ``seed``."""
    from .embeddings import make_key_value_tables
    from .io import derive_seed

    params = dict(family)
    if "kind" not in params:
        raise ValueError(f"family {family!r} has no 'kind'")
    kind = params.pop("kind")
    keys, values = make_key_value_tables(kind, n_keys, n_values, d, tied=tied, seed=derive_seed(seed, "embeddings"),
                                         **params)
    f = make_mapping(keys.shape[0], values.shape[0], kind=mapping, seed=derive_seed(seed, "mapping"))
    return FactSet(keys, values, f, meta={**(meta or {}), "seed": seed, "mapping": mapping})
