"""docs/claims.md's verdict table against the committed snapshots' claims tables.

The page is written by hand; the snapshots (docs/results/<scale>/claims.tsv) are written by the
pipeline. Each verdict cell of the page's table starts with the bolded verdict; it must be the one
the snapshot's row holds, and a cell that quotes the measured median must quote the table's.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_MD = ROOT / "docs" / "claims.md"
SNAPSHOTS = {"smoke": ROOT / "docs" / "results" / "smoke", "medium": ROOT / "docs" / "results" / "medium"}


def verdict_table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(header cells, {claim id: row cells}) of the first markdown table under '## Verdicts'."""
    section = text.split("## Verdicts", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip().strip("|").split("|")] for line in rows]
    header, body = split[0], [r for r in split[2:] if r]
    return header, {r[0].split()[0]: r for r in body}


def snapshot_verdicts(folder: Path) -> dict[str, str]:
    with open(folder / "claims.tsv", newline="") as fh:
        return {r["claim"]: r["pass"] for r in csv.DictReader(fh, delimiter="\t")}


def test_verdict_table_parses_a_hand_made_page():
    page = "x\n## Verdicts\n\n| claim | smoke | medium |\n|---|---|---|\n| C1 slope | **true**: 1 | **false**: 2 |\n"
    header, rows = verdict_table(page)
    assert header == ["claim", "smoke", "medium"]
    assert rows == {"C1": ["C1 slope", "**true**: 1", "**false**: 2"]}


@pytest.mark.parametrize("scale", sorted(SNAPSHOTS))
def test_claims_page_verdicts_match_the_snapshot(scale):
    folder = SNAPSHOTS[scale]
    header, rows = verdict_table(CLAIMS_MD.read_text())
    col = next(i for i, h in enumerate(header) if h.startswith(scale))
    table = snapshot_verdicts(folder)
    provenance = (folder / "provenance.tsv").read_text()
    checked = 0
    for claim, cells in rows.items():
        cell = cells[col]
        m = re.match(r"\*\*(true|false|n/a)\*\*", cell)
        if m is None:
            # a column whose run is not snapshotted yet says so in words, never with a verdict
            assert "pending" in cell, f"{scale} {claim}: cell neither a verdict nor pending: {cell!r}"
            continue
        assert claim in table, f"{claim} has a {scale} verdict on the page but no row in {folder}/claims.tsv"
        assert m.group(1) == table[claim], (
            f"{claim}: docs/claims.md says {m.group(1)} at {scale}, {folder}/claims.tsv says {table[claim]}")
        checked += 1
    if scale == "smoke":
        assert checked == len(table), "every smoke claim must have its verdict on the page"
    assert "commit" in provenance
