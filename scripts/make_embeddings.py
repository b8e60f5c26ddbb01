"""Adapter: draw the key and value embedding tables of one fact set (rule `embeddings`)."""

from factmlp.embeddings import make_key_value_tables
from factmlp.io import derive_seed, save_tensors, setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821  (snakemake is injected)
p = snakemake.params  # noqa: F821
family = dict(p.family)
kind = family.pop("kind")
keys, values = make_key_value_tables(
    kind, p.n_keys, p.n_values, p.d, tied=p.tied, seed=derive_seed(p.seed, "embeddings"), **family
)  # family may carry keys: spherical (untied spherical keys, values of the family)
save_tensors({"keys": keys, "values": values}, snakemake.output.tables)  # noqa: F821
log.info("%s: keys %s, values %s (tied=%s)", kind, tuple(keys.shape), tuple(values.shape), p.tied)
