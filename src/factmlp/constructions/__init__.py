"""Fact-storing MLPs built from the fact set by a construction, each registered as a method.

Closed form (float64):

- :mod:`factmlp.constructions.encoder`          the exact piecewise-linear key encoder ("gadgets")
- :mod:`factmlp.constructions.encoder_decoder`  Dugan et al.'s encoder-decoder construction
  (``construction``, ``construction_whitened``, ``construction_jl``, ``construction_jl_whitened``)
- :mod:`factmlp.constructions.codebook`         the encoder behind a learned value codebook
  (``construction_codebook``, ours)
- :mod:`factmlp.constructions.hebbian`          the v2 builders of "MLPs are Hebbians"
  (``hebbian``, ``hebbian_whitened``, ``hebbian_data_dependent``)
- :mod:`factmlp.constructions.ntk`              the NTK / Hebbian MLP associative memory of
  Nichani et al. (2024), the baseline of Dugan et al. (2025) (``ntk``, ``ntk_whitened``, ``ntk_ustar``)

Trained:

- :mod:`factmlp.constructions.gd_encdec`        the construction's encoder-decoder architecture
  (its m', buckets and decoder) with its weights trained by GD (``gd_encdec``, ``gd_encdec_free``)

:func:`factmlp.registry.get_method` imports these modules (running their ``@register``); the
package itself imports none, so that a job's code hash (``factmlp.codehash``) covers only the
modules it uses.
"""

__all__ = ["codebook", "encoder", "encoder_decoder", "gd_encdec", "hebbian", "ntk"]
