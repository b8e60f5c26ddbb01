"""Adapter: concatenate capacity rows into results/tables/ (rule `aggregate_capacity`), with the fact
sets' information in bits and bits per parameter (factmlp.bits)."""

from factmlp.bits import add_bits_columns
from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv, select_members

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
rows = concat_tsv(list(inp.summaries), tags={p: [{"source": p}] for p in inp.summaries})
table = add_bits_columns(select_members(rows, snakemake.params.members), snakemake.params.mapping)  # noqa: F821
write_tsv(table, out.table, schema="capacity")
write_tsv(concat_tsv(list(inp.probes)), out.probes, schema="capacity_probes")
log.info("capacity: %d rows from %d files", len(table), len(inp.summaries))
