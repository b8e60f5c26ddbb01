"""Tests of factmlp.capacity: the gallop-then-bisect width search and measure_capacity."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import pytest
import torch

from factmlp.capacity import CapacityResult, Probe, gallop_bisect, measure_capacity, search_min_width
from factmlp.facts import FactSet, evaluate_mlp, make_mapping
from factmlp.methods import METHODS, Method
from factmlp.mlp import GatedMLP
from factmlp.registry import get_method
from factmlp.training import TrainingDivergedError

pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)


# --------------------------------------------------------------------------- search_min_width


class ThresholdProbe:
    """Fake probe: success iff width >= threshold; records every call."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.calls: list[int] = []

    def __call__(self, width: int) -> Probe:
        self.calls.append(width)
        ok = width >= self.threshold
        return Probe(width, 10 * width, ok, 1.0 if ok else 0.5, 0.1 if ok else -0.1, 0.0, "ok")


def _check_consistent(fake: ThresholdProbe, probes: list) -> None:
    assert [p.width for p in probes] == fake.calls
    counts = Counter(fake.calls)
    assert max(counts.values()) == 1, f"probed twice: {[w for w, c in counts.items() if c > 1]}"
    assert all(p.success == (p.width >= fake.threshold) for p in probes)


@pytest.mark.parametrize("threshold", [1, 2, 7, 100, 1000, 4097])
def test_exact_search(threshold):
    fake = ThresholdProbe(threshold)
    width, probes = search_min_width(fake, width_min=1, width_max=65536, rel_tol=0)
    assert width == threshold
    _check_consistent(fake, probes)
    assert threshold in fake.calls
    if threshold > 1:
        assert threshold - 1 in fake.calls  # the certificate of minimality was probed
    # gallop + bisection: O(log T) probes
    assert len(probes) <= 2 * math.ceil(math.log2(threshold + 1)) + 2


@pytest.mark.parametrize("rel_tol", [0.05, 0.2, 0.5])
@pytest.mark.parametrize("threshold", [7, 100, 1000, 3001])
def test_search_within_rel_tol(threshold, rel_tol):
    fake = ThresholdProbe(threshold)
    width, probes = search_min_width(fake, width_min=1, width_max=65536, rel_tol=rel_tol)
    _check_consistent(fake, probes)
    assert width >= threshold  # the reported width always succeeded
    assert width - threshold <= max(0.0, rel_tol * width)
    exact = ThresholdProbe(threshold)
    search_min_width(exact, width_min=1, width_max=65536, rel_tol=0)
    assert len(fake.calls) <= len(exact.calls)


@pytest.mark.parametrize(("threshold", "width_max"), [(1001, 1000), (65537, 65536), (2, 1)])
def test_search_returns_none_above_width_max(threshold, width_max):
    fake = ThresholdProbe(threshold)
    width, probes = search_min_width(fake, width_min=1, width_max=width_max, rel_tol=0)
    assert width is None
    _check_consistent(fake, probes)
    assert not any(p.success for p in probes)
    assert max(fake.calls) == width_max  # the largest allowed width was tried


@pytest.mark.parametrize(("threshold", "width_min", "width_max", "expected"), [
    (100, 100, 100, 100),  # single allowed width, succeeds
    (5, 10, 1000, 10),  # threshold below width_min: the smallest width probed
    (37, 10, 1000, 37),
    (100, 1, 100, 100),  # width_max not a power of two
    (99, 3, 100, 99),
])
def test_search_bounds(threshold, width_min, width_max, expected):
    fake = ThresholdProbe(threshold)
    width, probes = search_min_width(fake, width_min=width_min, width_max=width_max, rel_tol=0)
    assert width == expected
    _check_consistent(fake, probes)
    assert min(fake.calls) >= width_min and max(fake.calls) <= width_max


@pytest.mark.parametrize(("width_min", "width_max", "rel_tol"), [(0, 10, 0.0), (11, 10, 0.0), (1, 10, -0.1)])
def test_search_bad_arguments(width_min, width_max, rel_tol):
    with pytest.raises(ValueError):
        search_min_width(ThresholdProbe(3), width_min=width_min, width_max=width_max, rel_tol=rel_tol)


# --------------------------------------------------------------------------- measure_capacity


def _orthonormal_facts(n: int = 16, d: int = 16) -> FactSet:
    g = torch.Generator().manual_seed(41)
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=g, dtype=torch.float64))
    keys = q.T.contiguous()
    return FactSet(keys, keys.clone(), make_mapping(n, n, kind="permutation", seed=42))


def test_measure_capacity_ntk_easy_case():
    facts = _orthonormal_facts()
    method = get_method("ntk")
    res = measure_capacity(facts, method, seed=3, width_min=1, width_max=65536, rel_tol=0)
    assert isinstance(res, CapacityResult)
    assert res.found
    w = res.min_width
    assert res.param_count == GatedMLP(facts.d, w).param_count() == 3 * w * 16 + 2 * w + 16
    assert res.accuracy == 1.0 and res.min_margin > 0
    assert res.n_probes == len(res.probes)
    assert len({p.width for p in res.probes}) == len(res.probes)
    for p in res.probes:
        assert p.param_count == GatedMLP(facts.d, p.width).param_count()
        assert p.success == (p.accuracy == 1.0) and p.status == "ok"
        if p.width < w:
            assert not p.success
    # rel_tol = 0: the width just below was probed and failed; rebuild both independently
    mlp, _ = method.build(facts, w, seed=3)
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0
    if w > 1:
        assert any(p.width == w - 1 and not p.success for p in res.probes)
        below, _ = method.build(facts, w - 1, seed=3)
        assert evaluate_mlp(below, facts)["accuracy"] < 1.0
    row = res.summary()
    assert "probes" not in row and row["min_width"] == w and row["found"] is True


