"""Tidy tables: per-job rows, their concatenation, and log-log slope fits."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

__all__ = ["JOB_COLUMNS", "job_row", "concat_tsv", "loglog_slope", "settings_json", "as_bool"]


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
