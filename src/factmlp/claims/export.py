"""results/claims.tex and results/claims.md: the claims table ready for a paper or a README.

- LaTeX (booktabs): claim, statement, source, the paper's value, the first clause of the measured
  value (the rest stays in claims.tsv, whose path the caption gives), scale and verdict; every cell
  escaped for LaTeX, so the file compiles inside a ``table`` with ``\\usepackage{booktabs}``.
- Markdown: the same rows with the whole measured value and the design, pipes escaped.

The verdict is ``true``, ``false`` or ``n/a`` (the ``pass`` column of claims.tsv).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["verdict", "claims_latex", "claims_markdown", "latex_escape"]

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
          ">": r"\textgreater{}", "|": r"\textbar{}"}


def latex_escape(text) -> str:
    """``text`` with every LaTeX special character escaped (one pass, so no escape is escaped again)."""
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def verdict(value) -> str:
    """``true`` / ``false`` / ``n/a`` from a claims.tsv ``pass`` cell (bool, or its text)."""
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return "true"
    if text in ("false", "0"):
        return "false"
    return "n/a"


def _first_clause(text) -> str:
    return str(text).split(";")[0].strip()


def claims_latex(claims: pd.DataFrame, *, source: str = "results/claims.tsv") -> str:
    """A booktabs ``tabular`` of the claims (see the module docstring), preceded by a comment."""
    need = ["claim", "statement", "source", "paper_value", "measured_value", "scale", "pass"]
    missing = [c for c in need if c not in claims]
    if missing:
        raise ValueError(f"claims table lacks columns {missing}")
    lines = [f"% factmlp claims; measured values in full: {source}",
             r"\begin{tabular}{l p{4.2cm} l p{2.2cm} p{4.6cm} l l}", r"\toprule",
             r"Claim & Statement & Source & Paper & Measured & Scale & Verdict \\", r"\midrule"]
    for _, r in claims.iterrows():
        cells = [r["claim"], r["statement"], r["source"], r["paper_value"], _first_clause(r["measured_value"]),
                 r["scale"], verdict(r["pass"])]
        lines.append(" & ".join(latex_escape(c) for c in cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def claims_markdown(claims: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of every claims.tsv column that a reader needs."""
    cols = [c for c in ("claim", "statement", "source", "paper_value", "measured_value", "scale", "pass", "design")
            if c in claims]
    head = {"paper_value": "paper", "measured_value": "measured", "pass": "verdict"}

    def cell(col, value) -> str:
        text = verdict(value) if col == "pass" else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(head.get(c, c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(c, r[c]) for c in cols) + " |" for _, r in claims.iterrows()]
    return "\n".join(lines) + "\n"
