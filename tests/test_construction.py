"""Tests of factmlp.constructions.encoder_decoder (Dugan et al.'s encoder-decoder construction).

Expected numbers are closed forms: the hidden width (ceil(n/b) + 2) m', the parameter count
3 h d + 2 h + d, P P^T = I for an orthogonal JL map, Var = 1/m' for a Gaussian one, and at
m' = d with orthogonal P the output is g(k) = P^T P u* = u*_{f(k)}, a unit vector that decodes
f(k) with margin >= rho_f ||v_f - v_j|| against every j (definition of rho). Infeasible value
sets are built so that the bad index is known (a value inside the hull, found by an independent
LP, or a duplicate).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from factmlp.capacity import measure_capacity
from factmlp.constructions import encoder_decoder as ed
from factmlp.constructions.encoder_decoder import (
    ConstructionJL,
    ConstructionSettings,
    build_encoder_decoder,
    jl_projection,
)
from factmlp.constructions.ntk import NTK
from factmlp.decodability import InfeasibleValuesError, decodability
from factmlp.embeddings import make_key_value_tables
from factmlp.facts import FactSet, evaluate_mlp, make_mapping
from factmlp.methods import METHODS
from factmlp.mlp import GatedMLP
from factmlp.registry import get_method

pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)


# --------------------------------------------------------------------------- helpers


def _facts(kind: str, n: int, d: int, seed: int = 0, **params) -> FactSet:
    keys, values = make_key_value_tables(kind, n, n, d, tied=False, seed=seed, **params)
    return FactSet(keys, values, make_mapping(n, n, kind="permutation", seed=seed + 100))


def _hull_scale(values: np.ndarray, k: int) -> float:
    """s_max = max{s : s v_k in conv(v_j, j != k)} by an LP (scipy HiGHS), independent of factmlp."""
    n, d = values.shape
    others = np.delete(values, k, axis=0)
    c = np.zeros(n)
    c[-1] = -1.0  # maximise s; variables (lambda_1..lambda_{n-1}, s)
    a_eq = np.zeros((d + 1, n))
    a_eq[:d, : n - 1] = others.T
    a_eq[:d, -1] = -values[k]
    a_eq[d, : n - 1] = 1.0
    b_eq = np.zeros(d + 1)
    b_eq[d] = 1.0
    res = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * (n - 1) + [(None, None)], method="highs")
    assert res.status == 0, res.message
    return float(-res.fun)


def _barely_exposed(n: int, d: int, seed: int, k: int, eps: float) -> FactSet:
    """Spherical facts where value k is scaled to (1 + eps) times its hull-exit scale: a vertex
    by a hair (rho_k ~ eps), or inside the hull for eps < 0."""
    base = _facts("spherical", n, d, seed=seed)
    v = base.values.clone()
    v[k] = v[k] * _hull_scale(v.numpy(), k) * (1.0 + eps)
    return FactSet(base.keys, v, base.mapping)


def _close_pair(n: int, d: int, seed: int) -> FactSet:
    """Spherical facts where value 1 is value 0 plus a 1e-4 perturbation (then renormalised)."""
    base = _facts("spherical", n, d, seed=seed)
    v = base.values.clone()
    noise = torch.randn(d, generator=torch.Generator().manual_seed(seed + 5), dtype=torch.float64)
    v[1] = v[0] + 1e-4 * noise
    v[1] = v[1] / v[1].norm()
    return FactSet(base.keys, v, base.mapping)


FAMILIES = {
    "spherical": lambda n, d, s: _facts("spherical", n, d, seed=s),
    "spike4": lambda n, d, s: _facts("spike", n, d, seed=s, beta=4.0),
    "kappa16-unnormalised": lambda n, d, s: _facts("kappa", n, d, seed=s, kappa=16.0, normalize=False),
    "minilm": lambda n, d, s: _facts("minilm", n, d, seed=s),
    "spike16": lambda n, d, s: _facts("spike", n, d, seed=s, beta=16.0),
    "close-pair": lambda n, d, s: _close_pair(n, d, s),
    "barely-exposed": lambda n, d, s: _barely_exposed(n, d, s, k=7, eps=1e-3),
}

SIZES = [pytest.param(16, 64, id="d16-n64"), pytest.param(24, 128, id="d24-n128")]


def _hidden(n: int, b: int, m: int) -> int:
    return (math.ceil(n / b) + 2) * m


def _params(h: int, d: int) -> int:
    return 3 * h * d + 2 * h + d


def _storage_check(mlp: GatedMLP, facts: FactSet) -> None:
    """argmax_j <g(k), v_j> = f(k) for every key, computed with numpy (and with evaluate_mlp)."""
    out = mlp(facts.keys).numpy()
    scores = out @ facts.values.numpy().T
    assert np.array_equal(scores.argmax(axis=1), facts.mapping.numpy())
    # strict: the correct score beats every other one
    f = facts.mapping.numpy()
    correct = scores[np.arange(len(f)), f]
    scores[np.arange(len(f)), f] = -np.inf
    assert bool((correct > scores.max(axis=1)).all())
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0


# --------------------------------------------------------------------------- storage at m' = d


@pytest.mark.parametrize("whiten", [False, True], ids=["plain", "whitened"])
@pytest.mark.parametrize(("d", "n"), SIZES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_stores_every_fact_at_code_dim_d(family, d, n, whiten):
    facts = FAMILIES[family](n, d, 0)
    mlp, info = build_encoder_decoder(facts, d, seed=1, settings=ConstructionSettings(whiten=whiten))
    b = d - 4  # documented default bucket size
    assert info["code_dim"] == d and info["bucket_size"] == b
    assert info["encoder_fit_error"] < 1e-8
    h = _hidden(n, b, d)
    assert mlp.hidden == h
    assert mlp.param_count() == _params(h, d)
    _storage_check(mlp, facts)


def test_near_degenerate_families_are_near_degenerate():
    """Sanity of the fixtures above: the near-degenerate sets have a small rho (independent LP
    scale for the barely-exposed value; a close pair has a tiny distance)."""
    d, n = 16, 64
    fs = FAMILIES["barely-exposed"](n, d, 0)
    sp = FAMILIES["spherical"](n, d, 0)
    rho_b, rho_s = decodability(fs.values).rho_i, decodability(sp.values).rho_i
    assert 0 < float(rho_b[7]) < 1e-2 < float(rho_s[7])
    cp = FAMILIES["close-pair"](n, d, 0)
    assert float((cp.values[0] - cp.values[1]).norm()) < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 17])
@pytest.mark.parametrize("family", ["spherical", "spike4", "barely-exposed"])
def test_orthogonal_code_dim_d_decodes_by_definition_of_rho(family, seed):
    """At m' = d, P is a rotation: g(k) = u*_{f(k)}, unit norm, and for every j != f(k)
    <g(k), v_f - v_j> >= rho_f ||v_f - v_j|| > 0, hence accuracy 1 for every seed."""
    d, n = 16, 64
    facts = FAMILIES[family](n, d, 0)
    mlp, _ = build_encoder_decoder(facts, d, seed=seed)
    out = mlp(facts.keys)
    np.testing.assert_allclose(out.norm(dim=1).numpy(), np.ones(n), rtol=0, atol=1e-9)
    rho = decodability(facts.values).rho_i
    v = facts.values
    for i in range(n):
        fi = int(facts.mapping[i])
        diff = v[fi] - v  # (n, d)
        dist = diff.norm(dim=1)
        gap = diff @ out[i]
        mask = torch.arange(n) != fi
        assert bool((gap[mask] >= rho[fi] * dist[mask] - 1e-9).all())
        assert bool((gap[mask] > 0).all())
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0


def test_registry_build_matches_function_and_whitened_method():
    facts = FAMILIES["spike4"](64, 16, 0)
    a, ia = get_method("construction").build(facts, 16, seed=3)
    b, ib = build_encoder_decoder(facts, 16, seed=3)
    assert ia == ib
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    # with the ridge choice switched off, construction_whitened whitens at the fixed ridge
    c, _ = get_method("construction_whitened", whiten_ridges=()).build(facts, 16, seed=3)
    d_, _ = build_encoder_decoder(facts, 16, seed=3, settings=ConstructionSettings(whiten=True))
    for pc, pd in zip(c.parameters(), d_.parameters()):
        assert torch.equal(pc, pd)
    assert c.param_count() == a.param_count()
    assert not torch.equal(c.down.weight, a.down.weight)
    # by default it chooses by rho; spike4 is row-normalised, where whitening lowers rho (checked
    # independently in tests/test_whitening.py), so the choice is "off": exactly the construction
    e, ie = get_method("construction_whitened").build(facts, 16, seed=3)
    assert ie["whiten_choice"] == "off"
    for pa, pe in zip(a.parameters(), e.parameters()):
        assert torch.equal(pa, pe)


# --------------------------------------------------------------------------- sizes and params


@pytest.mark.parametrize(
    ("d", "n", "m", "b"),
    [(16, 64, 16, 0), (16, 64, 5, 0), (16, 64, 1, 0), (16, 64, 8, 16), (16, 64, 8, 1), (12, 50, 7, 5), (16, 65, 3, 12)],
)
def test_param_count_closed_form(d, n, m, b):
    facts = _facts("spherical", n, d, seed=4)
    mlp, info = build_encoder_decoder(facts, m, seed=0, settings=ConstructionSettings(bucket_size=b))
    b_eff = b or d - 4
    h = _hidden(n, b_eff, m)
    assert info["bucket_size"] == b_eff
    assert mlp.hidden == h
    assert mlp.param_count() == 3 * h * d + 2 * h + d
    assert all(p.dtype == torch.float64 for p in mlp.parameters())


@pytest.mark.parametrize("b", [-1, 40])  # 40 > d with 64 keys: (ceil(64/40) + 1) 16 = 48 unknowns < 64 keys
def test_bad_bucket_size_setting(b):
    facts = _facts("spherical", 64, 16, seed=0)
    with pytest.raises(ValueError, match="bucket_size"):
        build_encoder_decoder(facts, 16, seed=0, settings=ConstructionSettings(bucket_size=b))


@pytest.mark.parametrize("m", [0, 17])
def test_bad_code_dim(m):
    facts = _facts("spherical", 32, 16, seed=0)
    with pytest.raises(ValueError, match="code dimension"):
        build_encoder_decoder(facts, m, seed=0)


def test_gaussian_projection_builds_same_size():
    facts = _facts("spherical", 64, 16, seed=0)
    mlp, info = build_encoder_decoder(facts, 10, seed=0, settings=ConstructionSettings(projection="gaussian"))
    assert mlp.param_count() == _params(_hidden(64, 12, 10), 16)
    assert info["encoder_fit_error"] < 1e-8


# --------------------------------------------------------------------------- JL projection


@pytest.mark.parametrize(("m", "d"), [(1, 1), (1, 16), (5, 16), (16, 16), (40, 64)])
def test_orthogonal_projection_has_orthonormal_rows(m, d):
    p = jl_projection(m, d, kind="orthogonal", generator=torch.Generator().manual_seed(m * d))
    assert p.shape == (m, d) and p.dtype == torch.float64
    np.testing.assert_allclose((p @ p.T).numpy(), np.eye(m), rtol=0, atol=1e-12)
    if m == d:  # a rotation: also P^T P = I
        np.testing.assert_allclose((p.T @ p).numpy(), np.eye(d), rtol=0, atol=1e-12)


def test_gaussian_projection_scale():
    """Entries i.i.d. N(0, 1/m'): for 200 x 400 = 80000 draws the sample variance is within
    ~0.5 % (1 s.d.) of 1/m'; a 4 % tolerance is ~8 s.d., and the mean is ~0."""
    m, d = 200, 400
    p = jl_projection(m, d, kind="gaussian", generator=torch.Generator().manual_seed(0)).numpy()
    assert p.shape == (m, d)
    var = p.var()
    assert abs(var * m - 1.0) < 0.04
    assert abs(p.mean()) < 8 * math.sqrt(1.0 / m / p.size)
    # rows have squared norm ~ d/m' on average
    assert abs((p**2).sum(axis=1).mean() - d / m) < 0.04 * d / m


def test_projection_errors_and_determinism():
    with pytest.raises(ValueError, match="unknown projection"):
        jl_projection(2, 4, kind="hadamard", generator=torch.Generator().manual_seed(0))
    for m in (0, 5):
        with pytest.raises(ValueError):
            jl_projection(m, 4, kind="orthogonal", generator=torch.Generator().manual_seed(0))
    a = jl_projection(3, 8, kind="orthogonal", generator=torch.Generator().manual_seed(7))
    b = jl_projection(3, 8, kind="orthogonal", generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


# --------------------------------------------------------------------------- infeasible values


def _bad_indices(message: str) -> set[int]:
    tail = message.split("value indices", 1)[1]
    return {int(x) for x in re.findall(r"\d+", tail)}


def _no_build(monkeypatch):
    """Make any attempt to build (projection or encoder fit) fail loudly."""

    def boom(*args, **kwargs):
        raise AssertionError("building started before the infeasibility check")

    monkeypatch.setattr(ed, "fit_piecewise_encoder", boom)
    monkeypatch.setattr(ed, "jl_projection", boom)


@pytest.mark.parametrize("whiten", [False, True], ids=["plain", "whitened"])
def test_value_inside_hull_raises_before_building(monkeypatch, whiten):
    base = _facts("spherical", 64, 16, seed=0)
    v = base.values.clone()
    v[5] = (v[0] + v[1] + v[2]) / 3.0  # strictly inside the hull of the other values
    facts = FactSet(base.keys, v, base.mapping)
    _no_build(monkeypatch)
    with pytest.raises(InfeasibleValuesError) as info:
        build_encoder_decoder(facts, 16, seed=0, settings=ConstructionSettings(whiten=whiten))
    assert _bad_indices(str(info.value)) == {5}


@pytest.mark.parametrize("whiten", [False, True], ids=["plain", "whitened"])
def test_duplicate_values_raise_before_building(monkeypatch, whiten):
    base = _facts("spherical", 64, 16, seed=0)
    v = base.values.clone()
    v[9] = v[4]
    facts = FactSet(base.keys, v, base.mapping)
    _no_build(monkeypatch)
    with pytest.raises(InfeasibleValuesError) as info:
        build_encoder_decoder(facts, 16, seed=0, settings=ConstructionSettings(whiten=whiten))
    assert _bad_indices(str(info.value)) == {4, 9}


def test_value_just_inside_hull_raises(monkeypatch):
    """The LP puts value 7 at 0.999 of its hull-exit scale: inside the hull, infeasible."""
    facts = _barely_exposed(64, 16, seed=0, k=7, eps=-1e-3)
    _no_build(monkeypatch)
    with pytest.raises(InfeasibleValuesError) as info:
        build_encoder_decoder(facts, 16, seed=0)
    assert _bad_indices(str(info.value)) == {7}


def test_infeasible_error_is_a_value_error():
    assert issubclass(InfeasibleValuesError, ValueError)


# --------------------------------------------------------------------------- capacity


@pytest.mark.parametrize("family", ["spherical", "spike4"])
def test_measure_capacity_construction(family):
    d, n = 16, 64
    facts = FAMILIES[family](n, d, 0)
    res = measure_capacity(facts, get_method("construction"), seed=0)
    assert res.found
    assert res.size_name == "code_dim"
    assert 1 <= res.min_width <= d
    b = d - 4
    assert res.hidden == _hidden(n, b, res.min_width)
    assert res.param_count == _params(res.hidden, d)
    assert res.accuracy == 1.0
    assert all(p.width <= d for p in res.probes)
    for p in res.probes:
        assert p.hidden == _hidden(n, b, p.width)
    # the reported size stores the set; one less does not (rel_tol rounds to 1 below 20)
    mlp, _ = build_encoder_decoder(facts, res.min_width, seed=0)
    assert evaluate_mlp(mlp, facts)["accuracy"] == 1.0
    if res.min_width > 1:
        smaller, _ = build_encoder_decoder(facts, res.min_width - 1, seed=0)
        assert evaluate_mlp(smaller, facts)["accuracy"] < 1.0


# --------------------------------------------------------------------------- registry



def test_settings_defaults_differ_as_documented():
    c, cw = get_method("construction").settings, get_method("construction_whitened").settings
    assert c.whiten is False and cw.whiten is True
    assert (c.projection, c.bucket_size) == ("orthogonal", 0) == (cw.projection, cw.bucket_size)
    assert c.whiten_ridge == cw.whiten_ridge and c.ridge == cw.ridge
    n, nw, nu = (get_method(k).settings for k in ("ntk", "ntk_whitened", "ntk_ustar"))
    assert (n.whiten, n.output) == (False, "values")
    assert (nw.whiten, nw.output) == (True, "values")
    assert (nu.whiten, nu.output) == (False, "separators")
    assert n.activation == nw.activation == nu.activation
    assert n.hermite_degree == nw.hermite_degree == nu.hermite_degree
    # the searched size of the construction is the code dimension, capped at d
    facts = _facts("spherical", 8, 6, seed=0)
    for name in ("construction", "construction_whitened"):
        m = get_method(name)
        assert m.size_name == "code_dim" and m.max_size(facts) == 6
    assert isinstance(get_method("ntk"), NTK) and get_method("ntk").max_size(facts) is None  # width: no cap


def test_infeasible_value_that_is_no_target_is_allowed():
    """Only *target* values must be decodable: a value inside the hull that no key maps to is fine."""
    base = _facts("spherical", 64, 16, seed=0)
    v = base.values.clone()
    v[5] = (v[0] + v[1] + v[2]) / 3.0
    g = torch.Generator().manual_seed(1)
    choices = torch.tensor([j for j in range(64) if j != 5])
    mapping = choices[torch.randint(0, 63, (64,), generator=g)]
    facts = FactSet(base.keys, v, mapping)
    mlp, _ = build_encoder_decoder(facts, 16, seed=0)
    _storage_check(mlp, facts)


# --------------------------------------------------------------------------- construction_jl (Gaussian, m' > d)


def test_construction_jl_settings_and_max_size():
    """construction_jl: Gaussian P, m' searched up to ceil(8 d); the plain construction keeps the
    cap d by default, and an orthogonal P stays capped at d whatever the factor."""
    s = get_method("construction_jl").settings
    assert METHODS["construction_jl"] is ConstructionJL
    assert (s.projection, s.code_dim_max_factor, s.whiten, s.whiten_ridges) == ("gaussian", 8.0, False, ())
    facts = _facts("spherical", 8, 6, seed=0)
    assert get_method("construction_jl").max_size(facts) == 48
    assert get_method("construction_jl", code_dim_max_factor=2.5).max_size(facts) == 15
    assert get_method("construction_jl", projection="orthogonal").max_size(facts) == 6
    assert get_method("construction", code_dim_max_factor=8.0).max_size(facts) == 6  # orthogonal
    assert get_method("construction").settings.code_dim_max_factor == 1.0
    assert get_method("construction", projection="gaussian").max_size(facts) == 6  # as before
    with pytest.raises(ValueError, match="code_dim_max_factor"):
        get_method("construction_jl", code_dim_max_factor=0)


@pytest.mark.parametrize("m", [5, 9, 40])
def test_orthogonal_projection_rejects_code_dim_above_d(m):
    with pytest.raises(ValueError, match="orthogonal"):
        jl_projection(m, 4, kind="orthogonal", generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="orthogonal"):
        build_encoder_decoder(_facts("spherical", 16, 4, seed=0), m, seed=0)


def test_gaussian_projection_above_d_is_isometric_on_average():
    """m' > d: (m', d) i.i.d. N(0, 1/m'), so E[P^T P] = I_d; with m' = 4000, d = 8 each entry of
    P^T P - I has s.d. <= sqrt(2/m') ~ 0.022, and 0.15 is ~7 s.d."""
    m, d = 4000, 8
    p = jl_projection(m, d, kind="gaussian", generator=torch.Generator().manual_seed(3))
    assert p.shape == (m, d) and p.dtype == torch.float64
    assert abs(float(p.var()) * m - 1.0) < 0.05
    np.testing.assert_allclose((p.T @ p).numpy(), np.eye(d), rtol=0, atol=0.15)


def test_gaussian_code_dim_above_d_stores_where_orthogonal_needs_d():
    """Spherical d = 8, |K| = 32: the orthogonal construction needs its cap m' = d (m' = d - 1
    fails); the Gaussian one at m' = 4 d > d stores every fact (numpy argmax check), with the
    closed-form width (ceil(n/b) + 2) m' and an exact encoder fit."""
    d, n, m = 8, 32, 32
    facts = _facts("spherical", n, d, seed=0)
    below, _ = build_encoder_decoder(facts, d - 1, seed=0)
    assert evaluate_mlp(below, facts)["accuracy"] < 1.0
    full, _ = build_encoder_decoder(facts, d, seed=0)
    _storage_check(full, facts)
    mlp, info = get_method("construction_jl").build(facts, m, seed=0)
    assert info["code_dim"] == m and info["encoder_fit_error"] < 1e-8
    assert mlp.hidden == _hidden(n, d - 4, m) and mlp.param_count() == _params(mlp.hidden, d)
    _storage_check(mlp, facts)
    # and the MLP is P^T e(x) with P the Gaussian map drawn from the seed: g(k) = P^T P u*_f(k)
    p = jl_projection(m, d, kind="gaussian", generator=torch.Generator().manual_seed(0))
    u = decodability(facts.values).separators[facts.mapping]
    np.testing.assert_allclose(mlp(facts.keys).numpy(), (u @ p.T @ p).numpy(), rtol=0, atol=1e-8)


def test_construction_jl_capacity_search_goes_past_d():
    """The search of construction_jl can return m' > d (spherical d = 8, |K| = 32 needs m' = d
    orthogonal, more with a Gaussian P), never probes past 8 d, and its answer is tight:
    the reported m' stores the set, m' - 1 does not (rel_tol 0)."""
    d, n = 8, 32
    facts = _facts("spherical", n, d, seed=0)
    orth = measure_capacity(facts, get_method("construction"), seed=0, rel_tol=0)
    assert orth.found and orth.min_width == d
    res = measure_capacity(facts, get_method("construction_jl"), seed=0, rel_tol=0)
    assert res.found and d < res.min_width <= 8 * d
    assert max(p.width for p in res.probes) <= 8 * d
    assert res.hidden == _hidden(n, d - 4, res.min_width)
    jl = get_method("construction_jl")
    mlp, _ = jl.build(facts, res.min_width, seed=0)
    _storage_check(mlp, facts)
    smaller, _ = jl.build(facts, res.min_width - 1, seed=0)
    assert evaluate_mlp(smaller, facts)["accuracy"] < 1.0


def test_construction_jl_max_factor_bounds_the_search():
    """A set that needs more than factor x d is reported as not found, every probe <= the cap."""
    d, n = 8, 32
    facts = _facts("spherical", n, d, seed=0)
    res = measure_capacity(facts, get_method("construction_jl", code_dim_max_factor=1.5), seed=0, rel_tol=0)
    assert not res.found and max(p.width for p in res.probes) == 12


@pytest.mark.parametrize("kind", ["spherical", "spike"])
def test_one_constant_neuron_stores_the_same_facts_with_fewer_params(kind):
    """constant_neurons=1 at the same code dimension: same storage, m' fewer neurons, i.e.
    m' (3d + 2) fewer parameters (each neuron has a gate and an up row, a down column, two biases)."""
    d, n, m = 16, 64, 16
    facts = _facts(kind, n, d, seed=3, **({"beta": 4.0} if kind == "spike" else {}))
    two, _ = build_encoder_decoder(facts, m, seed=0)
    one, _ = build_encoder_decoder(facts, m, seed=0, settings=ConstructionSettings(constant_neurons=1))
    assert two.param_count() - one.param_count() == m * (3 * d + 2)
    assert evaluate_mlp(one, facts)["accuracy"] == evaluate_mlp(two, facts)["accuracy"] == 1.0
    torch.testing.assert_close(one(facts.keys), two(facts.keys), rtol=1e-8, atol=1e-8)
