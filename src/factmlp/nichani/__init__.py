"""Nichani, Lee, Bietti (2024), "Understanding factual recall in Transformers via associative
memories": the experiments of the workflow's Nichani stage (claim C9 and Figs. 1, 4, 5).

- :mod:`factmlp.nichani.associative`  linear and MLP associative memories and the capacity
  search over the number of associations N (Sec. 3, Fig. 1)
- :mod:`factmlp.nichani.recall_task`  the factual-recall task, the one-layer Transformer that
  solves it, facts stored against parameters and the attention/MLP trade-off (Sec. 4, Fig. 4)
- :mod:`factmlp.nichani.sequential`   sequential learning of linear and softmax attention on
  orthogonal embeddings, the "hallucination" stage (Sec. 5, Fig. 5)

The package imports none of its modules: a job that uses one (``factmlp.codehash`` follows
imports) depends on that module and what it imports, not on the others.
"""

__all__ = ["associative", "recall_task", "sequential"]
