"""Tidy tables: per-job rows, their concatenation, and log-log slope fits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["JOB_COLUMNS", "job_row", "concat_tsv", "loglog_slope", "settings_json", "as_bool", "TIMING_COLUMNS",
           "RUN_RECORD_TABLES", "is_timing_column", "result_tables", "compare_runs"]


def as_bool(s: pd.Series) -> pd.Series:
    """A table's boolean column (e.g. ``found``) as bools, whether pandas read it as bool, as numbers
    or as text (``True``/``False``, ``1``/``0``); missing is False."""
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(s):
        return s.fillna(0).astype(bool)
    return s.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])


# the leading columns of every capacity row (summary or probe): which job and method it came from
JOB_COLUMNS = ["method", "family", "d", "n_facts", "n_values", "seed", "settings"]


def settings_json(settings: dict) -> str:
    """A canonical JSON string of a settings dict (sorted keys), stored with every result row."""
    return json.dumps(settings, sort_keys=True, default=str)


def job_row(meta: dict, result: dict) -> pd.DataFrame:
    """One-row frame: the job's identifying columns first, then its results."""
    return pd.DataFrame([{**meta, **result}])


def concat_tsv(paths: list[str | os.PathLike], *, tags: dict[str, list[dict]] | None = None) -> pd.DataFrame:
    """Concatenate tab-separated tables.

    ``tags`` maps a path to a list of column dicts: the rows of that file are repeated once per
    dict with those columns added (e.g. a fact set shared by two sweeps appears under both).
    """
    frames = []
    for path in paths:
        df = pd.read_csv(path, sep="\t")
        for extra in (tags or {}).get(str(path), [{}]):
            frames.append(df.assign(**extra))
    if not frames:
        raise ValueError("no tables to concatenate")
    return _integer_columns(pd.concat(frames, ignore_index=True))


def select_members(table: pd.DataFrame, members, *, source: str = "source") -> pd.DataFrame:
    """Rows of ``table`` named by ``members``, a list of ``(sweep, method, path)``: the rows of
    ``method`` read from ``path`` (column ``source``, e.g. added by :func:`concat_tsv`'s tags), tagged with
    ``sweep``; a row asked for by two sweeps appears under both. A member with no row raises."""
    frames = []
    for sweep, method, path in members:
        rows = table[(table[source] == str(path)) & (table["method"] == method)]
        if rows.empty:
            raise ValueError(f"{path} has no row for method {method!r} (asked by sweep {sweep!r})")
        frames.append(rows.assign(sweep=sweep))
    return pd.concat(frames, ignore_index=True).drop(columns=[source])


def _integer_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding only whole numbers (and NaN) become nullable Int64 (no ``88.0``)."""
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_float_dtype(s) and s.notna().any():
            vals = s.dropna()
            if (vals == vals.round()).all() and vals.abs().max() < 2**53:
                df[col] = s.astype("Int64")
    return df


def loglog_slope(x, y) -> float:
    """Least-squares slope of log(y) on log(x) (NaN with fewer than two finite positive points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2 or np.ptp(np.log(x[ok])) == 0:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


# Columns that measure a job (wall time, memory, I/O) rather than hold a result: two runs of the same
# code and seeds agree on every other column (Snakemake ``benchmark:`` files' names, and ours).
TIMING_COLUMNS = ("seconds", "time", "s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                  "mean_load", "cpu_time", "peak_rss_mib")
# Tables that only record how the jobs ran (every column is a measurement of the run).
RUN_RECORD_TABLES = ("benchmarks.tsv", "runtimes.tsv")


# a duration quoted in a claim's text: "2.0 s", "12s", "25.6 min" (not "3 seeds")
_TIME_IN_TEXT = r"\d+(?:\.\d+)? ?(?:s|min)\b"


def is_timing_column(column: str) -> bool:
    """Whether ``column`` measures a job rather than holding a result (:data:`TIMING_COLUMNS`, or a name
    ending in ``seconds`` or ``_s``)."""
    return column in TIMING_COLUMNS or column.endswith("seconds") or column.endswith("_s")


def result_tables(run: str | os.PathLike) -> dict[str, str]:
    """name -> path of every results table of a run or snapshot folder (``claims.tsv`` and
    ``tables/*.tsv``, the run records excepted)."""
    run = Path(run)
    paths = ([run / "claims.tsv"] if (run / "claims.tsv").is_file() else []) + sorted((run / "tables").glob("*.tsv"))
    return {("tables/" if p.parent.name == "tables" else "") + p.name: str(p) for p in paths
            if p.name not in RUN_RECORD_TABLES}


def compare_runs(a: str | os.PathLike, b: str | os.PathLike) -> dict:
    """Compare two runs' (or snapshots') results tables as text, timing columns dropped.

    Returns ``{"equal": [names], "different": {name: reason}, "only_a": [names], "only_b": [names]}``;
    a reason names the columns only one side has, a row count that differs, and the columns whose
    values differ (with the first differing row); when the column sets differ but the rows match, the
    columns both have are still compared (a table that only gained columns says "shared columns
    equal"). Values are compared exactly as written (the same
    code writes the same text), so any change of a result shows; in ``claims.tsv``, whose text quotes
    build times, every number of seconds or minutes in the text is masked first.
    """
    ta, tb = result_tables(a), result_tables(b)

    def read(path: str) -> pd.DataFrame:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        if Path(path).name == "claims.tsv":  # its text quotes build times ("built faster: 2.0 s vs GD 5.6 s")
            df = df.apply(lambda col: col.str.replace(_TIME_IN_TEXT, "#", regex=True))
        return df

    out: dict = {"equal": [], "different": {}, "only_a": sorted(set(ta) - set(tb)), "only_b": sorted(set(tb) - set(ta))}
    for name in sorted(set(ta) & set(tb)):
        x, y = read(ta[name]), read(tb[name])
        xc = [c for c in x.columns if not is_timing_column(c)]
        yc = [c for c in y.columns if not is_timing_column(c)]
        shared = [c for c in xc if c in set(yc)]
        reasons = []
        if set(xc) != set(yc):
            reasons.append(f"columns only in a: {sorted(set(xc) - set(yc))}, only in b: {sorted(set(yc) - set(xc))}")
        elif xc != yc:
            reasons.append("same columns in another order")
        if len(x) != len(y):
            reasons.append(f"{len(x)} rows vs {len(y)}")
        else:
            diff = [c for c in shared if not x[c].equals(y[c])]
            if diff:
                row = int((x[diff[0]] != y[diff[0]]).to_numpy().argmax())
                reasons.append(f"values differ in {diff} (first: row {row} {diff[0]}="
                               f"{x[diff[0]].iloc[row]!r} vs {y[diff[0]].iloc[row]!r})")
            elif reasons:  # a table that gained (or lost) columns: are the ones both have the same?
                reasons.append(f"the {len(shared)} shared columns equal")
        if reasons:
            out["different"][name] = "; ".join(reasons)
        else:
            out["equal"].append(name)
    return out
