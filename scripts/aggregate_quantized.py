"""Adapter: quantised-storage rows of every fact set into results/tables/quantized.tsv (rule
`aggregate_quantized`), tagged with the sweep they come from."""

from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
table = concat_tsv(list(inp.tables))
table.insert(0, "sweep", snakemake.params.sweep)  # noqa: F821
write_tsv(table, out.table, schema="quantized")
log.info("quantized: %d rows from %d files", len(table), len(inp.tables))
