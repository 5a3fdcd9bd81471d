"""dsc_core.regimes: minimum spell length, frequency order, matching clusters by pattern."""

import numpy as np
import pytest

from dsc_core.errors import ConfigError
from dsc_core.metrics import regime_stats
from dsc_core.regimes import frequency_order, match_clusters, min_spell_filter, relabel


def test_short_spells_join_the_longer_neighbour():
    lab = np.array([0, 0, 0, 0, 1, 2, 2, 2, 0, 0, 0, 0, 0, 1, 1])
    out = min_spell_filter(lab, 3)
    # the 1-day spell of 1 joins the 4-day spell of 0 before it; the final 2-day spell of 1
    # has one neighbour (the 0s)
    assert out.tolist() == [0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0]
    stats = regime_stats(out, 3)
    assert min(min(s) for s in stats["spells"] if s) >= 3
    assert min_spell_filter(lab, 1).tolist() == lab.tolist()


def test_spells_do_not_cross_gaps_between_seasons():
    time = np.concatenate(
        [np.arange("2020-12-01", "2020-12-06", dtype="datetime64[D]"),
         np.arange("2021-12-01", "2021-12-03", dtype="datetime64[D]")]
    )  # fmt: skip
    lab = np.array([1, 1, 1, 1, 1, 0, 0])  # the winter of 2021 is only 2 days: kept
    assert min_spell_filter(lab, 3, time=time).tolist() == lab.tolist()
    assert min_spell_filter(lab, 3).tolist() == [1] * 7  # without the dates: one record


def test_bad_min_spell_is_refused():
    with pytest.raises(ConfigError, match="min_spell"):
        min_spell_filter([0, 1], 0)


def test_frequency_order_puts_the_largest_cluster_first():
    lab = np.array([2, 2, 2, 0, 1, 1])
    order = frequency_order(lab, 4)
    assert order.tolist() == [2, 1, 0, 3]
    assert relabel(lab, order).tolist() == [0, 0, 0, 2, 1, 1]


def test_clusters_are_matched_by_pattern_whatever_their_numbers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 200))
    perm = np.array([2, 0, 3, 1])
    b = a[perm] + 0.3 * rng.normal(size=(4, 200))  # B's cluster j is A's cluster perm[j]
    pairs, corr = match_clusters(a, b)
    assert {(int(i), int(j)) for i, j in pairs} == {(int(perm[j]), j) for j in range(4)}
    assert (corr > 0.9).all()
