"""One declared schema per results table: columns, types and ranges, checked by pandera.

Every TSV the pipeline writes goes through :func:`factmlp.io.write_tsv` with the name of its schema
here, so a table that lacks a column, carries one nobody declared, holds a string where a count
belongs or an accuracy above 1 fails *at the rule that wrote it*, with a message naming the table,
the file and each bad column (:class:`TableSchemaError`), and nothing is written. Readers that need
a table's columns (figures, claims) validate it with :func:`validate_table` instead of checking
columns by hand.

Why these choices:
- **pandera**, a library made for dataframe schemas: column presence (``strict``: no undeclared
  column either), nullability, range checks and error reports that name the column and the failing
  values, collected over the whole table (``lazy``) rather than stopping at the first.
- **No coercion.** Validation never changes what is written: a column is checked to *hold* integers
  (an integer dtype, or floats with integral values when the column may be empty, since pandas reads
  an integer column with gaps as float), numbers, strings or booleans. Coercing would rewrite ``1`` as
  ``1.0`` in tables other tools already read.
- **Per-job and aggregate schemas share their columns**: an aggregate is the concatenation of its
  jobs' tables plus the columns its rule adds (``sweep``, the bits columns), so ``capacity`` is
  ``capacity_job`` plus those, and a change to a job's columns is made in one place.
- Ranges are what the quantity allows, not what runs happened to give: accuracies and ρ(V) in
  [0, 1] (ρ is a distance from the origin to a hull of unit vectors), sizes and counts >= 0 or >= 1,
  times >= 0; margins, losses ratios and slopes are only required to be numbers (a margin is
  negative where a probe failed; a slope or a ratio has no bound worth declaring).
"""

from __future__ import annotations

import json
import math
from numbers import Integral, Real

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

__all__ = ["SCHEMAS", "TableSchemaError", "validate_table", "empty_table", "schema_columns"]


class TableSchemaError(ValueError):
    """A table does not match its declared schema; the message names the table and every bad column."""


# --------------------------------------------------------------------------- element types


def _is_int(x) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, Integral):
        return True
    return isinstance(x, Real) and math.isfinite(float(x)) and float(x).is_integer()


def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _is_bool(x) -> bool:
    return isinstance(x, bool) or type(x).__name__ == "bool_"  # numpy.bool_ without importing numpy here


def _is_json_object(x) -> bool:
    if not isinstance(x, str):
        return False
    try:
        return isinstance(json.loads(x), dict)
    except ValueError:
        return False


_TYPES = {
    "int": pa.Check(lambda s: s.map(_is_int), name="integer"),
    "number": pa.Check(lambda s: s.map(_is_number), name="number"),
    "str": pa.Check(lambda s: s.map(lambda x: isinstance(x, str)), name="string"),
    "bool": pa.Check(lambda s: s.map(_is_bool), name="boolean"),
    "json": pa.Check(lambda s: s.map(_is_json_object), name="JSON object"),
}

GE0, GE1, UNIT = pa.Check.ge(0), pa.Check.ge(1), pa.Check.in_range(0, 1)


