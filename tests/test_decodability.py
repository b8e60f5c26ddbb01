"""Tests of factmlp.decodability: rho_i(V), its certificate and the separators u*_i.

Expected values come from an independent convex solver (cvxpy on the primal problem
max t s.t. <u, a_ij> >= t, ||u|| <= 1) or from closed forms derived by hand.
"""

from __future__ import annotations

import logging
import math
import re

import cvxpy as cp
import numpy as np
import pytest
import torch

from factmlp.decodability import (
    Decodability,
    InfeasibleValuesError,
    NearDuplicateValuesError,
    decodability,
    summarize,
)
from factmlp.embeddings import make_embeddings

ATOL = 1e-6


pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)


def _directions(v: np.ndarray, i: int) -> np.ndarray:
    """Rows a_ij = (v_i - v_j)/||v_i - v_j||, j != i (numpy, independent of the library)."""
    diff = v[i] - np.delete(v, i, axis=0)
    return diff / np.linalg.norm(diff, axis=1, keepdims=True)


def _reference_rho(v: np.ndarray) -> np.ndarray:
    """max(t*, 0) of max t s.t. A u >= t, ||u||_2 <= 1, solved per anchor with cvxpy."""
    n, d = v.shape
    a_par = cp.Parameter((n - 1, d))
    u, t = cp.Variable(d), cp.Variable()
    prob = cp.Problem(cp.Maximize(t), [a_par @ u >= t, cp.norm(u, 2) <= 1])
    out = np.empty(n)
    for i in range(n):
        a_par.value = _directions(v, i)
        prob.solve(solver=cp.CLARABEL)
        assert prob.status == cp.OPTIMAL, prob.status
        out[i] = max(float(t.value), 0.0)
    return out


def _check_certificate(v: np.ndarray, dec: Decodability) -> None:
    """Separators are unit vectors attaining rho_i against every j; rho_i <= rho_upper."""
    rho = dec.rho_i.numpy()
    seps = dec.separators.numpy()
    assert bool((dec.rho_i <= dec.rho_upper + 1e-12).all())  # equal up to rounding at the optimum
    for i in range(v.shape[0]):
        if rho[i] > 0:
            assert np.linalg.norm(seps[i]) == pytest.approx(1.0, abs=1e-12)
            assert (_directions(v, i) @ seps[i]).min() >= rho[i] - 1e-9


FAMILIES = [("spherical", {}), ("spike", {"beta": 3.0}), ("kappa", {"kappa": 10.0})]

# Seeds are fixed a priori as 10 n + d. The kappa n=60 d=3 instance (seed 603) has an anchor on
# which the first-order solver crawls (gap stuck near 3e-6 for 100 rounds, 80 s): Wolfe's
# algorithm now finishes it, see test_gap_reaches_tol_on_a_crawling_anchor below.
REFERENCE_CASES = [
    pytest.param(kind, params, n, d, id=f"{kind}-n{n}-d{d}")
    for kind, params in FAMILIES
    for n in (5, 20, 60)
    for d in (3, 8)
]


def _seed(kind: str, n: int, d: int) -> int:
    return 10 * n + d


@pytest.mark.parametrize(("kind", "params", "n", "d"), REFERENCE_CASES)
def test_rho_matches_cvxpy_reference(kind, params, n, d):
    values = make_embeddings(kind, n, d, seed=_seed(kind, n, d), **params)
    v = values.numpy()
    dec = decodability(values)
    assert dec.rho_i.dtype == torch.float64 and dec.rho_i.shape == (n,)
    assert dec.separators.shape == (n, d)
    np.testing.assert_allclose(dec.rho_i.numpy(), _reference_rho(v), rtol=0, atol=ATOL)
    _check_certificate(v, dec)


@pytest.mark.parametrize(
    ("kind", "params", "n", "d"),
    [pytest.param(*c.values, id=c.id) for c in REFERENCE_CASES],
)
def test_certificate_and_bounds(kind, params, n, d):
    """The returned rho_i is always a valid (attained) lower bound, even where it is not tight."""
    values = make_embeddings(kind, n, d, seed=_seed(kind, n, d), **params)
    dec = decodability(values)
    _check_certificate(values.numpy(), dec)
    assert bool(dec.feasible.all())  # unit-norm distinct rows are all exposed vertices
    assert dec.rho == pytest.approx(float(dec.rho_i.min()))


