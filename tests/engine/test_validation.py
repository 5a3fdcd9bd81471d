"""The validation suite run (few epochs, three small cases) and the trust checks of a run."""

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from dsc_core.data.synthetic import SUITE, generated_case
from dsc_core.trust import THRESHOLDS, structure_test, trust_checks, warnings_for
from dsc_core.validation import (
    calibration_table,
    prepare_case,
    rewarn,
    run_case,
    suite_table,
    summarize,
    warning_rates,
)

FEW_EPOCHS = {"preset": "fast", "pretrain_epochs": 3, "max_epochs": 2}


@pytest.fixture(scope="module")
def small_suite():
    """Three cases of different kinds, cut to a year (or two winters)."""
    cases = [
        replace(SUITE["surface-noisy-winds"], years=(2001, 2001)),
        replace(SUITE["z500-djf-eofs"], years=(2000, 2001)),
        replace(SUITE["z850-small-grid-8"], years=(2001, 2001)),
        replace(generated_case(12), years=(2000, 2001)),  # no regimes: two winters of noise
    ]
    return [run_case(prepare_case(c), ["dsc", "kmeans"], 2, FEW_EPOCHS) for c in cases]


def test_suite_run_scores_every_method_and_case(small_suite):
    *regimes, noise = small_suite
    assert noise["regimes"] == 0 and noise["ceiling"] is None
    assert set(noise["methods"]) == {"dsc"} and noise["methods"]["dsc"]["ari"] is None
    structure = noise["trust"]["structure"]
    percentile = 100 * (np.asarray(structure["null"]) < structure["statistic"]).mean()
    assert structure["percentile"] == pytest.approx(percentile) and percentile < 95
    assert noise["trust"]["warnings"][0] == (
        "the data's clusters are no more distinct than red noise's (k-means on the leading 10 "
        f"principal components beats {percentile:.0f} % of 39 red-noise surrogates; 95 % "
        "needed): there may be no regimes in this selection, and the clusters may be noise. "
        "Try other variables, a season, or fewer clusters."
    )
    for result in small_suite:  # the sentences the stored numbers call for, no others
        assert result["trust"]["warnings"] == warnings_for("dsc", result["trust"])
    # cut to a year or two winters, not every case's regimes stand out for k-means; some do
    assert any(r["trust"]["structure"]["percentile"] >= 95 for r in regimes)
    for result in regimes:
        assert set(result["trust"]["agreement"]) == {"kmeans", "pca-gmm"}
        assert set(result["methods"]) == {"dsc", "kmeans"}
        km = result["methods"]["kmeans"]
        assert len(km["runs"]) == 2 and -0.1 < km["agreement"] <= 1.0
        assert -0.1 < result["ceiling"] <= 1.0
        assert result["methods"]["dsc"]["seconds"] > 0
    surface = small_suite[0]
    # a year of the noisy-winds case: learnable (ceiling), and k-means finds part of it (0.29
    # with area weighting; a case without structure scores about 0)
    assert surface["ceiling"] > 0.5 and surface["methods"]["kmeans"]["ari"] > 0.2
    # DSC, even after a few epochs, recovers part of every planted truth (ARI 0.28, 0.53 and
    # 0.26 when written; chance is 0), not far below k-means (0.29, 0.61, 0.30)
    for result in regimes:
        dsc, km = result["methods"]["dsc"], result["methods"]["kmeans"]
        assert dsc["ari"] > 0.2 and dsc["ari"] > km["ari"] - 0.15, result["case"]
        assert dsc["ari"] == pytest.approx(np.mean([r["ari"] for r in dsc["runs"]]))
    assert small_suite[1]["methods"]["dsc"]["ari"] > 0.45  # z500: ±EOF regimes, two winters
    table = suite_table(small_suite)
    assert table.count("\n| ") >= 5 and "**mean**" in table and "target" in table
    assert "| gen-012 |" in table and "no regimes" in table


