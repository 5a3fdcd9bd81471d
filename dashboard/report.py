"""A run as one self-contained HTML file: open it offline, years later, without Python.

The report holds the run's settings and provenance, its trust warnings first (the sentences
the page shows), the composite maps of every variable with the stippling legend, the
frequencies, spells and transitions, the scores beside k-means, and the days themselves: the
latent-space projection and the timeline share one data source, so that a box drawn on one
highlights the same days on the other, in the browser alone. Every plot is Bokeh standalone
output (hover, zoom, a legend that hides a cluster); Bokeh's JavaScript and the data are
inlined, so nothing is fetched from the network.

The plots are the page's own (``dashboard.views``) wherever they do not need a server; only
the linked days are drawn here, with plain Bokeh, because the page links its views in Python.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd

from dashboard.views.style import cluster_color

MAP_WIDTH = 230
DAY_MS = 86_400_000
CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { color: #1f4e79; font-size: 1.5em; }
h2 { color: #1f4e79; font-size: 1.15em; margin-top: 1.4em; }
table.dsc { border-collapse: collapse; font-size: 0.85em; margin: 0.3em 1.5em 0.8em 0; }
table.dsc th, table.dsc td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
.warning { background: #f8d7da; color: #58151c; border: 1px solid #f1aeb5; padding: 0.6em 1em;
           border-radius: 4px; margin: 0.4em 0; }
.info { background: #cff4fc; color: #055160; border: 1px solid #9eeaf9; padding: 0.6em 1em;
        border-radius: 4px; margin: 0.4em 0; }
.tables { display: flex; flex-wrap: wrap; align-items: flex-start; }
.note { font-size: 0.85em; color: #555; }
"""


def input_hash(fields) -> str:
    """SHA-256 of the fields a run clustered (every variable's values, the mask, the days and
    the grid, in a fixed order): two reports with the same hash saw the same numbers."""
    from dsc_core.blocks import time_blocks

    digest = hashlib.sha256()
    for name in sorted(str(n) for n in fields.data_vars):
        digest.update(name.encode())
        da = fields[name]
        if da.dims[:1] != ("time",):
            digest.update(np.ascontiguousarray(da.values).tobytes())
            continue
        # a stored run's fields are read a block of days at a time: the same bytes, in order
        day_bytes = da.dtype.itemsize * int(np.prod(da.shape[1:]))
        for days in time_blocks(da.sizes["time"], day_bytes):
            digest.update(np.ascontiguousarray(da.isel(time=days).values).tobytes())
    for coord in ("time", "latitude", "longitude"):
        if coord in fields.coords:
            digest.update(np.ascontiguousarray(fields[coord].values).tobytes())
    return digest.hexdigest()


def _table(df: pd.DataFrame) -> str:
    """``df`` as an HTML table, its text escaped (a one-column table without its header)."""
    return df.to_html(classes="dsc", border=0, na_rep="—", escape=True, index_names=False,
                      header=len(df.columns) > 1)  # fmt: skip


def _provenance(run, label: Callable[[str], str]) -> str:
    """Settings and provenance of the run as HTML tables."""
    from dashboard.views.metrics import settings_table
    from dsc_core.runs import package_versions

    times = pd.DatetimeIndex(run.labels["time"].values)
    facts = {
        "run": run.name or "(not saved)",
        "created": run.created,
        "days": f"{len(times)} ({times[0]:%Y-%m-%d} – {times[-1]:%Y-%m-%d})",
        "grid": f"{run.fields.sizes.get('latitude', 0)} × {run.fields.sizes.get('longitude', 0)}",
        "input hash (SHA-256 of the fields clustered)": input_hash(run.fields),
    }
    facts.update({f"made with {k}": v for k, v in (run.versions or {}).items()})
    facts.update({f"report by {k}": v for k, v in package_versions().items() if k in
                  ("dsc-explorer", "python")})  # fmt: skip
    facts["report written"] = datetime.now().isoformat(timespec="seconds")
    about = pd.DataFrame({"value": list(facts.values())}, index=pd.Index(facts, name="about"))
    return _table(settings_table(run.config, label)) + _table(about)


