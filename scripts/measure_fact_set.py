"""Adapter: draw one fact set (K, V, f) and save it, then rho(V) and separators u* of its values,
then the smallest MLP of every closed-form method asked of the set (rule `measure_fact_set`; the
constructions reuse the separators computed here). A rho-only set has no methods: its capacity
tables are header-only."""

import pandas as pd
import torch

from factmlp.capacity import capacity_tables
from factmlp.decodability import cached_decodability, summarize
from factmlp.facts import draw_fact_set
from factmlp.io import save_tensors, setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark
from factmlp.schemas import empty_table
from factmlp.tables import job_row

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output  # noqa: F821
facts = draw_fact_set(p.family, p.n_keys, p.n_values, p.d, tied=p.tied, mapping=p.mapping, seed=p.seed,
                      meta={"family": wc.family})
facts.save(out.facts)
log.info("%s: %d facts, %d values, d=%d (tied=%s)", wc.family, facts.n_facts, facts.n_values, facts.d, p.tied)
dec = cached_decodability(facts.values, batch_size=p.batch_size, tol=p.tol, min_distance=p.min_distance,
                          max_seconds=p.max_seconds)
row = summarize(dec)
log.info("rho=%.6f (gap %.2e, %d infeasible)", row["rho"], row["rho_max_gap"], row["n_infeasible"])
meta = {"family": wc.family, "d": int(wc.d), "n_facts": int(wc.n), "seed": int(wc.seed)}
summaries, probes = capacity_tables(facts, p.methods, family=wc.family, seed=p.seed, width_min=p.width_min,
                                    width_max=p.width_max, rel_tol=p.rel_tol)
save_tensors({"rho_i": dec.rho_i, "rho_upper": dec.rho_upper, "separators": dec.separators}, out.separators)
write_tsv(job_row(meta, row), out.rho, schema="rho")
write_tsv(pd.DataFrame(probes) if probes else empty_table("capacity_probes"), out.probes, schema="capacity_probes")
write_tsv(pd.DataFrame(summaries) if summaries else empty_table("capacity_job"), out.summary, schema="capacity_job")
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
