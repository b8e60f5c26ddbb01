"""The ``factmlp`` command: build a fact-storing MLP from your own tables, measure rho(V), check an MLP.

::

    factmlp build KEYS VALUES [--map MAP] --out MLP.safetensors [--method M] [--size N | --smallest]
                  [--seed S] [--setting key=value ...] [--report REPORT.json]
    factmlp rho VALUES [--out SEPARATORS.npy]
    factmlp check MLP.safetensors KEYS VALUES [--map MAP]

KEYS is an |K| x d table, VALUES |V| x d, MAP an integer vector of length |K| with entries in
[0, |V|) (without it, key i's value is value i: the identity map, which needs |K| = |V|). Tables are
``.npy``, ``.pt`` (a tensor, or a dict of them) or ``.safetensors`` files, told apart by suffix; a
file with several tensors takes the one named by ``--keys-tensor`` (``--values-tensor``,
``--map-tensor``), else the one called ``keys`` (``values``, ``map``/``mapping``), so a saved
:class:`~factmlp.facts.FactSet` serves as all three.

This module is a thin layer over the library: :func:`~factmlp.registry.get_method`,
:func:`~factmlp.capacity.measure_capacity`, :func:`~factmlp.facts.evaluate_mlp`,
:func:`~factmlp.decodability.decodability` and the readers and writers of :mod:`factmlp.io`. It
never reads the workflow's config: a method's defaults are its ``Settings`` dataclass (for
``construction_codebook`` the same values ``config/config.yaml`` gives it), changed with
``--setting``.

Exit codes: 0 when every fact is stored (``rho``: when it ran), 2 when the MLP does not store every
fact (or no size up to the limit does), 1 for a bad input or option. Every input is checked before
any computation and a bad one stops with one line ``factmlp: error: <file>: <problem>``, no
traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import torch

from . import __version__
from .io import TABLE_SUFFIXES, AmbiguousTableError, load_mlp, load_table, save_mlp, save_table

__all__ = ["main", "CLIError"]

# exit codes
OK, ERROR, NOT_STORED = 0, 1, 2

DEFAULT_METHOD = "construction_codebook"


class CLIError(Exception):
    """A bad input or option: shown as ``factmlp: error: <message>``, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors raised as :class:`CLIError`, so that they exit with code 1 and the
    same ``factmlp: error:`` prefix as every other bad input (argparse's own exit code is 2, which
    here means "not every fact stored")."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise CLIError(message)


# --------------------------------------------------------------------------- reading and checking inputs