def test_gap_reaches_tol_on_a_crawling_anchor(caplog):
    values = make_embeddings("kappa", 60, 3, seed=_seed("kappa", 60, 3), kappa=10.0)
    with caplog.at_level(logging.WARNING, logger="factmlp.decodability"):
        dec = decodability(values)
    gap = float((dec.rho_upper - dec.rho_i).max())
    assert gap <= 1e-9, f"max gap {gap:.3e} above tol"
    assert not any("did not reach tol" in r.getMessage() for r in caplog.records)


def test_gap_above_tol_is_warned(caplog):
    """With too few rounds to finish, the result is still a certified bound and a warning says so."""
    values = make_embeddings("kappa", 60, 3, seed=_seed("kappa", 60, 3), kappa=10.0)
    with caplog.at_level(logging.WARNING, logger="factmlp.decodability"):
        dec = decodability(values, max_rounds=1)
    gap = float((dec.rho_upper - dec.rho_i).max())
    assert gap > 1e-9 and any("did not reach tol" in r.getMessage() for r in caplog.records)
    _check_certificate(values.numpy(), dec)


@pytest.mark.parametrize("case", ["random", "thin-face", "origin-inside"])
def test_wolfe_min_norm_point_matches_cvxpy(case):
    """Wolfe's algorithm against the QP min ||P^T w|| over the simplex (cvxpy, Clarabel)."""
    from factmlp.decodability import _wolfe_min_norm

    rng = np.random.default_rng({"random": 0, "thin-face": 1, "origin-inside": 2}[case])
    if case == "random":
        p = rng.normal(size=(40, 5)) + np.array([1.0, 0.5, 0, 0, 0])
    elif case == "thin-face":  # points on a long thin sliver near the plane x0 = 0.05
        p = np.column_stack([0.05 + 1e-6 * rng.normal(size=50), rng.normal(size=(50, 2)) * [1.0, 1e-3]])
    else:
        p = rng.normal(size=(30, 4))
    w = cp.Variable(p.shape[0])
    cp.Problem(cp.Minimize(cp.sum_squares(p.T @ w)), [w >= 0, cp.sum(w) == 1]).solve(solver=cp.CLARABEL)
    ref = float(np.linalg.norm(p.T @ w.value))
    x = _wolfe_min_norm(p, p.mean(axis=0), tol=1e-12, max_iter=1000)
    assert np.linalg.norm(x) == pytest.approx(ref, abs=1e-7)
    if ref > 1e-6:  # x is in the hull and optimal: every point lies beyond the plane <x, .> = ||x||^2
        assert (p @ x).min() >= x @ x - 1e-9


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize(("n", "d"), [(2, 2), (3, 3), (5, 8), (16, 16), (10, 40)])
def test_orthonormal_values(n, d):
    """a_ij = (e_i - e_j)/sqrt 2; the uniform combination has all <x, a_ij> = ||x||^2, so it is the
    min-norm point: x = (e_i - mean_{j!=i} e_j)/sqrt 2, ||x||^2 = (1 + 1/(n-1))/2 = n/(2(n-1))."""
    values = torch.eye(d, dtype=torch.float64)[:n]
    dec = decodability(values)
    expected = math.sqrt(n / (2 * (n - 1)))
    np.testing.assert_allclose(dec.rho_i.numpy(), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(dec.rho_upper.numpy(), expected, rtol=0, atol=1e-9)
    e = np.eye(d)[:n]
    for i in range(n):
        x = (e[i] - np.delete(e, i, axis=0).mean(axis=0)) / math.sqrt(2)
        np.testing.assert_allclose(dec.separators[i].numpy(), x / np.linalg.norm(x), atol=1e-7)
    _check_certificate(values.numpy(), dec)


def test_two_points():
    gen = torch.Generator().manual_seed(3)
    values = torch.randn(2, 5, generator=gen, dtype=torch.float64) * torch.tensor([[1.0], [3.0]])
    dec = decodability(values)
    np.testing.assert_allclose(dec.rho_i.numpy(), [1.0, 1.0], atol=1e-12)
    a = (values[0] - values[1]) / (values[0] - values[1]).norm()
    np.testing.assert_allclose(dec.separators[0].numpy(), a.numpy(), atol=1e-12)
    np.testing.assert_allclose(dec.separators[1].numpy(), -a.numpy(), atol=1e-12)


def test_antipodal_pair():
    v = torch.tensor([[0.6, 0.8, 0.0], [-0.6, -0.8, 0.0]], dtype=torch.float64)
    dec = decodability(v)
    np.testing.assert_allclose(dec.rho_i.numpy(), [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(dec.separators.numpy(), v.numpy(), atol=1e-12)


@pytest.mark.parametrize("k", [2, 3, 6])
def test_cross_polytope(k):
    """V = {+-e_1..+-e_k}. For anchor e_1 every a_1j has first coordinate >= 1/sqrt 2
    (a = e_1 for -e_1, (e_1 -+ e_j)/sqrt 2 otherwise), and e_1/sqrt 2 is in the hull:
    rho = 1/sqrt 2, u* = e_1 = v_i."""
    e = torch.eye(k, dtype=torch.float64)
    values = torch.cat([e, -e])
    dec = decodability(values)
    np.testing.assert_allclose(dec.rho_i.numpy(), 1 / math.sqrt(2), atol=1e-9)
    np.testing.assert_allclose(dec.separators.numpy(), values.numpy(), atol=1e-7)


@pytest.mark.parametrize("n", [3, 4, 5, 7, 12, 40])
def test_regular_polygon(n):
    """Regular n-gon on the unit circle: a_0j = (sin(theta_j/2), -cos(theta_j/2)) with
    theta_j = 2 pi j / n spans the arc |angle| <= pi/2 - pi/n, whose hull is closest to the
    origin at the chord between its ends: rho = cos(pi/2 - pi/n) = sin(pi/n), u* = v_i."""
    ang = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n + 0.3
    values = torch.stack([torch.cos(ang), torch.sin(ang)], dim=1)
    dec = decodability(values)
    np.testing.assert_allclose(dec.rho_i.numpy(), math.sin(math.pi / n), atol=1e-9)
    np.testing.assert_allclose(dec.separators.numpy(), values.numpy(), atol=1e-7)


@pytest.mark.parametrize("n", [3, 4, 6, 10])
def test_regular_simplex(n):
    """A centred regular simplex (n unit vectors in R^{n-1}, pairwise <v_i, v_j> = -1/(n-1)) is an
    affine image (shift + scale + rotation) of {e_1..e_n}, so every a_ij is a rotated copy of the
    orthonormal case: rho = sqrt(n / (2(n-1))), and u*_i = v_i by symmetry."""
    e = np.eye(n)
    centred = e - e.mean(axis=0)
    q, _ = np.linalg.qr(centred.T)  # orthonormal basis of the sum-zero plane in its first n-1 cols
    simplex = centred @ q[:, : n - 1]
    simplex /= np.linalg.norm(simplex, axis=1, keepdims=True)
    np.testing.assert_allclose(simplex @ simplex.T, np.where(np.eye(n) > 0, 1.0, -1 / (n - 1)), atol=1e-12)
    dec = decodability(torch.from_numpy(simplex))
    np.testing.assert_allclose(dec.rho_i.numpy(), math.sqrt(n / (2 * (n - 1))), atol=1e-9)
    np.testing.assert_allclose(dec.separators.numpy(), simplex, atol=1e-7)


def test_invariance_under_similarity_transforms():
    """rho depends only on the normalised differences: invariant under shift, positive scaling and
    rotation; the separators rotate with the values."""
    values = make_embeddings("spherical", 30, 6, seed=11)
    gen = torch.Generator().manual_seed(12)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    shift = torch.randn(1, 6, generator=gen, dtype=torch.float64)
    base = decodability(values)
    moved = decodability(2.5 * values @ q + shift)
    np.testing.assert_allclose(moved.rho_i.numpy(), base.rho_i.numpy(), atol=1e-9)
    np.testing.assert_allclose(moved.separators.numpy(), (base.separators @ q).numpy(), atol=1e-6)


def test_batch_size_and_float32_input_do_not_change_the_result():
    values = make_embeddings("spike", 50, 5, seed=21, beta=3.0)
    ref = decodability(values)
    small = decodability(values, batch_size=7, init_size=4, grow=3)
    np.testing.assert_allclose(small.rho_i.numpy(), ref.rho_i.numpy(), atol=1e-8)
    f32 = decodability(values.to(torch.float32))
    assert f32.rho_i.dtype == torch.float64
    np.testing.assert_allclose(
        f32.rho_i.numpy(), _reference_rho(values.to(torch.float32).to(torch.float64).numpy()), atol=ATOL
    )


# --------------------------------------------------------------------------- infeasible values


def _indices_in_message(msg: str) -> list[int]:
    m = re.search(r"indices ([0-9, ]+)", msg)
    assert m, msg
    return [int(s) for s in m.group(1).replace(" ", "").split(",") if s]


def test_value_inside_hull_is_infeasible():
    base = make_embeddings("spherical", 9, 3, seed=4)
    inside = base[[0, 1, 2]].mean(dim=0, keepdim=True)
    values = torch.cat([base[:5], inside, base[5:]])  # the interior point is index 5
    dec = decodability(values)
    assert float(dec.rho_i[5]) == 0.0
    assert dec.feasible.tolist() == [i != 5 for i in range(10)]
    assert torch.all(dec.rho_i[torch.arange(10) != 5] > 0)
    assert torch.count_nonzero(dec.separators[5]) == 0
    with pytest.raises(InfeasibleValuesError) as info:
        dec.check_feasible()
    assert isinstance(info.value, ValueError)
    assert _indices_in_message(str(info.value)) == [5]
    # the feasible points are unaffected by the interior point (cvxpy on the full set)
    np.testing.assert_allclose(dec.rho_i.numpy(), _reference_rho(values.numpy()), atol=ATOL)


def test_midpoint_of_an_edge_is_infeasible():
    base = make_embeddings("spherical", 6, 4, seed=8)
    values = torch.cat([base, (0.5 * (base[1] + base[4]))[None]])
    dec = decodability(values)
    assert float(dec.rho_i[6]) == 0.0
    assert dec.feasible.tolist() == [True] * 6 + [False]


def test_duplicated_values_are_infeasible():
    """With the pre-check off (min_distance=0) the solver itself reports duplicates infeasible; by
    default they raise before it starts (test_duplicated_values_raise_before_solving)."""
    base = make_embeddings("spherical", 8, 4, seed=9)
    values = base.clone()
    values[6] = values[2]
    dec = decodability(values, min_distance=0)
    assert dec.feasible.tolist() == [i not in (2, 6) for i in range(8)]
    assert float(dec.rho_i[2]) == 0.0 and float(dec.rho_i[6]) == 0.0
    with pytest.raises(InfeasibleValuesError) as info:
        dec.check_feasible()
    assert _indices_in_message(str(info.value)) == [2, 6]
    row = summarize(dec)
    assert row["n_infeasible"] == 2 and row["rho"] == 0.0 and row["n_values"] == 8


def test_duplicated_values_raise_before_solving():
    """Default: a duplicated row is a NearDuplicateValuesError (an InfeasibleValuesError) naming both rows."""
    values = make_embeddings("spherical", 8, 4, seed=9)
    values[6] = values[2]
    with pytest.raises(NearDuplicateValuesError) as info:
        decodability(values)
    assert isinstance(info.value, InfeasibleValuesError)
    assert _indices_in_message(str(info.value)) == [2, 6]
    assert info.value.pairs.tolist() == [[2, 6]] and info.value.n_pairs == 1


def test_check_feasible_passes_on_feasible_values():
    dec = decodability(make_embeddings("spherical", 12, 4, seed=1))
    dec.check_feasible()  # no exception
    assert bool(dec.feasible.all())


# --------------------------------------------------------------------------- scale and validation


def test_moderately_large_case_is_certified():
    values = make_embeddings("spherical", 512, 32, seed=2)
    dec = decodability(values)
    gap = dec.rho_upper - dec.rho_i
    assert float(gap.max()) < 1e-8
    assert float(gap.min()) >= -1e-12
    assert bool(dec.feasible.all())
    # spot-check the certificate on a few anchors (computed independently)
    v = values.numpy()
    for i in (0, 100, 511):
        assert (_directions(v, i) @ dec.separators[i].numpy()).min() >= float(dec.rho_i[i]) - 1e-9
    row = summarize(dec)
    assert row["rho"] == pytest.approx(float(dec.rho_i.min()))
    assert row["rho_max_gap"] < 1e-8 and row["n_infeasible"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(1, 3, dtype=torch.float64),
        torch.zeros(0, 3, dtype=torch.float64),
        torch.zeros(5, dtype=torch.float64),
        torch.tensor([[1.0, 0.0], [float("nan"), 1.0], [0.0, -1.0]], dtype=torch.float64),
        torch.tensor([[1.0, 0.0], [float("inf"), 1.0]], dtype=torch.float64),
    ],
    ids=["n=1", "n=0", "1-D", "nan", "inf"],
)
def test_invalid_input_raises(bad):
    with pytest.raises(ValueError):
        decodability(bad)
