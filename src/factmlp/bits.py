"""Storage efficiency in bits: the information a fact set holds, per parameter of the MLP storing it.

A fact set's information is the number of bits needed to single out its map f among all maps of
its kind, given the keys and values (which the MLP does not have to store: they are its inputs
and its output table):

- ``random`` map (each key gets an independent uniform value): |K| · log2 |V| bits
  (log2 |V| per fact).
- ``permutation`` (a uniformly random bijection, |K| = |V|): log2(|K|!) bits, i.e.
  log2(|K|!) / |K| per fact, which is log2|K| − log2 e + O(log|K| / |K|) (Stirling): a little less
  than log2 |V| per fact, since the last facts are forced by the first.

Bits per parameter = information / (every weight and bias of the MLP at the method's minimum
size): the unit researchers compare fact memories in (GD-trained MLPs store about 2 bits per
parameter, Allen-Zhu & Li's knowledge-capacity law; 2 bits per weight is also the classical
perceptron limit). A method that stored nothing up to its largest size has no value here (NaN),
not a bound: its bits per parameter are at most bits / max_probed_params, which the table keeps
apart as ``bits_per_param_max``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .tables import as_bool

__all__ = ["BASES", "fact_set_bits", "bits_basis", "add_bits_columns", "map_kind", "storage_bits"]

# How the information of a fact set is counted, per mapping kind (the `bits_basis` column).
BASES = {"permutation": "log2(|K|!)", "random": "|K| log2|V|"}


def fact_set_bits(n_facts: int, n_values: int, mapping: str) -> float:
    """Bits of information in a fact set's map: log2(n_facts!) for a permutation (needs n_facts ==
    n_values), n_facts · log2(n_values) for a random map."""
    n, v = int(n_facts), int(n_values)
    if n < 0 or v < 1:
        raise ValueError(f"n_facts must be >= 0 and n_values >= 1, got {n_facts}, {n_values}")
    if mapping == "permutation":
        if n != v:
            raise ValueError(f"a permutation map needs n_facts == n_values, got {n} != {v}")
        return math.lgamma(n + 1) / math.log(2)
    if mapping == "random":
        return n * math.log2(v)
    raise ValueError(f"unknown mapping kind {mapping!r}; known: {', '.join(BASES)}")


def bits_basis(mapping: str) -> str:
    """The `bits_basis` label of a mapping kind ("log2(|K|!)" or "|K| log2|V|")."""
    if mapping not in BASES:
        raise ValueError(f"unknown mapping kind {mapping!r}; known: {', '.join(BASES)}")
    return BASES[mapping]


def add_bits_columns(table: pd.DataFrame, mapping: str) -> pd.DataFrame:
    """A copy of a capacity table with ``bits`` (the fact set's information), ``bits_basis``,
    ``bits_per_param`` (bits / param_count where the search found a storing size, else NaN) and
    ``bits_per_param_max`` (bits / max_probed_params where it found none: an upper bound)."""
    out = table.copy()
    if out.empty:
        for col in ("bits", "bits_basis", "bits_per_param", "bits_per_param_max"):
            out[col] = pd.Series(dtype=object if col == "bits_basis" else float)
        return out
    bits = np.array([fact_set_bits(n, v, mapping) for n, v in zip(out["n_facts"], out["n_values"])], dtype=float)
    found = as_bool(out["found"]).to_numpy()
    params = pd.to_numeric(out["param_count"], errors="coerce").to_numpy(float)
    probed = (pd.to_numeric(out["max_probed_params"], errors="coerce").to_numpy(float)
              if "max_probed_params" in out else np.full(len(out), np.nan))
    out["bits"] = bits
    out["bits_basis"] = bits_basis(mapping)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["bits_per_param"] = np.where(found & (params > 0), bits / params, np.nan)
        out["bits_per_param_max"] = np.where(~found & (probed > 0), bits / probed, np.nan)
    return out


def map_kind(mapping, n_values: int) -> str:
    """"permutation" if the map (an index sequence into n_values values) is a bijection, else
    "random": how a given map's information is counted (a user's map is treated as a draw of its
    kind; a map that is neither a bijection nor uniform is still counted as a random function)."""
    idx = np.asarray(mapping).reshape(-1)
    return "permutation" if len(idx) == int(n_values) and len(np.unique(idx)) == len(idx) else "random"


def storage_bits(n_facts: int, n_values: int, mapping: str, params: int) -> dict:
    """{"bits", "bits_basis", "bits_per_param"} of a fact set of this kind stored in ``params``
    parameters (every weight and bias)."""
    bits = fact_set_bits(n_facts, n_values, mapping)
    per_param = bits / params if params > 0 else float("nan")
    return {"bits": bits, "bits_basis": bits_basis(mapping), "bits_per_param": per_param}