def _read(path: str, role: str, name: str | None, option: str, prefer: tuple[str, ...]) -> torch.Tensor:
    """The tensor of one input file, with :mod:`factmlp.io`'s errors turned into :class:`CLIError`."""
    try:
        return load_table(path, name=name, prefer=prefer)
    except AmbiguousTableError as exc:
        raise CLIError(f"{path}: holds {len(exc.names)} tensors ({', '.join(exc.names)}); pick the {role} "
                       f"with {option} NAME") from None
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def read_matrix(path: str, role: str, *, name: str | None = None, option: str = "") -> torch.Tensor:
    """A 2-D float64 table (``role`` is "keys" or "values") that is non-empty and finite."""
    t = _read(path, role, name, option, prefer=(role,))
    if t.dtype == torch.bool or t.is_complex():
        raise CLIError(f"{path}: {role} must hold real numbers, got dtype {t.dtype}")
    if t.ndim != 2:
        raise CLIError(f"{path}: {role} must be a 2-D array (one row per {role[:-1]}, d columns), "
                       f"got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise CLIError(f"{path}: {role} table is empty (shape {tuple(t.shape)})")
    t = t.to(torch.float64)
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        r, c = (int(i) for i in torch.nonzero(bad)[0])
        raise CLIError(f"{path}: {role} hold {int(bad.sum())} NaN/inf entr{'y' if int(bad.sum()) == 1 else 'ies'} "
                       f"(first at row {r}, column {c}: {float(t[r, c])})")
    return t.contiguous()


def read_map(path: str, n_keys: int, n_values: int, *, keys_path: str, values_path: str,
             name: str | None = None) -> torch.Tensor:
    """The fact map as int64: a vector of length ``n_keys`` with entries in [0, n_values).

    Float tables are accepted when every entry is a whole number (maps written from float
    arrays, e.g. by torch.save of a float tensor); anything else is an error naming an entry.
    """
    t = _read(path, "map", name, "--map-tensor", prefer=("map", "mapping"))
    if t.dtype == torch.bool or t.is_complex():
        raise CLIError(f"{path}: map must hold integers, got dtype {t.dtype}")
    if t.ndim != 1:
        raise CLIError(f"{path}: map must be a 1-D vector (the value index of each key), got shape {tuple(t.shape)}")
    if t.shape[0] != n_keys:
        raise CLIError(f"{path}: map has {t.shape[0]} entries but {keys_path} has {n_keys} keys (one entry per key)")
    if t.is_floating_point():
        t64 = t.to(torch.float64)
        bad = ~torch.isfinite(t64) | (t64 != torch.round(t64))
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            raise CLIError(f"{path}: map entries must be integers; entry {i} is {float(t64[i])}")
        t = t64
    t = t.to(torch.int64)
    out = (t < 0) | (t >= n_values)
    if bool(out.any()):
        i = int(torch.nonzero(out)[0])
        raise CLIError(f"{path}: map entries must lie in [0, {n_values}) ({values_path} has {n_values} values); "
                       f"entry {i} is {int(t[i])} ({int(out.sum())} out of range)")
    return t.contiguous()


def read_fact_set(args: argparse.Namespace):
    """The :class:`~factmlp.facts.FactSet` of ``args.keys``, ``args.values`` and ``args.map``."""
    from .facts import FactSet

    keys = read_matrix(args.keys, "keys", name=args.keys_tensor, option="--keys-tensor")
    values = read_matrix(args.values, "values", name=args.values_tensor, option="--values-tensor")
    if keys.shape[1] != values.shape[1]:
        raise CLIError(f"{args.values}: values have d={values.shape[1]} columns but the keys ({args.keys}) "
                       f"have d={keys.shape[1]}; both tables need the same embedding dimension")
    if args.map is None:
        if keys.shape[0] != values.shape[0]:
            raise CLIError(f"no --map given, so key i maps to value i, which needs as many keys as values: "
                           f"{args.keys} has {keys.shape[0]} rows, {args.values} has {values.shape[0]}; "
                           f"pass --map MAP")
        mapping = torch.arange(keys.shape[0], dtype=torch.int64)
    else:
        mapping = read_map(args.map, keys.shape[0], values.shape[0], keys_path=args.keys,
                           values_path=args.values, name=args.map_tensor)
    return FactSet(keys, values, mapping, meta={"keys": str(args.keys), "values": str(args.values),
                                                "map": str(args.map) if args.map else "identity"})


def _parse_value(raw: str):
    """A setting's value from the command line: JSON when it parses (numbers, true/false, lists),
    else the text itself (so ``projection=gaussian`` needs no quotes)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _coerce(method: str, key: str, value, default):
    """``value`` as the type of the setting's default, or :class:`CLIError` naming the setting."""
    where = f"--setting {key}: method {method!r}"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, str)) and str(value).lower() in ("0", "1", "false", "true", "no", "yes"):
            return str(value).lower() in ("1", "true", "yes")
        raise CLIError(f"{where} expects true or false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise CLIError(f"{where} expects an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CLIError(f"{where} expects a number, got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if isinstance(value, str):  # bucket_slacks=0,4
            value = [_parse_value(x.strip()) for x in value.split(",") if x.strip()]
        return tuple(value) if isinstance(value, list) else (value,)
    if isinstance(default, str) and not isinstance(value, str):
        return json.dumps(value)
    return value


def parse_settings(method: str, items: Sequence[str]) -> dict:
    """``--setting key=value`` options as a settings dict of ``method``, checked against its
    ``Settings`` dataclass (unknown method, unknown key, malformed item or wrong type: CLIError)."""
    from .registry import load_builtin, method_names

    known_methods = method_names()
    if method not in known_methods:
        raise CLIError(f"unknown method {method!r}; known methods: {', '.join(known_methods)}")
    cls = load_builtin()[method]
    fields = {f.name for f in dataclasses.fields(cls.Settings)}
    defaults = cls.Settings()
    settings: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--setting {item!r}: expected key=value")
        if key not in fields:
            raise CLIError(f"method {method!r} has no setting {key!r}; known: {', '.join(sorted(fields))}")
        try:
            settings[key] = _coerce(method, key, _parse_value(raw.strip()), getattr(defaults, key))
        except (ValueError, TypeError) as exc:  # e.g. bucket_sizes=abc: an element of the wrong type
            raise CLIError(f"--setting {key}: method {method!r} cannot use {raw.strip()!r}: {exc}") from None
        if key == "device":
            _check_device(method, settings[key])
    return settings


def _check_device(method: str, device) -> None:
    """``--setting device=...``: a device torch knows (``auto``, ``cpu``, ``cuda``, ``cuda:N``) and,
    for CUDA, one this machine has; checked before any file is read."""
    where = f"--setting device={device}: method {method!r}"
    if device == "auto":
        return
    try:
        dev = torch.device(str(device))
    except (RuntimeError, ValueError):
        raise CLIError(f"{where}: not a device (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CLIError(f"{where}: no CUDA GPU on this machine (use cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CLIError(f"{where}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise CLIError(f"{where}: factmlp runs on cpu or cuda, not {dev.type}")


def make_method(name: str, settings: dict):
    """The method object; its ``Settings`` checks (e.g. a negative ``fewer_buckets``) become CLIError."""
    from .registry import get_method

    try:
        return get_method(name, **settings)
    except (ValueError, TypeError, KeyError) as exc:
        for key, value in settings.items():  # name the setting that the method refuses, when one alone does
            try:
                get_method(name, **{key: value})
            except (ValueError, TypeError, KeyError) as one:
                raise CLIError(f"--setting {key}={value!r}: method {name!r} refuses it: "
                               f"{one.args[0] if one.args else one}") from None
        raise CLIError(f"method {name!r}: {exc.args[0] if exc.args else exc}") from None


def _check_out(path: str, option: str, suffixes: tuple[str, ...]) -> None:
    """Before any compute: the suffix, and a folder that exists and takes a new file (tried by
    creating and removing a temporary file there: permission bits say nothing to root or on a
    read-only file system). A missing folder is refused rather than created."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise CLIError(f"{path}: {option} must end in {' or '.join(suffixes)}, got {p.suffix or '(no suffix)'!r}")
    if p.is_dir():
        raise CLIError(f"{path}: {option} is a folder, not a file name")
    folder = p.parent
    if not folder.is_dir():
        raise CLIError(f"{path}: {option}'s folder {str(folder)!r} does not exist (create it first)")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".check", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CLIError(f"{path}: {option} cannot be written in {str(folder)!r}: {exc.strerror or exc}") from None
    if p.exists() and not os.access(p, os.W_OK):
        raise CLIError(f"{path}: {option} exists and is not writable")


# --------------------------------------------------------------------------- progress


class _ProbeProgress(logging.Handler):
    """Progress of a smallest-size search, fed by the library's log records.

    :func:`~factmlp.capacity.measure_capacity` has no callback, but logs one record per probe (from
    its inner ``probe`` function, at INFO, or WARNING for a failed build) on the
    ``factmlp.capacity`` logger: this handler counts those records. A probe can take minutes before
    its record (the first one of a construction waits on rho(V) of every value, a codebook fit or GD
    training): those stages log their own progress every few seconds (``factmlp.decodability``,
    ``factmlp.constructions.codebook``, ``factmlp.training``), and this handler, listening on the
    whole ``factmlp`` logger, shows each as the current status. On a terminal it drives a tqdm bar
    (the search's length is not known in advance, so the bar counts probes and shows the latest
    record); otherwise it writes one line per record to stderr; ``quiet`` silences both.
    """

    def __init__(self, *, quiet: bool, desc: str) -> None:
        super().__init__(level=logging.INFO)
        self.quiet = quiet
        self.count = 0
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(desc=desc, unit=" probes", file=sys.stderr, leave=False, dynamic_ncols=True)

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if record.name == "factmlp.capacity" and record.funcName == "probe":
            self.count += 1
            if self.bar is not None:
                self.bar.update(1)
                # the last probe, without the method's name (the line is short)
                self.bar.set_postfix_str(msg.split(" ", 1)[-1], refresh=True)
            elif not self.quiet:
                print(f"  probe {self.count}: {msg}", file=sys.stderr, flush=True)
        elif self.bar is not None:  # a long stage inside a probe: the bar moves with its records
            self.bar.set_postfix_str(msg, refresh=True)
        elif not self.quiet:
            print(f"  ... {msg}", file=sys.stderr, flush=True)

    def __enter__(self) -> "_ProbeProgress":
        self._logger = logging.getLogger("factmlp")
        self._level = self._logger.level
        self._logger.addHandler(self)
        if self._logger.getEffectiveLevel() > logging.INFO:
            self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
        if self.bar is not None:
            self.bar.close()


def _say(quiet: bool, text: str) -> None:
    """A status line on stderr (results go to stdout)."""
    if not quiet:
        print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- commands


def cmd_build(args: argparse.Namespace) -> int:
    """``factmlp build``: see :func:`build_parser`."""
    from .capacity import measure_capacity
    from .constructions.codebook import CodebookTimeoutError
    from .constructions.encoder import EncoderFitError
    from .decodability import DecodabilityTimeoutError, InfeasibleValuesError
    from .facts import evaluate_mlp
    from .tables import settings_json
    from .training import TrainingDivergedError

    # options first (no file is read for a bad option), then the inputs, then compute
    if args.size is not None and args.size < 1:
        raise CLIError(f"--size must be >= 1, got {args.size}")
    if args.max_size is not None and args.max_size < 1:
        raise CLIError(f"--max-size must be >= 1, got {args.max_size}")
    if not (args.rel_tol >= 0 and math.isfinite(args.rel_tol)):
        raise CLIError(f"--rel-tol must be a number >= 0, got {args.rel_tol}")
    if args.seed < 0:
        raise CLIError(f"--seed must be >= 0, got {args.seed}")
    _check_out(args.out, "--out", (".safetensors",))
    if args.report:
        _check_out(args.report, "--report", (".json",))
    if args.scale_dtype is not None and args.quantize not in ("int8", "int4"):
        raise CLIError(f"--scale-dtype applies to --quantize int8 or int4 only (got --quantize {args.quantize})")
    settings = parse_settings(args.method, args.setting)
    method = make_method(args.method, settings)
    facts = read_fact_set(args)
    if facts.n_values < 2:
        raise CLIError(f"{args.values}: a fact set needs at least 2 values (with one, every output decodes to it)")
    size_name = getattr(method, "size_name", "width")
    limit = method.max_size(facts) if hasattr(method, "max_size") else None
    if args.size is not None and limit is not None and args.size > limit:
        raise CLIError(f"--size {args.size}: {args.method} takes {size_name} <= {limit} at d={facts.d}")

    _say(args.quiet, f"factmlp build: {facts.n_facts} facts, {facts.n_values} values, d={facts.d}, "
                     f"method {args.method}" + (f", stored as {args.quantize}" if args.quantize else ""))
    scale_dtype = args.scale_dtype or "float32"
    if args.quantize:  # every build is quantised: the search finds the smallest size storing *after* it
        from .quantize import QuantizedMethod

        method = QuantizedMethod(method, args.quantize, scale_dtype=scale_dtype)
    search = None
    t0 = time.perf_counter()
    try:
        if args.size is None:  # smallest size that stores every fact
            width_max = args.max_size or 65536
            with _ProbeProgress(quiet=args.quiet, desc=f"smallest {size_name}"):
                search = measure_capacity(facts, method, seed=args.seed, width_min=1, width_max=width_max,
                                          rel_tol=args.rel_tol)
            if search.found:
                size, variant_label = search.min_width, search.variant
            else:  # keep the best MLP probed, so the user can see how far it got
                ok = [p for p in search.probes if p.status == "ok"]
                if not ok:
                    print(f"no {size_name} up to {width_max} stores every fact, and no build succeeded "
                          f"({search.n_probes} probes); nothing written", file=sys.stderr)
                    return NOT_STORED
                best = max(ok, key=lambda p: (p.accuracy, p.min_margin, -p.param_count))
                size, variant_label = best.width, best.variant
            variant = method.chosen_variant(facts, variant_label)
        else:
            size, variant_label, variant = args.size, "", method
            _say(args.quiet, f"building {size_name}={size} ...")
        t_build = time.perf_counter()
        with _ProbeProgress(quiet=args.quiet, desc=f"building {size_name}={size}"):
            mlp, info = variant.build(facts, size, seed=args.seed)
        build_seconds = time.perf_counter() - t_build
    except InfeasibleValuesError as exc:
        raise CLIError(f"{args.values}: {exc}") from None
    except (CodebookTimeoutError, DecodabilityTimeoutError) as exc:  # a bounded solver ran out of time
        raise CLIError(f"{exc}; nothing written") from None
    except (EncoderFitError, TrainingDivergedError) as exc:
        print(f"factmlp: {args.method} could not build {size_name}={size}: {exc}; nothing written", file=sys.stderr)
        return NOT_STORED
    rep = evaluate_mlp(mlp, facts)
    total_seconds = time.perf_counter() - t0
    stored = rep["accuracy"] == 1.0

    quant = None
    if args.quantize:
        from .quantize import weight_bits

        wbits = weight_bits(mlp, args.quantize, scale_dtype=scale_dtype)
        quant = {"format": args.quantize, "scale_dtype": scale_dtype if args.quantize in ("int8", "int4") else "",
                 "weight_bits": wbits}
    report = {
        "stored_all": stored,
        "n_stored": rep["n_correct"],
        "n_facts": rep["n_facts"],
        "accuracy": rep["accuracy"],
        "min_margin": rep["min_margin"],
        "mean_margin": rep["mean_margin"],
        "method": args.method,
        "settings": json.loads(settings_json(vars(variant.settings))),
        "variant": variant_label or "",
        "size_name": size_name,
        "size": int(size),
        "hidden": mlp.hidden,
        "params": mlp.param_count(),
        **_bits(facts, mlp),
        "d": facts.d,
        "n_values": facts.n_values,
        "seed": args.seed,
        "build_seconds": build_seconds,
        "total_seconds": total_seconds,
        "keys": str(args.keys),
        "values": str(args.values),
        "map": str(args.map) if args.map else "identity",
        "mlp": str(args.out),
        "build_info": {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))},
    }
    if quant is not None:
        quant["bits_per_weight_bit"] = report["bits"] / quant["weight_bits"]
        report["quantization"] = quant
    if search is not None:
        report["search"] = {"found": search.found, "n_probes": search.n_probes, "seconds": search.seconds,
                            "max_size": args.max_size or 65536, "rel_tol": args.rel_tol,
                            "probes": [dataclasses.asdict(p) for p in search.probes]}
    meta = {k: report[k] for k in ("method", "variant", "size_name", "size", "hidden", "params", "d", "seed",
                                   "accuracy", "min_margin", "n_facts", "stored_all")}
    meta.update(settings=settings_json(vars(variant.settings)), factmlp_version=__version__)
    if args.report:  # the report's text first, the MLP inside: a failure leaves neither file
        from .io import atomic_path

        with atomic_path(args.report) as tmp:
            tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
            save_mlp(mlp, args.out, meta, quantize=args.quantize, scale_dtype=scale_dtype)
    else:
        save_mlp(mlp, args.out, meta, quantize=args.quantize, scale_dtype=scale_dtype)

    how = "given size" if search is None else (
        f"smallest that stores all: {search.n_probes} probes in {search.seconds:.1f} s" if search.found
        else f"NO {size_name} up to {args.max_size or 65536} stores all: best of {search.n_probes} probes")
    print(f"method        {args.method}{f' [{variant_label}]' if variant_label else ''}")
    print(f"{size_name:<13} {size} ({how})")
    _print_storage(rep, mlp, facts.d, report)
    if quant is not None:
        _print_quantization(quant)
    print(f"build time    {build_seconds:.2f} s (total {total_seconds:.1f} s)")
    print(f"saved         {args.out}" + (f", report {args.report}" if args.report else ""))
    return _verdict(rep)


def _bits(facts, mlp) -> dict:
    """The fact set's information and bits per parameter of this MLP (factmlp.bits): the map is
    counted as a bijection if it is one, else as a random function."""
    from .bits import map_kind, storage_bits

    kind = map_kind(facts.mapping.numpy(), facts.n_values)
    return {"map_kind": kind, **storage_bits(len(facts.mapping), facts.n_values, kind, mlp.param_count())}


def _print_storage(rep: dict, mlp, d: int, bits: dict) -> None:
    """The storage lines shared by ``build`` and ``check``."""
    print(f"facts stored  {rep['n_correct']}/{rep['n_facts']} (accuracy {rep['accuracy']:.4f})")
    print(f"min margin    {rep['min_margin']:.4g} (normalised; > 0 for every stored fact)")
    print(f"parameters    {mlp.param_count()} (hidden width {mlp.hidden}, d {d})")
    stored = "" if rep["accuracy"] == 1.0 else "; NOT every fact is stored, so the MLP holds less"
    print(f"information   {bits['bits']:.6g} bits ({bits['bits_basis']}: the map is a {bits['map_kind']} map), "
          f"{bits['bits_per_param']:.4g} bits per parameter{stored}")


def _print_quantization(quant: dict) -> None:
    how = (f"symmetric per output row, {quant['scale_dtype']} scales and biases" if quant.get("scale_dtype")
           else "every weight and bias rounded")
    print(f"stored as     {quant['format']} ({how}): {quant['weight_bits']} weight bits, "
          f"{quant['bits_per_weight_bit']:.4g} bits per weight bit")


def _verdict(rep: dict) -> int:
    """Say whether every fact is stored; the exit code (OK or NOT_STORED)."""
    if rep["accuracy"] == 1.0:
        print(f"every fact is stored ({rep['n_facts']}/{rep['n_facts']}).")
        return OK
    print(f"NOT every fact is stored: {rep['n_facts'] - rep['n_correct']} of {rep['n_facts']} keys decode "
          f"to a wrong value.")
    return NOT_STORED


def cmd_rho(args: argparse.Namespace) -> int:
    """``factmlp rho``: rho(V) of a value table and, with ``--out``, its separators u*_i."""
    from .decodability import DecodabilityTimeoutError, InfeasibleValuesError, decodability, summarize

    if args.out:
        _check_out(args.out, "--out", TABLE_SUFFIXES)
    values = read_matrix(args.values, "values", name=args.values_tensor, option="--values-tensor")
    if values.shape[0] < 2:
        raise CLIError(f"{args.values}: rho needs at least 2 values, got {values.shape[0]}")
    _say(args.quiet, f"factmlp rho: {values.shape[0]} values, d={values.shape[1]} ...")
    t0 = time.perf_counter()
    try:
        dec = decodability(values)
    except InfeasibleValuesError as exc:  # e.g. duplicated rows, where the solver refuses to run
        raise CLIError(f"{args.values}: {exc}") from None
    except DecodabilityTimeoutError as exc:
        raise CLIError(f"{args.values}: {exc}; nothing written") from None
    seconds = time.perf_counter() - t0
    s = summarize(dec)
    print(f"rho(V)        {s['rho']:.6g} (min over {s['n_values']} values)")
    print(f"rho_i         median {s['rho_median']:.6g}, mean {s['rho_mean']:.6g}, 5th percentile {s['rho_p05']:.6g}")
    print(f"certified     upper - lower bound <= {s['rho_max_gap']:.2g}")
    print(f"time          {seconds:.2f} s")
    if s["n_infeasible"]:
        bad = torch.nonzero(~dec.feasible).flatten().tolist()
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        print(f"undecodable   {s['n_infeasible']} value(s) (inside the hull of the others, or duplicated; no MLP "
              f"can output them as argmax): rows {shown}")
    if args.out:
        save_table(dec.separators, args.out, name="separators")
        print(f"saved         separators u*_i ({values.shape[0]} x {values.shape[1]}) to {args.out}")
    return OK


def cmd_check(args: argparse.Namespace) -> int:
    """``factmlp check``: storage accuracy and margin of a saved MLP on a fact set."""
    from .facts import evaluate_mlp

    try:
        mlp, meta = load_mlp(args.mlp)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    facts = read_fact_set(args)
    d_in, d_out = mlp.gate.in_features, mlp.down.out_features
    if facts.d != d_in:
        raise CLIError(f"{args.keys}: keys have d={facts.d} but the MLP ({args.mlp}) takes inputs of d={d_in}")
    if facts.d != d_out:
        raise CLIError(f"{args.values}: values have d={facts.d} but the MLP ({args.mlp}) outputs d={d_out}")
    rep = evaluate_mlp(mlp, facts)
    if meta.get("method"):
        print(f"method        {meta['method']}" + (f" [{meta['variant']}]" if meta.get("variant") else "")
              + (f", {meta.get('size_name', 'size')} {meta['size']}" if meta.get("size") else ""))
    bits = _bits(facts, mlp)
    _print_storage(rep, mlp, d_in, bits)
    if meta.get("quantization"):
        from .quantize import weight_bits

        wbits = weight_bits(mlp, meta["quantization"], scale_dtype=meta.get("scale_dtype") or "float32")
        _print_quantization({"format": meta["quantization"], "scale_dtype": meta.get("scale_dtype", ""),
                             "weight_bits": wbits, "bits_per_weight_bit": bits["bits"] / wbits})
    return _verdict(rep)


# --------------------------------------------------------------------------- parser and entry point


def _add_fact_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("keys", metavar="KEYS", help=f"|K| x d key table ({', '.join(TABLE_SUFFIXES)})")
    p.add_argument("values", metavar="VALUES", help="|V| x d value table")
    p.add_argument("--map", metavar="MAP", help="length-|K| integer vector: the value index of each key "
                                               "(default: key i -> value i, needs |K| = |V|)")
    p.add_argument("--keys-tensor", metavar="NAME", help="tensor to read from a KEYS file that holds several")
    p.add_argument("--values-tensor", metavar="NAME", help="tensor to read from a VALUES file that holds several")
    p.add_argument("--map-tensor", metavar="NAME", help="tensor to read from a MAP file that holds several")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``factmlp`` and its three subcommands."""
    parser = _Parser(prog="factmlp", description="Build and check MLPs that store facts k -> f(k) "
                                                 "(argmax_v <g(k), v> = f(k)) for your own embeddings.")
    parser.add_argument("--version", action="version", version=f"factmlp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    b = sub.add_parser("build", help="build an MLP that stores a fact set; save it and report storage",
                       description="Build an MLP storing every fact KEYS[i] -> VALUES[MAP[i]] and save it as "
                                   "safetensors. Exit code 0 when every fact is stored, 2 when not, 1 on bad input.")
    _add_fact_inputs(b)
    b.add_argument("--out", required=True, metavar="MLP.safetensors", help="where to save the MLP (with metadata)")
    b.add_argument("--method", default=DEFAULT_METHOD,
                   help=f"builder (default {DEFAULT_METHOD}; the list: an unknown name prints it)")
    size = b.add_mutually_exclusive_group()
    size.add_argument("--size", type=int, metavar="N",
                      help="build at this size (hidden width, or code dimension m' for the constructions), "
                           "with the method's settings as given (no variant search)")
    size.add_argument("--smallest", action="store_true",
                      help="search the smallest size that stores every fact (the default)")
    b.add_argument("--max-size", type=int, metavar="N",
                   help="largest size the search tries (default: the method's own limit, else 65536)")
    b.add_argument("--rel-tol", type=float, default=0.0,
                   help="stop bisecting at hi - lo <= max(1, rel_tol * hi) (default 0: the exact smallest)")
    b.add_argument("--seed", type=int, default=0, help="seed of the method's random draws (default 0)")
    b.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of the method (repeatable), e.g. codebook_steps=300")
    b.add_argument("--quantize", choices=["float32", "bf16", "int8", "int4"], metavar="FORMAT",
                   help="store the weights as float32, bf16, int8 or int4 (symmetric per output row with float "
                        "scales; factmlp.quantize), check storage after quantising, and with --smallest search the "
                        "smallest size that stores every fact after it")
    b.add_argument("--scale-dtype", choices=["float32", "bfloat16", "float64"], metavar="DTYPE",
                   help="float type of the int formats' per-row scales and biases (default float32)")
    b.add_argument("--report", metavar="REPORT.json", help="also write the storage report (and every probe) as JSON")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress output on stderr")
    b.set_defaults(func=cmd_build)

    r = sub.add_parser("rho", help="decodability rho(V) of a value table and its separators",
                       description="rho(V) = min_i max_{|u|<=1} min_{j!=i} <u, (v_i-v_j)/|v_i-v_j|>: how well "
                                   "the values can be told apart by an output direction (Dugan et al. 2025).")
    r.add_argument("values", metavar="VALUES", help=f"|V| x d value table ({', '.join(TABLE_SUFFIXES)})")
    r.add_argument("--values-tensor", metavar="NAME", help="tensor to read from a file that holds several")
    r.add_argument("--out", metavar="SEPARATORS.npy", help="save the unit separators u*_i (|V| x d) here")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress output on stderr")
    r.set_defaults(func=cmd_rho)

    c = sub.add_parser("check", help="storage accuracy and margin of a saved MLP",
                       description="Check which facts a saved MLP stores. Exit code 0 when every fact is "
                                   "stored, 2 when not, 1 on bad input.")
    c.add_argument("mlp", metavar="MLP.safetensors", help="an MLP written by factmlp build")
    _add_fact_inputs(c)
    c.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``factmlp`` with ``argv`` (default: the command line); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except CLIError as exc:
        print(f"factmlp: error: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        print("factmlp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
