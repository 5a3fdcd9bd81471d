"""`dsc report` and `dsc figure`: a run as one offline HTML file and as a publication figure."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from dashboard.figures import composite_figure
from dashboard.report import header_html, input_hash
from dsc_core.cli import main
from tests.ui.browser import canvas_box, drag

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF", "svg": b"<?xml", "eps": b"%!PS"}


class Links(HTMLParser):
    """Every tag attribute that would make a browser fetch something (src, href)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found += [f"<{tag} {k}={v}>" for k, v in attrs if k in ("src", "href") and v]


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory):
    """The tiny run's report, written by `dsc report`: (path, text)."""
    out = tmp_path_factory.mktemp("report") / "run.html"
    assert main(["report", str(tiny_run.path), "--out", str(out), "--projection", "pca"]) == 0
    return out, out.read_text()


def test_the_report_fetches_nothing_and_holds_the_whole_run(report, tiny_run):
    path, text = report
    assert text.startswith("<!DOCTYPE html>")
    assert Links(text).found == []  # scripts and styles inline
    assert input_hash(tiny_run.fields) in text
    assert tiny_run.name in text and "SYNTHETIC" in text
    for variable in ("sst", "t2m", "u10"):  # one tab of composites per variable
        assert f'"title":"{variable}"' in text
    for title in ("Latent space: PCA", "Cluster of every day", "Frequency by month",
                  "Transition matrix", "Stippled: the cluster"):  # fmt: skip
        assert title in text
    assert tiny_run.versions["numpy"] in text  # the versions the run was made with


def test_the_report_head_shows_the_warnings_first_and_escapes_the_run_texts(tiny_run):
    hostile = "<img src=x onerror=alert(1)>"
    tiny_run.metrics["trust"]["warnings"].append(f"a warning {hostile}")
    try:
        head = header_html(tiny_run, label=lambda text: hostile)
    finally:
        tiny_run.metrics["trust"]["warnings"].pop()
    assert hostile not in head
    assert head.index("a warning &lt;img") < head.index("Settings")
    assert head.count("&lt;img") == 2  # the warning and the data source's name


def test_the_report_opens_offline_with_every_plot_drawn(report, tiny_run):
    """From a file:// path with every network request refused: no console error, a canvas
    for every cluster map of the first variable, the latent space and the timeline, and a
    box drawn on the latent space selects the same days on the timeline's source."""
    from playwright.sync_api import sync_playwright

    from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS

    path, _ = report
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
        fetched: list[str] = []

        def refuse(route):
            if route.request.url.startswith("file:"):
                return route.continue_()
            fetched.append(route.request.url)
            return route.abort()

        context.route("**/*", refuse)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
        page.goto(path.as_uri())
        page.wait_for_function(CANVASES_JS + f">= {tiny_run.config.clusters + 3}", timeout=30000)
        box = canvas_box(page, 420, 400)
        drag(page, box, 0.05, 0.75, 0.12, 0.85)  # the frame, not the title or legend
        page.wait_for_timeout(300)
        selected = page.evaluate(SELECTED_JS)
        browser.close()
    assert errors == [] and fetched == []
    assert selected > 0


CANVASES_JS = """(() => { let n = 0; const walk = (root) => root.querySelectorAll('*').forEach(
    (e) => { if (e.tagName === 'CANVAS') n++; if (e.shadowRoot) walk(e.shadowRoot); });
    walk(document); return n; })() """
SELECTED_JS = """() => { for (const d of Bokeh.documents) for (const m of d.all_models)
    if (m.type === 'ColumnDataSource' && 'band' in m.data && 'x' in m.data)
        return m.selected.indices.length; return -1; }"""


def test_input_hash_follows_the_numbers(tiny_run):
    changed = tiny_run.fields.copy(deep=True)
    changed["sst"][0, 0, 0] += 1.0
    assert input_hash(tiny_run.fields) == input_hash(tiny_run.fields.copy(deep=True))
    assert input_hash(changed) != input_hash(tiny_run.fields)


@pytest.mark.parametrize("fmt", ["pdf", "eps"])
def test_figure_formats(tiny_run, fmt):
    content = composite_figure(tiny_run, "t2m", fmt=fmt, width_mm=85)
    assert content.startswith(MAGIC[fmt])


def test_cli_writes_a_figure(tiny_run, tmp_path, capsys):
    fig = tmp_path / "fig.svg"
    assert main(["figure", str(tiny_run.path), "--variable", "sst", "--out", str(fig)]) == 0
    assert fig.read_bytes().startswith(MAGIC["svg"])
    assert "sst anomaly composites" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["figure", "{run}", "--variable", "z500", "--out", "{tmp}/f.png"], "no variable 'z500'"),
        (["figure", "{run}", "--out", "{tmp}/f.jpg"], "name the file .png, .pdf, .svg or .eps"),
        (["figure", "{run}", "--width", "5", "--out", "{tmp}/f.png"], "give 40 to 500"),
        (["report", "{tmp}/nothing", "--out", "{tmp}/r.html"], "not a complete run directory"),
        (["report", "{run}", "--out", "{tmp}/missing/r.html"], "does not exist"),
    ],
)
def test_cli_bad_input_is_one_line_and_leaves_no_file(tiny_run, tmp_path, capsys, args, message):
    argv = [a.format(run=tiny_run.path, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []
