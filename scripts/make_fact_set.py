"""Adapter: draw one fact set's key and value tables and its map f, save the set (rule `fact_set`)."""

from factmlp.embeddings import make_key_value_tables
from factmlp.facts import FactSet, make_mapping
from factmlp.io import derive_seed, setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821  (snakemake is injected)
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
family = dict(p.family)
kind = family.pop("kind")
# family may carry keys: spherical (untied spherical keys, values of the family)
keys, values = make_key_value_tables(
    kind, p.n_keys, p.n_values, p.d, tied=p.tied, seed=derive_seed(p.seed, "embeddings"), **family
)
mapping = make_mapping(keys.shape[0], values.shape[0], kind=p.mapping, seed=derive_seed(p.seed, "mapping"))
facts = FactSet(keys, values, mapping, meta={"family": wc.family, "seed": p.seed, "mapping": p.mapping})
facts.save(snakemake.output.facts)  # noqa: F821
log.info("%s: %d facts, %d values, d=%d (tied=%s)", kind, facts.n_facts, facts.n_values, facts.d, p.tied)
