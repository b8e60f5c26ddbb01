"""Declared table schemas (factmlp.schemas): every table the pipeline writes names one, a bad table is
refused naming its column and nothing is written, and a bad table fails the rule that writes it."""

from __future__ import annotations

import ast
import json
import shutil

import pandas as pd
import pytest

from conftest import ROOT, output_of, run_snakemake
from factmlp.io import write_tsv
from factmlp.schemas import SCHEMAS, TableSchemaError, empty_table, schema_columns, validate_table

SCRIPTS = ROOT / "scripts"
SMOKE = ROOT / "docs" / "results" / "smoke"


def _write_calls():
    """(script, call) of every write_tsv(...) in the Snakemake adapters."""
    for path in sorted(SCRIPTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "write_tsv":
                yield path.name, node


def _schema_names(node: ast.Call) -> list[str] | None:
    """The schema names a write_tsv call can use: a literal, or an f-string over the wildcards whose
    values are known (nichani parts); None when it names none."""
    kw = next((k.value for k in node.keywords if k.arg == "schema"), None)
    if kw is None:
        return None
    if isinstance(kw, ast.Constant):
        return [kw.value]
    if isinstance(kw, ast.JoinedStr):  # f"nichani_{...}": the memory families and the Nichani parts
        prefix = "".join(v.value for v in kw.values if isinstance(v, ast.Constant))
        return [n for n in SCHEMAS if n.startswith(prefix) and not n.endswith("_probes")]
    if isinstance(kw, ast.Attribute) and kw.attr == "table":  # replay_table: any aggregated table
        return ["capacity", "capacity_probes", "rho", "usability", "editing", "editing_best", "quantized"]
    raise AssertionError(f"unexpected schema expression {ast.dump(kw)}")


def test_every_table_a_script_writes_names_a_declared_schema():
    calls = list(_write_calls())
    assert len(calls) >= 25, len(calls)  # the scan sees the adapters
    unnamed = [f"{name}:{node.lineno}" for name, node in calls if _schema_names(node) is None]
    assert not unnamed, f"write_tsv without schema= in {unnamed}"
    for name, node in calls:
        for schema in _schema_names(node):
            assert schema in SCHEMAS, f"{name}:{node.lineno} names undeclared schema {schema!r}"


# --------------------------------------------------------------------------- rows that can fail


def _capacity_row(**over) -> dict:
    row = {"method": "gd", "family": "spherical", "d": 16, "n_facts": 32, "n_values": 32, "seed": 0,
           "settings": json.dumps({"lr": 0.01}), "found": True, "min_width": 8, "param_count": 400,
           "accuracy": 1.0, "min_margin": 0.01, "n_probes": 5, "seconds": 1.5, "size_name": "width", "hidden": 8,
           "variant": None, "max_probed_params": 800, "code_dim": None}
    return {**row, **over}


def _refusal(df: pd.DataFrame, name: str) -> str:
    with pytest.raises(TableSchemaError) as err:
        validate_table(df, name)
    return str(err.value)


def test_a_valid_capacity_row_passes_and_is_not_changed():
    df = pd.DataFrame([_capacity_row(), _capacity_row(found=False, min_width=None, param_count=None,
                                                      accuracy=None, hidden=None, min_margin=None)])
    before = df.copy()
    assert validate_table(df, "capacity_job") is df
    pd.testing.assert_frame_equal(df, before)  # no coercion: what is written is what was computed


@pytest.mark.parametrize("column, value, check", [
    ("accuracy", 1.5, "in_range"),  # an accuracy above 1
    ("d", 2.5, "integer"),  # a dimension that is not an integer
    ("d", 0, "greater_than_or_equal_to(1)"),
    ("n_probes", "five", "integer"),  # a string where a count belongs
    ("seed", None, "not_nullable"),
    ("settings", "{not json", "JSON object"),
    ("size_name", "depth", "isin"),
    ("found", "yes", "boolean"),
])
def test_a_bad_value_is_refused_naming_its_column_and_check(column, value, check):
    msg = _refusal(pd.DataFrame([_capacity_row(**{column: value})]), "capacity_job")
    assert f"column {column!r}" in msg and check in msg and "capacity_job" in msg, msg


def test_a_missing_or_undeclared_column_is_named():
    df = pd.DataFrame([_capacity_row()]).drop(columns="min_margin").assign(margin=0.1)
    msg = _refusal(df, "capacity_job")
    assert "missing column(s): 'min_margin'" in msg and "undeclared column(s): 'margin'" in msg, msg


def test_a_found_capacity_without_its_size_is_refused_but_a_failed_one_passes():
    msg = _refusal(pd.DataFrame([_capacity_row(min_width=None)]), "capacity_job")
    assert "rows with found = True have" in msg, msg
    validate_table(pd.DataFrame([_capacity_row(found=False, min_width=None, param_count=None, accuracy=None,
                                               hidden=None)]), "capacity_job")


def test_an_integer_column_read_back_with_gaps_is_still_integer():
    # pandas reads an integer column with an empty cell as float: 8.0 is an integer, 8.5 is not
    df = pd.DataFrame([_capacity_row(min_width=8.0), _capacity_row(found=False, min_width=float("nan"),
                                                                   param_count=None, accuracy=None, hidden=None)])
    validate_table(df, "capacity_job")
    assert "column 'min_width'" in _refusal(df.assign(min_width=[8.5, float("nan")]), "capacity_job")


def test_claims_pass_is_true_false_or_na():
    row = {c: "x" for c in schema_columns("claims")} | {"claim": "C1", "pass": "n/a"}
    validate_table(pd.DataFrame([row]), "claims")
    assert "column 'pass'" in _refusal(pd.DataFrame([row | {"pass": "maybe"}]), "claims")
    assert "column 'claim'" in _refusal(pd.DataFrame([row | {"claim": "claim 1"}]), "claims")


def test_empty_table_has_the_declared_columns_and_validates():
    df = empty_table("capacity_probes")
    assert list(df.columns) == schema_columns("capacity_probes") and df.empty
    validate_table(df, "capacity_probes")


def test_an_aggregate_schema_is_its_jobs_columns_plus_what_its_rule_adds():
    assert set(schema_columns("capacity")) - set(schema_columns("capacity_job")) == {
        "sweep", "bits", "bits_basis", "bits_per_param", "bits_per_param_max"}
    assert set(schema_columns("usability")) - set(schema_columns("usability_job")) == {"sweep", "figure"}


def test_write_tsv_writes_nothing_when_the_table_is_refused(tmp_path):
    path = tmp_path / "capacity.tsv"
    with pytest.raises(TableSchemaError, match="column 'accuracy'"):
        write_tsv(pd.DataFrame([_capacity_row(accuracy=-0.1)]), path, schema="capacity_job")
    assert list(tmp_path.iterdir()) == []  # neither the table nor a temporary file
    write_tsv(pd.DataFrame([_capacity_row()]), path, schema="capacity_job")
    assert pd.read_csv(path, sep="\t")["min_width"].tolist() == [8]


def test_unknown_schema_names_the_declared_ones():
    with pytest.raises(KeyError, match="declared: .*capacity"):
        validate_table(pd.DataFrame(), "capacities")


@pytest.mark.parametrize("table", sorted(p.stem for p in (SMOKE / "tables").glob("*.tsv")))
def test_the_committed_smoke_tables_match_their_schemas(table):
    """The smoke snapshot's tables were written before the schemas existed: an independent check that
    each declared schema fits what the pipeline really writes (capacity.tsv predates the bits
    columns, which a replay adds)."""
    df = pd.read_csv(SMOKE / "tables" / f"{table}.tsv", sep="\t")
    columns = None
    if table == "capacity" and "bits" not in df:
        from factmlp.bits import add_bits_columns

        df = add_bits_columns(df, "permutation")
    if table == "benchmarks" and "rule" not in df:  # before the cached rules' own records
        columns = [c for c in schema_columns(table) if c != "rule"]
    validate_table(df, table, columns=columns, source=f"docs/results/smoke/tables/{table}.tsv")


@pytest.mark.slow
def test_a_bad_table_fails_the_rule_that_writes_it_naming_the_column(tmp_path):
    """A replay of a snapshot whose rho table holds rho = 1.5: rule replay_table fails, its log names
    the column, and results/tables/rho.tsv is not written."""
    snap = tmp_path / "snap"
    shutil.copytree(SMOKE, snap)
    rho = pd.read_csv(snap / "tables" / "rho.tsv", sep="\t")
    rho.loc[0, "rho"] = 1.5
    rho.to_csv(snap / "tables" / "rho.tsv", sep="\t", index=False)
    work = tmp_path / "work"
    proc = run_snakemake(work, "--cores", "1", "results/tables/rho.tsv", "--configfile", snap / "config.yaml",
                         "--config", f"replay={snap}", timeout=300)
    out = output_of(proc)
    assert proc.returncode != 0 and "replay_table" in out, out
    log = (work / "logs" / "replay" / "rho.log").read_text()
    assert "column 'rho'" in log and "in_range(0, 1)" in log and "1.5" in log, log
    assert not (work / "results" / "tables" / "rho.tsv").exists()