def header_html(run, label: Callable[[str], str] = str) -> str:
    """The report's head, as HTML: title, the synthetic-data note, the trust warnings (the
    page's sentences), settings, provenance and scores; every text from the run escaped."""
    from dashboard.views.metrics import scores_table, trust_table

    warnings = (run.metrics.get("trust") or {}).get("warnings") or []
    parts = [f"<h1>DSC Explorer run {html.escape(run.name or '')}</h1>"]
    if str(run.config.data) == "sample":
        parts.append(
            '<div class="info">The built-in sample is <b>SYNTHETIC</b>: ERA5-like fields with '
            "planted regimes, not observations. Its scores against the planted truth (ARI/NMI) "
            "show how well a method recovers known structure.</div>"
        )
    parts += [f'<div class="warning">⚠ {html.escape(w)}</div>' for w in warnings]
    if not warnings:
        parts.append('<p class="note">No trust check warned about this run.</p>')
    parts += [
        '<div class="tables"><div><h2>Settings</h2>',
        _provenance(run, label),
        "</div><div><h2>Scores (this run and k-means on the same data)</h2>",
        _table(scores_table(run.metrics, run.config.method)),
        "<h2>Can the clusters be trusted?</h2>",
        _table(trust_table(run.metrics)),
        "</div></div>",
    ]
    return "".join(parts)


def _styled(body: str):
    """A Bokeh Div holding ``body`` with the report's style (a Div's HTML lives in its own
    shadow root, so each carries the style sheet)."""
    from bokeh.models import Div

    return Div(text=f"<style>{CSS}</style>{body}", sizing_mode="stretch_width")


def _composite_tabs(results):
    """One tab per variable: every cluster's anomaly composite, drawn as the page draws them."""
    import holoviews as hv
    from bokeh.models import TabPanel, Tabs

    from dashboard.views.live import Live
    from dashboard.views.maps import cluster_maps

    panels = []
    for variable in results.param.variable.objects:
        results.param.update(variable=variable, kind="anomaly")
        maps = cluster_maps(results, Live(), width=MAP_WIDTH, linked=False)
        plot = hv.render(maps, backend="bokeh")
        panels.append(TabPanel(child=plot, title=str(variable)))
    return Tabs(tabs=panels)


def _stipple_note(run) -> str:
    from dashboard.views.maps import stipple_text

    return f'<p class="note">{html.escape(stipple_text(run))}</p>'


def _linked_days(run, embedding: np.ndarray, embedding_kind: str):
    """The latent projection and the timeline on one data source: a box or lasso drawn on
    either highlights the same days on both; the legends hide a cluster's days."""
    from bokeh.layouts import column, row
    from bokeh.models import CDSView, ColumnDataSource, GroupFilter, HoverTool, Legend
    from bokeh.plotting import figure

    times = pd.DatetimeIndex(run.labels["time"].values)
    labels = run.labels.values.astype(int)
    certainty = run.soft.values.max(axis=1)
    source = ColumnDataSource(
        {
            "x": embedding[:, 0], "y": embedding[:, 1], "date": times + pd.Timedelta(hours=12),
            "day": times.strftime("%Y-%m-%d"), "cluster": labels.astype(str),
            "certainty": certainty, "band": np.full(len(times), 0.5),
        }
    )  # fmt: skip
    tips = [("date", "@day"), ("cluster", "@cluster"), ("max q", "@certainty{0.00}")]
    space = figure(width=420, height=400, title=f"Latent space: {embedding_kind} (box or lasso "
                   "selects days)", tools="box_select,lasso_select,wheel_zoom,pan,reset,save",
                   active_drag="box_select", toolbar_location="below")  # fmt: skip
    strip = figure(width=820, height=150, x_axis_type="datetime", y_range=(0, 1),
                   title="Cluster of every day (drag to select a span)",
                   tools="xbox_select,xwheel_zoom,xpan,reset,save", active_drag="xbox_select",
                   toolbar_location="below")  # fmt: skip
    strip.yaxis.visible = False
    space.axis.visible = False
    items_space, items_strip = [], []
    for c in range(int(run.config.clusters)):
        view = CDSView(filter=GroupFilter(column_name="cluster", group=str(c)))
        color = cluster_color(c)
        dots = space.scatter("x", "y", source=source, view=view, size=6, color=color,
                             nonselection_alpha=0.15)  # fmt: skip
        cells = strip.rect("date", "band", width=DAY_MS, height=1, source=source, view=view,
                           color=color, line_color=None, nonselection_alpha=0.15)  # fmt: skip
        items_space.append((f"cluster {c}", [dots]))
        items_strip.append((f"{c}", [cells]))
    for fig, items in ((space, items_space), (strip, items_strip)):
        fig.add_tools(HoverTool(tooltips=tips))
        legend = Legend(items=items, click_policy="hide", label_text_font_size="8pt")
        fig.add_layout(legend, "right")
    sure = figure(width=820, height=140, x_axis_type="datetime", x_range=strip.x_range,
                  y_range=(0, 1.02), title="Model certainty: soft assignment q of each day's "
                  "cluster", tools="xwheel_zoom,xpan,reset", toolbar_location="below")  # fmt: skip
    sure.line("date", "certainty", source=source, color="gray")
    return row(space, column(strip, sure))


