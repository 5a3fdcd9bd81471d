"""The latent space: a 2-D UMAP (PCA until UMAP is ready) of every day's latent vector,
coloured by cluster; box/lasso selection highlights days everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn

from dashboard.results import Results
from dashboard.views.live import Live, live_view
from dashboard.views.style import cluster_colors


def latent_frame(results: Results) -> pd.DataFrame:
    """One row per day: x, y (the projection), cluster, date, colour, certainty (max q)."""
    xy = results.embedding
    run = results.run
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "cluster": results.labels,
            "date": results.times.strftime("%Y-%m-%d"),
            "color": cluster_colors(results.labels),
            "certainty": run.soft.values.max(axis=1),
        }
    )


def latent_limits(results: Results) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y ranges of the projection, padded by a tenth of its span on each side."""
    from holoviews.core.util import range_pad

    xy = results.embedding
    return tuple(range_pad(float(v.min()), float(v.max()), 0.1) for v in xy.T)


def ring_columns(results: Results) -> dict[str, np.ndarray]:
    """x, y of the highlighted days (the rings' data source)."""
    xy = results.embedding[results.days] if results.days is not None else np.empty((0, 2))
    return {"x": xy[:, 0], "y": xy[:, 1]}


def latent_plot(results: Results, live: Live, width: int = 380, height: int = 340):
    """Scatter of the projection with a Selection1D stream wired to the shared selection, plus
    a ring around every highlighted day (layer "rings" of ``live``, see :func:`follow`)."""
    import holoviews as hv

    df = latent_frame(results)
    kind = results.embedding_kind
    xlim, ylim = latent_limits(results)
    points = hv.Points(df, ["x", "y"], ["cluster", "date", "color", "certainty"]).opts(
        color="color",
        size=6,
        line_color=None,
        tools=["hover", "box_select", "lasso_select"],
        active_tools=["box_select"],
        hover_tooltips=[("date", "@date"), ("cluster", "@cluster"), ("max q", "@certainty{0.00}")],
        nonselection_alpha=0.25,
        width=width,
        height=height,
        title=f"Latent space: {kind}",
        xlim=xlim,
        ylim=ylim,
        xaxis=None,
        yaxis=None,
        hooks=[live.hook("points")],
    )
    selection = hv.streams.Selection1D(source=points)

    def on_select(index):
        if index:
            results.select_indices(index, "umap")
        elif results.origin == "umap":
            results.clear()

    selection.add_subscriber(on_select)
    rings = hv.Points(ring_columns(results), ["x", "y"]).opts(
        fill_alpha=0, line_color="black", line_width=1.2, size=9, tools=[],
        hooks=[live.hook("rings")],
    )  # fmt: skip
    return points * rings


def follow(results: Results, live: Live) -> None:
    """Show the current selection on the drawn plot: rings around the highlighted days; a box
    drawn here is dropped when another view made the selection."""
    live.set_data("rings", ring_columns(results))
    if results.origin != "umap":
        live.clear_selection("points")


def replace(results: Results, live: Live) -> None:
    """Show another run, or another projection of the run, on the drawn plot: its days, their
    ranges and the projection's name."""
    df = latent_frame(results)
    live.set_data("points", {column: df[column].to_numpy() for column in df})
    live.set_ranges("points", *latent_limits(results))
    live.set_title("points", f"Latent space: {results.embedding_kind}")


def latent_view(results: Results) -> pn.viewable.Viewable:
    """Panel of :func:`latent_plot`, drawn once and updated in place when the run, its
    projection or the selection change."""

    def draw(live: Live):
        if results.run is None or results.embedding is None:
            return ""
        return latent_plot(results, live)

    return live_view(
        results, draw, lambda live: follow(results, live),
        redraw=["run", "embedding"], update=["version"], sizing_mode="fixed",
        shape=lambda: None, replace=lambda live: replace(results, live),  # any run in place
    )  # fmt: skip
