"""Validation of the pipeline configuration, before any job runs.

:func:`validate_config` checks a config dict against the JSON schema (types, ranges, enums,
required keys; it fills the schema's defaults in place) and then checks names across sections.
The schema's lists of method, editor and embedding-kind names come from the Python code
(:func:`load_schema`), not from the schema file.
Every error is a :class:`ConfigError` whose message starts with the offending key, e.g.
``config error at capacity.sweeps[0].points[1].d: -3 is less than the minimum of 1``.

Library code never reads the config: the workflow validates it once here and passes plain
values to functions.

Cross-key checks (everything that can fail before a job runs, each naming its key; issue 17):
names across sections (families, methods, sweeps, editing bases); size orders (width_min <=
width_max, gap_min <= gap_max, size_min <= size_max, ranks < rank_d); the fact map against the
tying (a permutation needs |V| = |K|, also for ``keys: spherical`` families, whose sets are
untied); finite embedding sources (the MiniLM vocabulary, 29523 usable tokens, bounds n_facts:
:func:`_check_families`) and MiniLM's 384 dimensions; every ``methods.<name>`` settings block is
built once (a setting the method rejects, e.g. ``whiten_ridges`` without ``whiten``, fails here,
not in the first job); a sweep running ``gd_encdec`` (built at the construction's m' and buckets)
without ``construction``; a fixed construction ``bucket_size`` that leaves the encoder fewer unknowns
than keys at some point; key-norm spread of unnormalised families in the usability stage (the
Transformer's frozen pre-MLP norm needs near-equal key norms); decodability points without
families and families without points.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import yaml

__all__ = ["canonical_order", "ConfigError", "validate_config", "load_schema", "registered_names", "editing_for_base",
           "base_name", "sequential_grid", "fact_set_shape"]


class ConfigError(ValueError):
    """A configuration error; the message names the offending key."""


def fact_set_shape(n_keys: int, family: dict, *, tied: bool, values_per_key: float) -> tuple[bool, int]:
    """(tied, |V|) of a fact set with ``n_keys`` keys of ``family`` (its config entry): keys and
    values are one table when the config ties them and the family has no ``keys: spherical``;
    otherwise |V| = max(1, round(values_per_key * n_keys)). Here, not in :mod:`factmlp.facts`: the
    workflow sizes its jobs with it at parse time, which must not import torch."""
    tied = bool(tied) and family.get("keys", "tied") == "tied"
    return tied, int(n_keys) if tied else max(1, round(values_per_key * int(n_keys)))


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def load_schema(path: str | os.PathLike, *, methods: list[str] | None = None) -> dict:
    """The JSON schema at ``path`` with the lists of names that Python owns filled in.

    The schema does not repeat the method registry, the editors or the embedding family kinds:
    a node marked ``x-enum-from: <list>`` gets that list as its ``enum`` and one marked
    ``x-default-from: <list>`` as its ``default`` (lists: :func:`registered_names`). One source
    for each list, so adding a method, editor or kind in Python makes it valid config at once,
    and an unknown name still fails validation before any job runs, naming its key, as an enum
    written into the schema did. ``methods``: the method names to allow (default: the registry).
    """
    with open(path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    names = registered_names(methods=methods)

    def fill(node):
        if isinstance(node, dict):
            for marker, key in (("x-enum-from", "enum"), ("x-default-from", "default")):
                if marker in node:
                    if node[marker] not in names:
                        raise KeyError(f"schema {path}: {marker}: {node[marker]!r} is not one of {sorted(names)}")
                    node[key] = list(names[node[marker]])
            for value in node.values():
                fill(value)
        elif isinstance(node, list):
            for value in node:
                fill(value)

    fill(schema)
    return schema


def registered_names(*, methods: list[str] | None = None) -> dict[str, list[str]]:
    """The lists of names the schema reads (``x-enum-from``): ``methods`` (the registry,
    :func:`factmlp.registry.method_names`, unless given), ``editors`` and ``family_kinds``
    (:mod:`factmlp.names`); none needs torch."""
    from .names import EDITORS, FAMILY_KINDS
    from .registry import method_names

    return {"methods": list(method_names() if methods is None else methods), "editors": list(EDITORS),
            "family_kinds": list(FAMILY_KINDS)}


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


#: Keys of a base's own editing setting (``editing.base_mlps[i].editing``; the schema lists which
#: keys it may have) that are merged key by key over the section's; the others replace it.
_EDIT_MERGED_KEYS = ("base", "grid", "sequential")


def editing_for_base(editing: dict, base: dict) -> dict:
    """The editing section as the base ``base`` (an entry of ``editing.base_mlps``) runs it: the
    section with the base's ``editing`` overrides over it (``base`` and ``grid`` merged key by key).

    Why per base: a second, larger setting (more facts, a larger d, fewer epochs over a corpus 16x
    larger, a smaller baseline grid where one grid point costs minutes) sits beside the section's
    own setting in one run, and a base without overrides runs exactly the section's setting (its
    jobs' parameters do not change when another base gets overrides)."""
    over = base.get("editing") or {}
    out = {**editing, **{k: v for k, v in over.items() if k not in _EDIT_MERGED_KEYS}}
    for key in _EDIT_MERGED_KEYS:
        if key in over:
            out[key] = {**editing.get(key, {}), **over[key]}
    return out


