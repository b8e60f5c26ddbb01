"""Adapter: Snakemake benchmark: files of the heavy experiment rules as one table (rule `aggregate_benchmarks`)."""

from pathlib import Path

import pandas as pd

from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
paths = list(snakemake.input)  # noqa: F821
table = concat_tsv(paths, tags={p: [{"job": str(Path(p).relative_to("results/benchmarks").with_suffix(""))}]
                                for p in paths})
cols = ["job"] + [c for c in table.columns if c != "job"]
write_tsv(table[cols], snakemake.output.table, schema="benchmarks")  # noqa: F821
log.info("benchmarks: %d jobs, %.1f s wall in all", len(table), float(pd.to_numeric(table["s"]).sum()))
