"""Adapter: editing rows and the best grid point per (base, seed, fraction, editor) (rule `aggregate_editing`)."""

from factmlp.editing.experiment import editing_best
from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
table = concat_tsv(list(inp.tables))
write_tsv(table, out.table, schema="editing")
write_tsv(editing_best(table, concat_tsv(list(inp.bases))), out.best, schema="editing_best")
log.info("editing: %d rows, %d bases, %d seeds", len(table), table["method"].nunique(), table["seed"].nunique())
