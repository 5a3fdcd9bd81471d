"""Views as functions of the state, rendered to Bokeh models without a browser."""

from __future__ import annotations

import html
import io
import os
import shutil
import time
import zipfile

import numpy as np
import pandas as pd
import panel as pn
import pytest
import xarray as xr

from dashboard import jobs
from dashboard.app import build
from dashboard.results import Results
from dashboard.session import Session
from dashboard.views import latent, maps, metrics, runs, timeline
from dashboard.views.live import Live


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
    from bokeh.models import ColorBar

    root = maps.cluster_maps_view(results).get_root()
    texts = titles(root)
    assert sum(t.startswith("Cluster ") and "% of days" in t for t in texts) == 3
    (bar,) = root.select({"type": ColorBar})
    assert bar.title == "t2m anomaly [K]"

    images = sources(root, "image")
    results.variable = "sst"  # in place: the same models, what a fresh drawing shows
    assert sources(root, "image") == images and bar.title == "sst anomaly [K]"
    fresh = render(maps.cluster_maps(results, Live()))
    want = {s.data["image"][0].tobytes() for s in sources(fresh, "image")}
    assert {s.data["image"][0].tobytes() for s in images} == want
    dots = {tuple(s.data["Latitude"]) for s in sources(root, "Latitude")}
    assert dots and dots == {tuple(s.data["Latitude"]) for s in sources(fresh, "Latitude")}
    (fresh_bar,) = fresh.select({"type": ColorBar})
    assert fresh_bar.color_mapper.low == bar.color_mapper.low

    results.kind = "mean"  # the field kind too: values, range, colour map and label
    (fresh_bar,) = render(maps.cluster_maps(results, Live())).select({"type": ColorBar})
    assert bar.title == fresh_bar.title == "sst mean [K]" and sources(root, "image") == images
    assert list(bar.color_mapper.palette) == list(fresh_bar.color_mapper.palette)
    assert (bar.color_mapper.low, bar.color_mapper.high) == (
        fresh_bar.color_mapper.low, fresh_bar.color_mapper.high
    )  # fmt: skip


def test_stipple_legend_names_the_test(results):
    def legend() -> str:
        root = maps.stipple_legend(results).get_root()
        return " ".join(html.unescape(str(getattr(m, "text", ""))) for m in root.references())

    assert "false discovery rate" in legend() and "effective sample sizes" in legend()
    old = results.run.composites.copy()
    old.attrs = {"alpha": 0.05, "test": "welch"}  # a run saved by an older version
    results.run.composites = old
    results.param.trigger("run")
    assert "without correction" in legend()


def sources(root, *columns) -> list:
    """The root's ColumnDataSources that hold all of ``columns``."""
    from bokeh.models import ColumnDataSource

    return [s for s in root.select({"type": ColumnDataSource}) if set(columns) <= set(s.data)]


def test_selection_map_updates_in_place_as_if_drawn_anew(results):
    root = maps.selection_map_view(results).get_root()
    assert any(t.startswith("Select days") for t in titles(root))
    (image,) = sources(root, "image")
    timings = []
    for c in (0, 1, 2, 0):
        t = time.perf_counter()
        results.select_cluster(c)
        timings.append(time.perf_counter() - t)
        assert any(t.startswith("Composite of") and f"cluster {c}" in t for t in titles(root))
    assert sources(root, "image") == [image]  # the same model, new data
    # What the page shows equals a fresh drawing of the same selection.
    fresh = render(maps.selection_map(results, Live()))
    (want,) = sources(fresh, "image")
    np.testing.assert_array_equal(image.data["image"][0], want.data["image"][0])
    assert not np.allclose(image.data["image"][0], 0)
    got_pts, want_pts = (sources(r, "Longitude")[0].data for r in (root, fresh))
    np.testing.assert_array_equal(got_pts["Latitude"], want_pts["Latitude"])
    results.select_span("2021-01-05", "2021-01-09")
    assert "Composite of 5 timeline days, 2021-01-05 to 2021-01-09" in titles(root)
    results.clear()
    assert any(t.startswith("Select days") for t in titles(root))
    assert np.allclose(image.data["image"][0], 0)
    print(f"selection -> map update: median {1000 * np.median(timings[1:]):.0f} ms")


