"""How fast a selection reaches the maps: on the server, and in a real Chromium.

Trains DSC on the built-in sample (K=4, the defaults; ~30 s) unless ``--run`` names an existing
run directory, serves the dashboard on it, and times each way of selecting days:

- *server*: in this process, the views drawn into a Bokeh document; the time from the
  selection call to all linked views updated (composite computed, Bokeh models changed).
- *browser*: in headless Chromium (Debian's ``/usr/bin/chromium``), from the release of the
  mouse button to the first frame painted after the selection map shows the new selection.

Prints a Markdown table of median / 90th percentile / max milliseconds.

    python benchmarks/selection_latency.py [--run RUN_DIR] [--repeats 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyproj  # noqa: E402, F401  (before netCDF4: see dashboard/__init__.py)

from tests.ui import browser as ui  # noqa: E402


def train_sample(store: Path) -> Path:
    """A DSC run on the built-in sample, K=4, saved in ``store``."""
    from dsc_core.pipeline import RunConfig, run
    from dsc_core.runs import RunStore

    t = time.perf_counter()
    result = run(RunConfig(data="sample", clusters=4))
    path = RunStore(store).save(result)
    print(f"trained the sample run in {time.perf_counter() - t:.0f} s: {path.name}")
    return path


def server_side(run_dir: Path, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per selection with the linked views drawn into a Bokeh document."""
    import panel as pn
    from bokeh.document import Document

    from dashboard.results import Results
    from dashboard.views.latent import latent_view
    from dashboard.views.maps import cluster_maps_view, selection_map_view
    from dashboard.views.timeline import timeline_view
    from dsc_core.runs import load_run

    pn.extension()
    results = Results()
    doc = Document()
    views = [cluster_maps_view, selection_map_view, latent_view, timeline_view]
    root = pn.Column(*(view(results) for view in views)).get_root(doc)
    doc.add_root(root)
    results.set_run(load_run(run_dir))
    rng = np.random.default_rng(0)
    n, k = len(results.times), results.n_clusters
    out: dict[str, list[float]] = {"cluster": [], "latent box": [], "timeline span": []}
    for i in range(repeats):
        start = int(rng.integers(0, n - 20))
        actions = {
            "cluster": lambda i=i: results.select_cluster(i % k),
            "latent box": lambda: results.select_indices(rng.choice(n, n // 4), "umap"),
            "timeline span": lambda s=start: results.select_span(
                results.times[s], results.times[s + int(rng.integers(5, 20))]
            ),
        }
        for name, act in actions.items():
            t = time.perf_counter()
            act()
            out[name].append(1000 * (time.perf_counter() - t))
    return out


def in_browser(url: str, repeats: int, n_clusters: int) -> dict[str, list[float]]:
    """Milliseconds from pointer release to the painted selection, per interaction."""
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(0)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=ui.CHROMIUM, args=ui.CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1600, "height": 2100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_run(page, url)
        clear = page.get_by_role("button", name="Clear selection")
        out = {
            "cluster": cluster_buttons(page, repeats, n_clusters),
            "cluster map": cluster_map_clicks(page, clear, repeats),
            "latent box": latent_boxes(page, clear, repeats, rng),
        }
        out["timeline span"], out["day click"] = timeline_selections(page, repeats, rng)
        out["variable"] = variable_choices(page, repeats)
        page.screenshot(path=str(ROOT / "benchmarks" / "out" / "selection-latency.png"))
        chromium.close()
    if errors:
        print("errors in the page:", *errors, sep="\n  ")
    return out


def open_run(page, url: str) -> None:
    """Load the page and wait for the run's maps and its UMAP; print how long they took."""
    t = time.monotonic()
    page.goto(url)
    page.get_by_role("button", name="Train").wait_for(timeout=30000)
    ready = time.monotonic() - t
    ui.wait_title(page, "Cluster 0 ·", 60)
    maps = time.monotonic() - t
    print(f"page ready after {ready:.1f} s, with the run's maps after {maps:.1f} s")
    ui.wait_title(page, "Latent space: UMAP", 180)


def cluster_buttons(page, repeats: int, n_clusters: int) -> list[float]:
    """Each press of a cluster's button, going round the clusters."""
    out = []
    for i in range(repeats):
        c = (i + 1) % n_clusters
        button = page.get_by_role("button", name=f"cluster {c}", exact=True)
        out.append(ui.timed(page, button.click, f"of cluster {c}"))
    return out


def cluster_map_clicks(page, clear, repeats: int) -> list[float]:
    """A click on cluster 0's map, from a cleared selection each time."""
    out = []
    for _ in range(repeats):
        clear.click()
        ui.wait_title(page, "Select days", 10)
        box = ui.canvas_box(page, 250, 230)  # cluster 0's map
        click = lambda b=box: page.mouse.click(b["x"] + 125, b["y"] + 115)  # noqa: E731
        out.append(ui.timed(page, click, "of cluster 0"))
    return out


def latent_boxes(page, clear, repeats: int, rng: np.random.Generator) -> list[float]:
    """Random box selections in the latent space (UMAP), from a cleared selection; a box
    that holds no day is drawn again."""
    umap = ui.canvas_box(page, 380, 340)
    out: list[float] = []
    while len(out) < repeats:
        clear.click()
        ui.wait_title(page, "Select days", 10)
        x0, y0 = rng.uniform(0.05, 0.5, 2)
        x1, y1 = x0 + rng.uniform(0.2, 0.45), y0 + rng.uniform(0.2, 0.45)
        corners = (x0, x1, 0.1 + 0.8 * y0, 0.1 + 0.8 * y1)
        drag = lambda c=corners: ui.drag(page, umap, *c)  # noqa: E731
        try:
            out.append(ui.timed(page, drag, "in the latent space", 2.0))
        except AssertionError:
            continue  # an empty part of the projection
    return out


def timeline_selections(
    page, repeats: int, rng: np.random.Generator
) -> tuple[list[float], list[float]]:
    """Random spans dragged on the timeline, then clicks on single days of it."""
    strip = ui.canvas_box(page, 1100, 110)
    spans, clicks = [], []
    for _ in range(repeats):
        x0 = rng.uniform(0.05, 0.8)
        span = lambda x0=x0: ui.drag(page, strip, x0, x0 + 0.1, 0.5, 0.5)  # noqa: E731
        spans.append(ui.timed(page, span, "timeline days", new=True))
    for i in range(repeats):  # a different day each time: its maps' titles change
        x = strip["x"] + strip["width"] * (0.05 + 0.9 * i / repeats)
        tap = lambda x=x: page.mouse.click(x, strip["y"] + strip["height"] * 0.4)  # noqa: E731
        clicks.append(ui.timed(page, tap, " on ", 10, new=True))
    return spans, clicks


def variable_choices(page, repeats: int) -> list[float]:
    """Each choice of the variable shown on the maps, going round the variables."""
    variables = page.locator("select:visible", has=page.locator("option", has_text="t2m"))
    names = variables.first.locator("option").all_inner_texts()
    out = []
    for i in range(repeats):
        name = names[(i + 1) % len(names)]
        pick = lambda n=name: variables.first.select_option(n)  # noqa: E731
        out.append(ui.timed_colorbar(page, pick, f"{name} "))
    return out


def row(name: str, server: list[float] | None, browser: list[float]) -> str:
    def stats(ms):
        if not ms:
            return "—"
        return f"{np.median(ms):.0f} / {np.percentile(ms, 90):.0f} / {np.max(ms):.0f}"

    return f"| {name} | {stats(server)} | {stats(browser)} | {len(browser)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="an existing run directory (default: train)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    (ROOT / "benchmarks" / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "runs"
        if args.run:
            run_dir = Path(shutil.copytree(args.run, store / args.run.name))
        else:
            run_dir = train_sample(store)
        server = server_side(run_dir, args.repeats)
        from dsc_core.runs import load_run

        n_clusters = int(load_run(run_dir).composites.sizes["cluster"])
        env = {"DSC_RUN_STORE": str(store), "DSC_DATA_DIRS": tmp, "DSC_AUTOSTART": "0"}
        proc, url, up = ui.start_server(env, Path(tmp) / "server.log")
        try:
            browser = in_browser(url, args.repeats, n_clusters)
        finally:
            ui.stop_server(proc)
    print(f"\nrun: {run_dir.name} · server answered after {up:.1f} s")
    print("| selection | server ms (median / p90 / max) | browser ms (median / p90 / max) | n |")
    print("|---|---|---|---|")
    print(row("cluster button", server["cluster"], browser["cluster"]))
    print(row("cluster map click", server["cluster"], browser["cluster map"]))
    print(row("latent (UMAP) box", server["latent box"], browser["latent box"]))
    print(row("timeline span", server["timeline span"], browser["timeline span"]))
    print(row("day click (its fields)", None, browser["day click"]))
    print(row("variable choice", None, browser["variable"]))


if __name__ == "__main__":
    main()
