"""Bits of a fact set and bits per parameter, against hand-counted cases and exact integers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from factmlp.bits import add_bits_columns, fact_set_bits


@pytest.mark.parametrize("n", [1, 2, 3, 4, 10, 57])
def test_permutation_bits_are_log2_of_the_number_of_bijections(n):
    # exact integer count of bijections, then its log2 (math.factorial is exact)
    assert fact_set_bits(n, n, "permutation") == pytest.approx(math.log2(math.factorial(n)), rel=1e-12, abs=1e-12)


def test_hand_counted_cases():
    assert fact_set_bits(4, 4, "permutation") == pytest.approx(math.log2(24))  # 4! = 24 maps
    assert fact_set_bits(1, 1, "permutation") == 0.0  # one map: nothing to store
    assert fact_set_bits(3, 8, "random") == pytest.approx(9.0)  # 8^3 = 2^9 maps
    assert fact_set_bits(5, 1, "random") == 0.0  # one value: nothing to store
    assert fact_set_bits(2, 3, "random") == pytest.approx(math.log2(9))


def test_permutation_per_fact_follows_stirling():
    # log2(n!) = n log2 n - n log2 e + 0.5 log2(2 pi n) + O(1/n): per fact a little under log2 n
    n = 4096
    stirling = n * math.log2(n) - n * math.log2(math.e) + 0.5 * math.log2(2 * math.pi * n)
    assert fact_set_bits(n, n, "permutation") == pytest.approx(stirling, abs=1e-3)
    assert fact_set_bits(n, n, "permutation") / n < math.log2(n)


@pytest.mark.parametrize("args", [(4, 5, "permutation"), (3, 3, "bijection"), (-1, 3, "random"), (3, 0, "random")])
def test_bad_input_is_refused(args):
    with pytest.raises(ValueError):
        fact_set_bits(*args)


def test_capacity_table_gets_bits_per_param_where_stored_and_an_upper_bound_where_not():
    table = pd.DataFrame({
        "method": ["gd", "ntk", "construction"],
        "n_facts": [4, 4, 4], "n_values": [4, 4, 4],
        "found": [True, False, "True"],
        "param_count": [12, np.nan, 24],
        "max_probed_params": [20, 48, 30],
    })
    out = add_bits_columns(table, "permutation")
    b = math.log2(24)
    assert list(out["bits"]) == pytest.approx([b, b, b])
    assert out.loc[0, "bits_per_param"] == pytest.approx(b / 12)
    assert math.isnan(out.loc[1, "bits_per_param"]) and out.loc[1, "bits_per_param_max"] == pytest.approx(b / 48)
    assert out.loc[2, "bits_per_param"] == pytest.approx(b / 24) and math.isnan(out.loc[2, "bits_per_param_max"])
    assert set(out["bits_basis"]) == {"log2(|K|!)"}
    assert "bits" not in table  # the input is not modified


def test_empty_table_gets_the_columns():
    out = add_bits_columns(pd.DataFrame(columns=["n_facts", "n_values", "found", "param_count"]), "random")
    assert {"bits", "bits_basis", "bits_per_param", "bits_per_param_max"} <= set(out.columns)
