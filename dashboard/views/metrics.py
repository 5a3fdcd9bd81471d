"""Scores and regime statistics of the run on screen: the paper's metrics beside the k-means
reference on the same data, how far the clusters can be trusted (seed agreement, agreement with
k-means, warnings), settings, frequency by month, spell lengths, transitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn

from dashboard.results import Results
from dashboard.views.safe import text
from dashboard.views.style import cluster_color
from dsc_core.data.calendar import months_text

SCORE_NAMES = {
    "silhouette_cosine": "Silhouette cos ↑",
    "silhouette_euclidean": "Silhouette eucl ↑",
    "davies_bouldin": "Davies–Bouldin ↓",
    "calinski_harabasz": "Calinski–Harab. ↑",
    "rmse": "RMSE (paper)",
    "variance": "Variance (ours)",
    "variance_paper": "Variance (paper's def.)",
    "inter_cluster_distance": "Inter-centroid dist",
    "inter_cluster_distance_paper": "Inter-cluster (paper's def.)",
    "ari": "ARI vs truth ↑",
    "nmi": "NMI vs truth ↑",
}


def scores_table(metrics: dict, method: str) -> pd.DataFrame:
    """Rows: scores; columns: this run and the k-means reference on the same data."""
    ref = metrics.get("reference") or {}
    cols = {}
    for label, part in ((method, metrics), (f"{ref.get('method', 'kmeans')} (ref.)", ref)):
        values = {**(part.get("internal") or {}), **(part.get("truth") or {})}
        cols[label] = {k: v for k, v in values.items() if k in SCORE_NAMES}
    df = pd.DataFrame(cols)
    order = [k for k in SCORE_NAMES if k in df.index]
    return df.loc[order].rename(index=SCORE_NAMES).astype(float).round(3)


def trust_table(metrics: dict) -> pd.DataFrame:
    """ARI between the run's labels and each classical reference's, between two seeds of the
    run and of k-means ("—" where not checked), among DSC's candidate heads, where the data's
    clusters rank among red noise, and with the optional red-noise test of the method, where
    the run ranks."""
    trust = metrics.get("trust") or {}
    rows = {f"Agreement with {n} (ARI)": a for n, a in (trust.get("agreement") or {}).items()}
    rows["Seed agreement (ARI) ↑"] = trust.get("seed_agreement")
    rows["k-means seed agreement (ARI)"] = trust.get("kmeans_seed_agreement")
    if trust.get("head_agreement") is not None:
        rows["DSC's candidate heads agree (ARI) ↑"] = trust["head_agreement"]
    if trust.get("year_agreement") is not None:
        rows["Agreement with the years (ARI) ↓"] = trust["year_agreement"]
    if trust.get("years_removed") is not None:
        rows["DSC's first clusters vs years (ARI; retrained without each year's mean)"] = trust[
            "years_removed"
        ]
    values = ["—" if v is None else f"{v:.2f}" for v in rows.values()]
    names = list(rows)
    structure = trust.get("structure")
    if structure:
        names.append(f"data's clusters above red noise ({structure['n_surrogates']} surrogates)")
        values.append(f"{structure['percentile']:.0f} %")
    sig = metrics.get("significance")
    if sig:
        names.append(f"above red noise ({sig['n_surrogates']} surrogates)")
        values.append(f"{sig['percentile']:.0f} %")
    return pd.DataFrame({"value": values}, index=pd.Index(names))


def trust_alert(metrics: dict) -> pn.viewable.Viewable:
    """A red warning per reason to doubt the clusters (dsc_core.trust.trust_checks), else
    nothing."""
    warnings = (metrics.get("trust") or {}).get("warnings") or []
    if not warnings:
        return pn.pane.Markdown("", visible=False)
    body = "<br>".join(f"⚠ {text(w)}" for w in warnings)
    return pn.pane.Alert(body, alert_type="danger", css_classes=["dsc-trust"], margin=(0, 5))


def regime_table(metrics: dict) -> pd.DataFrame:
    """Per cluster: share of days, number of days, mean spell length (and before the minimum
    spell filter, when the run had one)."""
    reg = metrics.get("regimes") or {}
    k = len(reg.get("frequency", []))

    def spells(stats: dict) -> list:
        return [None if s is None else round(s, 1) for s in stats["mean_spell"]]

    columns = {
        "share of days": np.round(reg.get("frequency", []), 3),
        "days": reg.get("counts", [0] * k),
        "mean spell (days)": spells(reg),
    }
    if metrics.get("regimes_unfiltered"):
        columns["mean spell before the filter"] = spells(metrics["regimes_unfiltered"])
    return pd.DataFrame(columns, index=pd.Index(range(k), name="cluster"))


def settings_table(config, label=str) -> pd.DataFrame:
    """The run's settings as a two-column table; ``label`` names the data source as the page
    does (never a server path)."""
    d = config.to_dict()
    d["data"] = label(str(d["data"]))
    d["variables"] = ", ".join(d["variables"]) if d.get("variables") else "all"
    d["months"] = months_text(d.get("months"))
    rows = {k: ("—" if v is None else str(v)) for k, v in d.items() if v not in ({}, [])}
    return pd.DataFrame({"setting": list(rows), "value": list(rows.values())}).set_index("setting")


def monthly_frequency(labels: np.ndarray, times: pd.DatetimeIndex) -> pd.DataFrame:
    """Share of each month's days in each cluster: long table (month, cluster, share)."""
    df = pd.DataFrame({"month": times.strftime("%Y-%m"), "cluster": labels})
    counts = df.groupby(["month", "cluster"]).size().unstack(fill_value=0)
    share = counts.div(counts.sum(axis=1), axis=0)
    out = share.stack().rename("share").reset_index()
    out["cluster"] = out["cluster"].astype(str)
    return out