def test_a_run_of_the_same_grid_and_k_is_shown_in_place_as_if_drawn_anew():
    from tests.engine.test_runs import make_run

    def images(root) -> list[bytes]:
        return sorted(s.data["image"][0].tobytes() for s in sources(root, "image"))

    results = Results()
    results.set_run(make_run(seed=0))
    cluster_root = maps.cluster_maps_view(results).get_root()
    selection_root = maps.selection_map_view(results).get_root()
    drawn, before = sources(cluster_root, "image"), images(cluster_root)
    results.select_cluster(1)
    results.set_run(make_run(seed=1))  # the same grid and K: the same models, new data
    assert sources(cluster_root, "image") == drawn
    fresh = render(maps.cluster_maps(results, Live()))
    assert images(cluster_root) == images(fresh) != before
    assert sorted(titles(cluster_root)) == sorted(titles(fresh))  # the new run's frequencies
    assert any(t.startswith("Select days") for t in titles(selection_root))  # selection reset
    results.set_run(make_run(k=4))  # another K: drawn anew
    assert sum("% of days" in t for t in titles(cluster_root)) == 4


def test_another_run_replaces_the_latent_space_and_timeline_in_place_as_if_drawn_anew():
    from bokeh.models import Range1d

    from tests.engine.test_runs import make_run

    def drawn(root) -> tuple[list, list]:
        """The root's data sources (data as lists) and ranges (start, end)."""
        data = [{k: [str(v) for v in s.data[k]] for k in sorted(s.data)} for s in sources(root)]
        ranges = [(r.start, r.end) for r in root.select({"type": Range1d})]
        return sorted(data, key=str), sorted(ranges, key=str)

    results = Results()
    results.set_run(make_run(seed=0))
    roots = {"latent": latent.latent_view(results).get_root(),
             "timeline": timeline.timeline_view(results).get_root()}  # fmt: skip
    models = {name: sources(root) for name, root in roots.items()}
    results.select_cluster(1)
    results.set_run(make_run(n_time=55, k=4, seed=1))  # another length and K, the same models
    fresh = {"latent": render(latent.latent_plot(results, Live())),
             "timeline": render(timeline.timeline_plot(results, Live()))}  # fmt: skip
    for name, root in roots.items():
        assert sources(root) == models[name]
        assert drawn(root) == drawn(fresh[name]), name
    assert "Latent space: PCA (UMAP is being computed)" in titles(roots["latent"])
    results.param.update(embedding=results.embedding * 3, embedding_kind="UMAP")  # in place too
    assert drawn(roots["latent"]) == drawn(render(latent.latent_plot(results, Live())))
    assert "Latent space: UMAP" in titles(roots["latent"])


def test_latent_and_timeline_follow_the_selection(results):
    lat_root = latent.latent_view(results).get_root()
    tl_root = timeline.timeline_view(results).get_root()
    (marks,) = [s for s in sources(tl_root, "left", "bottom") if "cluster" not in s.data]
    (rings,) = [s for s in sources(lat_root, "x", "y") if "cluster" not in s.data]
    assert len(marks.data["left"]) == 0 and len(rings.data["x"]) == 0

    results.select_indices([0, 1, 2], "umap")
    assert len(rings.data["x"]) == 3 and len(marks.data["left"]) == 3

    results.select_cluster(1)
    n1 = int((results.labels == 1).sum())
    assert len(marks.data["left"]) == n1 and np.all(marks.data["bottom"] == -0.5)
    np.testing.assert_array_equal(rings.data["x"], results.embedding[results.labels == 1, 0])

    from bokeh.models import Span

    (line,) = tl_root.select({"type": Span})
    assert line.line_alpha == 0
    results.pick_day("2021-01-20")
    assert line.line_alpha == 1 and line.location == pd.Timestamp("2021-01-20").value / 1e6
    results.clear()
    assert len(marks.data["left"]) == 0 and len(rings.data["x"]) == 0


