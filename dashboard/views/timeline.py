"""The cluster timeline: every day a coloured cell (hover: date, cluster, certainty), the
model's certainty (max q) below; drag a span to select days, click a day to show it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn

from dashboard.state import Results
from dashboard.views.style import cluster_colors

DAY = pd.Timedelta(days=1)


def timeline_frame(results: Results) -> pd.DataFrame:
    """One row per day: cell corners, cluster, colour, date text, certainty (max q)."""
    t = results.times
    return pd.DataFrame(
        {
            "date": t,
            "band": np.zeros(len(t)),
            "date_end": t + DAY,
            "band_end": np.ones(len(t)),
            "cluster": results.labels,
            "color": cluster_colors(results.labels),
            "day": t.strftime("%Y-%m-%d"),
            "certainty": results.run.soft.values.max(axis=1),
        }
    )


def timeline_plot(results: Results, width: int = 1100):
    """The strip (with span selection and tap) over the certainty curve, sharing the x axis."""
    import holoviews as hv

    df = timeline_frame(results)
    cells = hv.Rectangles(
        df, ["date", "band", "date_end", "band_end"], ["cluster", "color", "day", "certainty"]
    ).opts(
        color="color",
        line_color=None,
        tools=["hover", "xbox_select", "tap"],
        active_tools=["xbox_select"],
        hover_tooltips=[("date", "@day"), ("cluster", "@cluster"), ("max q", "@certainty{0.00}")],
        nonselection_alpha=1.0,
        selection_alpha=1.0,
        ylim=(-0.6, 1.05),
        yaxis=None,
        width=width,
        height=110,
        title="Cluster of every day (drag to select a span, click a day)",
        xlabel="",
    )
    bounds = hv.streams.BoundsX(source=cells)
    bounds.add_subscriber(
        lambda boundsx=None: (
            boundsx is not None and boundsx[0] != boundsx[1] and results.select_span(*boundsx)
        )
    )
    tap = hv.streams.Tap(source=cells)
    tap.add_subscriber(lambda x=None, y=None: x is not None and results.pick_day(x))

    def marks(version, day):
        days = results.days if results.days is not None else np.zeros(len(df), bool)
        sub = df[days]
        sel = hv.Rectangles(
            (sub["date"], np.full(len(sub), -0.5), sub["date_end"], np.full(len(sub), -0.1)),
            ["date", "band", "date_end", "band_end"],
        ).opts(color="black", line_color=None, tools=[])
        when = results.day if results.day is not None else df["date"].iloc[0]
        vline = hv.VLine(pd.Timestamp(when)).opts(
            color="black", line_width=2, alpha=1.0 if results.day is not None else 0.0
        )
        return sel * vline

    highlight = hv.DynamicMap(marks, streams=[hv.streams.Params(results, ["version", "day"])])
    certainty = hv.Curve(df, "date", hv.Dimension("certainty", label="max q")).opts(
        color="gray", width=width, height=150, ylim=(0, 1.02), tools=["hover"],
        title="Model certainty: soft assignment q of each day's cluster", xlabel="",
    )  # fmt: skip
    return (cells * highlight + certainty).cols(1)


def timeline_view(results: Results) -> pn.viewable.Viewable:
    """Panel of :func:`timeline_plot`, rebuilt when the run changes."""

    def render(run):
        if run is None:
            return pn.pane.Markdown("")
        return pn.pane.HoloViews(timeline_plot(results), sizing_mode="fixed")

    return pn.panel(pn.bind(render, results.param.run))
