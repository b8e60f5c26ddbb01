"""Adapter: results/claims.tsv (and claims.tex, claims.md) from the capacity, rho, usability, editing and
Nichani tables (rule `claims`).

Rows C1-C9, B1, B2 (claims revision 3, docs/claims.md) and E1 (ours, issue 32); each claim's design comes
from the config's ``claims`` section (factmlp.claims.design.claim_designs, computed when the workflow is parsed)."""

import pandas as pd

from factmlp.claims.capacity import capacity_claims, closed_form_claims, closed_form_points, scaling_slopes
from factmlp.claims.design import apply_designs
from factmlp.claims.editing import editing_claims, sequential_claims
from factmlp.claims.export import claims_latex, claims_markdown
from factmlp.claims.nichani import nichani_claims
from factmlp.claims.usability import usability_claims
from factmlp.io import atomic_path, setup_logging, write_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, p = snakemake.input, snakemake.params  # noqa: F821
designs = {c: dict(d) for c, d in dict(p.designs).items()}
params = {c: d["params"] for c, d in designs.items()}
cap = pd.read_csv(inp.capacity, sep="\t")
rho = pd.read_csv(inp.rho, sep="\t")
usab = pd.read_csv(inp.usability, sep="\t") if "usability" in inp.keys() else None
edit = pd.read_csv(inp.editing, sep="\t") if "editing" in inp.keys() else None
seq = pd.read_csv(inp.sequential, sep="\t") if "sequential" in inp.keys() else None
nichani = {part: pd.read_csv(getattr(inp, f"nichani_{part}"), sep="\t") if f"nichani_{part}" in inp.keys() else None
           for part in ("linear", "mlp", "recall")}
claims = pd.concat([capacity_claims(cap, rho, dict(p.families), scale=p.scale, designs=params),
                    usability_claims(usab, usable_at=p.usable_at, scale=p.scale, designs=params),
                    editing_claims(edit, scale=p.scale),
                    nichani_claims(nichani["linear"], nichani["mlp"], recall=nichani["recall"], scale=p.scale),
                    closed_form_claims(cap, scale=p.scale, designs=params),
                    sequential_claims(seq, scale=p.scale, base=params["E1"]["base"],
                                      min_score=float(params["E1"]["min_score"]))],
                   ignore_index=True)
claims = apply_designs(claims, designs)
write_tsv(claims, snakemake.output.claims, schema="claims")  # noqa: F821
for path, text in ((snakemake.output.tex, claims_latex(claims)), (snakemake.output.md, claims_markdown(claims))):  # noqa: F821
    with atomic_path(path) as tmp:
        tmp.write_text(text)
write_tsv(scaling_slopes(cap, list(p.scaling_sweeps)), snakemake.output.slopes, schema="slopes")  # noqa: F821
write_tsv(closed_form_points(cap, sweep=params["B1"]["sweep"]), snakemake.output.closed_form,  # noqa: F821
          schema="closed_form_vs_gd")
for row in claims.itertuples():
    log.info("%s pass=%s: %s", row.claim, row._7, row.measured_value)
