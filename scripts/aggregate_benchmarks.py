"""Adapter: the run-time records of the heavy jobs (benchmark: files, and the records the cached
rules write themselves: factmlp.jobstats) as one table, and their summary per rule (rule
`aggregate_benchmarks`)."""

from pathlib import Path

from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import runtime_summary
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
paths, rules = list(snakemake.input), dict(snakemake.params.rules)  # noqa: F821
table = concat_tsv(paths, tags={p: [{"job": str(Path(p).relative_to("results/benchmarks").with_suffix("")),
                                     "rule": rules[p]}] for p in paths})
cols = ["job", "rule"] + [c for c in table.columns if c not in ("job", "rule")]
write_tsv(table[cols], snakemake.output.table, schema="benchmarks")  # noqa: F821
summary = runtime_summary(table)
write_tsv(summary, snakemake.output.runtimes, schema="runtimes")  # noqa: F821
for row in summary.itertuples():
    log.info("%s: %d jobs, wall median %.1f s, max %.1f s, peak RSS %s MiB", row.rule, row.jobs, row.wall_s_median,
             row.wall_s_max, row.max_rss_mib)