def base_name(base: dict) -> str:
    """The name of an entry of ``editing.base_mlps``: its ``name``, else its method (names are unique:
    :func:`validate_config` checks it)."""
    return base.get("name") or base["method"]


def sequential_grid(section: dict) -> dict:
    """The grid a sequential-editing job runs, from a base's merged editing section
    (:func:`editing_for_base`): the section's ``grid`` with ``sequential.grid`` over it."""
    return {**section["grid"], **(section["sequential"].get("grid") or {})}


#: Keys that older configs had and that are now runtime settings (factmlp.devices, the profiles).
RUNTIME_KEYS = ("device", "resources")


def validate_config(config: dict, schema_path: str | os.PathLike, *, methods: list[str] | None = None) -> dict:
    """Validate ``config`` in place (schema defaults filled in) and return it.

    ``methods``: registered method names (default: :func:`factmlp.registry.method_names`).
    Raises :class:`ConfigError` naming the first offending key.
    """
    import jsonschema

    if not isinstance(config, dict):
        raise ConfigError(f"config error at <top level>: expected a mapping, got {type(config).__name__}")
    for key in RUNTIME_KEYS:
        if key in config:
            raise ConfigError(f"config error at {key}: no longer a config key: the device, threads and "
                              "resources are runtime settings, given by a profile (profiles/gpu, "
                              "profiles/slurm-gpu) or --set-resources/--set-threads; see config/README.md")
    _check_editing_seed(config)
    schema = load_schema(schema_path, methods=methods)
    errors = list(_validator(schema).iter_errors(config))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        key, msg = _locate(err)
        raise ConfigError(f"config error at {key}: {msg}")
    _check_edit_overrides(config, schema)
    _check_names(config, methods)
    return config


def canonical_order(obj):
    """Sort the keys of every mapping in ``obj`` (nested in mappings and lists), in place; returns
    ``obj``. Snakemake compares a job's params by their text, and a dict's text follows its key
    order: without this, the same config with its keys reordered (a YAML formatter, or a profile
    merging configs in another order) would rerun every job whose params hold a dict. Sorted keys
    make the params follow the values alone."""
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: str(kv[0]))
        obj.clear()
        obj.update((k, canonical_order(v)) for k, v in items)
    elif isinstance(obj, list):
        for v in obj:
            canonical_order(v)
    return obj


def _check_editing_seed(config: dict) -> None:
    """``editing.seed`` (one int) became ``editing.seeds`` (a list, one base model per seed): name
    the new key instead of the schema's generic "unknown key", so that an older config says what
    to write."""
    ed = config.get("editing")
    if not isinstance(ed, dict):
        return
    where = [("editing", ed)] + [(f"editing.base_mlps[{i}].editing", b.get("editing"))
                                 for i, b in enumerate(ed.get("base_mlps") or []) if isinstance(b, dict)]
    for key, section in where:
        if isinstance(section, dict) and "seed" in section:
            raise ConfigError(f"config error at {key}.seed: replaced by {key}.seeds, a list (one base model per "
                              f"seed, e.g. seeds: [{section['seed']}])")


