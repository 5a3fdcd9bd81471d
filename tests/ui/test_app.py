"""The dashboard in a real Chromium: two pages opening at once on an empty store each start a
first run by themselves, linked selections from every view, the clicked day, exports, cancel,
a season, choosing K and comparing runs, no errors in the page.

Screenshots go to test-output/. The measured figures (page ready, selection → maps, cancel)
are printed and written to test-output/ui-timings.json.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.ui.browser import (
    canvas_box,
    drag,
    marked_days,
    rss_mb,
    selected_count,
    timed,
    timed_note,
    titles,
    wait_marks,
    wait_title,
)
from tests.ui.conftest import HOSTILE, OUT, TINY_RUN

pytestmark = pytest.mark.ui

N_DAYS = 60  # TINY_RUN's days
RUN_NAME = re.compile(r"Run (\d{8}-\d{6}-dsc-k3[-\d]*)")
"""The first runs' names, in the summary beside the maps."""


def warm_median(values: list[float]) -> int:
    """Median without the first value (warm-up), or of all when there is only one."""
    rest = values[1:] or values
    return round(sorted(rest)[len(rest) // 2])


def with_screenshot(run, server, page, name: str) -> None:
    """``run(server, page)``; when it fails, a full-page screenshot ``test-output/<name>``, and
    the page's status line and the end of the server's log in the failure's message."""
    try:
        run(server, page)
    except Exception as err:
        page.screenshot(path=str(OUT / name), full_page=True)
        status = page.locator(".dsc-status").all_inner_texts()
        log = server["log"].read_text()[-3000:]
        raise AssertionError(
            f"{err}\nstatus line: {status}\npage errors: {page.errors}\nserver log:\n{log}"
        ) from err


@pytest.mark.timeout(900)  # its waits allow for a slow first run and UMAP compilation
def test_first_runs_selection_and_linked_views(server, page):
    with_screenshot(_first_runs_selection_and_linked_views, server, page, "ui-failure.png")


def _first_runs_selection_and_linked_views(server, page):
    timings = {"server_up_s": round(server["up_after"], 2)}
    timings.update(_first_runs_start_by_themselves(server, page))
    latencies = {
        "cluster_button_to_map_ms": _select_by_cluster_button(page),
        "cluster_map_click_to_map_ms": _select_by_cluster_map(page),
        "umap_box_to_map_ms": _select_in_latent_space(page),
    }
    spans, day_clicks = _select_on_timeline(page)
    latencies.update(timeline_span_to_map_ms=spans, day_click_to_maps_ms=day_clicks)
    timings.update({key: [round(x) for x in ms] for key, ms in latencies.items()})
    for key in ("cluster_button", "cluster_map_click", "umap_box", "timeline_span"):
        timings[f"{key}_median_ms"] = warm_median(timings[f"{key}_to_map_ms"])
    _export_labels_and_maps(page)
    _show_statistics(page)
    timings["cancel_s"] = _cancel_a_slow_training(page)
    _train_on_a_season(page)
    (OUT / "ui-timings.json").write_text(json.dumps(timings, indent=1))
    print("UI timings:", timings)
    assert not page.errors, page.errors


def _first_runs_start_by_themselves(server, page) -> dict[str, float]:
    """Two pages open at once on the empty run store: each starts a first run by itself, on
    the server's two workers, and shows its own; the store keeps both. On ``page``: the
    progress, then the results. Seconds to the page ready and to the first run's results."""
    other = page.context.browser.new_page(viewport={"width": 1600, "height": 1400})
    t = time.monotonic()
    other.goto(server["url"], wait_until="commit")
    page.goto(server["url"])
    page.get_by_role("button", name="Train").wait_for(timeout=30000)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=30000)
    page_ready = round(time.monotonic() - t, 2)
    page.get_by_text("The built-in sample is").wait_for(timeout=60000)
    wait_title(page, "Cluster 0 ·", 150)
    results = round(time.monotonic() - t, 2)
    names = []
    for pg in (page, other):
        shown = pg.get_by_text(RUN_NAME).first
        shown.wait_for(timeout=120000)
        names.append(RUN_NAME.search(shown.text_content()).group(1))
    other.close()
    stored = sorted(p.name for p in server["store"].iterdir() if not p.name.startswith("."))
    assert len(set(names)) == 2 and sorted(names) == stored, (names, stored)
    wait_title(page, "Latent space", 30)
    wait_title(page, "Cluster of every day", 30)
    assert sum("% of days" in x for x in titles(page)) == TINY_RUN["clusters"]
    page.screenshot(path=str(OUT / "ui-1-first-run.png"), full_page=True)
    return {"page_ready_s": page_ready, "first_run_results_s": results}


def _select_by_cluster_button(page) -> list[float]:
    """Clicking a cluster button highlights its days everywhere."""
    lat = []
    for c in (1, 2, 0, 1, 2):
        button = page.get_by_role("button", name=f"cluster {c}", exact=True)
        lat.append(timed(page, button.click, f"of cluster {c}"))
        assert marked_days(page) > 0, "timeline does not highlight the cluster's days"
    return lat


def _select_by_cluster_map(page) -> list[float]:
    """So does clicking a cluster's map."""
    first_map = canvas_box(page, 250, 230)
    lat = []
    for _ in range(3):  # cluster 0 on, off, on
        lat.append(
            timed(
                page,
                lambda: page.mouse.click(first_map["x"] + 125, first_map["y"] + 115),
                "of cluster 0" if len(lat) != 1 else "Select days",
            )
        )
    wait_marks(page, selected_count(page, "of cluster 0"))
    return lat


def _select_in_latent_space(page) -> list[float]:
    """A box selection in the latent space: composite of exactly those days, marks on the
    timeline. UMAP replaces the first PCA view when its worker finishes (numba compiles it
    first on a fresh install): select on the final layout."""
    wait_title(page, "Latent space: UMAP", 180)
    page.get_by_role("button", name="Clear selection").click()
    wait_title(page, "Select days", 10)
    umap = canvas_box(page, 380, 340)
    lat = []
    for x0, x1 in ((0.1, 0.9), (0.1, 0.5), (0.5, 0.95)):
        page.get_by_role("button", name="Clear selection").click()
        wait_title(page, "Select days", 10)
        try:
            box = lambda x0=x0, x1=x1: drag(page, umap, x0, x1, 0.15, 0.92)  # noqa: E731
            lat.append(timed(page, box, "in the latent space"))
        except AssertionError:
            assert (x0, x1) != (0.1, 0.9), "a box over the whole UMAP selected nothing"
            continue  # one half of the UMAP may be empty, not both (below)
        wait_marks(page, selected_count(page, "latent space"))
    assert len(lat) >= 2, "neither half of the UMAP selected anything"
    page.screenshot(path=str(OUT / "ui-2-umap-selection.png"), full_page=True)
    return lat


def _select_on_timeline(page) -> tuple[list[float], list[float]]:
    """A span on the timeline; then clicking a day shows its fields and soft assignment, and
    the next clicked days update the drawn maps in place."""
    strip = canvas_box(page, 1100, 110)
    spans = []
    for x0, x1 in ((0.3, 0.5), (0.1, 0.2), (0.6, 0.9)):
        span = lambda x0=x0, x1=x1: drag(page, strip, x0, x1, 0.5, 0.5)  # noqa: E731
        spans.append(timed(page, span, "timeline days", new=True))
        wait_marks(page, selected_count(page, "timeline days"))
    page.mouse.click(strip["x"] + strip["width"] * 0.7, strip["y"] + strip["height"] * 0.4)
    wait_title(page, "q on 2021-", 15)
    clicks = []
    for x in (0.2, 0.5, 0.9):
        tap = lambda x=x: page.mouse.click(  # noqa: E731
            strip["x"] + strip["width"] * x, strip["y"] + strip["height"] * 0.4
        )
        clicks.append(timed(page, tap, "q on 2021-", new=True))
    page.screenshot(path=str(OUT / "ui-3-span-and-day.png"), full_page=True)
    return spans, clicks


def _export_labels_and_maps(page) -> None:
    """Exports: the labels as CSV, the maps as PNG."""
    with page.expect_download() as download:
        page.get_by_role("button", name="Labels (CSV)").click()
    csv = Path(download.value.path()).read_text().splitlines()
    assert csv[0] == "time,cluster" and len(csv) == N_DAYS + 1
    with page.expect_download() as download:
        page.get_by_role("button", name="Maps figure").click()  # PNG, the default
    assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _show_statistics(page) -> None:
    """The Statistics tab draws its figures; back to Explore."""
    page.locator(".bk-tab", has_text="Statistics").click()
    wait_title(page, "Frequency by month", 20)
    page.screenshot(path=str(OUT / "ui-4-statistics.png"), full_page=True)
    page.locator(".bk-tab", has_text="Explore").click()


def _cancel_a_slow_training(page) -> float:
    """Cancel: a slow training (the paper's widths) stops within seconds; the run on screen
    stays. Seconds from the click to the cancelled status."""
    page.locator("select", has=page.locator("option", has_text="paper")).select_option("paper")
    page.get_by_role("button", name="Train").click()
    page.locator(".dsc-status", has_text="pretrain").wait_for(timeout=60000)
    t = time.monotonic()
    page.get_by_role("button", name="Cancel").click()
    page.locator(".dsc-status", has_text="Cancelled").wait_for(timeout=30000)
    seconds = round(time.monotonic() - t, 2)
    assert sum("% of days" in x for x in titles(page)) == TINY_RUN["clusters"]
    return seconds


def _train_on_a_season(page) -> None:
    """A season: k-means on the winter days of the period (1 Jan – 1 Mar: 59 DJF days)."""
    page.locator(".dsc-season select").select_option("DJF")
    page.locator(
        "select", has=page.locator("option", has_text=re.compile(r"^kmeans$"))
    ).select_option("kmeans")
    page.get_by_role("button", name="Train").click()
    page.locator(".dsc-status", has_text="Done").wait_for(timeout=120000)
    page.locator(".dsc-table", has_text="DJF").first.wait_for(timeout=30000)
    with page.expect_download() as download:
        page.get_by_role("button", name="Labels (CSV)").click()
    csv = Path(download.value.path()).read_text().splitlines()
    assert len(csv) == 59 + 1 and not any(row.startswith("2021-03") for row in csv)


def test_a_second_page_loads_the_stored_run_fast(server, page):
    """Another page opens the stored run; the server's memory grows by what a page costs,
    not by the run's fields (read from disk as the views need them)."""
    before = rss_mb(server["proc"].pid)
    t = time.monotonic()
    page.goto(server["url"])
    page.get_by_role("button", name="Train").wait_for(timeout=30000)
    ready = time.monotonic() - t
    wait_title(page, "Cluster 0 ·", 30)
    maps_after = time.monotonic() - t
    grown = rss_mb(server["proc"].pid) - before
    out = OUT / "ui-timings.json"
    timings = json.loads(out.read_text()) if out.exists() else {}
    timings.update(second_page_ready_s=round(ready, 2), second_page_maps_s=round(maps_after, 2),
                   second_page_server_rss_mb=round(grown, 1))  # fmt: skip
    out.write_text(json.dumps(timings, indent=1))
    print("UI timings:", timings)
    assert grown < 150, f"the server grew by {grown:.0f} MB for one page"
    _a_click_is_noted_at_once_then_answered(page)
    assert not page.errors, page.errors


def _a_click_is_noted_at_once_then_answered(page) -> None:
    """Load run: the browser notes the click itself, the server then says it reads the run,
    and once the run is on screen, the note is gone."""
    ms = timed_note(page, page.get_by_role("button", name="Load run").click)
    print(f"click -> note: {ms:.0f} ms")
    page.locator(".dsc-note", has_text=re.compile("reading run|for the run")).first.wait_for(
        timeout=10000
    )
    page.locator(".dsc-note", has_text=re.compile("run")).first.wait_for(
        state="detached", timeout=30000
    )
    wait_title(page, "Cluster 0 ·", 30)


@pytest.mark.timeout(300)
def test_choose_k_and_compare_views(server, page):
    with_screenshot(_choose_k_and_compare, server, page, "ui-failure-choose-k.png")


def _choose_k_and_compare(server, page):
    page.goto(server["url"])
    page.get_by_role("button", name="Train").wait_for(timeout=30000)
    wait_title(page, "Cluster 0 ·", 30)  # the newest stored run (k-means, DJF) is on screen
    page.locator(
        "select", has=page.locator("option", has_text=re.compile(r"^kmeans$"))
    ).select_option("kmeans")
    page.locator(".bk-tab", has_text="Regimes").click()
    page.get_by_role("button", name="Measure K").click()
    page.locator(".dsc-k-table").first.wait_for(timeout=120000)
    wait_title(page, "Classifiability index", 30)
    assert page.locator(".dsc-k-table tbody tr").count() == 7  # K = 2..8
    page.get_by_role("button", name="Compare", exact=True).click()
    result = page.locator(".dsc-compare-result", has_text=re.compile(r"\d+ shared days"))
    result.wait_for(timeout=60000)  # the ARI, then the tables
    page.locator(".dsc-table", has_text="B 0").first.wait_for(timeout=10000)
    page.get_by_role("button", name="Assign").click()  # the whole sample, with its model
    page.locator(".dsc-assign-result", has_text="90 days labelled").wait_for(timeout=60000)
    page.screenshot(path=str(OUT / "ui-5-regimes-tab.png"), full_page=True)
    assert not page.errors, page.errors


def test_hostile_file_and_variable_names_run_no_script(server, page):
    """File names, variable names and attributes that are HTML show as text, and choosing
    sources sends the browser no server path."""
    with_screenshot(_hostile_names, server, page, "ui-failure-hostile.png")


def _hostile_names(server, page):
    dialogs, frames = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    page.goto(server["url"])
    page.get_by_role("button", name="Train").wait_for(timeout=30000)
    source = page.locator("select", has=page.locator("option", has_text="Built-in sample"))
    source.select_option(label=f"data/{HOSTILE.format(1)}.nc")
    page.get_by_text("30 days 2021-01-01").wait_for(timeout=30000)
    chosen = page.locator(".choices__list--multiple .choices__item")
    chosen.filter(has_text=f"t{HOSTILE.format(2)}").wait_for(timeout=5000)  # a variable, as text
    source.select_option(label=f"data/{HOSTILE.format(3)}broken.nc")
    alert = page.locator(".dsc-data-error", has_text=f"'{HOSTILE.format(3)}broken.nc'")
    alert.wait_for(timeout=30000)  # the error names the file, as text
    sent = "".join(f if isinstance(f, str) else f.decode("utf-8", "replace") for f in frames)
    assert str(server["data"].parent) not in sent, "a server path reached the browser"

    source.select_option(label=f"data/{HOSTILE.format(1)}.nc")  # train on it: maps, tables
    page.get_by_text("30 days 2021-01-01").wait_for(timeout=30000)
    page.locator(
        "select", has=page.locator("option", has_text=re.compile(r"^kmeans$"))
    ).select_option("kmeans")
    page.get_by_role("button", name="Train").click()
    page.locator(".dsc-status", has_text="Done").wait_for(timeout=120000)
    shown = page.locator("select option", has_text=f"t{HOSTILE.format(2)}")  # the maps' variable
    shown.first.wait_for(state="attached", timeout=30000)
    wait_title(page, "Cluster 0 ·", 30)
    page.wait_for_timeout(500)
    assert dialogs == [], dialogs
    assert not page.errors, page.errors
