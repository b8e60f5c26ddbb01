"""factmlp.tables.compare_runs: two hand-written runs, every kind of difference written in by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from factmlp.tables import compare_runs, is_timing_column


def _run(root: Path, tables: dict[str, pd.DataFrame]) -> Path:
    (root / "tables").mkdir(parents=True)
    for name, df in tables.items():
        df.to_csv(root / name, sep="\t", index=False)
    return root


def _base() -> dict[str, pd.DataFrame]:
    return {"claims.tsv": pd.DataFrame({"claim": ["C1", "C2"], "pass": [True, False]}),
            "tables/capacity.tsv": pd.DataFrame({"method": ["gd", "ntk"], "param_count": [10, 20],
                                                 "seconds": [1.5, 2.5], "build_s": [0.1, 0.2]}),
            "tables/benchmarks.tsv": pd.DataFrame({"rule": ["a"], "s": [3.0]}),
            "tables/rho.tsv": pd.DataFrame({"d": [8, 16], "rho": [0.25, 0.125]})}


def test_timing_columns():
    for col in ("seconds", "build_s", "search_seconds", "max_rss", "h:m:s", "peak_rss_mib", "s"):
        assert is_timing_column(col), col
    for col in ("param_count", "rho", "success", "steps", "hidden", "min_margin"):
        assert not is_timing_column(col), col


def test_equal_but_for_timing_and_run_records(tmp_path):
    a = _run(tmp_path / "a", _base())
    other = _base()
    other["tables/capacity.tsv"][["seconds", "build_s"]] = [[9.0, 9.0], [8.0, 8.0]]
    other["tables/benchmarks.tsv"] = pd.DataFrame({"rule": ["a", "b"], "s": [1.0, 2.0]})  # a run record: ignored
    b = _run(tmp_path / "b", other)
    r = compare_runs(a, b)
    assert r == {"equal": ["claims.tsv", "tables/capacity.tsv", "tables/rho.tsv"], "different": {}, "only_a": [],
                 "only_b": []}


def test_claims_text_compares_without_its_quoted_times(tmp_path):
    """claims.tsv quotes build times in its text: they are masked; a ratio or a verdict still counts."""
    def claims(measured, passed):
        return {"claims.tsv": pd.DataFrame({"claim": ["B2"], "measured_value": [measured], "pass": [passed]})}

    ref = _run(tmp_path / "a", claims("4.0x; built faster: 2.0 s vs GD 5.6 s (3 seeds, 25.6 min)", False))
    slow = _run(tmp_path / "b", claims("4.0x; built faster: 3.1 s vs GD 12s (3 seeds, 31 min)", False))
    ratio = _run(tmp_path / "c", claims("4.1x; built faster: 2.0 s vs GD 5.6 s (3 seeds, 25.6 min)", False))
    seeds = _run(tmp_path / "d", claims("4.0x; built faster: 2.0 s vs GD 5.6 s (4 seeds, 25.6 min)", False))
    verdict = _run(tmp_path / "e", claims("4.0x; built faster: 2.0 s vs GD 5.6 s (3 seeds, 25.6 min)", True))
    assert compare_runs(ref, slow)["equal"] == ["claims.tsv"]
    for other in (ratio, seeds, verdict):
        assert list(compare_runs(ref, other)["different"]) == ["claims.tsv"], other


def test_each_kind_of_difference_is_named(tmp_path):
    a = _run(tmp_path / "a", _base())
    other = _base()
    other["tables/capacity.tsv"].loc[1, "param_count"] = 21  # one value
    other["claims.tsv"] = pd.concat([other["claims.tsv"], pd.DataFrame({"claim": ["C3"], "pass": [True]})])  # a row
    other["tables/rho.tsv"]["rho_i"] = 0.5  # a column
    other["tables/usability.tsv"] = pd.DataFrame({"x": [1]})  # a table only in b
    del other["tables/benchmarks.tsv"]
    b = _run(tmp_path / "b", other)
    (tmp_path / "a" / "tables" / "editing.tsv").write_text("x\n1\n")  # a table only in a
    r = compare_runs(a, b)
    assert r["equal"] == [] and r["only_a"] == ["tables/editing.tsv"] and r["only_b"] == ["tables/usability.tsv"]
    why = "values differ in ['param_count'] (first: row 1 param_count='20' vs '21')"
    assert r["different"]["tables/capacity.tsv"] == why
    assert r["different"]["claims.tsv"] == "2 rows vs 3"
    assert r["different"]["tables/rho.tsv"] == "columns only in a: [], only in b: ['rho_i']; the 2 shared columns equal"


def test_shared_columns_are_compared_when_a_table_gains_columns(tmp_path):
    """A table with a new column: its old columns are still checked, value by value."""
    a = _run(tmp_path / "a", _base())
    other = _base()
    other["tables/rho.tsv"]["bits"] = [1.0, 2.0]  # a new column ...
    other["tables/rho.tsv"].loc[0, "rho"] = 0.5  # ... and a changed old one
    other["tables/capacity.tsv"] = other["tables/capacity.tsv"].drop(columns="param_count")  # a lost column
    other["tables/capacity.tsv"]["method"] = ["gd", "ntk"]
    b = _run(tmp_path / "b", other)
    r = compare_runs(a, b)["different"]
    assert r["tables/rho.tsv"] == ("columns only in a: [], only in b: ['bits']; values differ in ['rho'] "
                                   "(first: row 0 rho='0.25' vs '0.5')")
    assert r["tables/capacity.tsv"] == "columns only in a: ['param_count'], only in b: []; the 1 shared columns equal"