def monthly_bars(results: Results):
    """Stacked bars: each month's share of days per cluster."""
    import holoviews as hv

    df = monthly_frequency(results.labels, results.times)
    k = results.n_clusters
    return hv.Bars(df, ["month", "cluster"], "share").opts(
        stacked=True,
        cmap=[cluster_color(c) for c in range(k)],
        width=520,
        height=280,
        xrotation=45,
        tools=["hover"],
        title="Frequency by month",
        legend_position="right",
    )


def spell_bars(results: Results):
    """Histogram of spell lengths (days in a row in one cluster), stacked by cluster."""
    import holoviews as hv

    hist = results.run.metrics["regimes"]["spell_histogram"]
    counts = np.asarray(hist["counts"])  # (cluster, length)
    rows = [
        {"length": str(length), "cluster": str(c), "spells": int(counts[c, i])}
        for i, length in enumerate(hist["length"])
        for c in range(counts.shape[0])
    ]
    mean = results.run.metrics["regimes"].get("mean_spell_overall")
    title = "Spell lengths" + (f" (mean {mean:.1f} days)" if mean else "")
    return hv.Bars(pd.DataFrame(rows), ["length", "cluster"], "spells").opts(
        stacked=True,
        cmap=[cluster_color(c) for c in range(counts.shape[0])],
        width=460,
        height=280,
        tools=["hover"],
        title=title,
        xlabel="spell length (days)",
        legend_position="right",
    )


def transition_heatmap(results: Results):
    """Day-to-day transition probabilities, from-cluster rows to to-cluster columns."""
    import holoviews as hv

    p = np.asarray(results.run.metrics["regimes"]["transition"])
    rows = [(str(j), str(i), float(p[i, j])) for i in range(p.shape[0]) for j in range(p.shape[1])]
    df = pd.DataFrame(rows, columns=["to", "from", "probability"])
    heat = hv.HeatMap(df, ["to", "from"], "probability").opts(
        cmap="Blues", clim=(0, 1), colorbar=True, tools=["hover"], width=340, height=300,
        title="Transition matrix (from row to column)", invert_yaxis=True,
    )  # fmt: skip
    labels = hv.Labels(
        df.assign(text=df["probability"].map("{:.2f}".format)), ["to", "from"], "text"
    )
    return heat * labels.opts(text_font_size="9pt", text_color="black")


def summary_view(results: Results) -> pn.viewable.Viewable:
    """Compact settings and scores card that sits beside the maps."""

    def render(run):
        if run is None:
            return pn.pane.Markdown("")
        synthetic = str(run.config.data) == "sample"
        head = f"**Run** {text(run.name)}" + (" · data: **SYNTHETIC sample**" if synthetic else "")
        return pn.Column(
            pn.pane.Markdown(head, margin=(0, 5)),
            trust_alert(run.metrics),
            pn.pane.DataFrame(scores_table(run.metrics, run.config.method), sizing_mode="fixed",
                              css_classes=["dsc-table"]),
            pn.pane.DataFrame(settings_table(run.config, results.label), sizing_mode="fixed",
                              css_classes=["dsc-table"]),
            width=330,
        )  # fmt: skip

    return pn.panel(pn.bind(render, results.param.run))


def statistics_view(results: Results) -> pn.viewable.Viewable:
    """Regime frequency, persistence and transitions, and the full score comparison."""

    def render(run):
        if run is None:
            return pn.pane.Markdown("*No run yet.*")
        import holoviews as hv

        plots = hv.Layout(
            [monthly_bars(results), spell_bars(results), transition_heatmap(results)]
        ).opts(shared_axes=False)
        return pn.Column(
            trust_alert(run.metrics),
            pn.Row(
                pn.Column("#### Scores (this run and k-means on the same data)", pn.pane.DataFrame(
                    scores_table(run.metrics, run.config.method), css_classes=["dsc-table"]),
                    "#### Can the clusters be trusted?", pn.pane.DataFrame(
                    trust_table(run.metrics), css_classes=["dsc-table"])),
                pn.Column("#### Regimes", pn.pane.DataFrame(
                    regime_table(run.metrics), css_classes=["dsc-table"])),
            ),
            pn.pane.HoloViews(plots.cols(2), sizing_mode="fixed"),
        )  # fmt: skip

    return pn.panel(pn.bind(render, results.param.run))
