"""Closed-form constructions of fact-storing MLPs (float64).

- :mod:`factmlp.constructions.ntk`: the NTK / Hebbian MLP associative memory of Nichani et al.
  (2024), the baseline of Dugan et al. (2025).
"""

__all__ = ["ntk"]