def test_live_updates_the_drawn_layers_only():
    import holoviews as hv

    live = Live()
    live.set_data("dots", {"x": [1.0]})  # not drawn yet: nothing to update
    dots = hv.Points(([0.0, 1.0], [0.0, 1.0])).opts(hooks=[live.hook("dots")], title="a")
    root = render(dots)
    (source,) = sources(root, "x", "y")
    source.selected.indices = [1]
    live.set_data("dots", {"x": np.array([5.0]), "y": np.array([6.0])})
    live.set_title("dots", "b")
    live.clear_selection("dots")
    assert list(source.data["x"]) == [5.0] and source.selected.indices == []
    assert titles(root) == ["b"]
    live.set_data("dots", {"y": np.array([7.0])}, keep=True)
    assert list(source.data["x"]) == [5.0] and list(source.data["y"]) == [7.0]


def test_day_view_shows_fields_and_soft_assignment_then_updates_in_place(results, tiny_run):
    view = maps.day_view(results)
    root = view.get_root()
    assert not titles(root)  # a prompt until a day is clicked
    results.pick_day("2021-01-20")
    root = view.get_root()
    texts = titles(root)
    assert "q on 2021-01-20: cluster" in " ".join(texts)
    assert sum("on 2021-01-20" in t for t in texts) == 1 + 3  # q and 3 variables
    images = sources(root, "image")
    assert len(images) == 3

    results.pick_day("2021-02-11")  # the same models, the new day's data
    texts = titles(root)
    assert sum("on 2021-02-11" in t for t in texts) == 4 and sources(root, "image") == images
    day = np.datetime64("2021-02-11", "ns")
    fresh = sources(render(maps.day_maps(results, Live())), "image")  # drawn anew for this day
    for got in images:  # (in any order)
        assert any(np.array_equal(got.data["image"][0], w.data["image"][0], equal_nan=True)
                   for w in fresh)  # fmt: skip
    (bars,) = sources(root, "q")
    np.testing.assert_allclose(bars.data["q"], tiny_run.soft.sel(time=day).values)
    from bokeh.models import LinearColorMapper

    lows = {m.low for m in root.select({"type": LinearColorMapper})}
    assert len(lows) > 1  # each variable its own colour scale

    results.set_run(tiny_run)  # a new run: the prompt again
    assert not titles(view.get_root())


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


def test_exports(results, tiny_run, tmp_path):
    csv = runs.labels_csv(tiny_run).getvalue().decode().splitlines()
    assert csv[0] == "time,cluster" and len(csv) == tiny_run.n_days + 1
    ds = xr.load_dataset(io.BytesIO(runs.composites_netcdf(tiny_run).getvalue()))
    assert "anomaly" in ds and ds.sizes["cluster"] == 3
    assert runs.maps_png(results).getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert runs.maps_png(results, "pdf").getvalue()[:4] == b"%PDF"
    view = runs.export_view(results)
    names = {w.css_classes[0]: w.filename for w in view.objects if hasattr(w, "filename")}
    assert names["dsc-export-report"] == f"{tiny_run.name}-report.html"
    assert names["dsc-export-png"] == f"{tiny_run.name}-t2m-anomaly.png"
    names = zipfile.ZipFile(runs.run_zip(tiny_run)).namelist()
    assert any(n.endswith("config.json") for n in names)


def test_run_zip_leaves_symlinks_out_and_has_a_size_cap(tiny_run, tmp_path):
    from dsc_core.errors import DataError
    from dsc_core.runs import load_run

    shutil.copytree(tiny_run.path, tmp_path / "r")
    (tmp_path / "secret.txt").write_text("server file")
    (tmp_path / "r" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "r" / "leakdir").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(tmp_path / "r" / "pipe")  # reading it would hang the export
    run = load_run(tmp_path / "r")
    archive = zipfile.ZipFile(runs.run_zip(run))
    names = archive.namelist()
    assert "r/config.json" in names and not any("leak" in n or "pipe" in n for n in names)
    assert runs.folder_bytes(run) == sum(archive.getinfo(n).file_size for n in names)
    with pytest.raises(DataError, match="over this server's export limit of 0 MB"):
        runs.run_zip(run, max_bytes=1000)
    r = Results()
    button = runs.export_view(r, max_mb=0).objects[-1]
    r.set_run(run)
    assert button.disabled and "over 0 MB" in button.label


