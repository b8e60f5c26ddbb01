"""factmlp: build, measure and use fact-storing MLPs.

Modules and packages, one per concept:

- :mod:`factmlp.embeddings`    key/value embedding families (spherical, spike, kappa, MiniLM)
- :mod:`factmlp.facts`         fact sets (K, V, f), the storage check and margins
- :mod:`factmlp.decodability`  the decodability metric rho(V) and optimal separators u*
- :mod:`factmlp.geometries`    value geometries for the rho law, chosen by rho alone (claim C3's design)
- :mod:`factmlp.whitening`     whitening of value tables (the whitened methods)
- :mod:`factmlp.mlp`           the gated MLP every method returns
- :mod:`factmlp.methods`       the builder interface (``Method``, ``register``)
- :mod:`factmlp.registry`      methods by name (``get_method``, ``method_names``; ``ntk``, ``gd``, ...)
- :mod:`factmlp.training`      gradient-descent training of gated MLPs (the GD baseline)
- :mod:`factmlp.constructions` the constructions (Dugan et al.'s encoder-decoder, its codebook
  variant, the v2 Hebbian builders, NTK / Nichani et al.) and the GD-trained encoder-decoder
- :mod:`factmlp.capacity`      binary search for the smallest MLP storing a fact set
- :mod:`factmlp.transformer`   the recall Transformer of the usability stage
- :mod:`factmlp.lipschitz`     Lipschitz estimates of gated MLPs
- :mod:`factmlp.usability`     usability of a fact MLP inside the Transformer
- :mod:`factmlp.editing`       the editing corpus, LM, base model, editors, evaluation and experiment
- :mod:`factmlp.nichani`       Nichani et al.: associative memories, the recall task, sequential learning
- :mod:`factmlp.tables`        tidy tables: per-job rows, their concatenation, log-log slope fits
- :mod:`factmlp.plots`         figures from tidy tables, one module per stage
- :mod:`factmlp.claims`        results/claims.tsv, one module per stage
- :mod:`factmlp.config`        validation of the pipeline configuration
- :mod:`factmlp.io`            atomic file output, deterministic seed derivation, logging set-up
- :mod:`factmlp.codehash`      which library code a job runs (its rules' ``code`` parameter)
- :mod:`factmlp.devices`       the job's device and GPU leases
- :mod:`factmlp.cli`           the ``factmlp`` command
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
