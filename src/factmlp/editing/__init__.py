"""Fact editing in a 1-layer Transformer (Dugan et al. 2025, Sec. 5.2, Fig 4): a book->author corpus,
the language model with a fact MLP in its MLP slot, MLP swapping and the ROME, MEMIT and AlphaEdit
baselines, and the edit metrics."""