def test_untrusted_names_and_messages_are_text_not_markup(server_config, store):
    from dashboard.job_status import JobStatus
    from dashboard.views import controls, progress
    from dashboard.views.safe import text

    hostile = "<img src=x onerror=alert(1)>.nc [x](javascript:alert(1))"
    assert "<" not in text(hostile) and "](" not in text(hostile)
    status = JobStatus()
    status.param.update(state="failed", error=f"cannot read '{hostile}'")
    assert "<img" not in progress.status_text(status)
    status.param.update(state="running", stage=hostile)
    assert "<img" not in progress.status_text(status)
    session = Session(server_config, jobs.JobManager(store, 1), store)
    session.poll()
    session.message = hostile
    session.settings.error = hostile
    root = controls.controls_view(session).get_root()
    texts = [html.unescape(str(getattr(m, "text", ""))) for m in root.references()]
    shown = [t for t in texts if "onerror" in t]
    assert len(shown) == 2  # the data error and the message, as the browser gets their HTML
    assert all("<img" not in h and "&lt;img src=x onerror=alert(1)&gt;" in h for h in shown)


def test_a_run_of_other_variables_replaces_the_run_on_screen(results):
    from tests.engine.test_runs import make_run

    other = make_run()  # sst and u10, renamed: none of the run on screen's variables
    names = {"sst": "t<b>", "u10": "wind"}
    other.fields = other.fields.rename(names)
    other.composites = other.composites.assign_coords(
        variable=[names[str(v)] for v in other.composites["variable"].values]
    )
    select = pn.widgets.Select.from_param(results.param.variable)
    select.get_root()  # a drawn widget picks an option when its value leaves the options
    root = maps.cluster_maps_view(results).get_root()
    results.set_run(other)  # the widget must not pick a variable before the run changes
    assert results.variable == select.value == "t<b>" and list(select.options) == ["t<b>", "wind"]
    assert sum("% of days" in t for t in titles(root)) == other.config.clusters


def test_interrupted_runs_are_named_with_their_settings(server_config, tmp_path):
    import json

    from dsc_core.runs import RunStore
    from tests.dashboard.conftest import tiny_config

    store = RunStore(tmp_path)
    data = server_config.data_dirs[0] / "era5.nc"
    entry = {"token": "20260101-120000-0123abcd", "started": "2026-01-01T12:00:00",
             "config": {**tiny_config(seed=5).to_dict(), "data": str(data)}}  # fmt: skip
    (tmp_path / ".jobs").mkdir()  # as a killed server leaves it: an entry nobody holds
    (tmp_path / ".jobs" / f"{entry['token']}.json").write_text(json.dumps(entry))
    session = Session(server_config, jobs.JobManager(store, 1), store)
    view = runs.interrupted_view(session)
    models = view.get_root().references()
    texts = " ".join(html.unescape(str(getattr(m, "text", ""))) for m in models)
    assert "dsc, K=3, preset fast, seed 5" in texts and "2021-01-01 – 2021-03-01" in texts
    assert f"{data.parent.name}/era5.nc" in texts and str(data) not in texts
    session.dismiss(entry["token"])
    assert session.interrupted == [] and "Interrupted" not in str(view.get_root().references())


def test_whole_page_builds(server_config, store, tiny_run):
    session = Session(server_config, jobs.JobManager(store, 1), store)
    page = build(session)
    session.open()
    deadline = time.monotonic() + 30
    while session.results.run is None and time.monotonic() < deadline:
        session.poll()
        time.sleep(0.05)
    assert session.results.run is not None
    from bokeh.document import Document

    page.server_doc(Document())


def test_online_basemap_is_an_option_that_builds_without_network(results):
    from bokeh.models import WMTSTileSource

    view = maps.selection_map_view(results)
    results.basemap = True
    sel = view.get_root()
    assert list(sel.select({"type": WMTSTileSource}))
    results.select_cluster(0)  # drawn anew on the tiles
    assert any("of cluster 0" in t for t in titles(sel))
    assert list(sel.select({"type": WMTSTileSource}))


def test_progress_shows_phase_epoch_losses_and_queue():
    from dashboard.job_status import JobStatus
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
