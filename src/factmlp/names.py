"""Names a config may use that live in torch-importing modules, here without torch.

The config schema reads these lists (``x-enum-from``) when a workflow is parsed, and parsing must
work where only Snakemake is installed (``snakemake --lint`` in the workflow catalog's checker):
so the lists are defined here and imported by the modules that implement them
(:mod:`factmlp.embeddings`, :mod:`factmlp.editing.experiment`). Method names come from
:mod:`factmlp.registry`, which is torch-free too.
"""

from __future__ import annotations

__all__ = ["EDITORS", "FAMILY_KINDS"]

#: the editors of the editing stage (factmlp.editing.experiment), in their figure order
EDITORS = ("mlp_swap", "rome", "memit", "alphaedit")
#: the embedding family kinds (factmlp.embeddings.make_key_value_tables)
FAMILY_KINDS = ("spherical", "spike", "kappa", "minilm")
