"""The "Choose K & compare" tab: how well each number of clusters holds up over seeds, and the
run on screen beside another stored run."""

from __future__ import annotations

import pandas as pd
import panel as pn

from dashboard.session import SWEEP_ROWS, Session
from dashboard.views.feedback import ClickNote
from dashboard.views.safe import text
from dashboard.views.style import cluster_color

MEASURES = {
    "seed_agreement": "Seed agreement (ARI)",
    "classifiability": "Classifiability index",
    "silhouette": "Silhouette",
    "variance_explained": "Share of variance explained",
}
HOW_TO_READ = (
    "No K is chosen for you. A K whose clusters are real comes back whatever the seed: high "
    "seed agreement and classifiability (Michelangeli et al. 1995; 1 = the same patterns every "
    "time). Silhouette: how well separated the days are. The explained variance always grows "
    "with K: look for where it levels off."
)


def k_plots(table: pd.DataFrame):
    """One small plot per measure against K."""
    import holoviews as hv

    plots = [
        (
            hv.Curve(table[col].reset_index(), "K", col)
            * hv.Scatter(table[col].reset_index(), "K", col)
        ).opts(title=title, width=300, height=200, xticks=list(table.index), ylabel="")
        for col, title in MEASURES.items()
    ]
    return hv.Layout(plots).cols(2).opts(shared_axes=False)


def choose_k_view(session: Session) -> pn.viewable.Viewable:
    """Range of K and seeds, a button that queues the measurement for the current settings
    (progress and cancel as for a training), then the plots and table."""
    k_range = pn.widgets.IntRangeSlider.from_param(session.param.k_range, name="K from – to")
    seeds = pn.widgets.IntInput.from_param(session.param.k_seeds, name="Seeds per K", width=120)
    note = ClickNote(session)
    measure = note.button(
        "sending the measurement of K to the server",
        session.measure_k,
        name="Measure K",
        button_type="primary",
        css_classes=["dsc-measure-k"],
    )

    def render(table, settings):
        if table is None:
            return pn.pane.Markdown(
                "*Measure K to see, for the settings in the sidebar, how each number of "
                "clusters holds up.*"
            )
        return pn.Column(
            pn.pane.Markdown(f"**Measured:** {text(settings)}", margin=(0, 5)),
            pn.pane.HoloViews(k_plots(table), sizing_mode="fixed"),
            pn.pane.DataFrame(table.round(3), css_classes=["dsc-table", "dsc-k-table"],
                              sizing_mode="fixed"),
        )  # fmt: skip

    return pn.Column(
        "### Choose K",
        pn.pane.Markdown(HOW_TO_READ, styles={"font-size": "90%"}, width=640),
        pn.Row(k_range, seeds, measure, align="end"),
        note.pane,
        pn.bind(render, session.param.k_table, session.param.k_settings),
    )


def compare_view(session: Session) -> pn.viewable.Viewable:
    """The run on screen (A) against a stored run (B): shared days, ARI, contingency table,
    clusters matched by composite pattern."""
    other = pn.widgets.Select(name="Compare the run on screen with", width=320)

    def options(runs, current):
        names = [r["name"] for r in runs if r["name"] != current]
        other.options = names
        if names and other.value not in names:
            other.value = names[0]

    pn.bind(options, session.param.runs, session.param.run_name, watch=True)
    options(session.runs, session.run_name)
    note = ClickNote(session, "compare")
    button = note.button(
        "asking the server to compare",
        lambda: session.compare(other.value),
        name="Compare",
        css_classes=["dsc-compare"],
    )

    def render(result):
        if not result:
            return pn.pane.Markdown("*Choose a stored run and press Compare.*")
        head = (
            f"**A** = {text(result['a'])} · **B** = {text(result['b'])} · "
            f"{result['n_days']} shared days · adjusted Rand index **{result['ari']:.3f}**"
        )
        parts = [
            pn.pane.Markdown(head, css_classes=["dsc-compare-result"]),
            pn.pane.Markdown("**Days in each pair of clusters** (rows: A, columns: B)"),
            pn.pane.DataFrame(result["contingency"], css_classes=["dsc-table"]),
        ]
        if result["pairs"] is None:
            parts.append("*Patterns not compared: the runs differ in variables or grid.*")
        else:
            parts += [
                pn.pane.Markdown(
                    "**Clusters matched by composite pattern** (Hungarian assignment)"
                ),
                pn.pane.DataFrame(result["pairs"], index=False, css_classes=["dsc-table"]),
            ]
        return pn.Column(*parts)

    return pn.Column(
        "### Compare runs",
        pn.Row(other, button, align="end"),
        note.pane,
        pn.bind(render, session.param.comparison),
    )


