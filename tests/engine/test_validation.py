"""The validation suite run (few epochs, three small cases) and the trust checks of a run."""

from dataclasses import replace

import numpy as np
import pytest

from dsc_core.data.synthetic import SUITE
from dsc_core.metrics import trust_checks
from dsc_core.validation import prepare, run_case, suite_table, summarize

FEW_EPOCHS = {"preset": "fast", "pretrain_epochs": 3, "max_epochs": 2}


@pytest.fixture(scope="module")
def small_suite():
    """Three cases of different kinds, cut to a year (or two winters)."""
    cases = [
        replace(SUITE["surface-noisy-winds"], years=(2001, 2001)),
        replace(SUITE["z500-djf-eofs"], years=(2000, 2001)),
        replace(SUITE["z850-small-grid-8"], years=(2001, 2001)),
    ]
    return [run_case(prepare(c), ["dsc", "kmeans"], 2, FEW_EPOCHS) for c in cases]


def test_suite_run_scores_every_method_and_case(small_suite):
    for result in small_suite:
        assert set(result["methods"]) == {"dsc", "kmeans"}
        km = result["methods"]["kmeans"]
        assert len(km["runs"]) == 2 and -0.1 < km["agreement"] <= 1.0
        assert -0.1 < result["ceiling"] <= 1.0
        assert result["methods"]["dsc"]["seconds"] > 0
    surface = small_suite[0]
    # a year of the noisy-winds case: learnable (ceiling), and k-means finds part of it (0.29
    # with area weighting; a case without structure scores about 0)
    assert surface["ceiling"] > 0.5 and surface["methods"]["kmeans"]["ari"] > 0.2
    table = suite_table(small_suite)
    assert table.count("\n| ") >= 4 and "**mean**" in table and "target" in table


def test_summary_flags_the_targets():
    def case(name, dsc, km, agreement):
        def method(ari, agr):
            return {"ari": ari, "ari_std": 0.0, "agreement": agr, "seconds": 1.0, "runs": []}

        return {
            "case": name,
            "shape": [100, 1, 10, 10],
            "ceiling": 0.9,
            "methods": {"dsc": method(dsc, agreement), "kmeans": method(km, 1.0)},
        }

    s = summarize([case("a", 0.9, 0.5, 0.95), case("b", 0.4, 0.6, 0.5)])["targets"]
    assert s["best_classical"] == "kmeans" and s["margin"] == pytest.approx(0.1)
    assert s["margin_met"] and s["below_kmeans"] == ["b"] and s["unstable"] == ["b"]


def test_trust_checks_warn_on_noise_clusters():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 50)
    noise_a, noise_b = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    bad = trust_checks("dsc", noise_a, truth, noise_b, truth, truth=truth)
    assert bad["seed_agreement"] < 0.1 and bad["kmeans_seed_agreement"] == 1.0
    assert len(bad["warnings"]) == 3  # unstable, independent of k-means, worse on the truth
    good = trust_checks("dsc", truth, truth, truth, truth, truth=truth)
    assert good["warnings"] == [] and good["agreement_with_kmeans"] == 1.0
    unchecked = trust_checks("dsc", truth, truth)
    assert unchecked["seed_agreement"] is None and unchecked["warnings"] == []
