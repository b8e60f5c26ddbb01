"""Adapter: sequential-editing rows and every round of the best grid point per (base, seed, editor)
(rule `aggregate_sequential`)."""

from factmlp.editing.sequential import best_sequences
from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
table = concat_tsv(list(inp.tables))
write_tsv(table, out.table, schema="editing_sequential")
write_tsv(best_sequences(table), out.best, schema="editing_sequential_best")
log.info("sequential editing: %d rows, %d bases, %d seeds", len(table), table["method"].nunique(),
         table["seed"].nunique())