def _col(kind: str, *checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column(None, checks=[_TYPES[kind], *checks], nullable=nullable)


def _one_of(*values: str) -> pa.Check:
    return pa.Check.isin(list(values))


# --------------------------------------------------------------------------- columns

# The fact set a row was measured on (factmlp.tables.JOB_COLUMNS and the method's settings)
_FACT_SET = {
    "method": _col("str"), "family": _col("str"), "d": _col("int", GE1), "n_facts": _col("int", GE1),
    "n_values": _col("int", GE1), "seed": _col("int", GE0), "settings": _col("json"),
}
_SIZE_NAMES = _one_of("width", "code_dim", "n_buckets")

# factmlp.capacity.capacity_tables: one summary row per (method, fact set) ...
_CAPACITY_JOB = {
    **_FACT_SET,
    "found": _col("bool"), "min_width": _col("int", GE1, nullable=True),
    "param_count": _col("int", GE1, nullable=True), "accuracy": _col("number", UNIT, nullable=True),
    "min_margin": _col("number", nullable=True), "n_probes": _col("int", GE0), "seconds": _col("number", GE0),
    "size_name": _col("str", _SIZE_NAMES), "hidden": _col("int", GE0, nullable=True),
    "variant": _col("str", nullable=True), "max_probed_params": _col("int", GE0),
    "code_dim": _col("int", GE0, nullable=True),
}
# ... and one row per probe of its search
_CAPACITY_PROBES = {
    **_FACT_SET,
    "width": _col("int", GE1), "param_count": _col("int", GE1), "success": _col("bool"),
    "accuracy": _col("number", UNIT, nullable=True), "min_margin": _col("number", nullable=True),
    "seconds": _col("number", GE0), "status": _col("str", _one_of("ok", "diverged", "encoder-fit-error")),
    "hidden": _col("int", GE0), "variant": _col("str", nullable=True), "code_dim": _col("int", GE0, nullable=True),
}
# factmlp.bits.add_bits_columns (rule aggregate_capacity)
_BITS = {
    "bits": _col("number", GE0), "bits_basis": _col("str"), "bits_per_param": _col("number", GE0, nullable=True),
    "bits_per_param_max": _col("number", GE0, nullable=True),
}
# factmlp.decodability.summarize, keyed by the fact set
_RHO = {
    "family": _col("str"), "d": _col("int", GE1), "n_facts": _col("int", GE1), "seed": _col("int", GE0),
    "rho": _col("number", UNIT), "rho_p05": _col("number", UNIT), "rho_median": _col("number", UNIT),
    "rho_mean": _col("number", UNIT), "rho_max_gap": _col("number", GE0), "n_values": _col("int", GE1),
    "n_infeasible": _col("int", GE0),
}
# factmlp.usability: one row per (size, schedule) of a fact set
_USABILITY_JOB = {
    "method": _col("str"), "variant": _col("str", nullable=True), "family": _col("str"), "d": _col("int", GE1),
    "n_facts": _col("int", GE1), "seed": _col("int", GE0), "settings": _col("json"),
    "status": _col("str", _one_of("ok", "capacity_not_found")),
}
# measured only where the capacity search stored the set (status ok; a capacity_not_found row is empty there)
_USABILITY_MEASURED = {
    "capacity_size": _col("int", GE1, nullable=True), "capacity_params": _col("int", GE1, nullable=True),
    "size_name": _col("str", _SIZE_NAMES, nullable=True), "size": _col("int", GE1, nullable=True),
    "multiplier": _col("number", GE0, nullable=True),
    "grid": _col("str", _one_of("both", "multipliers", "span"), nullable=True),
    "hidden": _col("int", GE1, nullable=True),
    "params": _col("int", GE1, nullable=True), "storage_accuracy": _col("number", UNIT, nullable=True),
    "storage_accuracy_mlp1": _col("number", UNIT, nullable=True), "min_margin": _col("number", nullable=True),
    "lipschitz_jacobian": _col("number", GE0, nullable=True), "lipschitz_bound": _col("number", GE0, nullable=True),
    "output_gain": _col("number", GE0, nullable=True), "build_seconds": _col("number", GE0, nullable=True),
    "schedule": _col("str", _one_of("insert_then_train", "pretrain_then_insert"), nullable=True),
    "fit_recall": _col("number", UNIT, nullable=True), "usability": _col("number", UNIT, nullable=True),
    "train_steps": _col("int", GE0, nullable=True), "train_seconds": _col("number", GE0, nullable=True),
}
_USABILITY_JOB = {**_USABILITY_JOB, **_USABILITY_MEASURED}
# factmlp.editing.experiment: one row per (edit batch, editor, hyperparameters)
_EDITING = {
    "method": _col("str"), "seed": _col("int", GE0), "fact_mlp_method": _col("str"),
    "fraction": _col("number", pa.Check.in_range(0, 1, include_min=False)), "n_edits": _col("int", GE1),
    "n_preserved": _col("int", GE0), "n_changed": _col("int", GE0), "editor": _col("str"),
    "hyperparameters": _col("json"), "seconds": _col("number", GE0), "efficacy": _col("number", UNIT),
    "paraphrase": _col("number", UNIT), "specificity": _col("number", UNIT),
    "paraphrase_unseen": _col("number", UNIT), "specificity_paraphrase": _col("number", UNIT),
    "nonfact_ppl_ratio": _col("number", GE0), "score_gm": _col("number", UNIT), "score_hm": _col("number", UNIT),
    "update_norm": _col("number", GE0, nullable=True), "null_space_rank": _col("number", GE0, nullable=True),
}
# the base model an editing job edits (rule edit_base)
_EDITING_BASE = {
    "method": _col("str"), "seed": _col("int", GE0), "fact_mlp_method": _col("str"), "size": _col("int", GE1),
    "hidden": _col("int", GE1), "params": _col("int", GE1), "d": _col("int", GE1), "n_subjects": _col("int", GE1),
    "n_objects": _col("int", GE1), "base_steps": _col("int", GE0), "base_seconds": _col("number", GE0),
    "base_train_accuracy": _col("number", UNIT), "base_paraphrase_accuracy": _col("number", UNIT),
    "base_unseen_accuracy": _col("number", UNIT), "base_nonfact_ce": _col("number", GE0),
    "fact_mlp_storage": _col("number", UNIT), "settings": _col("json"),
}
_EDITING_BEST = {
    **_EDITING,
    "base_train_accuracy": _col("number", UNIT), "base_paraphrase_accuracy": _col("number", UNIT),
    "base_unseen_accuracy": _col("number", UNIT), "fact_mlp_storage": _col("number", UNIT),
}
# factmlp.editing.sequential: one row per (editor, hyperparameters, round)
_EDITING_SEQUENTIAL = {
    "method": _col("str"), "seed": _col("int", GE0), "fact_mlp_method": _col("str"), "batch": _col("int", GE1),
    "rounds": _col("int", GE1), "round": _col("int", GE1), "n_edited": _col("int", GE1),
    "n_unedited": _col("int", GE1), "n_preserved": _col("int", GE1), "editor": _col("str"),
    "hyperparameters": _col("json"), "seconds": _col("number", GE0), "peak_rss_mib": _col("number", GE0),
    **{k: _EDITING[k] for k in ("efficacy", "paraphrase", "specificity", "paraphrase_unseen", "specificity_paraphrase",
                                "nonfact_ppl_ratio", "score_gm", "score_hm", "update_norm", "null_space_rank")},
}
# factmlp.nichani.associative: one capacity search of a memory ...
_NICHANI_MEMORY = {
    "family": _col("str", _one_of("linear", "mlp")), "memory": _col("str"), "d": _col("int", GE1),
    "m": _col("int", GE1), "seed": _col("int", GE0), "axis_params": _col("int", GE1), "found": _col("bool"),
    "n_stored": _col("int", GE1, nullable=True), "n_failed": _col("int", GE1, nullable=True),
    "at_n_max": _col("bool"), "param_count": _col("int", GE1, nullable=True), "n_probes": _col("int", GE0),
    "seconds": _col("number", GE0),
    "settings": _col("json"),
}
# ... and its probes
_NICHANI_MEMORY_PROBES = {
    "family": _col("str", _one_of("linear", "mlp")), "memory": _col("str"), "d": _col("int", GE1),
    "m": _col("int", GE1), "seed": _col("int", GE0), "n": _col("int", GE1), "accuracy": _col("number", UNIT),
    "min_margin": _col("number", nullable=True), "success": _col("bool"),
    "param_count": _col("int", GE1, nullable=True), "train_steps": _col("int", GE0),
    "status": _col("str", _one_of("ok", "diverged")), "seconds": _col("number", GE0),
}
# factmlp.nichani.recall_task: the 1-layer model's parameter split
_RECALL_MODEL = {
    "d": _col("int", GE1), "heads": _col("int", GE1), "head_dim": _col("int", GE1), "mlp_width": _col("int", GE0),
}
_RECALL_FIT = {
    "accuracy": _col("number", UNIT), "best_accuracy": _col("number", UNIT), "stored": _col("bool"),
    "steps": _col("int", GE0), "lr": _col("number", GE0), "final_loss": _col("number", GE0),
    "seconds": _col("number", GE0), "lrs_tried": _col("int", GE1),
}
_PARAMS = {"attention_params": _col("int", GE0), "mlp_params": _col("int", GE0), "param_count": _col("int", GE1)}
_NICHANI_RECALL = {
    **_RECALL_MODEL, **_PARAMS, "seed": _col("int", GE0), "found": _col("bool"),
    "size": _col("int", GE1, nullable=True), "n_facts": _col("int", GE1, nullable=True),
    "size_failed": _col("int", GE1, nullable=True), "at_size_max": _col("bool"),
    "n_probes": _col("int", GE0), "seconds": _col("number", GE0),
}
_NICHANI_RECALL_PROBES = {
    **_RECALL_MODEL, "seed": _col("int", GE0), "size": _col("int", GE1), "n_facts": _col("int", GE1),
    "success": _col("bool"), **_RECALL_FIT,
}
_NICHANI_TRADEOFF = {**_RECALL_MODEL, **_PARAMS, "n_facts": _col("int", GE1), "seed": _col("int", GE0), **_RECALL_FIT}
# factmlp.nichani.sequential: the loss curve and the stages read off it
_SEQ_KEY = {"model": _col("str", _one_of("linear", "softmax")), "seed": _col("int", GE0), "lr": _col("number", GE0)}
_NICHANI_SEQUENTIAL = {
    **_SEQ_KEY, "step": _col("int", GE0), "loss": _col("number", GE0), "relation_loss": _col("number", GE0),
    "subject_loss": _col("number", GE0), "accuracy": _col("number", UNIT), "seconds": _col("number", GE0),
}
_NICHANI_STAGES = {
    **_SEQ_KEY, "relation_step": _col("int", GE0, nullable=True), "fact_step": _col("int", GE0, nullable=True),
    "hallucination_steps": _col("int", GE0, nullable=True), "plateau_loss": _col("number", GE0, nullable=True),
    "relation_only_loss": _col("number", GE0), "uniform_loss": _col("number", GE0),
}
# factmlp.quantize.quantized_tables: one row per (method, fact set, weight format)
_QUANTIZED_JOB = {
    **_FACT_SET,
    "format": _col("str"), "format_bits": _col("int", GE1), "scale_dtype": _col("str"), "bits": _col("number", GE0),
    "float_min_width": _col("int", GE1, nullable=True), "float_param_count": _col("int", GE1, nullable=True),
    "at_float_min_n_correct": _col("int", GE0, nullable=True),
    "at_float_min_accuracy": _col("number", UNIT, nullable=True),
    "at_float_min_margin": _col("number", nullable=True), "at_float_min_stores": _col("bool", nullable=True),
    "found": _col("bool"), "min_width": _col("int", GE1, nullable=True), "hidden": _col("int", GE0, nullable=True),
    "param_count": _col("int", GE1, nullable=True), "variant": _col("str", nullable=True),
    "accuracy": _col("number", UNIT, nullable=True), "min_margin": _col("number", nullable=True),
    "max_probed_params": _col("int", GE0), "n_probes": _col("int", GE0), "weight_bits": _col("int", GE0, nullable=True),
    "bits_per_param": _col("number", GE0, nullable=True), "bits_per_weight_bit": _col("number", GE0, nullable=True),
    "seconds": _col("number", GE0),
}
# Snakemake's benchmark: files (snakemake 9.27.1's columns), one row per job; the cached rules write
# the same row themselves (factmlp.jobstats)
_BENCHMARK_JOB = {
    "s": _col("number", GE0), "h:m:s": _col("str"), "max_rss": _col("number", nullable=True),
    "max_vms": _col("number", nullable=True), "max_uss": _col("number", nullable=True),
    "max_pss": _col("number", nullable=True), "io_in": _col("number", nullable=True),
    "io_out": _col("number", nullable=True), "mean_load": _col("number", nullable=True),
    "cpu_time": _col("number", nullable=True),
}
_BENCHMARKS = {"job": _col("str"), "rule": _col("str"), **_BENCHMARK_JOB}
# factmlp.jobstats.runtime_summary: one row per rule
_RUNTIMES = {
    "rule": _col("str"), "jobs": _col("int", GE1), "wall_s_median": _col("number", GE0),
    "wall_s_max": _col("number", GE0), "wall_s_total": _col("number", GE0),
    "cpu_s_total": _col("number", GE0, nullable=True), "max_rss_mib": _col("number", GE0, nullable=True),
}
# factmlp.claims: one row per claim
_CLAIMS = {
    "claim": _col("str", pa.Check.str_matches(r"^[A-Z]\d+$")), "statement": _col("str"), "source": _col("str"),
    "paper_value": _col("str"), "measured_value": _col("str"), "scale": _col("str"),
    "pass": _col("str", _one_of("true", "false", "n/a")), "evidence": _col("str"), "design": _col("str"),
}
_SLOPES = {
    "sweep": _col("str"), "method": _col("str"), "family": _col("str"), "n_points": _col("int", GE1),
    "n_facts_min": _col("int", GE1), "n_facts_max": _col("int", GE1), "slope": _col("number"),
}
_BOUNDS = _one_of("=", ">=", "<=", "?", "")


def _ratio_columns(tag: str) -> dict:
    """One builder class's columns in closed_form_vs_gd.tsv (factmlp.claims.capacity.closed_form_points):
    empty where the class was not measured at the point."""
    return {f"{tag}_ratio": _col("number", GE0, nullable=True), f"{tag}_ratio_min": _col("number", GE0, nullable=True),
            f"{tag}_ratio_max": _col("number", GE0, nullable=True), f"{tag}_bound": _col("str", _BOUNDS),
            tag: _col("str", nullable=True), f"{tag}_params": _col("number", GE1, nullable=True),
            f"{tag}_seconds": _col("number", GE0, nullable=True), f"{tag}_variant": _col("str", nullable=True)}


_CLOSED_FORM_VS_GD = {
    "family": _col("str"), "d": _col("int", GE1), "n_facts": _col("int", GE1),
    "gd_params": _col("number", GE1, nullable=True), "gd_seconds": _col("number", GE0, nullable=True),
    "gd_bound": _col("str", _BOUNDS, nullable=True),
    **_ratio_columns("closed_form"), **_ratio_columns("fitted"), **_ratio_columns("v2"),
}


def _complete_where(flag: str, value, columns: list[str]) -> pa.Check:
    """Rows whose ``flag`` column equals ``value`` have every one of ``columns`` (a found capacity
    has its size; an ``ok`` usability row its measurements)."""
    def check(df: pd.DataFrame) -> pd.Series:
        if flag not in df:
            return pd.Series(True, index=df.index)
        on = df[flag].map(lambda x: x == value or str(x).lower() == str(value).lower())
        present = [c for c in columns if c in df]
        return ~on | df[present].notna().all(axis=1)

    return pa.Check(check, name=f"rows with {flag} = {value} have {', '.join(columns)}")


_ROW_CHECKS = {
    "capacity_job": [_complete_where("found", True, ["min_width", "param_count", "accuracy", "hidden"])],
    "usability_job": [_complete_where("status", "ok", [c for c in _USABILITY_MEASURED if c != "min_margin"])],
    "nichani_memory": [_complete_where("found", True, ["n_stored", "param_count"])],
    "nichani_memory_probes": [_complete_where("status", "ok", ["param_count", "min_margin"])],
    "nichani_recall": [_complete_where("found", True, ["size", "n_facts"])],
    "quantized_job": [_complete_where("found", True, ["min_width", "param_count", "accuracy", "bits_per_param"])],
}


def _schema(name: str, columns: dict, checks: list[pa.Check] = ()) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(columns, checks=list(checks), name=name, strict=True, ordered=False)


_SWEEP = {"sweep": _col("str")}
#: Every results table by name: ``<stage>_job`` for a job's table where its aggregate adds columns;
#: otherwise the aggregate's file name in results/tables/ (a job's table of the same kind uses it too).
_AGGREGATES_OF = {"capacity": "capacity_job", "usability": "usability_job", "quantized": "quantized_job",
                  "nichani_linear": "nichani_memory", "nichani_mlp": "nichani_memory"}
SCHEMAS: dict[str, pa.DataFrameSchema] = {name: _schema(name, cols, _ROW_CHECKS.get(_AGGREGATES_OF.get(name, name), ()))
                                          for name, cols in {
    "capacity_job": _CAPACITY_JOB,
    "capacity": {**_CAPACITY_JOB, **_SWEEP, **_BITS},
    "capacity_probes": _CAPACITY_PROBES,
    "rho": _RHO,
    "usability_job": _USABILITY_JOB,
    "usability": {**_USABILITY_JOB, **_SWEEP, "figure": _col("str", _one_of("size", "tradeoff"))},
    "editing": _EDITING,
    "editing_base": _EDITING_BASE,
    "editing_best": _EDITING_BEST,
    "editing_sequential": _EDITING_SEQUENTIAL,
    "editing_sequential_best": _EDITING_SEQUENTIAL,
    "nichani_linear": _NICHANI_MEMORY,
    "nichani_mlp": _NICHANI_MEMORY,
    "nichani_memory_probes": _NICHANI_MEMORY_PROBES,
    "nichani_recall": _NICHANI_RECALL,
    "nichani_recall_probes": _NICHANI_RECALL_PROBES,
    "nichani_tradeoff": _NICHANI_TRADEOFF,
    "nichani_sequential": _NICHANI_SEQUENTIAL,
    "nichani_stages": _NICHANI_STAGES,
    "quantized_job": _QUANTIZED_JOB,
    "quantized": {**_SWEEP, **_QUANTIZED_JOB},
    "benchmark_job": _BENCHMARK_JOB,
    "benchmarks": _BENCHMARKS,
    "runtimes": _RUNTIMES,
    "claims": _CLAIMS,
    "slopes": _SLOPES,
    "closed_form_vs_gd": _CLOSED_FORM_VS_GD,
}.items()}


def schema_columns(name: str) -> list[str]:
    """The declared columns of table ``name``, in declaration order."""
    return list(_get(name).columns)


def empty_table(name: str) -> pd.DataFrame:
    """A table of ``name`` with its declared columns and no rows (e.g. the capacity tables of a
    fact set that no method is searched on)."""
    return pd.DataFrame(columns=schema_columns(name))


def _get(name: str) -> pa.DataFrameSchema:
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(f"no schema named {name!r}; declared: {', '.join(sorted(SCHEMAS))}") from None


def _describe(errors: pd.DataFrame, limit: int = 5) -> list[str]:
    """One line per failing column (or table-level problem) of pandera's failure cases."""
    lines = []
    for (column, check), g in errors.groupby(["column", "check"], dropna=False, sort=True):
        cases = [repr(x) for x in g["failure_case"].tolist()[:limit]]
        more = f" (+{len(g) - limit} more)" if len(g) > limit else ""
        rows = [int(i) for i in g["index"].dropna().tolist()[:limit]] if "index" in g else []
        where = f" at rows {rows}" if rows else ""
        if check == "column_in_dataframe":
            lines.append(f"missing column(s): {', '.join(cases)}{more}")
        elif check == "column_in_schema":
            lines.append(f"undeclared column(s): {', '.join(cases)}{more} (declare them in factmlp.schemas)")
        else:
            col = f"column {column!r}" if isinstance(column, str) and column else "table"
            lines.append(f"{col}: {check}: {', '.join(cases)}{more}{where}")
    return lines


def validate_table(df: pd.DataFrame, name: str, *, columns: list[str] | None = None,
                   source: str | None = None) -> pd.DataFrame:
    """``df`` unchanged when it matches schema ``name``; else :class:`TableSchemaError` naming the
    table (and ``source``, e.g. the file being written or read) and each bad column with its
    failing check and values. ``columns``: check only these declared columns (present, with their
    types and ranges) and allow any other: what a reader of the table needs, e.g. a figure."""
    schema = _get(name)
    if columns is not None:
        unknown = sorted(set(columns) - set(schema.columns))
        if unknown:
            raise KeyError(f"table {name!r} declares no column(s) {unknown}")
        schema = pa.DataFrameSchema({c: schema.columns[c] for c in columns}, name=name, strict=False)
    try:
        schema.validate(df, lazy=True, inplace=True)
    except SchemaErrors as exc:
        lines = _describe(exc.failure_cases)
    except SchemaError as exc:  # pragma: no cover - lazy validation collects into SchemaErrors
        lines = [str(exc)]
    else:
        return df
    where = f" ({source})" if source else ""
    raise TableSchemaError(f"table {name!r}{where} does not match its schema (factmlp.schemas):\n  "
                           + "\n  ".join(lines))
