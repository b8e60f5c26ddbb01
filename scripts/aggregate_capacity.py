"""Adapter: concatenate capacity rows into results/tables/ (rule `aggregate_capacity`)."""

from collections import defaultdict

from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
tags = defaultdict(list)
for sweep, path in snakemake.params.members:  # noqa: F821
    tags[path].append({"sweep": sweep})
table = concat_tsv(list(inp.summaries), tags=tags)
write_tsv(table, out.table)
write_tsv(concat_tsv(list(inp.probes)), out.probes)
log.info("capacity: %d rows from %d files", len(table), len(inp.summaries))