def assigned_timeline(days: pd.DataFrame, n_clusters: int):
    """The assigned days' clusters along time, coloured as everywhere in the page."""
    import holoviews as hv

    points = days.assign(color=[cluster_color(c) for c in days["cluster"]])
    return hv.Scatter(points, "time", ["cluster", "color"]).opts(
        color="color", size=5, width=640, height=160, yticks=list(range(n_clusters)),
        title="Cluster of each assigned day", tools=["hover"],
    )  # fmt: skip


def assign_view(session: Session) -> pn.viewable.Viewable:
    """Label another period (or another file of the same grid) with the run on screen's model:
    its timeline and how often each cluster occurs, beside the run's own frequencies."""
    source = pn.widgets.Select(
        name="Data", options=list(session.settings.sources), width=240,
        css_classes=["dsc-assign-source"],
    )  # fmt: skip
    start = pn.widgets.DatePicker.from_param(session.param.assign_start, name="From", width=130)
    end = pn.widgets.DatePicker.from_param(session.param.assign_end, name="To", width=130)
    note = ClickNote(session, "assign")
    button = note.button(
        "asking the server to label the days",
        lambda: session.assign(session.settings.sources[source.value]),
        name="Assign", css_classes=["dsc-assign"],
    )  # fmt: skip

    def render(days):
        run = session.results.run
        if days is None or run is None:
            return pn.pane.Markdown(
                "*Label the days of another period with the run on screen's model (the run's "
                "variables, box, months and preprocessing; same grid and units).*"
            )
        k = run.config.clusters
        counts = days["cluster"].value_counts().reindex(range(k), fill_value=0)
        table = pd.DataFrame(
            {
                "assigned days": (counts / len(days)).round(3),
                "the run's days": pd.Series(run.metrics["regimes"]["frequency"]).round(3),
            }
        ).rename_axis("cluster")
        first, last = (pd.Timestamp(days["time"].iloc[i]).date() for i in (0, -1))
        head = f"{len(days)} days labelled, {first} – {last}"
        return pn.Column(
            pn.pane.Markdown(head, css_classes=["dsc-assign-result"]),
            pn.pane.HoloViews(assigned_timeline(days, k), sizing_mode="fixed"),
            pn.pane.DataFrame(table, css_classes=["dsc-table"]),
        )

    return pn.Column(
        "### Assign another period",
        pn.Row(source, start, end, button, align="end"),
        note.pane,
        pn.bind(render, session.param.assigned),
    )


def sweep_view(session: Session) -> pn.viewable.Viewable:
    """The K-selection summary of a ``dsc sweep`` whose runs are this server's run store."""

    def render(table):
        if table is None:
            return pn.Column()
        return pn.Column(
            "### Sweep",
            pn.pane.Markdown(
                "`dsc sweep` trained these methods and K with several seeds on dask: per "
                "method and K, the agreement between seeds (ARI), mean scores and the regime "
                "frequencies (largest first). Its runs are in the list of past runs."
                + (f" Its first {SWEEP_ROWS} rows." if len(table) >= SWEEP_ROWS else ""),
                styles={"font-size": "90%"}, width=640,
            ),
            pn.pane.DataFrame(table.round(3), css_classes=["dsc-table", "dsc-sweep-table"],
                              sizing_mode="fixed"),
        )  # fmt: skip

    return pn.panel(pn.bind(render, session.param.sweep))


def regimes_view(session: Session) -> pn.viewable.Viewable:
    """The tab: choose K, compare runs, assign another period (a read-only gallery: the stored
    runs' K summary and comparisons only)."""
    if session.server.read_only:
        return pn.Column(sweep_view(session), compare_view(session))
    return pn.Column(
        choose_k_view(session), sweep_view(session), compare_view(session), assign_view(session)
    )
