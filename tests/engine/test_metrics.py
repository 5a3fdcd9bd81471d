"""dsc_core.metrics: scikit-learn where they overlap, hand-computed cases elsewhere."""

import numpy as np
import pytest
from sklearn import metrics as skm

from dsc_core.errors import ConfigError
from dsc_core.metrics import internal_scores, regime_stats, stability, truth_scores


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 5)) * 4
    labels = np.repeat([0, 1, 2], [20, 15, 10])
    x = centres[labels] + rng.normal(size=(45, 5))
    return x, labels


def test_internal_scores_match_sklearn(blobs):
    x, lab = blobs
    s = internal_scores(x, lab)
    assert s["silhouette_cosine"] == pytest.approx(skm.silhouette_score(x, lab, metric="cosine"))
    assert s["silhouette_euclidean"] == pytest.approx(skm.silhouette_score(x, lab))
    assert s["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(x, lab))
    assert s["calinski_harabasz"] == pytest.approx(skm.calinski_harabasz_score(x, lab))
    assert s["n_clusters"] == 3 and s["note"] is None


def test_internal_scores_hand_computed():
    x = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 4.0]])
    lab = np.array([0, 0, 1, 1])
    s = internal_scores(x, lab)
    # centroids (1, 0) and (10, 2); squared distances 1, 1, 4, 4
    assert s["rmse"] == pytest.approx(np.sqrt(10 / 4))
    # per-cluster variance averaged over features: c0 (1+0)/2 = 0.5, c1 (0+4)/2 = 2
    assert s["variance"] == pytest.approx((2 * 0.5 + 2 * 2.0) / 4)
    assert s["inter_cluster_distance"] == pytest.approx(np.hypot(9, 2))


def test_inter_cluster_distance_is_mean_of_pairs():
    x = np.array([[0.0], [3.0], [7.0]])
    s = internal_scores(x, np.array([0, 1, 2]))
    assert s["inter_cluster_distance"] == pytest.approx((3 + 7 + 4) / 3)
    assert s["silhouette_cosine"] is None and "own cluster" in s["note"]
    assert s["rmse"] == 0.0


def test_single_cluster_and_singletons_do_not_crash(blobs):
    x, _ = blobs
    one = internal_scores(x, np.zeros(len(x), dtype=int))
    assert one["silhouette_cosine"] is None and one["davies_bouldin"] is None
    assert one["inter_cluster_distance"] is None and "one cluster" in one["note"]
    assert one["rmse"] == pytest.approx(np.sqrt(((x - x.mean(0)) ** 2).sum() / len(x)))
    lab = np.zeros(len(x), dtype=int)
    lab[0] = 1  # a one-member cluster
    s = internal_scores(x, lab)
    assert s["silhouette_cosine"] == pytest.approx(skm.silhouette_score(x, lab, metric="cosine"))


def test_truth_scores():
    truth = np.array([0, 0, 1, 1, 2, 2])
    assert truth_scores(np.array([1, 1, 0, 0, 2, 2]), truth) == {"ari": 1.0, "nmi": 1.0}
    lab = np.array([0, 1, 0, 1, 0, 1])
    s = truth_scores(lab, truth)
    assert s["ari"] == pytest.approx(skm.adjusted_rand_score(truth, lab))
    assert s["nmi"] == pytest.approx(skm.normalized_mutual_info_score(truth, lab))


def test_regime_stats_hand_computed():
    lab = np.array([0, 0, 0, 1, 1, 0, 2, 2, 2, 2])
    r = regime_stats(lab, n_clusters=4)
    assert r["counts"] == [4, 2, 4, 0]
    assert r["frequency"] == pytest.approx([0.4, 0.2, 0.4, 0.0])
    assert r["spells"] == [[3, 1], [2], [4], []]
    assert r["mean_spell"] == [2.0, 2.0, 4.0, None]
    assert r["mean_spell_overall"] == pytest.approx(10 / 4)
    assert r["spell_histogram"]["length"] == [1, 2, 3, 4]
    assert r["spell_histogram"]["counts"][0] == [1, 0, 1, 0]
    counts = np.array(r["transition_counts"])
    assert counts.sum() == 9
    assert counts[0].tolist() == [2, 1, 1, 0] and counts[2].tolist() == [0, 0, 3, 0]
    trans = np.array(r["transition"])
    assert trans[0] == pytest.approx([0.5, 0.25, 0.25, 0.0])
    assert trans[3].tolist() == [0.0] * 4  # no successor


def test_regime_stats_gap_in_time_breaks_spells():
    time = np.array(["2021-01-01", "2021-01-02", "2021-03-01", "2021-03-02"], "datetime64[ns]")
    r = regime_stats(np.array([0, 0, 0, 1]), time=time)
    assert r["spells"] == [[2, 1], [1]]
    assert np.array(r["transition_counts"]).sum() == 2


def test_stability():
    a = np.array([0, 0, 1, 1, 2, 2])
    assert stability([a, (a + 1) % 3, a]) == pytest.approx(1.0)
    b = np.array([0, 1, 0, 1, 0, 1])
    assert stability([a, b]) == pytest.approx(skm.adjusted_rand_score(a, b))
    with pytest.raises(ConfigError):
        stability([a])


def test_the_papers_variance_and_inter_cluster_distance():
    from dsc_core.metrics import paper_inter_cluster_distance, paper_variance

    x = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 4.0]])
    lab = np.array([0, 0, 1, 1])
    # cluster 0's entries 0,0,0,2: variance 0.75; cluster 1's 10,0,10,4: variance 18.0
    assert paper_variance(x, lab) == pytest.approx((2 * 0.75 + 2 * 18.0) / 4)
    # diameters 2 and 4; nearest members (0,0)-(10,0): 10, twice
    score, sampled = paper_inter_cluster_distance(x, lab)
    assert score == pytest.approx((2 + 4 + 10 + 10) / 4) and not sampled
    scores = internal_scores(x, lab)
    assert scores["variance_paper"] == pytest.approx((2 * 0.75 + 2 * 18.0) / 4)
