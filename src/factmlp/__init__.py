"""factmlp: build, measure and use fact-storing MLPs.

Modules, one per concept:

- :mod:`factmlp.embeddings`   key/value embedding families (spherical, spike, kappa, MiniLM)
- :mod:`factmlp.facts`        fact sets (K, V, f), the storage check and margins
- :mod:`factmlp.decodability` the decodability metric rho(V) and optimal separators u*
- :mod:`factmlp.mlp`          the gated MLP every method returns
- :mod:`factmlp.methods`      the builder interface and registry (``ntk``, ``gd``, ...)
- :mod:`factmlp.constructions` closed-form constructions (NTK / Nichani et al.)
- :mod:`factmlp.training`     gradient-descent training of gated MLPs
- :mod:`factmlp.capacity`     binary search for the smallest MLP storing a fact set
- :mod:`factmlp.plots`        figures from tidy tables
- :mod:`factmlp.io`           atomic writes and seed derivation
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