def _check_edit_overrides(config: dict, schema: dict) -> None:
    """Each base's merged editing section (:func:`editing_for_base`) against the section's schema,
    so a wrong key or type in a base's ``editing.base`` / ``editing.grid`` is named there."""
    import jsonschema

    ed = config["editing"]
    sub = {**schema["properties"]["editing"], "$defs": schema.get("$defs", {})}
    for i, base in enumerate(ed["base_mlps"]):
        if not base.get("editing"):
            continue
        merged = copy.deepcopy(editing_for_base(ed, base))
        errors = list(_validator(sub).iter_errors(merged))
        if errors:
            key, msg = _locate(jsonschema.exceptions.best_match(errors))
            raise ConfigError(f"config error at editing.base_mlps[{i}].editing.{key}: {msg}")
    # the sequential runs' grid: editing.grid's keys and types, over each base's grid
    grid_schema = {**schema["properties"]["editing"]["properties"]["grid"], "$defs": schema.get("$defs", {})}
    for i, base in enumerate(ed["base_mlps"]):
        merged = editing_for_base(ed, base)
        seq_grid = (merged.get("sequential") or {}).get("grid") or {}
        where = (f"editing.base_mlps[{i}].editing.sequential.grid" if "grid" in ((base.get("editing") or {})
                 .get("sequential") or {}) else "editing.sequential.grid")
        errors = list(_validator(grid_schema).iter_errors(copy.deepcopy({**merged["grid"], **seq_grid})))
        if errors:
            key, msg = _locate(jsonschema.exceptions.best_match(errors))
            raise ConfigError(f"config error at {where}.{key}: {msg}")


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


