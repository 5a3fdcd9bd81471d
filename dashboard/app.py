"""DSC Explorer: ``panel serve dashboard/app.py``.

Builds one page per browser session from its state (dashboard.session and the param classes
it owns: settings, job_status, results) and the views (dashboard.views). Trainings run in the
process-wide job manager (dashboard.jobs); a periodic callback on the session's event loop
copies their progress into the page. The first session starts the background warm-up (engine
import, UMAP compilation) once per process, and confines the process's data reads to the
allowed folders (``dsc_core.data.io.confine``).
"""

# ruff: noqa: E402  (the path set-up below must run before the package imports)
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `panel serve dashboard/app.py` without an installed package
    sys.path.insert(0, str(ROOT))

import panel as pn

from dashboard import jobs
from dashboard.config import ServerConfig
from dashboard.session import Session
from dashboard.views.controls import controls_view
from dashboard.views.latent import latent_view
from dashboard.views.maps import (
    cluster_maps_view,
    day_view,
    selection_map_view,
    stipple_legend,
)
from dashboard.views.metrics import statistics_view, summary_view
from dashboard.views.progress import progress_view
from dashboard.views.regimes import regimes_view
from dashboard.views.runs import adopted_view, export_view, interrupted_view, runs_view
from dashboard.views.timeline import timeline_view
from dsc_core.data.io import confine
from dsc_core.errors import DSCError

CSS = (ROOT / "assets" / "app.css").read_text()
POLL_MS = 300


def _store(root):
    from dsc_core.runs import RunStore

    return RunStore(root)


def cluster_buttons(session: Session) -> pn.viewable.Viewable:
    """Legend-like buttons: highlight every day of one cluster in every view."""
    results = session.results
    group = pn.widgets.RadioButtonGroup(
        name="Highlight a cluster", button_type="light", css_classes=["dsc-clusters"]
    )

    def sync_options(*_):
        n = results.n_clusters if results.run is not None else 0
        options = ["none", *[f"cluster {c}" for c in range(n)]] if n else []
        if options != group.options:
            group.options = options
        value = "none" if results.cluster is None else f"cluster {results.cluster}"
        if n and value != group.value:
            group.value = value

    def on_click(event):
        chosen = None if event.new in (None, "none") else int(event.new.split()[-1])
        if chosen != results.cluster:
            results.select_cluster(chosen)

    results.param.watch(sync_options, ["run", "cluster"])
    group.param.watch(on_click, "value")
    sync_options()
    return group


def build(session: Session) -> pn.template.BaseTemplate:
    """The page of one session."""
    results = session.results
    variable = pn.widgets.Select.from_param(results.param.variable, name="Variable", width=160)
    kind = pn.widgets.RadioButtonGroup.from_param(results.param.kind, name="Field", width=180)
    basemap = pn.widgets.Checkbox.from_param(results.param.basemap, name="Basemap (online)")
    clear = pn.widgets.Button(name="Clear selection", width=130)
    clear.on_click(lambda _: results.clear())

    def banner(run, synthetic):
        if run is not None and str(run.config.data) == "sample" or run is None and synthetic:
            return pn.pane.Alert(
                "The built-in sample is **SYNTHETIC**: ERA5-like fields with planted regimes, "
                "not observations. Its scores against the planted truth (ARI/NMI) show how well "
                "a method recovers known structure.",
                alert_type="info", css_classes=["dsc-synthetic"], margin=(0, 10),
            )  # fmt: skip
        return pn.pane.Markdown("")

    explore = pn.Column(
        pn.Row(variable, kind, cluster_buttons(session), clear, basemap, align="center"),
        "### Cluster composites",
        cluster_maps_view(results),
        stipple_legend(results),
        pn.FlexBox(selection_map_view(results), latent_view(results), summary_view(results)),
        "### Timeline",
        timeline_view(results),
        pn.Column("### The clicked day", day_view(results)),
    )
    tabs = pn.Tabs(
        ("Explore", explore),
        ("Statistics", statistics_view(results)),
        ("Regimes", regimes_view(session)),
        dynamic=True,
    )
    if session.server.read_only:  # a gallery: browse and export the stored runs, nothing else
        work = [
            pn.pane.Alert(
                "A read-only gallery of stored runs: browse them, download their reports and "
                "files. Training is off on this server.",
                alert_type="info",
                css_classes=["dsc-read-only"],
            ),  # fmt: skip
            "### Runs",
        ]
    else:
        work = [
            "### New run",
            controls_view(session),
            progress_view(session.status),
            "### Past runs",
            interrupted_view(session),
            adopted_view(session),
        ]
    template = pn.template.BootstrapTemplate(
        title="DSC Explorer: deep spatiotemporal clustering of climate maps",
        sidebar=[
            *work,
            runs_view(session),
            "### Export",
            export_view(results, session.server.export_max_mb),
        ],
        main=[pn.bind(banner, results.param.run, session.settings.param.info), tabs],
        sidebar_width=360,
        header_background="#1f4e79",
    )
    return template


def main() -> pn.viewable.Viewable:
    """Create the session, its page and its callbacks; start the process-wide warm-up. A bad
    environment (DSC_* variables) stops the server's start-up run (``--warm``) with a
    one-line error, or makes a page that says what is wrong."""
    pn.extension()
    import holoviews as hv

    # Plain canvas, not WebGL: the plots are small (a year of days, a regional grid), and
    # copying a dozen WebGL canvases to the page costs more than drawing them (~60 ms of a
    # selection's update in Chromium without a GPU).
    hv.renderer("bokeh").webgl = False
    if CSS not in pn.config.raw_css:
        pn.config.raw_css.append(CSS)
    doc = pn.state.curdoc
    in_session = doc is not None and doc.session_context is not None
    try:
        server = ServerConfig.from_env()
        manager = None if server.read_only else jobs.manager(server, _store)
    except DSCError as err:
        if not in_session or doc.session_context.server_context is None:
            # the start-up run (--warm: a session of no server): refuse to start, in one line
            print(f"error: {err}", file=sys.stderr, flush=True)
            os._exit(2)
        return pn.pane.Alert(f"This server's settings are wrong: {err}", alert_type="danger")
    confine(() if server.read_only else server.data_dirs)
    jobs.warm_up()
    if manager is None:  # a read-only gallery: nothing to run, no run store to tidy
        session = Session(server, None, _store(server.run_store))
    else:
        session = Session(server, manager, manager.store)
    page = build(session)
    if in_session:
        session.results.batch = doc.models.freeze
        session.results.in_place = pn.io.unlocked
        pn.state.onload(session.open)
        pn.state.add_periodic_callback(session.poll, period=POLL_MS)
        pn.state.on_session_destroyed(lambda _ctx: session.close())
    return page


if __name__.startswith("bokeh_app"):
    main().servable()
