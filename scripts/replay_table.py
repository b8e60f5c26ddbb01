"""Adapter: one stored table of a snapshot as this run's results/tables/<name>.tsv (rule
`replay_table`). A capacity table from before factmlp.bits gets its bits columns (computed from the
table's own counts and the config's facts.mapping; no MLP is built)."""

import pandas as pd

from factmlp.bits import add_bits_columns
from factmlp.io import setup_logging, write_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
table = pd.read_csv(snakemake.input[0], sep="\t")  # noqa: F821
if snakemake.wildcards.table == "capacity" and "bits_per_param" not in table:  # noqa: F821
    table = add_bits_columns(table, snakemake.params.mapping)  # noqa: F821
    log.info("added the bits columns (facts.mapping %s)", snakemake.params.mapping)  # noqa: F821
write_tsv(table, snakemake.output[0], schema=snakemake.wildcards.table)  # noqa: F821
log.info("replayed %s: %d rows", snakemake.input[0], len(table))  # noqa: F821