@dataclass(frozen=True)
class ExactSettings:
    threshold: int = 37
    diverge_below: bool = False


class ExactAboveThreshold(Method):
    """Fake method (not registered): an exact key-value memory once width >= threshold, a zero MLP
    (or a divergence) below it. Needs threshold >= n_facts and orthonormal keys."""

    name = "fake-exact"
    Settings = ExactSettings

    def build(self, facts: FactSet, width: int, *, seed: int) -> tuple[GatedMLP, dict]:
        s = self.settings
        d, n = facts.d, facts.n_facts
        if width < s.threshold:
            if s.diverge_below:
                raise TrainingDivergedError(f"fake divergence at width {width}")
            z = torch.zeros(width, d, dtype=torch.float64)
            down = torch.zeros(d, width, dtype=torch.float64)
            return GatedMLP.from_weights(gate_w=z, up_w=z.clone(), down_w=down), {}
        gate = torch.zeros(width, d, dtype=torch.float64)
        gate[:n] = facts.keys
        down = torch.zeros(d, width, dtype=torch.float64)
        down[:, :n] = facts.targets.T
        # hidden_i(k_j) = <k_i, k_j> relu(<k_i, k_j>) = delta_ij; padded units are zero
        return GatedMLP.from_weights(gate_w=gate, up_w=gate.clone(), down_w=down), {}


@pytest.mark.parametrize("threshold", [16, 37, 300])
def test_measure_capacity_with_fake_method_is_exact(threshold):
    facts = _orthonormal_facts()
    method = ExactAboveThreshold(threshold=threshold)
    res = measure_capacity(facts, method, seed=0, width_min=1, width_max=65536, rel_tol=0)
    assert "fake-exact" not in METHODS
    assert res.found and res.min_width == threshold
    assert res.param_count == GatedMLP(facts.d, threshold).param_count()
    # tied orthonormal values, exact outputs: margin = <v_f, v_f> - max_{j != f} <v_f, v_j> = 1 - 0
    assert res.accuracy == 1.0 and res.min_margin == pytest.approx(1.0, abs=1e-12)
    widths = [p.width for p in res.probes]
    assert len(set(widths)) == len(widths)
    assert threshold - 1 in widths
    assert all(p.success == (p.width >= threshold) for p in res.probes)


def test_measure_capacity_rel_tol(threshold=300, rel_tol=0.1):
    facts = _orthonormal_facts()
    res = measure_capacity(facts, ExactAboveThreshold(threshold=threshold), seed=0, rel_tol=rel_tol)
    assert res.found
    assert threshold <= res.min_width <= threshold + rel_tol * res.min_width


def test_measure_capacity_not_found():
    facts = _orthonormal_facts()
    res = measure_capacity(facts, ExactAboveThreshold(threshold=300), seed=0, width_max=200, rel_tol=0)
    assert not res.found
    assert res.min_width is None and res.param_count is None and res.accuracy is None
    assert max(p.width for p in res.probes) == 200
    assert not any(p.success for p in res.probes)


def test_measure_capacity_counts_divergence_as_failure():
    facts = _orthonormal_facts()
    res = measure_capacity(facts, ExactAboveThreshold(threshold=40, diverge_below=True), seed=0, rel_tol=0)
    assert res.found and res.min_width == 40
    diverged = [p for p in res.probes if p.width < 40]
    assert diverged and all(p.status == "diverged" and not p.success for p in diverged)
    assert all(p.param_count == GatedMLP(facts.d, p.width).param_count() for p in diverged)
    assert all(p.status == "ok" for p in res.probes if p.width >= 40)


@pytest.mark.parametrize("relative_to", ["hi", "lo"])
@pytest.mark.parametrize("rel_tol", [0.0, 0.1])
def test_gallop_bisect_brackets_the_true_threshold(relative_to, rel_tol):
    for first in (1, 3, 16):
        for limit in (first, 40, 1000):
            for thr in range(1, 1100, 7):
                seen = []

                def flipped(x):
                    seen.append(x)
                    return x >= thr

                lo, hi = gallop_bisect(flipped, lo=first - 1, first=first, limit=limit, rel_tol=rel_tol,
                                       relative_to=relative_to)
                assert len(seen) == len(set(seen))  # each point probed once
                if thr > limit:
                    assert hi is None and lo == limit
                    continue
                assert lo < max(thr, first) <= hi  # the flip lies in (lo, hi]
                ref = hi if relative_to == "hi" else lo
                assert hi - lo <= max(1, int(rel_tol * ref))
                if rel_tol == 0.0:
                    assert hi == max(thr, first)
