"""Tests of factmlp.whitening and of the whitened / u* NTK variants.

Covariances, means and whitened tables are recomputed with numpy (population covariance,
Sigma = (1/n) sum (v - mu)(v - mu)^T, the convention of the module docstring). The fold is
checked through its defining identity <W^T g(k), v_j> = <g(k), W (v_j - mu)> + <g(k), W mu>.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factmlp.constructions.ntk import build_ntk_mlp
from factmlp.decodability import decodability
from factmlp.embeddings import make_embeddings
from factmlp.facts import FactSet, make_mapping
from factmlp.mlp import GatedMLP
from factmlp.registry import get_method
from factmlp.whitening import (
    choose_whitening,
    fold_whitening,
    parse_whiten_ridges,
    whiten_values,
    whitening_label,
    whitening_transform,
)

pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)


def _cov(v: np.ndarray) -> np.ndarray:
    c = v - v.mean(axis=0)
    return c.T @ c / v.shape[0]


TABLES = {
    "spike8-unnormalised": lambda: make_embeddings("spike", 200, 16, seed=0, beta=8.0, normalize=False),
    "kappa16-unnormalised": lambda: make_embeddings("kappa", 150, 12, seed=1, kappa=16.0, normalize=False),
    "spherical": lambda: make_embeddings("spherical", 100, 8, seed=2),
    "gaussian-shifted": lambda: torch.randn(64, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    * torch.tensor([5.0, 1.0, 0.2, 3.0, 0.05], dtype=torch.float64)
    + 7.0,
}


# --------------------------------------------------------------------------- transform


@pytest.mark.parametrize("name", list(TABLES))
def test_transform_whitens_covariance(name):
    v = TABLES[name]()
    mu, w = whitening_transform(v, ridge=0.0)
    vn = v.numpy()
    sigma = _cov(vn)
    assert np.allclose(np.cov(vn, rowvar=False, bias=True), sigma)
    wn = w.numpy()
    assert w.dtype == mu.dtype == torch.float64
    np.testing.assert_allclose(mu.numpy(), vn.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(wn, wn.T, rtol=0, atol=0)  # symmetric
    assert np.linalg.eigvalsh(wn).min() > 0  # positive definite: the unique inverse square root
    np.testing.assert_allclose(wn @ sigma @ wn, np.eye(sigma.shape[0]), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", list(TABLES))
def test_whitened_values_zero_mean_identity_covariance(name):
    v = TABLES[name]()
    vw, w = whiten_values(v, ridge=0.0)
    assert vw.shape == v.shape and vw.dtype == torch.float64
    vwn = vw.numpy()
    np.testing.assert_allclose(vwn.mean(axis=0), 0.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(_cov(vwn), np.eye(v.shape[1]), rtol=0, atol=1e-9)
    # and it is W (v - mu) with W, mu from whitening_transform
    mu, w2 = whitening_transform(v, ridge=0.0)
    assert torch.equal(w, w2)
    np.testing.assert_allclose(vwn, (v.numpy() - mu.numpy()) @ w.numpy().T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ridge", [1e-6, 1e-2, 0.5])
def test_transform_with_ridge(ridge):
    """W = (Sigma + r tr(Sigma)/d I)^{-1/2}: W S W = I for S = Sigma + r tr(Sigma)/d I."""
    v = TABLES["spike8-unnormalised"]()
    _, w = whitening_transform(v, ridge=ridge)
    sigma = _cov(v.numpy())
    d = sigma.shape[0]
    s = sigma + ridge * np.trace(sigma) / d * np.eye(d)
    wn = w.numpy()
    np.testing.assert_allclose(wn @ s @ wn, np.eye(d), rtol=0, atol=1e-9)
    # compare with an eigendecomposition done here (numpy)
    lam, q = np.linalg.eigh(s)
    np.testing.assert_allclose(wn, (q / np.sqrt(lam)) @ q.T, rtol=0, atol=1e-8 * np.abs(wn).max())


def test_default_ridge_handles_few_values():
    """|V| <= d with the default ridge: no error; the result whitens Sigma + r tr(Sigma)/d I."""
    v = make_embeddings("spherical", 6, 10, seed=0)
    _, w = whitening_transform(v)
    sigma = _cov(v.numpy())
    s = sigma + 1e-6 * np.trace(sigma) / 10 * np.eye(10)
    np.testing.assert_allclose(w.numpy() @ s @ w.numpy(), np.eye(10), rtol=0, atol=1e-6)


def test_negative_ridge_raises():
    v = TABLES["spherical"]()
    with pytest.raises(ValueError, match="ridge"):
        whitening_transform(v, ridge=-1e-3)
    with pytest.raises(ValueError, match="ridge"):
        whiten_values(v, ridge=-1.0)


# Singular covariances (|V| <= d, so rank(Sigma) <= |V| - 1 < d) with ridge = 0.
SINGULAR_OK = [
    pytest.param(lambda: make_embeddings("spherical", 2, 4, seed=0), id="spherical-n2-d4"),
    pytest.param(lambda: make_embeddings("spherical", 5, 8, seed=0), id="spherical-n5-d8"),
    pytest.param(lambda: make_embeddings("spherical", 9, 16, seed=0), id="spherical-n9-d16"),
    pytest.param(lambda: torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), id="e1-e2"),
]
SINGULAR_MISSED = [
    pytest.param(lambda: torch.tensor([[0.1, 0.2], [0.3, 0.7]], dtype=torch.float64), id="n2-d2"),
    pytest.param(
        lambda: torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [0.0, 1.0, 7.0]], dtype=torch.float64),
        id="n3-d3",
    ),
    pytest.param(lambda: make_embeddings("spherical", 2, 2, seed=0), id="spherical-n2-d2"),
]


@pytest.mark.parametrize("table", SINGULAR_OK + SINGULAR_MISSED)
def test_singular_covariance_without_ridge_raises(table):
    v = table()
    assert np.linalg.matrix_rank(_cov(v.numpy())) < v.shape[1]  # singular by construction
    with pytest.raises(ValueError, match="singular"):
        whitening_transform(v, ridge=0.0)


# --------------------------------------------------------------------------- fold


def _random_mlp(d: int, h: int, seed: int, activation: str = "relu") -> GatedMLP:
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return GatedMLP.from_weights(
        gate_w=r(h, d), gate_b=r(h), up_w=r(h, d), up_b=r(h), down_w=r(d, h), down_b=r(d), activation=activation
    )


@pytest.mark.parametrize("activation", ["relu", "silu"])
@pytest.mark.parametrize("name", ["spike8-unnormalised", "kappa16-unnormalised", "gaussian-shifted"])
def test_fold_preserves_every_decision(name, activation):
    v = TABLES[name]()
    n, d = v.shape
    keys = torch.randn(300, d, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    g_tilde = _random_mlp(d, 37, seed=5, activation=activation)
    before = [p.clone() for p in g_tilde.parameters()]
    mu, w = whitening_transform(v, ridge=1e-6)
    folded = fold_whitening(g_tilde, w)

    vn, mun, wn = v.numpy(), mu.numpy(), w.numpy()
    v_white = (vn - mun) @ wn.T  # W (v_j - mu), computed here
    out_tilde = g_tilde(keys).numpy()
    s_orig = folded(keys).numpy() @ vn.T  # <W^T g~(k), v_j>
    s_white = out_tilde @ v_white.T  # <g~(k), W (v_j - mu)>
    assert np.array_equal(s_orig.argmax(axis=1), s_white.argmax(axis=1))
    # score differences agree (the shift is common to all j) ...
    diff_orig = s_orig - s_orig[:, :1]
    diff_white = s_white - s_white[:, :1]
    scale = max(1.0, float(np.abs(s_orig).max()))
    assert float(np.abs(diff_orig - diff_white).max()) < 1e-9 * scale
    # ... and the shift is exactly <g~(k), W mu>
    shift = out_tilde @ (wn @ mun)
    assert float(np.abs(s_orig - s_white - shift[:, None]).max()) < 1e-9 * scale
    # the folded network is x -> W^T g~(x), same shape, same activation, same parameter count
    np.testing.assert_allclose(folded(keys).numpy(), out_tilde @ wn, rtol=1e-12, atol=1e-9 * scale)
    assert folded.param_count() == g_tilde.param_count() == 3 * 37 * d + 2 * 37 + d
    assert folded.activation == activation and folded.hidden == 37
    # the input network is untouched
    for p, q in zip(before, g_tilde.parameters()):
        assert torch.equal(p, q)


def test_fold_rectangular_output():
    """fold works on the output side only: d_in may differ from d_out."""
    g = torch.Generator().manual_seed(0)
    mlp = GatedMLP.from_weights(
        gate_w=torch.randn(6, 3, generator=g, dtype=torch.float64),
        up_w=torch.randn(6, 3, generator=g, dtype=torch.float64),
        down_w=torch.randn(4, 6, generator=g, dtype=torch.float64),
        down_b=torch.randn(4, generator=g, dtype=torch.float64),
    )
    w = torch.randn(4, 4, generator=g, dtype=torch.float64)
    x = torch.randn(10, 3, generator=g, dtype=torch.float64)
    folded = fold_whitening(mlp, w)
    np.testing.assert_allclose(folded(x).numpy(), mlp(x).numpy() @ w.numpy(), rtol=1e-12, atol=1e-12)
    assert folded.param_count() == mlp.param_count()


# --------------------------------------------------------------------------- rho


@pytest.mark.parametrize("seed", [0, 1])
def test_whitening_raises_rho_for_unnormalised_spike(seed):
    """Anisotropic norms (spike beta 8, normalize=False): whitening makes the values far more
    decodable (Dugan et al. Fig. 2a)."""
    v = make_embeddings("spike", 64, 16, seed=seed, beta=8.0, normalize=False)
    rho = decodability(v).rho
    rho_white = decodability(whiten_values(v)[0]).rho
    assert rho > 0
    assert rho_white > rho
    assert rho_white > 1.5 * rho  # observed ~3x; a clear margin, not rounding


# --------------------------------------------------------------------------- NTK variants


def _ntk_facts(d: int = 16, n: int = 64) -> FactSet:
    keys = make_embeddings("spherical", n, d, seed=11)
    values = make_embeddings("spike", n, d, seed=12, beta=8.0, normalize=False)
    return FactSet(keys, values, make_mapping(n, n, kind="permutation", seed=13))


@pytest.mark.parametrize("width", [1, 64, 300])
def test_ntk_variants_same_param_count(width):
    facts = _ntk_facts()
    d = facts.d
    counts = {}
    for name in ("ntk", "ntk_whitened", "ntk_ustar"):
        mlp, metrics = get_method(name).build(facts, width, seed=0)
        assert isinstance(mlp, GatedMLP) and isinstance(metrics, dict)
        assert mlp.hidden == width
        assert all(p.dtype == torch.float64 for p in mlp.parameters())
        counts[name] = mlp.param_count()
    assert set(counts.values()) == {3 * width * d + 2 * width + d}


def test_ntk_whitened_is_ntk_for_whitened_values_folded():
    """ntk_whitened decides like an NTK built here for W (v - mu) (numpy whitening, ridge 1e-6)."""
    facts = _ntk_facts()
    width, seed = 256, 3
    mlp, _ = get_method("ntk_whitened").build(facts, width, seed=seed)
    vn = facts.values.numpy()
    sigma = _cov(vn)
    d = sigma.shape[0]
    lam, q = np.linalg.eigh(sigma + 1e-6 * np.trace(sigma) / d * np.eye(d))
    wn = (q / np.sqrt(lam)) @ q.T
    v_white = (vn - vn.mean(axis=0)) @ wn
    ref = build_ntk_mlp(facts.keys, torch.from_numpy(v_white)[facts.mapping], width, seed=seed)
    s_orig = mlp(facts.keys).numpy() @ vn.T
    s_white = ref(facts.keys).numpy() @ v_white.T
    assert np.array_equal(s_orig.argmax(axis=1), s_white.argmax(axis=1))
    scale = max(1.0, float(np.abs(s_orig).max()))
    assert float(np.abs((s_orig - s_orig[:, :1]) - (s_white - s_white[:, :1])).max()) < 1e-8 * scale


def test_ntk_ustar_shares_random_features_with_ntk():
    """G and D are drawn from the seed alone; only the Hebbian U depends on the targets."""
    facts = _ntk_facts()
    a, _ = get_method("ntk").build(facts, 128, seed=2)
    u, _ = get_method("ntk_ustar").build(facts, 128, seed=2)
    assert torch.equal(a.gate.weight, u.gate.weight)
    assert torch.equal(a.down.weight, u.down.weight)
    assert not torch.equal(a.up.weight, u.up.weight)


def test_ntk_bad_output_setting():
    with pytest.raises(ValueError, match="output"):
        get_method("ntk", output="codes").build(_ntk_facts(), 8, seed=0)


# --------------------------------------------------------------------------- whitening chosen by rho

RIDGES = ("off", 1e-6, 1e-3, 1e-2, 0.1, 1.0, 10.0)  # construction_whitened's default options


def _independent_rhos(v: torch.Tensor, ridges) -> dict[str, float]:
    """rho_min of the raw table ("off") and of the table whitened here with numpy, for each ridge
    (W = (Sigma + r tr(Sigma)/d I)^{-1/2} by numpy's eigh), by the uncached decodability."""
    vn = v.numpy()
    sigma = _cov(vn)
    d = sigma.shape[0]
    out = {}
    for r in ridges:
        if r == "off":
            out["off"] = decodability(v).rho
            continue
        lam, q = np.linalg.eigh(sigma + r * np.trace(sigma) / d * np.eye(d))
        wn = (q / np.sqrt(lam)) @ q.T
        out[f"ridge {r:g}"] = decodability(torch.from_numpy((vn - vn.mean(axis=0)) @ wn)).rho
    return out


def _spike8_normalised():
    return make_embeddings("spike", 48, 12, seed=0, beta=8.0)


def _spike16_unnormalised():
    return make_embeddings("spike", 48, 12, seed=0, beta=16.0, normalize=False)


def test_choose_whitening_row_normalised_spike_picks_off():
    """Row-normalised spike: whitening lowers rho_min at every ridge (review Check 7), so "off"."""
    v = _spike8_normalised()
    ref = _independent_rhos(v, RIDGES)
    assert all(ref["off"] > r for k, r in ref.items() if k != "off")  # the premise, independently
    label, ridge, rhos = choose_whitening(v, RIDGES)
    assert (label, ridge) == ("off", None)
    assert set(rhos) == set(ref)
    for k in ref:
        assert rhos[k] == pytest.approx(ref[k], rel=1e-7, abs=1e-9), k


def test_choose_whitening_unnormalised_spike_picks_the_best_ridge():
    """Unnormalised spike (beta 16): some ridge raises rho_min well above "off"; the choice is the
    argmax of independently computed rhos."""
    v = _spike16_unnormalised()
    ref = _independent_rhos(v, RIDGES)
    label, ridge, rhos = choose_whitening(v, RIDGES)
    assert label == max(ref, key=ref.get) and label != "off"
    assert label == whitening_label(ridge) and ridge in RIDGES[1:]
    assert ref[label] > 2 * ref["off"]  # observed ~6x: not rounding
    for k in ref:
        assert rhos[k] == pytest.approx(ref[k], rel=1e-7, abs=1e-9), k
    # the options are order-free
    assert choose_whitening(v, tuple(reversed(RIDGES)))[:2] == (label, ridge)


def test_choose_whitening_ties_go_to_off_then_smaller_ridge():
    """The cross-polytope {+-e_i} has mean 0 and covariance I/d, so every ridge whitens it to a
    scaled copy: rho_min is the same for every option (scale invariance), and the tie goes to
    "off", or, without "off", to the smallest ridge."""
    d = 6
    v = torch.cat([torch.eye(d, dtype=torch.float64), -torch.eye(d, dtype=torch.float64)])
    assert np.allclose(_cov(v.numpy()), np.eye(d) / d)
    label, ridge, rhos = choose_whitening(v, (10.0, 0.1, "off", 1.0))
    assert (label, ridge) == ("off", None)
    assert max(rhos.values()) - min(rhos.values()) < 1e-9
    assert choose_whitening(v, (10.0, 1.0, 0.1))[:2] == ("ridge 0.1", 0.1)


def test_choose_whitening_skips_a_singular_ridge_zero():
    """|V| <= d: ridge 0 cannot whiten (singular covariance), recorded as NaN and not chosen."""
    v = make_embeddings("spherical", 6, 10, seed=0)
    label, _, rhos = choose_whitening(v, (0.0, "off"))
    assert label == "off" and np.isnan(rhos["ridge 0"])
    with pytest.raises(ValueError, match="singular"):
        choose_whitening(v, (0.0,))


@pytest.mark.parametrize("bad", [[-1.0], ["of"], [True], [float("nan")], "off", [None]])
def test_whiten_ridges_rejects_bad_entries(bad):
    with pytest.raises(ValueError, match="whiten_ridges"):
        parse_whiten_ridges(bad)
    with pytest.raises(ValueError, match="whiten_ridges"):
        get_method("construction_whitened", whiten_ridges=bad)


def test_whiten_ridges_from_yaml_lists():
    """A YAML list becomes a tuple ("off" kept, numeric strings such as YAML's 1e-6 parsed)."""
    m = get_method("construction_whitened", whiten_ridges=["off", "1e-6", 0.1, 1])
    assert m.settings.whiten_ridges == ("off", 1e-6, 0.1, 1.0)
    n = get_method("ntk_whitened", whiten_ridges=["off", 0.1])
    assert n.settings.whiten_ridges == ("off", 0.1)
    with pytest.raises(ValueError, match="whiten is false"):
        get_method("construction", whiten_ridges=["off", 0.1])
    assert get_method("construction_whitened").settings.whiten_ridges == RIDGES
    assert get_method("ntk_whitened").settings.whiten_ridges == ()


def test_schema_accepts_whiten_ridges_and_code_dim_max_factor():
    from conftest import SCHEMA, TINY_CONFIG, load_yaml
    from factmlp.config import ConfigError, validate_config

    def config(**methods) -> dict:
        cfg = load_yaml(TINY_CONFIG)
        cfg.setdefault("methods", {}).update(methods)
        return cfg

    cfg = config(construction_whitened={"whiten_ridges": ["off", 1.0e-6, 0.1, 10]},
                 construction_jl={"code_dim_max_factor": 4.0}, ntk_whitened={"whiten_ridges": ["off", 1.0]})
    cfg["capacity"]["sweeps"][0]["methods"].append("construction_jl")
    validate_config(cfg, SCHEMA)
    for name in ("construction_whitened", "construction_jl", "ntk_whitened"):
        get_method(name, **cfg["methods"][name])  # the validated settings build the method
    for key, value in [("whiten_ridges", [False]), ("whiten_ridges", [-0.1]), ("whiten_ridges", ["on"]),
                       ("code_dim_max_factor", 0)]:
        bad = config(construction_whitened={key: value})
        with pytest.raises(ConfigError, match=f"methods.construction_whitened.{key}"):
            validate_config(bad, SCHEMA)


def _whitening_facts(values: torch.Tensor) -> FactSet:
    n, d = values.shape
    return FactSet(make_embeddings("spherical", n, d, seed=21), values, make_mapping(n, n, kind="permutation", seed=22))


def test_construction_whitened_off_is_the_construction():
    """On a row-normalised family the choice is "off": construction_whitened builds exactly the
    construction's MLP, its capacity search finds the same size (gain exactly 1), and the capacity
    result names the choice in its variant."""
    from factmlp.capacity import measure_capacity

    facts = _whitening_facts(_spike8_normalised())
    plain = measure_capacity(facts, get_method("construction"), seed=0)
    white = measure_capacity(facts, get_method("construction_whitened"), seed=0)
    assert white.variant == "whiten=off" and all(p.variant == "whiten=off" for p in white.probes)
    assert (white.found, white.min_width, white.param_count) == (plain.found, plain.min_width, plain.param_count)
    a, _ = get_method("construction").build(facts, 7, seed=2)
    b, info = get_method("construction_whitened").build(facts, 7, seed=2)
    assert info["whiten_choice"] == "off"
    assert info["whiten_rho"] == pytest.approx(decodability(facts.values).rho, rel=1e-7)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_construction_whitened_reports_the_chosen_ridge():
    """Unnormalised spike: the chosen ridge (argmax of independent rhos) is the capacity result's
    variant, also combined with bucket-size variants, and the build metrics carry it."""
    from factmlp.capacity import measure_capacity

    facts = _whitening_facts(_spike16_unnormalised())
    ref = _independent_rhos(facts.values, RIDGES)
    best = max(ref, key=ref.get)
    assert best != "off"
    res = measure_capacity(facts, get_method("construction_whitened"), seed=0)
    assert res.found and res.variant == f"whiten={best}"
    _, info = get_method("construction_whitened").build(facts, 8, seed=0)
    assert info["whiten_choice"] == best
    assert info["whiten_rho"] == pytest.approx(ref[best], rel=1e-7)
    # pinned to the chosen ridge, the fixed-ridge build is the same MLP
    ridge = float(best.split()[1])
    fixed, _ = get_method("construction_whitened", whiten_ridges=(), whiten_ridge=ridge).build(facts, 8, seed=0)
    chosen, _ = get_method("construction_whitened").build(facts, 8, seed=0)
    for pa, pb in zip(fixed.parameters(), chosen.parameters()):
        assert torch.equal(pa, pb)
    both = measure_capacity(facts, get_method("construction_whitened", bucket_sizes=(6, 0)), seed=0)
    labels = {p.variant for p in both.probes}
    assert labels == {f"b=6,whiten={best}", f"b=d-4,whiten={best}"}
    assert both.variant in labels


def test_ntk_whitened_with_ridge_options_reports_the_choice():
    """ntk_whitened shares the whitening path: with whiten_ridges it picks by rho too ("off" on a
    row-normalised family, where it then equals ntk) and labels the capacity variant."""
    facts = _whitening_facts(_spike8_normalised())
    m = get_method("ntk_whitened", whiten_ridges=list(RIDGES))
    assert [label for label, _ in m.variants(facts)] == ["whiten=off"]
    a, _ = get_method("ntk").build(facts, 64, seed=1)
    b, info = m.build(facts, 64, seed=1)
    assert info["whiten_choice"] == "off"
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert [label for label, _ in get_method("ntk_whitened").variants(facts)] == [""]