def test_summary_judges_margins_and_warnings():
    def case(name, dsc, km, warns, regimes=4):
        def method(ari, agr):
            return {"ari": ari, "ari_std": 0.0, "agreement": agr, "seconds": 1.0, "runs": []}

        methods = {"dsc": method(dsc, 0.5 if (dsc or 0) < 0.5 else 0.95)}
        if regimes:
            methods["kmeans"] = method(km, 1.0)
        return {
            "case": name,
            "shape": [100, 1, 10, 10],
            "regimes": regimes,
            "ceiling": 0.9 if regimes else None,
            "methods": methods,
            "trust": {"warnings": ["a red noise warning"] if warns else []},
        }

    cases = [
        case("a", 0.9, 0.5, False),
        case("b", 0.4, 0.6, True),
        case("c", 0.7, 0.7, True),
        case("d", None, None, True, regimes=0),
        case("e", 0.5, 0.52, False),
        case("f", 0.05, 0.03, False),  # nothing recoverable: should warn
    ]
    s = summarize(cases)
    t, w = s["targets"], s["warnings"]
    assert t["within_share"] == 0.8 and t["worst_margin"] == pytest.approx(-0.2)
    assert t["worst"][0][:1] == ("b",) and t["worst"][0][2] == "kmeans"
    assert t["mean_margin"] == pytest.approx((0.4 - 0.2 + 0.0 - 0.02 + 0.02) / 5)
    assert t["unstable"] == ["b", "f"]
    # b (0.2 below), d (no regimes) and f (none found) should warn: f does not
    assert w["should_warn"] == 3 and w["hit_rate"] == pytest.approx(2 / 3) and w["missed"] == ["f"]
    assert w["fine"] == 2 and w["false_alarm"] == 0.5 and w["false"] == ["c"]
    table = suite_table(cases)
    assert "| d | 100 × 1 × 10×10 | no regimes |" in table
    assert "worst margin -0.200" in table and "hit rate 67% of 3" in table


def test_trust_checks_name_the_odd_one_out_and_the_unstable_run():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 50)
    refs = {"kmeans": truth, "pca-gmm": truth}
    noise_a, noise_b = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    structure = {"statistic": 0.2, "null": [0.3] * 39, "percentile": 0.0, "n_surrogates": 39,
                 "n_components": 10}  # fmt: skip
    bad = trust_checks("dsc", noise_a, refs, structure, noise_b, refs, truth=truth)
    found, again = adjusted_rand_score(truth, noise_a), adjusted_rand_score(noise_a, noise_b)
    assert bad["references_agree"] == 1.0 and bad["kmeans_seed_agreement"] == 1.0
    assert bad["agreement"] == pytest.approx({"kmeans": found, "pca-gmm": found})
    assert bad["seed_agreement"] == pytest.approx(again) and abs(again) < 0.1
    assert bad["truth_ari"] == pytest.approx({"dsc": found, "kmeans": 1.0, "pca-gmm": 1.0})
    assert bad["warnings"] == [
        "the data's clusters are no more distinct than red noise's (k-means on the leading 10 "
        "principal components beats 0 % of 39 red-noise surrogates; 95 % needed): there may be "
        "no regimes in this selection, and the clusters may be noise. Try other variables, a "
        "season, or fewer clusters.",
        f"kmeans and pca-gmm agree with each other (ARI 1.00) but not with dsc (ARI {found:.2f} "
        f"and {found:.2f}): dsc's clusters may follow noise; compare with the kmeans reference "
        "before use.",
        f"dsc agrees with itself less than kmeans does (ARI between two seeds {again:.2f}, "
        "kmeans 1.00): its clusters may be noise; compare with the kmeans reference before use.",
        f"dsc recovers the known regimes worse than kmeans (ARI {found:.2f} vs 1.00).",
    ]
    # data at the structure threshold pass it; without seeds or truth, only the odd one out
    assert trust_checks("dsc", noise_a, refs, {**structure, "percentile": 95.0})["warnings"] == [
        bad["warnings"][1]]  # fmt: skip
    good = trust_checks("dsc", truth, refs, None, truth, refs, truth=truth)
    assert good["warnings"] == [] and good["agreement_with_kmeans"] == 1.0
    # references that disagree with each other make no case against the run
    split = {"kmeans": truth, "pca-gmm": noise_b}
    assert trust_checks("dsc", noise_a, split)["warnings"] == []
    worse = trust_checks("dsc", noise_a, split, truth=truth)["warnings"]
    assert worse == [f"dsc recovers the known regimes worse than kmeans (ARI "
                     f"{adjusted_rand_score(truth, noise_a):.2f} vs 1.00)."]  # fmt: skip


