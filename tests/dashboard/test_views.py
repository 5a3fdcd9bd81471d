"""Views as functions of the state, rendered to Bokeh models without a browser."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import panel as pn
import pytest
import xarray as xr

from dashboard import jobs
from dashboard.app import build
from dashboard.state import Results, Session
from dashboard.views import latent, maps, metrics, runs, timeline


@pytest.fixture
def results(tiny_run):
    r = Results()
    r.set_run(tiny_run)
    r.variable = "t2m"
    return r


def render(obj):
    return pn.pane.HoloViews(obj).get_root()


def titles(model) -> list[str]:
    from bokeh.models import Title

    return [t.text for t in model.select({"type": Title})]


def test_cluster_maps_one_per_cluster_with_frequency_and_units(results):
    root = render(maps.cluster_maps(results))
    texts = titles(root)
    assert sum(t.startswith("Cluster ") and "% of days" in t for t in texts) == 3
    from bokeh.models import ColorBar

    bars = list(root.select({"type": ColorBar}))
    assert len(bars) == 1 and bars[0].title == "t2m anomaly [K]"


def test_selection_map_updates_in_place_and_fast(results):
    dmap = maps.selection_map(results)
    pane = pn.pane.HoloViews(dmap)
    root = pane.get_root()
    assert any(t.startswith("Select days") for t in titles(root))
    timings = []
    for c in (0, 1, 2, 0):
        t = time.perf_counter()
        results.select_cluster(c)
        timings.append(time.perf_counter() - t)
        assert any(t.startswith("Composite of") and f"cluster {c}" in t for t in titles(root))
    results.select_span("2021-01-05", "2021-01-09")
    assert any("5 days selected on the timeline" in t for t in titles(root))
    print(f"selection -> map update: median {1000 * np.median(timings[1:]):.0f} ms")


def test_latent_and_timeline_follow_the_selection(results):
    lat_root = render(latent.latent_plot(results))
    tl_root = render(timeline.timeline_plot(results))
    from bokeh.models import ColumnDataSource

    def n_marked(root, key):
        return max(
            (len(s.data[key]) for s in root.select({"type": ColumnDataSource}) if key in s.data),
            default=0,
        )

    before = n_marked(tl_root, "bottom")
    results.select_cluster(1)
    n1 = int((results.labels == 1).sum())

    def is_mark(s):
        bottom = np.asarray(s.data.get("bottom", []))
        return len(bottom) > 0 and np.all(bottom == -0.5)

    marks = [s for s in tl_root.select({"type": ColumnDataSource}) if is_mark(s)]
    assert marks and len(marks[0].data["bottom"]) == n1 and before >= n1
    rings = [
        s for s in lat_root.select({"type": ColumnDataSource})
        if "x" in s.data and len(s.data["x"]) == n1
    ]  # fmt: skip
    assert rings


def test_day_view_shows_fields_and_soft_assignment(results):
    results.pick_day("2021-01-20")
    root = render(maps.day_maps(results))
    texts = titles(root)
    assert any(t.startswith("Soft assignment q") for t in texts)
    assert sum("on 2021-01-20" in t for t in texts) == 3


def test_statistics_tables_and_plots(results, tiny_run):
    table = metrics.scores_table(tiny_run.metrics, "dsc")
    assert list(table.columns) == ["dsc", "kmeans (ref.)"]
    assert any("ARI" in i for i in table.index)
    freq = metrics.monthly_frequency(results.labels, results.times)
    assert np.allclose(freq.groupby("month")["share"].sum(), 1.0)
    root = render(
        metrics.monthly_bars(results) + metrics.spell_bars(results)
        + metrics.transition_heatmap(results)
    )  # fmt: skip
    texts = titles(root)
    assert "Frequency by month" in texts and any(t.startswith("Spell lengths") for t in texts)


def test_exports(results, tiny_run):
    csv = runs.labels_csv(tiny_run).getvalue().decode().splitlines()
    assert csv[0] == "time,cluster" and len(csv) == tiny_run.n_days + 1
    ds = xr.load_dataset(io.BytesIO(runs.composites_netcdf(tiny_run).getvalue()))
    assert "anomaly" in ds and ds.sizes["cluster"] == 3
    assert runs.maps_png(results).getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    names = zipfile.ZipFile(runs.run_zip(tiny_run)).namelist()
    assert any(n.endswith("config.json") for n in names)


def test_whole_page_builds(server_config, store, tiny_run):
    session = Session(server_config, jobs.JobManager(store, 1), store)
    page = build(session)
    session.open()
    assert session.results.run is not None
    from bokeh.document import Document

    page.server_doc(Document())


def test_online_basemap_is_an_option_that_builds_without_network(results):
    from bokeh.models import WMTSTileSource

    results.basemap = True
    sel = pn.pane.HoloViews(maps.selection_map(results)).get_root()
    assert list(sel.select({"type": WMTSTileSource}))
    results.select_cluster(0)
    assert any("of cluster 0" in t for t in titles(sel))


def test_progress_shows_phase_epoch_losses_and_queue():
    from dashboard.state import JobStatus
    from dashboard.views import progress
    from dsc_core.training import Event

    status = JobStatus()
    status.reset("queued")
    status.position = 2
    assert "position 2 in the queue" in progress.status_text(status)
    status.state = "running"
    status.add_events(
        [
            Event("pretrain", 1, 5, {"reconstruction": 1.0}, elapsed=1.0, eta=4.0),
            Event("init", 0, 0, {"inertia": 150.0}, elapsed=1.5),
            Event("joint", 2, 5, {"reconstruction": 0.5, "clustering": 0.2}, 0.03, 2.0, 2.0),
        ]
    )
    text = progress.status_text(status)
    assert "joint" in text and "epoch 2/5" in text and "labels changed 3.0%" in text
    assert 0 < status.progress < 100
    frame = progress.loss_frame(status)
    # the k-means inertia is on another scale: only training losses are plotted
    assert set(frame["loss"]) == {"reconstruction", "clustering"} and len(frame) == 3
    view = progress.progress_view(status)
    view.get_root()
