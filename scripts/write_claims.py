"""Adapter: results/claims.tsv from the capacity, rho, usability, editing and Nichani tables (rule `claims`).

Rows C1-C9 then B1 (shared/claims.md revision 2); sweeps are found by name (factmlp.claims.common.SWEEP_NAMES)."""

import pandas as pd

from factmlp.claims.capacity import capacity_claims, closed_form_claims, closed_form_points, scaling_slopes
from factmlp.claims.editing import editing_claims
from factmlp.claims.nichani import nichani_claims
from factmlp.claims.usability import usability_claims
from factmlp.io import setup_logging, write_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, p = snakemake.input, snakemake.params  # noqa: F821
cap = pd.read_csv(inp.capacity, sep="\t")
rho = pd.read_csv(inp.rho, sep="\t")
usab = pd.read_csv(inp.usability, sep="\t") if "usability" in inp.keys() else None
edit = pd.read_csv(inp.editing, sep="\t") if "editing" in inp.keys() else None
nichani = {part: pd.read_csv(getattr(inp, f"nichani_{part}"), sep="\t") if f"nichani_{part}" in inp.keys() else None
           for part in ("linear", "mlp", "recall")}
claims = pd.concat([capacity_claims(cap, rho, dict(p.families), scale=p.scale),
                    usability_claims(usab, usable_at=p.usable_at, scale=p.scale),
                    editing_claims(edit, scale=p.scale),
                    nichani_claims(nichani["linear"], nichani["mlp"], recall=nichani["recall"], scale=p.scale),
                    closed_form_claims(cap, scale=p.scale)],
                   ignore_index=True)
write_tsv(claims, snakemake.output.claims)  # noqa: F821
write_tsv(scaling_slopes(cap, list(p.scaling_sweeps)), snakemake.output.slopes)  # noqa: F821
write_tsv(closed_form_points(cap), snakemake.output.closed_form)  # noqa: F821
for row in claims.itertuples():
    log.info("%s pass=%s: %s", row.claim, row._7, row.measured_value)
