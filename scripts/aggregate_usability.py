"""Adapter: concatenate usability rows into results/tables/usability.tsv (rule `aggregate_usability`)."""

from collections import defaultdict

from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
p = snakemake.params  # noqa: F821
tags = defaultdict(list)
for sweep, path in p.members:
    tags[path].append({"sweep": sweep, "figure": p.figures[sweep]})
table = concat_tsv(list(snakemake.input.tables), tags=tags)  # noqa: F821
write_tsv(table, snakemake.output.table, schema="usability")  # noqa: F821
log.info("usability: %d rows from %d files", len(table), len(snakemake.input.tables))  # noqa: F821
