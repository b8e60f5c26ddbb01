"""benchmarks.common.pipeline_fact_set (the fact set of gpu_checks' and b2_study's paper slices): it is
the pipeline's, and no method's random draws repeat the fact set's.

Its fact set used to draw the key table from the raw seed, the seed the capacity search builds with:
the NTK's gate G (drawn from a generator seeded alike) then began with the keys themselves, and NTK
needed 4,480 hidden units at d = 128, |K| = 2048 where the pipeline's set of that point needs 2,560.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.common import pipeline_fact_set
from factmlp.facts import draw_fact_set


@pytest.mark.parametrize("seed", [0, 3])
def test_fact_set_is_the_pipelines(seed):
    a = pipeline_fact_set(16, 32, seed=seed)
    b = draw_fact_set({"kind": "spherical"}, 32, 32, 16, tied=True, mapping="permutation", seed=seed)
    assert all(torch.equal(x, y) for x, y in ((a.keys, b.keys), (a.values, b.values), (a.mapping, b.mapping)))


@pytest.mark.parametrize("seed", [0, 1])
def test_ntk_gate_is_not_the_keys(seed):
    """The slice builds every method with seed 0 on the set of seed 0: no gate row may be a key's
    direction (independent Gaussian rows at d = 32 stay far from |cos| = 1 among 64 x 128 pairs)."""
    from factmlp.constructions.ntk import build_ntk_mlp

    facts = pipeline_fact_set(32, 64, seed=seed)
    mlp = build_ntk_mlp(facts.keys, facts.values[facts.mapping], 128, seed=seed)
    gate = mlp.gate.weight.detach().to(torch.float64)  # (128, 32)
    cos = (gate / gate.norm(dim=1, keepdim=True)) @ facts.keys.T  # (128, 64)
    assert float(cos.abs().max()) < 0.99
