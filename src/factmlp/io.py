"""Atomic file output, deterministic seed derivation and logging set-up.

Every output of the pipeline is written to a temporary file in the destination folder and
renamed into place, so a killed job never leaves a partial file under its final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pandas as pd

__all__ = [
    "Heartbeat",
    "atomic_path",
    "derive_seed",
    "tensor_digest",
    "save_tensors",
    "load_tensors",
    "write_tsv",
    "setup_logging",
    "TABLE_SUFFIXES",
    "AmbiguousTableError",
    "load_table",
    "save_table",
    "save_mlp",
    "load_mlp",
]


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed derived from ``seed`` and ``tags`` (stable across runs and machines).

    Different stages draw from independent streams, e.g. ``derive_seed(s, "mapping")``, so
    that changing one stage's draws never shifts another's.
    """
    text = "/".join([str(int(seed))] + [str(t) for t in tags])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def tensor_digest(*tensors) -> str:
    """SHA-1 of the bytes of ``tensors`` (CPU, contiguous, in their dtype): the memo key of the
    per-process caches of results computed from a table (decodability, whitening choice, codebook)."""
    h = hashlib.sha1()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp's 0600, or the writer's own mode: give the file the umask's mode
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_tensors(obj: dict, path: str | os.PathLike) -> None:
    """``torch.save`` a dict of tensors and plain values, atomically."""
    import torch  # here, not at the top: table-only jobs (aggregation, plots) skip its 2-3 s import

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_tensors(path: str | os.PathLike) -> dict:
    """Load a dict written by :func:`save_tensors` (plain tensors only, ``weights_only``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"tensor file not found: {path}")
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def write_tsv(df: pd.DataFrame, path: str | os.PathLike, *, schema: str | None = None) -> None:
    """Write a tab-separated table atomically (no index). With ``schema`` (a name in
    :data:`factmlp.schemas.SCHEMAS`; every table of the pipeline has one) the table is validated
    first: a mismatch raises :class:`factmlp.schemas.TableSchemaError` naming the column, and
    nothing is written."""
    if schema is not None:
        from .schemas import validate_table

        validate_table(df, schema, source=str(path))
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def setup_logging(logfile: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``factmlp`` logger, warnings and (with ``logfile``) stderr to ``logfile``.

    Redirecting stderr puts a failing job's traceback into its Snakemake log, where
    ``--show-failed-logs`` and the user look for it.
    """
    logger = logging.getLogger("factmlp")
    logger.setLevel(level)
    logger.handlers.clear()
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(logfile, "w", buffering=1)  # noqa: SIM115 (lives as long as the job)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addHandler(handler)
    return logger


# --------------------------------------------------------------------------- user tables and MLP files
#
# Readers and writers for tables a user brings (key/value embeddings, fact maps) and for a built
# MLP saved with its provenance. Errors name the file and the problem in one line, so a command-line
# front end can show them as they are.

TABLE_SUFFIXES = (".npy", ".pt", ".safetensors")

#: metadata key marking a safetensors file written by :func:`save_mlp`, and its value
MLP_FORMAT = "factmlp.GatedMLP"
_MLP_TENSORS = ("gate.weight", "gate.bias", "up.weight", "up.bias", "down.weight", "down.bias")


