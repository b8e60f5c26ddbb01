"""Adapter: results/report/tables.html, the claims and results tables as sortable, filterable
tables for the report (rule `report_tables`; factmlp.report_tables)."""

import pandas as pd

from factmlp.io import atomic_path, setup_logging
from factmlp.report_tables import tables_page

log = setup_logging(snakemake.log[0])  # noqa: F821
captions = {
    "claims": "each claim's paper value, measured value, verdict and design (results/claims.tsv)",
    "capacity": "smallest storing MLP per (sweep, method, fact set, seed), with bits per parameter "
                "(results/tables/capacity.tsv)",
    "usability": "recall after swapping each MLP into the Transformer (results/tables/usability.tsv)",
    "editing_best": "best grid point per (base, seed, edit fraction, editor) (results/tables/editing_best.tsv)",
    "editing_sequential_best": "sequential editing: every round of each editor's best grid point per (base, seed), "
                               "with the round's seconds and peak memory (results/tables/editing_sequential_best.tsv)",
    "runtimes": "run time and peak memory per rule, over the heavy jobs of this run, to size a cluster allocation "
                "from (results/tables/runtimes.tsv; per job: results/tables/benchmarks.tsv)",
}
tables = [(name, pd.read_csv(path, sep="\t"), captions[name]) for name, path in snakemake.input.items()]  # noqa: F821
with atomic_path(snakemake.output[0]) as tmp:  # noqa: F821
    tmp.write_text(tables_page(tables))
log.info("wrote %s: %s", snakemake.output[0], ", ".join(f"{n} ({len(t)} rows)" for n, t, _ in tables))  # noqa: F821
