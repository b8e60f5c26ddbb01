"""Adapter: editing rows and the best grid point per editor (rule `aggregate_editing`)."""


from factmlp.editing.experiment import best_per_editor
from factmlp.io import setup_logging, write_tsv
from factmlp.tables import concat_tsv

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
table = concat_tsv(list(inp.tables))
bases = concat_tsv(list(inp.bases))
bases = bases[[c for c in ("method", "base_train_accuracy", "base_paraphrase_accuracy", "base_unseen_accuracy",
                           "fact_mlp_storage") if c in bases]]  # (a base from an older cache lacks the unseen one)
write_tsv(table, out.table)
write_tsv(best_per_editor(table).merge(bases, on="method", how="left"), out.best)
log.info("editing: %d rows, %d methods", len(table), table["method"].nunique())