def torch_missing() -> str | None:
    """Why torch cannot be imported here, or None. Where it is missing (a linter's environment with
    Snakemake alone: ``snakemake --lint`` in the workflow catalog), :func:`validate_config` checks the
    schema and every cross-key rule that needs no torch, and skips, with a warning, the checks that
    build a method's settings, draw a table or read the MiniLM vocabulary (they run wherever the
    workflow's packages are installed, i.e. before any job)."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return str(exc) or "torch is not installed"
    return None


def _check_names(config: dict, methods: list[str] | None) -> None:
    missing = torch_missing()
    if missing:
        import warnings

        warnings.warn(f"factmlp: torch cannot be imported ({missing}): the config was checked against its schema "
                      "and the cross-key rules only; method settings, bucket sizes, key norms and family sizes "
                      "are checked where the workflow's packages are installed", stacklevel=2)
    if methods is None:
        from .registry import method_names

        methods = method_names()
    families = config["embeddings"]["families"]
    facts = config["facts"]

    def fail(key: str, msg: str):
        raise ConfigError(f"config error at {key}: {msg}")

    if facts["tied"] and facts["mapping"] != "permutation":
        fail("facts.mapping", "tied keys and values need mapping: permutation (f must be a bijection of one table)")
    if not facts["tied"] and facts["mapping"] == "permutation" and facts["values_per_key"] != 1:
        fail("facts.values_per_key", "a permutation map needs |V| = |K| (values_per_key: 1)")
    if facts["mapping"] == "permutation" and facts["values_per_key"] != 1:
        untied = sorted(f for f in _used_families(config) if families.get(f, {}).get("keys", "tied") == "spherical")
        if untied:
            fail("facts.values_per_key", f"family {untied[0]!r} has keys: spherical, so its fact sets are untied, "
                 f"and a permutation map needs |V| = |K| (values_per_key: 1, not {facts['values_per_key']})")
    cap = config["capacity"]
    if cap["width_min"] > cap["width_max"]:
        fail("capacity.width_min", f"{cap['width_min']} is larger than capacity.width_max={cap['width_max']}")
    _check_sweeps(cap["sweeps"], "capacity", methods, families, fail, facts)
    usab = config["usability"]
    if usab["task"]["gap_min"] > usab["task"]["gap_max"]:
        fail("usability.task.gap_min", f"{usab['task']['gap_min']} is larger than usability.task.gap_max="
             f"{usab['task']['gap_max']}")
    if usab["span_points"] == 1:
        fail("usability.span_points", "1 is not a span: use 0 (no span) or >= 2 (the storage minimum, the cap and "
             "the sizes between)")
    _check_sweeps(usab["sweeps"], "usability", methods, families, fail, facts)
    ed = config["editing"]
    if ed["n_train_templates"] >= ed["n_templates"]:
        fail("editing.n_train_templates", f"{ed['n_train_templates']} leaves no held-out template "
             f"(editing.n_templates={ed['n_templates']})")
    seen = set()
    for i, base in enumerate(ed["base_mlps"]):
        name = base_name(base)
        if name in seen:
            fail(f"editing.base_mlps[{i}].name", f"base name {name!r} is used twice (a base is named after its "
                 "method unless it has a name: give each base of one method a distinct name)")
        seen.add(name)
        if base.get("settings") and not missing:
            from .registry import get_method

            try:
                get_method(base["method"], **{**(config["methods"].get(base["method"]) or {}), **base["settings"]})
            except (TypeError, ValueError) as exc:
                fail(f"editing.base_mlps[{i}].settings", f"not settings of {base['method']!r}: {exc}")
    def none_preserved(frac: float, n: int) -> bool:  # edit_plan edits max(2, round(frac * n)) facts
        return max(2, round(frac * n)) >= n

    for i, frac in enumerate(ed["fractions"]):
        if none_preserved(frac, ed["n_subjects"]):
            fail(f"editing.fractions[{i}]", f"{frac} of {ed['n_subjects']} facts leaves none preserved")
    for i, base in enumerate(ed["base_mlps"]):
        over = base.get("editing") or {}
        if "fractions" not in over and "n_subjects" not in over:
            continue  # the section's fractions and books, checked above
        eb = editing_for_base(ed, base)
        for frac in eb["fractions"]:
            if none_preserved(frac, eb["n_subjects"]):
                where = "fractions" if "fractions" in over else "n_subjects"
                fail(f"editing.base_mlps[{i}].editing.{where}",
                     f"edit fraction {frac} of {eb['n_subjects']} facts leaves none preserved")
    dec = config["decodability"]
    _check_families(dec["families"], dec["points"], families, "decodability", fail, facts)
    if dec["families"] and not dec["points"]:
        fail("decodability.points", "decodability.families is set but no points are given")
    if dec["points"] and not dec["families"]:
        fail("decodability.families", "decodability.points is set but no families are given (the points would "
             "be ignored)")
    _check_references(config, fail)
    if not missing:  # these build method settings or draw tables (torch)
        _check_method_settings(config, fail)
        _check_bucket_sizes(config, fail)
        _check_usability_key_norms(config, fail)
    _check_nichani(config["nichani"], fail)
    _check_quantization(cap, fail)
    _check_replay(config, fail)
    _check_sequential(config["editing"], fail)  # last: a base named there must exist and pass its own checks


def _check_sequential(ed: dict, fail) -> None:
    """editing.sequential: its bases exist, their seeds are the base's, and batch x rounds edits
    leave a fact unedited (checked with each base's own n_subjects and overrides)."""
    names = [base_name(b) for b in ed["base_mlps"]]
    if not names:
        return  # no base_mlps: the editing stage, sequential editing with it, is off
    for j, name in enumerate(ed["sequential"]["bases"]):
        if name not in names:
            fail(f"editing.sequential.bases[{j}]", f"no editing base named {name!r} (bases: {', '.join(names)})")
        i = names.index(name)
        eb = editing_for_base(ed, ed["base_mlps"][i])
        seq = eb["sequential"]
        total, n = int(seq["batch"]) * int(seq["rounds"]), int(eb["n_subjects"])
        if not 2 <= total < n:
            fail("editing.sequential.batch", f"base {name!r}: {seq['rounds']} rounds of {seq['batch']} edits = {total} "
                 f"of its {n} facts; needs 2 <= batch x rounds < n_subjects (a fact must stay unedited)")
        extra = sorted(set(seq.get("seeds") or []) - set(eb["seeds"]))
        if extra:
            fail("editing.sequential.seeds", f"base {name!r} has no seed(s) {extra} (its seeds: {eb['seeds']})")


def _check_replay(config: dict, fail) -> None:
    """replay: a folder holding the snapshot's tables (checked before any job)."""
    folder = config.get("replay")
    if folder is None:
        return
    tables = Path(folder) / "tables"
    if not tables.is_dir():
        fail("replay", f"{folder!r} has no tables/ folder (a snapshot such as docs/results/medium holds one)")
    for name in ("capacity.tsv", "rho.tsv"):
        if not (tables / name).is_file():
            fail("replay", f"{folder!r}: tables/{name} is missing (every snapshot has it)")


def _check_quantization(cap: dict, fail) -> None:
    """capacity.quantization reads the float capacity rows of its sweep's fact sets: the sweep must
    exist, run every listed method, and have a point within d_max."""
    quant = cap.get("quantization")
    if not quant:
        return
    sweeps = {s["name"]: s for s in cap["sweeps"]}
    sweep = sweeps.get(quant["sweep"])
    if sweep is None:
        fail("capacity.quantization.sweep", f"no capacity sweep named {quant['sweep']!r} (sweeps: {sorted(sweeps)})")
    for i, m in enumerate(quant["methods"]):
        if m not in sweep["methods"]:
            fail(f"capacity.quantization.methods[{i}]", f"{m!r} is not a method of sweep {quant['sweep']!r} "
                 f"({', '.join(sweep['methods'])}): its float capacity row is the quantised search's start")
    if "d_max" in quant and not any(p["d"] <= quant["d_max"] for p in sweep["points"]):
        fail("capacity.quantization.d_max", f"{quant['d_max']} is below every d of sweep {quant['sweep']!r}")


def _used_families(config: dict) -> set[str]:
    """Families some job draws a fact set of: capacity and usability sweeps, decodability."""
    sweeps = config["capacity"]["sweeps"] + config["usability"]["sweeps"]
    return {f for s in sweeps for f in s["families"]} | set(config["decodability"]["families"])


def _sweep_points(config: dict):
    """(key of the sweep, sweep) of every capacity and usability sweep."""
    for section in ("capacity", "usability"):
        for i, sweep in enumerate(config[section]["sweeps"]):
            yield f"{section}.sweeps[{i}]", sweep


def _check_method_settings(config: dict, fail) -> None:
    """Build every configured ``methods.<name>`` once, so that a setting the method itself rejects
    (beyond the schema's types and ranges) fails now rather than in every job of the method."""
    from .registry import get_method

    for name, settings in config["methods"].items():
        try:
            get_method(name, **(settings or {}))
        except KeyError:  # not a registered method (a test registry): nothing to check
            continue
        except (TypeError, ValueError) as exc:
            fail(f"methods.{name}", f"not valid settings of {name!r}: {exc}")


def _check_references(config: dict, fail) -> None:
    """A method built at another method's sizes on the same fact set (``gd_encdec``: the
    construction's m' and buckets, :attr:`factmlp.methods.Method.reference`) needs that method's
    capacity row at every point it runs: each sweep that lists it must list the reference too, and
    an editing base (no capacity search) cannot be one."""
    from .registry import reference_of

    def ref(method):
        try:
            return reference_of(method)
        except KeyError:  # not a registered method (a test registry): nothing to check
            return None

    for key, sweep in _sweep_points(config):
        for j, m in enumerate(sweep["methods"]):
            r = ref(m)
            if r and r not in sweep["methods"]:
                fail(f"{key}.methods[{j}]", f"sweep {sweep['name']!r} runs {m!r}, which is built at {r!r}'s own sizes "
                     f"on each fact set (its capacity result), but does not run {r!r}: add {r!r} to its methods")
    for i, base in enumerate(config["editing"]["base_mlps"]):
        r = ref(base["method"])
        if r:
            fail(f"editing.base_mlps[{i}].method", f"{base['method']!r} is built at {r!r}'s sizes from a capacity "
                 "search of the same fact set, which the editing stage does not run; use another method")


def _fixed_bucket_size(settings) -> int:
    """The construction's fixed bucket size b > 0 when its capacity search uses no other (no
    bucket_slacks, no fewer_buckets; bucket_sizes above d are skipped, checked per point), else 0."""
    b = int(getattr(settings, "bucket_size", 0) or 0)
    if b <= 0 or getattr(settings, "bucket_slacks", ()) or int(getattr(settings, "fewer_buckets", 0) or 0):
        return 0
    return b


def _check_bucket_sizes(config: dict, fail) -> None:
    """A fixed construction bucket size b > d with (ceil(N/b) + 1) d < N keys leaves the encoder
    fewer unknowns than keys (factmlp.constructions.encoder.fit_piecewise_encoder raises)."""
    from .registry import get_method

    def check(method, settings, d, n, where, key):
        try:
            s = get_method(method, **settings).settings
        except (KeyError, TypeError, ValueError):
            return  # reported by _check_method_settings / the editing check
        b = _fixed_bucket_size(s)
        if not b or any(int(x) <= d for x in getattr(s, "bucket_sizes", ())):
            return
        if b > d and (math.ceil(n / b) + 1) * d < n:
            fail(key, f"bucket_size {b} > d={d} leaves the encoder fewer unknowns than keys at {where} "
                 f"(d={d}, {n} facts: (ceil({n}/{b}) + 1) * {d} < {n}); use bucket_size <= d or 0 (d - 4)")

    for key, sweep in _sweep_points(config):
        for m in sweep["methods"]:
            for k, p in enumerate(sweep["points"]):
                check(m, config["methods"].get(m) or {}, p["d"], p["n_facts"], f"{key}.points[{k}]",
                      f"methods.{m}.bucket_size")
    ed = config["editing"]
    for i, base in enumerate(ed["base_mlps"]):
        settings = {**(config["methods"].get(base["method"]) or {}), **(base.get("settings") or {})}
        eb = editing_for_base(ed, base)
        check(base["method"], settings, eb["d"], eb["n_subjects"], "editing (d, n_subjects)",
              f"editing.base_mlps[{i}].settings" if "bucket_size" in (base.get("settings") or {})
              else f"methods.{base['method']}.bucket_size")


def _check_usability_key_norms(config: dict, fail) -> None:
    """The usability stage freezes one pre-MLP norm scale for every key (factmlp.transformer.
    mlp_input_scale): key RMS norms must lie within usability.norm_tolerance of their mean. Row-
    normalised families and keys: spherical pass by construction; an unnormalised family's key
    table is drawn here (exactly as its job draws it: cheap) and measured."""
    usab = config["usability"]
    families, facts = config["embeddings"]["families"], config["facts"]
    for i, sweep in enumerate(usab["sweeps"]):
        for j, fam in enumerate(sweep["families"]):
            spec = families[fam]
            if spec.get("normalize", True) or spec["kind"] == "spherical" or spec.get("keys", "tied") != "tied":
                continue
            from .facts import draw_fact_set
            from .transformer import mlp_input_scale

            for p in sweep["points"]:
                for seed in sweep["seeds"]:
                    tied, n_values = fact_set_shape(p["n_facts"], spec, tied=facts["tied"],
                                                    values_per_key=facts["values_per_key"])
                    fs = draw_fact_set(spec, p["n_facts"], n_values, p["d"], tied=tied, mapping=facts["mapping"],
                                       seed=seed)
                    try:
                        mlp_input_scale(fs.keys, usab["norm_tolerance"])
                    except ValueError as exc:
                        fail(f"usability.sweeps[{i}].families[{j}]",
                             f"family {fam!r} (normalize: false) at d={p['d']}, {p['n_facts']} facts, seed {seed}: "
                             f"{exc} (or raise usability.norm_tolerance)")


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


def _check_sweeps(sweeps, section, methods, families, fail, facts) -> None:
    names = [s["name"] for s in sweeps]
    for i, sweep in enumerate(sweeps):
        if sweep["name"] in names[:i]:
            fail(f"{section}.sweeps[{i}].name", f"sweep name {sweep['name']!r} is used twice")
        for j, m in enumerate(sweep["methods"]):
            if m not in methods:
                fail(f"{section}.sweeps[{i}].methods[{j}]", f"unknown method {m!r}; known: {', '.join(methods)}")
        _check_families(sweep["families"], sweep["points"], families, f"{section}.sweeps[{i}]", fail, facts)
        for j, point in enumerate(sweep["points"]):
            _check_fits_in_memory(point, facts, f"{section}.sweeps[{i}].points[{j}]", fail)


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _check_fits_in_memory(point: dict, facts: dict, where: str, fail, memory: int | None = None) -> None:
    """A fact set whose key and value tables alone (float64) exceed this machine's memory cannot be
    drawn here: refused before any job (e.g. n_facts: 1000000000 by a slip of the keyboard). Only the
    tables are counted, a lower bound of any job's need; a cluster's nodes may hold more than the
    machine that parses the workflow, which is why the bound is this machine's whole memory."""
    memory = machine_memory_bytes() if memory is None else memory
    if memory is None:
        return
    n_keys = int(point["n_facts"])
    n_values = n_keys if facts["tied"] else max(1, int(round(n_keys * float(facts["values_per_key"]))))
    need = (n_keys + (0 if facts["tied"] else n_values)) * int(point["d"]) * 8
    if need > memory:
        fail(where, f"n_facts={n_keys} at d={point['d']} needs {need / 2**30:.1f} GiB for its key and value "
             f"tables alone, more than this machine's {memory / 2**30:.1f} GiB")


# what the rows of a finite family are, for messages
_SOURCES = {"minilm": "usable MiniLM vocabulary tokens (30522 less the special and [unused] ones)"}


def _check_families(used, points, families, where, fail, facts) -> None:
    """Families used at ``where`` are defined, and every point fits a finite family: d <= 384 and
    the rows a fact set draws (|K|, |V| or |K| + |V|: factmlp.embeddings.table_rows) <= the
    vocabulary for MiniLM (factmlp.embeddings.family_max_rows)."""
    for j, fam in enumerate(used):
        if fam not in families:
            fail(f"{where}.families[{j}]",
                 f"unknown family {fam!r}; defined in embeddings.families: {', '.join(families)}")
    if torch_missing():
        return  # the sizes below are the embeddings module's (torch); see torch_missing
    from .embeddings import MINILM_DIM, family_max_rows, table_rows

    for fam in used:
        spec = families[fam]
        if spec["kind"] == "minilm":
            for k, p in enumerate(points):
                if p["d"] > MINILM_DIM:
                    fail(f"{where}.points[{k}].d",
                         f"{p['d']} exceeds the {MINILM_DIM} dimensions of family {fam!r} (minilm)")
        try:
            limit = family_max_rows(spec["kind"])
        except ImportError as exc:
            fail(f"embeddings.families.{fam}.kind", f"{spec['kind']}: {exc}")
        if limit is None:
            continue
        keys = spec.get("keys", "tied")

        def rows(n: int) -> tuple[int, bool, int]:
            tied, n_values = fact_set_shape(n, spec, tied=facts["tied"], values_per_key=facts["values_per_key"])
            return table_rows(n, n_values, tied=tied, keys=keys), tied, n_values

        for k, p in enumerate(points):
            need, tied, n_values = rows(p["n_facts"])
            if need <= limit:
                continue
            lo, hi = 0, p["n_facts"]  # largest n_facts that fits (rows grow with n)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if rows(mid)[0] <= limit else (lo, mid)
            how = ("the values only (keys: spherical)" if keys == "spherical" else "keys and values are one table"
                   if tied else f"{p['n_facts']} keys + {n_values} values drawn as one table")
            source = _SOURCES.get(spec["kind"], f"{spec['kind']} rows")
            fail(f"{where}.points[{k}].n_facts",
                 f"{p['n_facts']} facts of family {fam!r} ({spec['kind']}) need {need} distinct rows ({how}), but "
                 f"there are only {limit} {source}: at most {lo} facts here")
