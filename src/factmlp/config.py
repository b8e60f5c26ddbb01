"""Validation of the pipeline configuration, before any job runs.

:func:`validate_config` checks a config dict against the JSON schema (types, ranges, enums,
required keys; it fills the schema's defaults in place) and then checks names across sections.
Every error is a :class:`ConfigError` whose message starts with the offending key, e.g.
``config error at capacity.sweeps[0].points[1].d: -3 is less than the minimum of 1``.

Library code never reads the config: the workflow validates it once here and passes plain
values to functions.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

__all__ = ["ConfigError", "validate_config", "load_schema"]


class ConfigError(ValueError):
    """A configuration error; the message names the offending key."""


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def load_schema(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _validator(schema: dict):
    import jsonschema
    from jsonschema import validators

    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    return validators.extend(base, {"properties": set_defaults})(schema)


def validate_config(config: dict, schema_path: str | os.PathLike, *, methods: list[str] | None = None) -> dict:
    """Validate ``config`` in place (schema defaults filled in) and return it.

    ``methods``: registered method names (default: :func:`factmlp.methods.method_names`).
    Raises :class:`ConfigError` naming the first offending key.
    """
    import jsonschema

    if not isinstance(config, dict):
        raise ConfigError(f"config error at <top level>: expected a mapping, got {type(config).__name__}")
    schema = load_schema(schema_path)
    errors = list(_validator(schema).iter_errors(config))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        key, msg = _locate(err)
        raise ConfigError(f"config error at {key}: {msg}")
    _check_names(config, methods)
    return config


def _locate(err) -> tuple[str, str]:
    """The dotted key an error is about, and a message; unknown, missing and badly named keys are
    reported at the key itself, not at the mapping that holds it."""
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra and err.schema.get("properties") is not None:
            return _key(path + [extra[0]]), f"unknown key (allowed here: {', '.join(sorted(allowed))})"
    if err.validator == "required" and isinstance(err.instance, dict):
        missing = [k for k in err.validator_value if k not in err.instance]
        if missing:
            return _key(path + [missing[0]]), "missing required key"
    if "propertyNames" in err.absolute_schema_path:
        return _key(path + [str(err.instance)]), f"invalid name {err.instance!r}: {err.message}"
    return _key(path), err.message


def _check_names(config: dict, methods: list[str] | None) -> None:
    if methods is None:
        from .methods import method_names

        methods = method_names()
    families = config["embeddings"]["families"]
    facts = config["facts"]

    def fail(key: str, msg: str):
        raise ConfigError(f"config error at {key}: {msg}")

    if facts["tied"] and facts["mapping"] != "permutation":
        fail("facts.mapping", "tied keys and values need mapping: permutation (f must be a bijection of one table)")
    if not facts["tied"] and facts["mapping"] == "permutation" and facts["values_per_key"] != 1:
        fail("facts.values_per_key", "a permutation map needs |V| = |K| (values_per_key: 1)")
    cap = config["capacity"]
    if cap["width_min"] > cap["width_max"]:
        fail("capacity.width_min", f"{cap['width_min']} is larger than capacity.width_max={cap['width_max']}")
    _check_sweeps(cap["sweeps"], "capacity", methods, families, fail)
    usab = config["usability"]
    if usab["task"]["gap_min"] > usab["task"]["gap_max"]:
        fail("usability.task.gap_min", f"{usab['task']['gap_min']} is larger than usability.task.gap_max="
             f"{usab['task']['gap_max']}")
    _check_sweeps(usab["sweeps"], "usability", methods, families, fail)
    ed = config["editing"]
    if ed["n_train_templates"] >= ed["n_templates"]:
        fail("editing.n_train_templates", f"{ed['n_train_templates']} leaves no held-out template "
             f"(editing.n_templates={ed['n_templates']})")
    seen = set()
    for i, base in enumerate(ed["base_mlps"]):
        name = base.get("name") or base["method"]
        if name in seen:
            fail(f"editing.base_mlps[{i}].name", f"base name {name!r} is used twice (a base is named after its "
                 "method unless it has a name: give each base of one method a distinct name)")
        seen.add(name)
        if base.get("settings"):
            from .methods import get_method

            try:
                get_method(base["method"], **{**(config["methods"].get(base["method"]) or {}), **base["settings"]})
            except (TypeError, ValueError) as exc:
                fail(f"editing.base_mlps[{i}].settings", f"not settings of {base['method']!r}: {exc}")
    for i, frac in enumerate(ed["fractions"]):
        if max(2, round(frac * ed["n_subjects"])) >= ed["n_subjects"]:
            fail(f"editing.fractions[{i}]", f"{frac} of {ed['n_subjects']} facts leaves none preserved")
    dec = config["decodability"]
    _check_families(dec["families"], dec["points"], families, "decodability", fail)
    if dec["families"] and not dec["points"]:
        fail("decodability.points", "decodability.families is set but no points are given")
    _check_nichani(config["nichani"], fail)


def _check_nichani(nic: dict, fail) -> None:
    """Cross-key checks of the Nichani et al. section (sizes that only make sense together)."""
    lin = nic["linear"]
    for i, rank in enumerate(lin["ranks"]):
        if rank >= lin["rank_d"]:
            fail(f"nichani.linear.ranks[{i}]", f"rank {rank} is not below nichani.linear.rank_d={lin['rank_d']} "
                 "(full rank is measured through nichani.linear.dims)")
    pairs = [("mlp.trained", "dims", "widths"), ("mlp.ntk", "dims", "widths"), ("tradeoff", "heads", "mlp_widths")]
    for part, a, b in pairs:
        sec = nic
        for key in part.split("."):
            sec = sec[key]
        if bool(sec[a]) != bool(sec[b]):
            given, empty = (a, b) if sec[a] else (b, a)
            fail(f"nichani.{part}.{empty}", f"nichani.{part}.{given} is set but {empty} is empty")
    rec = nic["recall"]
    if rec["size_min"] > rec["size_max"]:
        fail("nichani.recall.size_min", f"{rec['size_min']} is larger than nichani.recall.size_max={rec['size_max']}")


def _check_sweeps(sweeps, section, methods, families, fail) -> None:
    names = [s["name"] for s in sweeps]
    for i, sweep in enumerate(sweeps):
        if sweep["name"] in names[:i]:
            fail(f"{section}.sweeps[{i}].name", f"sweep name {sweep['name']!r} is used twice")
        for j, m in enumerate(sweep["methods"]):
            if m not in methods:
                fail(f"{section}.sweeps[{i}].methods[{j}]", f"unknown method {m!r}; known: {', '.join(methods)}")
        _check_families(sweep["families"], sweep["points"], families, f"{section}.sweeps[{i}]", fail)


def _check_families(used, points, families, where, fail) -> None:
    from .embeddings import MINILM_DIM

    for j, fam in enumerate(used):
        if fam not in families:
            fail(f"{where}.families[{j}]", f"unknown family {fam!r}; defined in embeddings.families: {', '.join(families)}")
        if families[fam]["kind"] == "minilm":
            for k, p in enumerate(points):
                if p["d"] > MINILM_DIM:
                    fail(f"{where}.points[{k}].d", f"{p['d']} exceeds the {MINILM_DIM} dimensions of family {fam!r} (minilm)")
