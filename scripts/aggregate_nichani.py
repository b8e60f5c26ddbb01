"""Adapter: concatenate the per-job tables of each Nichani part into results/tables/nichani_{part}.tsv
(rule `aggregate_nichani`)."""

from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
for part, path in snakemake.output.items():  # noqa: F821
    files = list(getattr(snakemake.input, part))  # noqa: F821
    table = concat_tsv(files)
    write_tsv(table, path, schema=f"nichani_{part}")
    log.info("nichani_%s: %d rows from %d files", part, len(table), len(files))
