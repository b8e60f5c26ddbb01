"""Tests of the v2 Hebbian builders (factmlp.constructions.hebbian) against hand-computed cases and
a dense least-squares reference (numpy), never against their own output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factmlp.capacity import measure_capacity
from factmlp.constructions.hebbian import (
    bilinear_features,
    build_hebbian_mlp,
    fit_bilinear_factor,
    raw_readout,
    ridge_readout,
)
from factmlp.embeddings import make_key_value_tables
from factmlp.facts import FactSet, evaluate_mlp, make_mapping
from factmlp.registry import get_method

pytestmark = pytest.mark.usefixtures("single_thread")

T = torch.float64


def test_hand_computed_two_facts():
    # K = I_2, A0 = [[1, 1]], A1 = [[1, -1]]: phi(k1) = 1 * 1 = 1, phi(k2) = 1 * (-1) = -1
    keys = torch.eye(2, dtype=T)
    a0, a1 = torch.tensor([[1.0, 1.0]], dtype=T), torch.tensor([[1.0, -1.0]], dtype=T)
    feats = bilinear_features(keys, a0, a1)
    assert feats[:, 0].tolist() == [1.0, -1.0]
    targets = torch.tensor([[2.0, 0.0], [0.0, 4.0]], dtype=T)
    # raw readout T^T Phi / N = ([2, 0] * 1 + [0, 4] * (-1)) / 2 = [1, -2]
    assert raw_readout(targets, feats)[:, 0].tolist() == [1.0, -2.0]
    # ridge readout with m = 1 <= N = 2: covariance (1 + 1)/2 = 1, so W = [1, -2] / (1 + lambda)
    w = ridge_readout(targets, feats, 0.25)
    assert w[:, 0].tolist() == pytest.approx([1 / 1.25, -2 / 1.25])
    # dual form (m = 3 > N = 2): W = ((Phi Phi^T + lambda I)^{-1} T)^T Phi, by hand for Phi = [[1,0,0],[0,1,0]]
    phi = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=T)
    w3 = ridge_readout(targets, phi, 1.0)  # (Phi Phi^T + I) = 2 I -> coef = T / 2
    assert np.allclose(w3.numpy(), [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], atol=1e-15)


def test_built_mlp_is_w_phi():
    keys, values = make_key_value_tables("spherical", 20, 20, 6, tied=True, seed=1)
    targets = values[make_mapping(20, 20, kind="permutation", seed=1)]
    g = torch.Generator().manual_seed(5)
    a0 = torch.randn(7, 6, generator=g, dtype=T)
    a1 = torch.randn(7, 6, generator=g, dtype=T)
    mlp = build_hebbian_mlp(keys, targets, 7, seed=5, variant="unwhitened")
    phi = (keys.numpy() @ a0.numpy().T) * (keys.numpy() @ a1.numpy().T) / np.sqrt(7)
    w = targets.numpy().T @ phi / 20
    assert np.allclose(mlp(keys).numpy(), phi @ w.T, atol=1e-12)
    assert mlp.param_count() == 3 * 7 * 6 + 2 * 7 + 6


def test_factor_fit_matches_dense_least_squares():
    g = torch.Generator().manual_seed(2)
    n, d, m = 9, 4, 3
    keys = torch.randn(n, d, generator=g, dtype=T)
    targets = torch.randn(n, d, generator=g, dtype=T)
    partner = torch.randn(m, n, generator=g, dtype=T)
    readout = torch.randn(d, m, generator=g, dtype=T)
    ridge = 1e-3
    got = fit_bilinear_factor(partner, keys, targets, readout, ridge, max_iter=500).numpy()
    # dense reference: S(A) = T W [partner * (A K^T)] is linear in vec(A); solve the ridge problem directly
    kn, tn, pn, wn = keys.numpy(), targets.numpy(), partner.numpy(), readout.numpy()
    cols = []
    for idx in range(m * d):
        e = np.zeros(m * d)
        e[idx] = 1.0
        cols.append((tn @ wn @ (pn * (e.reshape(m, d) @ kn.T))).ravel())
    a_mat = np.stack(cols, axis=1)  # (n*n, m*d)
    lhs = a_mat.T @ a_mat + ridge * np.eye(m * d)
    want = np.linalg.solve(lhs, a_mat.T @ np.eye(n).ravel()).reshape(m, d)
    assert np.allclose(got, want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["hebbian", "hebbian_whitened", "hebbian_data_dependent"])
def test_v2_builders_store_a_small_set(name):
    # |K| = d^2 / 8: the raw Hebbian readout's (x.y)^2 kernel cross-talk stops it near d^2 / 4 at any width
    keys, values = make_key_value_tables("spherical", 32, 32, 16, tied=True, seed=0)
    facts = FactSet(keys, values, make_mapping(32, 32, kind="permutation", seed=0))
    res = measure_capacity(facts, get_method(name), seed=0, width_min=1, width_max=4096, rel_tol=0.05)
    assert res.found
    mlp, _ = get_method(name).build(facts, res.min_width, seed=0)
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0


def test_v2_ordering_matches_the_follow_up_paper():
    # data-dependent < whitened < raw Hebbian in min params on spherical facts (hebbian-mlps Fig. 1)
    keys, values = make_key_value_tables("spherical", 128, 128, 32, tied=True, seed=0)
    facts = FactSet(keys, values, make_mapping(128, 128, kind="permutation", seed=0))
    p = {n: measure_capacity(facts, get_method(n), seed=0, width_min=1, width_max=8192, rel_tol=0.05).param_count
         for n in ("hebbian", "hebbian_whitened", "hebbian_data_dependent")}
    assert p["hebbian_data_dependent"] < p["hebbian_whitened"] < p["hebbian"]


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="variant"):
        get_method("hebbian", variant="bogus")
