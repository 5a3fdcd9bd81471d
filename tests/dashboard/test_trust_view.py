"""The page says plainly when a run's clusters may be noise (trust checks beside k-means)."""

import numpy as np
import panel as pn

from dashboard.views import metrics
from dsc_core.trust import trust_checks


def test_trust_alert_and_table():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), 40)
    refs = {"kmeans": truth, "pca-gmm": truth}
    noise = trust_checks("dsc", rng.integers(0, 3, 120), refs, None, rng.integers(0, 3, 120), refs)
    alert = metrics.trust_alert({"trust": noise})
    assert isinstance(alert, pn.pane.Alert) and alert.alert_type == "danger"
    shown = alert.object.replace("\\", "")  # Markdown escapes removed: the text as read
    assert "agrees with itself less than kmeans" in shown
    assert "compare with the kmeans reference" in shown
    table = metrics.trust_table({"trust": noise})
    assert table.loc["k-means seed agreement (ARI)", "value"] == "1.00"
    assert (
        table.loc["Agreement with pca-gmm (ARI)", "value"] == f"{noise['agreement']['pca-gmm']:.2f}"
    )
    fine = trust_checks("dsc", truth, refs, {"percentile": 100.0, "n_surrogates": 39})
    assert not metrics.trust_alert({"trust": fine}).visible
    table = metrics.trust_table({"trust": fine})
    assert table.loc["Seed agreement (ARI) ↑", "value"] == "—"
    assert table.loc["data's clusters above red noise (39 surrogates)", "value"] == "100 %"
    tested = {"trust": fine, "significance": {"percentile": 97.0, "n_surrogates": 20}}
    assert metrics.trust_table(tested).loc["above red noise (20 surrogates)", "value"] == "97 %"
    assert not metrics.trust_alert({}).visible  # runs saved before the checks existed
    heads = trust_checks("dsc", truth, refs, head={"agreement": {"latent": 0.3, "field": 0.2}})
    assert "candidate clusterings of its latent space disagree" in metrics.trust_alert(
        {"trust": heads}
    ).object.replace("\\", "")
    assert metrics.trust_table({"trust": heads}).loc["DSC's candidate heads agree (ARI) ↑",
                                                      "value"] == "0.30"  # fmt: skip


def test_regime_table_shows_spells_before_the_minimum_spell_filter():
    from dsc_core.metrics import regime_stats

    raw = np.array([0, 1, 0, 0, 0, 1, 1, 1])
    kept = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    table = metrics.regime_table({"regimes": regime_stats(kept, 2)})
    assert list(table.columns) == ["share of days", "days", "mean spell (days)"]
    both = {"regimes": regime_stats(kept, 2), "regimes_unfiltered": regime_stats(raw, 2)}
    table = metrics.regime_table(both)
    assert table["mean spell (days)"].tolist() == [5.0, 3.0]
    assert table["mean spell before the filter"].tolist() == [2.0, 2.0]
