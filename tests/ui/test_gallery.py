"""A read-only gallery (DSC_READ_ONLY=1) in a real Chromium: the stored run is shown with its
report and exports, the page holds no control that trains, measures K, assigns or reads a
data folder, and a client that clicks everything it is sent changes nothing on the server."""

from __future__ import annotations

import pytest

from tests.ui.browser import wait_title
from tests.ui.conftest import OUT

pytestmark = pytest.mark.ui

WORK = ("dsc-train", "dsc-cancel", "dsc-measure-k", "dsc-assign", "dsc-restart", "dsc-dismiss")
"""css classes of the page's controls that start work or change the run store."""
MODELS_JS = """() => { const out = [];
    for (const d of Bokeh.documents) for (const m of d.all_models) out.push([m.type,
        (m.css_classes || []).join(' '), String(m.label ?? m.name ?? ''),
        JSON.stringify(m.options ?? [])]); return out; }"""
CLICK_ALL_JS = """() => { let n = 0; const walk = (root) => root.querySelectorAll('*').forEach(
    (e) => { if (e.tagName === 'BUTTON' && !e.closest('a')) { e.click(); n++; }
             if (e.shadowRoot) walk(e.shadowRoot); }); walk(document); return n; }"""


def listing(store):
    """The runs in ``store`` and their files, but the UMAP cache (a gallery may cache the maps
    it draws) and the journal of the training server beside it."""
    return sorted(
        str(p.relative_to(store)) for p in store.rglob("*")
        if p.name != "umap.nc" and not p.relative_to(store).parts[0].startswith(".")
    )  # fmt: skip


def test_a_read_only_gallery_shows_runs_and_offers_no_work(servers, page):
    """The gallery beside the test server, on its run store, after the other tests stored runs
    there (this module runs after tests/ui/test_app.py)."""
    server, gallery = servers["main"], servers["gallery"]
    before = listing(server["store"])
    assert before, "no stored run to show"
    page.goto(gallery["url"])
    wait_title(page, "Cluster 0 ·", 90)  # the stored run, drawn
    page.get_by_text("Report (HTML").first.wait_for(timeout=10000)
    page.locator(".bk-tab", has_text="Regimes").click()  # its content is built when shown
    page.get_by_role("button", name="Compare").wait_for(timeout=30000)
    page.screenshot(path=str(OUT / "ui-gallery.png"), full_page=True)
    models = page.evaluate(MODELS_JS)
    offered = [m for m in models if any(c in m[1].split() for c in WORK)]
    assert offered == [], offered
    assert not [m for m in models if "Train" in m[2] or ".nc" in m[3]]  # no data file offered

    clicked = page.evaluate(CLICK_ALL_JS)  # a client that sends every click it can
    page.wait_for_timeout(3000)
    assert clicked > 5
    assert gallery["proc"].poll() is None, "the gallery died"
    assert listing(server["store"]) == before  # no run added, none changed
    assert "Traceback" not in gallery["log"].read_text()
    assert not page.errors, page.errors