class Heartbeat:
    """``due()`` is True at most once per ``every`` seconds (the first call included): a long loop
    logs its progress through it, so that a log or a progress bar moves without one line per
    iteration."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = float(every)
        self._next = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every
        return True


class AmbiguousTableError(ValueError):
    """A file holds several tensors and nothing says which one is the table (``names``: all of them)."""

    def __init__(self, path: str | os.PathLike, names: list[str]) -> None:
        self.path, self.names = Path(path), sorted(names)
        super().__init__(f"{path} holds {len(names)} tensors ({', '.join(self.names)}); name the one to use")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_table(path: str | os.PathLike, *, name: str | None = None, prefer: tuple[str, ...] = ()):
    """One tensor from a ``.npy``, ``.pt`` or ``.safetensors`` file (the format follows the suffix).

    A ``.npy`` file is one array (read without pickle). A ``.pt`` file is a tensor or a dict of
    them (``weights_only``: no code runs on load); a ``.safetensors`` file is a set of named
    tensors. In a file with several, ``name`` picks one; without it the only tensor is taken, else
    the first name of ``prefer`` that the file holds (so a fact-set file with ``keys``, ``values``
    and ``mapping`` serves all three roles), else :class:`AmbiguousTableError`. Returns a CPU torch
    tensor in the file's dtype; shapes and values are the caller's to check. Raises
    FileNotFoundError or ValueError, each naming the file.
    """
    import numpy as np
    import torch

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: unknown file type {path.suffix or '(no suffix)'!r}; "
                         f"use {', '.join(TABLE_SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:  # the readers' own errors (truncated file, bad header, pickled object, ...) in one line
        if suffix == ".npy":
            with open(path, "rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise ValueError(f"{path}: not a .npy file (no NumPy header: corrupt, or another format "
                                     "renamed)")
            try:
                obj = np.load(path, allow_pickle=False)
            except ValueError as exc:
                if "pickle" in str(exc).lower():  # numpy's advice is to load it unsafely: factmlp never does
                    raise ValueError(f"{path}: holds Python objects (pickled data), which factmlp does not load; "
                                     "save a numeric array (np.save of a float or int array)") from None
                raise
        elif suffix == ".pt":
            obj = torch.load(path, map_location="cpu", weights_only=True)
        else:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                obj = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(f"{path}: "):
            raise
        raise ValueError(f"{path}: cannot read it as {suffix}: {_first_line(exc)}") from exc
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise ValueError(f"{path}: holds dtype {obj.dtype}, not real numbers")
        obj = torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, torch.Tensor):
        tensors = {"": obj}
    elif isinstance(obj, dict):
        tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if not tensors:
            raise ValueError(f"{path}: holds no tensors")
    else:
        raise ValueError(f"{path}: holds a {type(obj).__name__}, not a tensor or a dict of tensors")

    if name is not None:
        if name not in tensors:
            shown = ", ".join(sorted(k for k in tensors if k)) or "one unnamed array"
            raise ValueError(f"{path}: no tensor named {name!r}; it holds {shown}")
        return tensors[name]
    if len(tensors) == 1:
        return next(iter(tensors.values()))
    for cand in prefer:
        if cand in tensors:
            return tensors[cand]
    raise AmbiguousTableError(path, list(tensors))


def save_table(table, path: str | os.PathLike, *, name: str = "table") -> None:
    """Write one tensor as ``.npy``, ``.pt`` or ``.safetensors`` (by suffix; ``name`` names it in
    the latter), atomically: the counterpart of :func:`load_table`."""
    import numpy as np
    import torch

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: unknown file type {path.suffix or '(no suffix)'!r}; "
                         f"use {', '.join(TABLE_SUFFIXES)}")
    t = torch.as_tensor(table).detach().cpu().contiguous()
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:  # np.save on a name would append ".npy" to the temporary name
                np.save(fh, t.numpy())
        elif suffix == ".pt":
            torch.save(t, tmp)
        else:
            from safetensors.torch import save_file

            save_file({name: t}, str(tmp))


def save_mlp(mlp, path: str | os.PathLike, metadata: dict | None = None, *, quantize: str | None = None,
             scale_dtype: str = "float32") -> None:
    """Save a :class:`~factmlp.mlp.GatedMLP` (its six weights and biases) as safetensors, atomically.

    ``metadata`` is stored with it (safetensors metadata are strings: a non-string value is
    written as JSON), together with ``format``, ``activation``, ``d_in``, ``hidden`` and ``d_out``,
    which :func:`load_mlp` needs to rebuild the module.

    ``quantize``: store the weights in that format of :mod:`factmlp.quantize` (``float32``,
    ``bf16``: every tensor in that dtype; ``int8``, ``int4``: each weight matrix as ``<name>.qweight``
    (int8 tensor holding values in [-Q, Q]; int4 is not packed two per byte, so the file is larger
    than the format's bits) and ``<name>.scale`` (one ``scale_dtype`` scale per row), biases in
    ``scale_dtype``). Storing an MLP that already holds the format's values is exact.
    """
    import json


    state = {k: v.detach().cpu().contiguous() for k, v in mlp.state_dict().items()}
    meta = {str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in (metadata or {}).items()}
    if quantize is not None:
        from .quantize import _FLOAT_DTYPES, FORMATS, SCALE_DTYPES, check_format, quantize_rows

        check_format(quantize)
        kind, bits = FORMATS[quantize]
        if kind == "float":
            dt = _FLOAT_DTYPES[quantize]
            state = {k: v.to(dt).contiguous() for k, v in state.items()}
        else:
            sdt = SCALE_DTYPES[scale_dtype]
            for name in ("gate", "up", "down"):
                q, scale = quantize_rows(state.pop(f"{name}.weight"), bits, scale_dtype=scale_dtype)
                state[f"{name}.qweight"], state[f"{name}.scale"] = q.contiguous(), scale.to(sdt).contiguous()
                state[f"{name}.bias"] = state[f"{name}.bias"].to(sdt).contiguous()
        meta.update(quantization=quantize, scale_dtype=scale_dtype if kind == "int" else "")
    meta.update(format=MLP_FORMAT, activation=str(mlp.activation), d_in=str(mlp.gate.in_features),
                hidden=str(mlp.hidden), d_out=str(mlp.down.out_features))
    from safetensors.torch import save

    with atomic_path(path) as tmp:
        tmp.write_bytes(_sorted_header(save(state, metadata=meta)))


def _sorted_header(blob: bytes) -> bytes:
    """A safetensors file with its JSON header's keys sorted (the metadata too): safetensors writes
    the metadata from a Rust hash map, in an order that changes from process to process, so the same
    MLP would give different bytes. The tensors' data and offsets are unchanged; the header is
    padded with spaces to 8 bytes, as safetensors does."""
    import json

    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + n :]


def load_mlp(path: str | os.PathLike):
    """``(GatedMLP, metadata)`` from a file written by :func:`save_mlp` (a frozen float64 module;
    metadata as the strings stored). The module is rebuilt from the weights' shapes and the stored
    activation. Raises FileNotFoundError or ValueError naming the file (and the tensor, for NaN or
    infinite weights)."""
    import torch

    from .mlp import GatedMLP

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"{path}: an MLP file must be .safetensors, got {path.suffix or '(no suffix)'!r}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:  # safetensors' own error types
        raise ValueError(f"{path}: cannot read it as .safetensors: {_first_line(exc)}") from exc
    for name in ("gate", "up", "down"):  # a quantised file (save_mlp's quantize): weight = q * scale per row
        if f"{name}.qweight" in state and f"{name}.scale" in state and f"{name}.weight" not in state:
            q, scale = state.pop(f"{name}.qweight"), state.pop(f"{name}.scale")
            if q.ndim != 2 or scale.shape != (q.shape[0],):
                raise ValueError(f"{path}: inconsistent quantised {name} weight: q {tuple(q.shape)}, "
                                 f"scale {tuple(scale.shape)}")
            state[f"{name}.weight"] = q.double() * scale.double()[:, None]
    for name, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            n_nan, n_inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
            raise ValueError(f"{path}: {name} holds {n_nan} NaN and {n_inf} infinite value(s) (a diverged or "
                             "corrupted model): it cannot store facts")
    missing = [k for k in _MLP_TENSORS if k not in state]
    if meta.get("format") != MLP_FORMAT or missing:
        what = f"missing tensor(s) {', '.join(missing)}" if missing else "no 'format' metadata"
        raise ValueError(f"{path}: not an MLP saved by factmlp ({what})")
    try:
        mlp = GatedMLP.from_weights(
            gate_w=state["gate.weight"].double(), gate_b=state["gate.bias"].double(),
            up_w=state["up.weight"].double(), up_b=state["up.bias"].double(),
            down_w=state["down.weight"].double(), down_b=state["down.bias"].double(),
            activation=meta.get("activation", "relu"),
        )
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: inconsistent MLP weights: {_first_line(exc)}") from exc
    return mlp, meta
