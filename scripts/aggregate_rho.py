"""Adapter: concatenate decodability rows into results/tables/rho.tsv (rule `aggregate_rho`)."""

from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
table = concat_tsv(list(snakemake.input.summaries))  # noqa: F821
write_tsv(table, snakemake.output.table, schema="rho")  # noqa: F821
log.info("rho: %d rows", len(table))
