"""results/claims.tex and claims.md: escaping, structure and verdicts on a hand-made table."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from factmlp.claims.export import claims_latex, claims_markdown, latex_escape, verdict


def _claims():
    return pd.DataFrame([
        {"claim": "C1", "statement": "slope matches GD's", "source": "Dugan Fig 1, 2b",
         "paper_value": "|diff| <= 0.15", "measured_value": "diff +0.114 (range 0.07-0.2); per seed: 0.1, 0.2",
         "scale": "smoke", "pass": True, "design": "[direction] 4 points"},
        {"claim": "C5", "statement": "~20x -> ~4x & 100% of R^2", "source": "Fig 2c", "paper_value": "~4x",
         "measured_value": "gd_encdec/GD 13.5x", "scale": "smoke", "pass": "False", "design": "d >= 16"},
        {"claim": "C7", "statement": "Lipschitz $L$ #1 {x}", "source": "Fig 3", "paper_value": "rho < 0",
         "measured_value": "n/a: fewer than 4 storing MLPs", "scale": "smoke", "pass": None, "design": ""},
    ])


def test_latex_escape_on_every_special_character():
    assert latex_escape(r"a_b & 5% $x$ #1 {y} ~z ^2 \ <> |") == (
        r"a\_b \& 5\% \$x\$ \#1 \{y\} \textasciitilde{}z \textasciicircum{}2 \textbackslash{} "
        r"\textless{}\textgreater{} \textbar{}")


def test_verdicts():
    assert [verdict(v) for v in (True, "True", "false", 0, None, "n/a", float("nan"))] == [
        "true", "true", "false", "false", "n/a", "n/a", "n/a"]


def test_claims_latex_is_a_booktabs_table_with_one_escaped_row_per_claim():
    tex = claims_latex(_claims())
    lines = tex.splitlines()
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    rows = [ln for ln in lines if ln.startswith(("C1 ", "C5 ", "C7 "))]
    assert len(rows) == 3 and all(ln.endswith(r" \\") and ln.count(" & ") == 6 for ln in rows)
    assert rows[0] == (r"C1 & slope matches GD's & Dugan Fig 1, 2b & \textbar{}diff\textbar{} \textless{}= 0.15 & "
                       r"diff +0.114 (range 0.07-0.2) & smoke & true \\")  # measured: its first clause
    assert rows[1].endswith(r"& false \\") and r"\& 100\%" in rows[1]
    assert r"Lipschitz \$L\$ \#1 \{x\}" in rows[2] and rows[2].endswith(r"& n/a \\")
    with pytest.raises(ValueError, match="pass"):
        claims_latex(_claims().drop(columns="pass"))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex on this machine")
def test_claims_latex_compiles(tmp_path):
    doc = ("\\documentclass{article}\\usepackage{booktabs}\\begin{document}" + claims_latex(_claims())
           + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "t.tex"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_claims_markdown_keeps_the_whole_measured_value_and_escapes_pipes():
    md = claims_markdown(_claims()).splitlines()
    assert md[0] == "| claim | statement | source | paper | measured | scale | verdict | design |"
    assert len(md) == 2 + 3
    assert "per seed: 0.1, 0.2" in md[2] and "\\|diff\\|" in md[2] and md[2].endswith("| true | [direction] 4 points |")
    assert all(len(re.split(r"(?<!\\)\|", line)) == 8 + 2 for line in md[2:])  # 8 cells between unescaped pipes
