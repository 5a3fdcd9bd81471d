"""The dashboard in a real Chromium: first run starts by itself, linked selection, no errors.

Screenshots go to test-output/. The measured figures (page ready, selection → maps) are
printed and written to test-output/ui-timings.json.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.ui.conftest import OUT

pytestmark = pytest.mark.ui

TITLES_JS = """() => {
  const out = [];
  for (const d of Bokeh.documents)
    for (const m of d.all_models) if (m.type === 'Title') out.push(m.text);
  return out;
}"""

MARKS_JS = """() => {
  let n = 0;
  for (const d of Bokeh.documents) for (const m of d.all_models) {
    if (m.type !== 'ColumnDataSource') continue;
    const b = m.data.bottom;
    if (b && b.length && Array.from(b).every(v => v === -0.5)) n = Math.max(n, b.length);
  }
  return n;
}"""

WAIT_TITLE_JS = """async ([needle, t0, timeout]) => {
  const has = () => {
    for (const d of Bokeh.documents) for (const m of d.all_models)
      if (m.type === 'Title' && m.text.includes(needle)) return true;
    return false;
  };
  while (!has()) {
    if (performance.now() - t0 > timeout) return -1;
    await new Promise(r => setTimeout(r, 2));
  }
  return performance.now() - t0;
}"""


def titles(page) -> list[str]:
    return page.evaluate(TITLES_JS)


def wait_title(page, needle: str, timeout_s: float) -> None:
    page.wait_for_function(
        """(needle) => { for (const d of Bokeh.documents) for (const m of d.all_models)
             if (m.type === 'Title' && m.text.includes(needle)) return true; return false; }""",
        arg=needle,
        timeout=timeout_s * 1000,
    )


def selected_count(page, needle: str) -> int:
    """N from the selection map's title "Composite of N ..." that contains ``needle``."""
    title = next(t for t in titles(page) if needle in t)
    return int(title.split()[2])


def wait_marks(page, n: int) -> None:
    """Wait until the timeline marks exactly ``n`` days."""
    page.wait_for_function(f"() => ({MARKS_JS})() === {n}", timeout=5000)


def canvas_box(page, width: int, height: int) -> dict:
    """Bounding box of the Bokeh canvas of a plot with this frame size (the first match)."""
    for c in page.locator("canvas").all():
        box = c.bounding_box()
        if box and abs(box["width"] - width) < 3 and abs(box["height"] - height) < 3:
            c.scroll_into_view_if_needed()
            return c.bounding_box()
    raise AssertionError(f"no {width}x{height} canvas on the page")


def drag(page, box: dict, x0: float, x1: float, y0: float, y1: float) -> None:
    page.mouse.move(box["x"] + box["width"] * x0, box["y"] + box["height"] * y0)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (x0 + x1) / 2, box["y"] + box["height"] * y1, steps=5)
    page.mouse.move(box["x"] + box["width"] * x1, box["y"] + box["height"] * y1, steps=5)
    page.mouse.up()


def test_first_run_selection_and_linked_views(server, page):
    try:
        _first_run_selection_and_linked_views(server, page)
    except Exception:
        page.screenshot(path=str(OUT / "ui-failure.png"), full_page=True)
        raise


def _first_run_selection_and_linked_views(server, page):
    timings = {"server_up_s": round(server["up_after"], 2)}
    t = time.monotonic()
    page.goto(server["url"])
    page.get_by_role("button", name="Train").wait_for(timeout=30000)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=30000)
    timings["page_ready_s"] = round(time.monotonic() - t, 2)

    # The first run starts by itself: the progress shows, then the results.
    page.get_by_text("The built-in sample is").wait_for(timeout=15000)
    wait_title(page, "Cluster 0 ·", 150)
    timings["first_run_results_s"] = round(time.monotonic() - t, 2)
    wait_title(page, "Latent space", 30)
    wait_title(page, "Cluster of every day", 30)
    assert sum("% of days" in x for x in titles(page)) == 3
    page.screenshot(path=str(OUT / "ui-1-first-run.png"), full_page=True)

    # Clicking a cluster highlights its days everywhere; time the maps' update in the page.
    lat = []
    for c in (1, 2, 0, 1, 2):
        t0 = page.evaluate("() => performance.now()")
        page.get_by_role("button", name=f"cluster {c}", exact=True).click()
        ms = page.evaluate(WAIT_TITLE_JS, [f"of cluster {c}", t0, 15000])
        assert ms > 0, f"maps did not show cluster {c}"
        lat.append(ms)
    timings["cluster_click_to_map_ms"] = [round(x) for x in lat]
    timings["cluster_click_to_map_median_ms"] = round(sorted(lat[1:])[len(lat[1:]) // 2])
    assert page.evaluate(MARKS_JS) > 0, "timeline does not highlight the cluster's days"

    # A box selection in the latent space: composite of exactly those days, marks on the timeline.
    # UMAP replaces the first PCA view when its worker finishes (numba compiles it first on a
    # fresh install): select on the final layout.
    wait_title(page, "Latent space: UMAP", 180)
    page.get_by_role("button", name="Clear selection").click()
    wait_title(page, "Select days", 10)
    umap = canvas_box(page, 380, 340)
    t0 = page.evaluate("() => performance.now()")
    drag(page, umap, 0.1, 0.9, 0.1, 0.9)  # most of the frame: wherever UMAP puts the days
    ms = page.evaluate(WAIT_TITLE_JS, ["selected in the latent space", t0, 5000])
    assert ms > 0, "UMAP selection did not reach the maps"
    timings["umap_select_to_map_ms"] = round(ms)
    n_umap = selected_count(page, "latent space")
    assert n_umap > 0
    wait_marks(page, n_umap)
    page.screenshot(path=str(OUT / "ui-2-umap-selection.png"), full_page=True)

    # A span on the timeline.
    strip = canvas_box(page, 1100, 110)
    t0 = page.evaluate("() => performance.now()")
    drag(page, strip, 0.3, 0.5, 0.5, 0.5)
    ms = page.evaluate(WAIT_TITLE_JS, ["selected on the timeline", t0, 5000])
    assert ms > 0, "timeline span did not reach the maps"
    timings["timeline_span_to_map_ms"] = round(ms)
    wait_marks(page, selected_count(page, "on the timeline"))

    # Clicking a day shows its fields and soft assignment.
    page.mouse.click(strip["x"] + strip["width"] * 0.7, strip["y"] + strip["height"] * 0.4)
    wait_title(page, "Soft assignment q", 15)
    page.screenshot(path=str(OUT / "ui-3-span-and-day.png"), full_page=True)

    page.locator(".bk-tab", has_text="Statistics").click()
    wait_title(page, "Frequency by month", 20)
    page.screenshot(path=str(OUT / "ui-4-statistics.png"), full_page=True)

    (OUT / "ui-timings.json").write_text(json.dumps(timings, indent=1))
    print("UI timings:", timings)
    assert not page.errors, page.errors


def test_a_second_page_loads_the_stored_run_fast(server, page):
    t = time.monotonic()
    page.goto(server["url"])
    page.get_by_role("button", name="Train").wait_for(timeout=30000)
    ready = time.monotonic() - t
    wait_title(page, "Cluster 0 ·", 30)
    maps_after = time.monotonic() - t
    timings = json.loads((OUT / "ui-timings.json").read_text())
    timings.update(second_page_ready_s=round(ready, 2), second_page_maps_s=round(maps_after, 2))
    (OUT / "ui-timings.json").write_text(json.dumps(timings, indent=1))
    print("UI timings:", timings)
    assert not page.errors, page.errors
