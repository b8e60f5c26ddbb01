"""Adapter: draw the fact map f and save the fact set (rule `fact_set`)."""

from factmlp.facts import FactSet, make_mapping
from factmlp.io import derive_seed, load_tensors, setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
tables = load_tensors(snakemake.input.tables)  # noqa: F821
keys, values = tables["keys"], tables["values"]
mapping = make_mapping(keys.shape[0], values.shape[0], kind=p.mapping, seed=derive_seed(p.seed, "mapping"))
facts = FactSet(keys, values, mapping, meta={"family": wc.family, "seed": p.seed, "mapping": p.mapping})
facts.save(snakemake.output.facts)  # noqa: F821
log.info("fact set: %d facts, %d values, d=%d", facts.n_facts, facts.n_values, facts.d)