def test_structure_test_tells_regimes_from_red_noise():
    rng = np.random.default_rng(3)
    n = 600
    noise = np.zeros((n, 6))
    for t in range(1, n):
        noise[t] = 0.7 * noise[t - 1] + rng.normal(size=6) * 0.71
    regimes = np.repeat(rng.integers(0, 3, n // 10), 10)
    centres = 3.0 * rng.normal(size=(3, 6))
    assert structure_test(noise, 3, seed=0)["percentile"] < THRESHOLDS.structure
    clustered = structure_test(noise + centres[regimes], 3, seed=0)
    assert clustered["percentile"] == 100.0 and clustered["n_surrogates"] == 39


def test_calibration_rereads_stored_checks_under_other_thresholds():
    def case(name, regimes, dsc, km, percentile, agree, refs_agree):
        methods = {"dsc": {"ari": dsc}} if not regimes else {
            "dsc": {"ari": dsc}, "kmeans": {"ari": km}}  # fmt: skip
        structure = {"percentile": percentile, "n_components": 10, "n_surrogates": 39}
        trust = {"structure": structure, "references_agree": refs_agree,
                 "agreement": {"kmeans": agree, "pca-gmm": agree}, "warnings": []}  # fmt: skip
        return {"case": name, "regimes": regimes, "methods": methods, "trust": trust}

    cases = [
        case("noise", 0, None, None, 92.0, 0.1, 0.2),  # structure warns at 95, not at 90
        case("worse", 3, 0.3, 0.8, 100.0, 0.25, 0.7),  # odd one out warns below 0.3
        case("fine", 3, 0.8, 0.7, 100.0, 0.9, 0.9),
    ]
    today = warning_rates(rewarn(cases, THRESHOLDS))
    assert today["hit_rate"] == 1.0 and today["false_alarm"] == 0.0
    loose = replace(THRESHOLDS, structure=90.0, odd_one_out=0.2)
    assert warning_rates(rewarn(cases, loose))["missed"] == ["noise", "worse"]
    table = calibration_table(cases, grid={"structure": (90.0, 95.0), "odd_one_out": (0.2, 0.35)})
    assert "| 95 (today) | 0.35 | 100% of 2 | 0% of 1 |  |  |" in table
    assert "| 90 | 0.2 | 0% of 2 | 0% of 1 | noise, worse |  |" in table


def test_dsc_s_heads_warn_when_they_disagree_and_vouch_for_regimes_k_means_cannot_see():
    """DSC's candidate heads agreeing below 0.4 warn by themselves; agreeing heads silence
    the data's red-noise warning, unless the data are less clustered than 95 % of red noise."""
    structure = {"percentile": 50.0, "n_components": 10, "n_surrogates": 39}

    def warned(heads, percentile):
        checks = {"structure": {**structure, "percentile": percentile}, "head_agreement": heads}
        return [w.split(" ")[1] for w in warnings_for("dsc", checks)]

    assert warned(None, 50.0) == ["data's"]  # no heads (another method): the test alone
    assert warned(0.30, 100.0) == ["candidate"]
    assert warned(0.30, 50.0) == ["candidate", "data's"]
    assert warned(0.60, 50.0) == []  # regimes below noise modes: DSC's windows find them
    assert warned(0.60, 2.0) == ["data's"]  # the floor
    good = trust_checks("dsc", [0, 1] * 10, {}, None, head={"agreement": {"a": 0.8, "b": 0.7}})
    assert good["head_agreement"] == 0.8 and good["warnings"] == []


def test_clusters_that_follow_the_years_warn():
    from dsc_core.trust import year_agreement

    time = np.concatenate(
        [np.arange(f"{y}-12-01", f"{y}-12-11", dtype="datetime64[D]") for y in (2000, 2001, 2002)]
    )
    winters = np.repeat([0, 1, 2], 10)
    assert year_agreement(winters, time) == 1.0
    assert year_agreement(winters[:20], time[:20]) is None  # two winters: not checked
    recurring = np.tile([0, 0, 1, 1, 2], 6)
    checks = trust_checks("dsc", winters, {}, None, time=time, years_removed=0.9)
    assert checks["years_removed"] == 0.9
    assert any("follow the years" in w for w in checks["warnings"])
    assert trust_checks("dsc", recurring, {}, None, time=time)["warnings"] == []
    # references that agree on the years DSC removed do not make it the odd one out
    refs = {"kmeans": winters, "pca-gmm": winters}
    assert "agree with each other" in trust_checks("dsc", recurring, refs)["warnings"][0]
    assert trust_checks("dsc", recurring, refs, years_removed=0.9)["warnings"] == []