def _statistics(results):
    """Frequency by month, spell lengths and transitions (the page's Statistics tab), and the
    regime table."""
    import holoviews as hv
    from bokeh.layouts import column, row

    from dashboard.views.metrics import monthly_bars, regime_table, spell_bars, transition_heatmap

    plots = [hv.render(p(results), backend="bokeh") for p in
             (monthly_bars, spell_bars, transition_heatmap)]  # fmt: skip
    table = _styled("<h2>Regimes</h2>" + _table(regime_table(results.run.metrics)))
    return column(row(plots[0], plots[1]), row(plots[2], table))


def _inline_resources():
    """Bokeh's JavaScript, inline. Bokeh adds the external files that every imported extension
    declares (Panel's module shim, for one) to every page; the report uses Bokeh's own models
    only, so it leaves them out: nothing is fetched."""
    from bokeh.resources import Resources

    class Inline(Resources):
        def _collect_external_resources(self, resource_attr: str) -> list[str]:
            return []

        def clone(self, *, components=None) -> Resources:
            twin = super().clone(components=components)
            twin.__class__ = Inline
            return twin

    return Inline(mode="inline")


def report_html(
    run,
    label: Callable[[str], str] = str,
    embedding: np.ndarray | None = None,
    embedding_kind: str = "UMAP",
    projection: str = "umap",
) -> str:
    """The report of ``run`` as one HTML document (module docstring). ``label`` names the
    data source (a server passes its own, so that no server path is written); ``embedding``
    (day, 2): the latent projection to show (default: the run folder's UMAP, computed and
    cached there if missing; ``projection="pca"``: the first two principal components, at
    once; PCA also when umap-learn is not installed)."""
    from bokeh.embed import file_html
    from bokeh.layouts import column

    from dashboard import jobs
    from dashboard.results import Results

    results = Results()
    results.label = label
    results.set_run(run)
    if embedding is None and projection == "pca":
        embedding, embedding_kind = results.embedding, "PCA"
    elif embedding is None:
        try:
            embedding = jobs.embedding(run)
        except ImportError:
            embedding, embedding_kind = results.embedding, "PCA (umap-learn is not installed)"
    layout = column(
        _styled(header_html(run, label)),
        _styled("<h2>Cluster composites (anomaly against the whole period)</h2>"),
        _composite_tabs(results),
        _styled(_stipple_note(run)),
        _styled("<h2>The days</h2>"),
        _linked_days(run, np.asarray(embedding), embedding_kind),
        _styled("<h2>Regime statistics</h2>"),
        _statistics(results),
    )
    return file_html(layout, _inline_resources(), title=f"DSC Explorer: {run.name or 'run'}")
