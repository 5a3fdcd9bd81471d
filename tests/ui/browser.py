"""Driving the dashboard in Chromium: start a server, read Bokeh models, select, time.

Shared by the browser tests and ``benchmarks/selection_latency.py``. Latency is timed in the
page, from the user's release of the mouse button (a capturing ``pointerup`` listener on the
document, so before Bokeh sees it) to the first frame painted after the selection map's
title announces the new selection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

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

RECORD_POINTER_JS = """() => {
  if (window.__pointerUp === undefined)
    document.addEventListener('pointerup', () => { window.__pointerUp = performance.now(); },
                              true);
  window.__pointerUp = null;
}"""

LATENCY_JS = """async ([type, field, needle, before, start, timeout]) => {
  const has = () => {
    for (const d of Bokeh.documents) for (const m of d.all_models) {
      if (m.type !== type) continue;
      const text = String(m[field]);
      if (text.includes(needle) && !before.includes(text)) return true;
    }
    return false;
  };
  const t0 = performance.now();
  while (!has()) {
    if (performance.now() - t0 > timeout) return -1;
    await new Promise(r => setTimeout(r, 1));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - (start === null ? window.__pointerUp : start);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_server(env: dict, log_path: Path) -> tuple[subprocess.Popen, int]:
    """Start ``panel serve dashboard/app.py`` with ``env`` added; returns the process and its
    port at once (:func:`wait_until_up` waits for it)."""
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115  (the process holds it)
    cmd = [
        sys.executable, "-m", "panel", "serve", "dashboard/app.py", "--warm",
        "--address", "127.0.0.1", "--port", str(port),
        "--allow-websocket-origin", f"127.0.0.1:{port}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    return proc, port


def wait_until_up(proc: subprocess.Popen, port: int, log_path: Path) -> str:
    """The app's URL once the server of :func:`launch_server` answers HTTP."""
    started = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/static/js/bokeh.min.js", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # the server answers
        except OSError:
            if proc.poll() is not None or time.monotonic() - started > 60:
                proc.kill()
                raise RuntimeError(f"panel serve did not start: see {log_path}") from None
            time.sleep(0.2)
    return f"http://127.0.0.1:{port}/app"


def start_server(env: dict, log_path: Path) -> tuple[subprocess.Popen, str, float]:
    """``panel serve dashboard/app.py`` with ``env`` added; returns the process, the app's URL
    and the seconds it took to answer HTTP."""
    started = time.monotonic()
    proc, port = launch_server(env, log_path)
    url = wait_until_up(proc, port, log_path)
    return proc, url, time.monotonic() - started


def stop_server(*procs: subprocess.Popen) -> None:
    """Stop the servers ``procs``: all asked at once, each killed after 10 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


def titles(page) -> list[str]:
    return page.evaluate(TITLES_JS)


def wait_title(page, needle: str, timeout_s: float) -> None:
    """Wait until a plot title contains ``needle``."""
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


def marked_days(page) -> int:
    """How many days the timeline marks as selected."""
    return page.evaluate(MARKS_JS)


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
    """Press at (x0, y0), move to (x1, y1), release (fractions of ``box``)."""
    page.mouse.move(box["x"] + box["width"] * x0, box["y"] + box["height"] * y0)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (x0 + x1) / 2, box["y"] + box["height"] * y1, steps=5)
    page.mouse.move(box["x"] + box["width"] * x1, box["y"] + box["height"] * y1, steps=5)
    page.mouse.up()


def timed(page, act, needle: str, timeout_s: float = 5.0, new: bool = False) -> float:
    """Milliseconds from the pointer release that ``act()`` ends with to the first frame
    painted after a title contains ``needle`` (``new``: a title that was not there before;
    AssertionError if none comes)."""
    before = [t for t in titles(page) if needle in t] if new else []
    page.evaluate(RECORD_POINTER_JS)
    act()
    ms = page.evaluate(LATENCY_JS, ["Title", "text", needle, before, None, timeout_s * 1000])
    assert ms > 0, f"no title with {needle!r} within {timeout_s} s"
    return ms


WATCH_NOTE_JS = """(needle) => {
  window.__noteSeen = null;
  const t0 = performance.now();
  const look = () => {
    for (const d of Bokeh.documents) for (const m of d.all_models)
      if (m.type === 'panel.models.markup.HTML' && String(m.text).includes(needle)) {
        requestAnimationFrame(() => requestAnimationFrame(() => {
          window.__noteSeen = performance.now(); }));
        return;
      }
    if (performance.now() - t0 < 30000) setTimeout(look, 1);
  };
  look();
}"""
"""Watch, from before a click, for a note of it: the server may answer (and replace the note)
before a watch started after the click would look."""

NOTE_SEEN_JS = """async (timeout) => {
  const t0 = performance.now();
  while (window.__noteSeen === null && performance.now() - t0 < timeout)
    await new Promise(r => setTimeout(r, 1));
  return window.__noteSeen === null ? -1 : window.__noteSeen - window.__pointerUp;
}"""


def timed_note(page, act, timeout_s: float = 5.0) -> float:
    """Milliseconds from the pointer release that ``act()`` ends with (a button's click) to the
    first frame painted with the browser's own note of the click (``dashboard.views.feedback``);
    AssertionError if none comes."""
    from dashboard.views.feedback import PENDING_CLASS

    page.evaluate(RECORD_POINTER_JS)
    page.evaluate(WATCH_NOTE_JS, PENDING_CLASS)
    act()
    ms = page.evaluate(NOTE_SEEN_JS, timeout_s * 1000)
    assert ms > 0, f"no note of the click within {timeout_s} s"
    return ms


def timed_colorbar(page, act, needle: str, timeout_s: float = 5.0) -> float:
    """Milliseconds from calling ``act()`` (a change without the mouse, e.g. choosing an
    option) to the first frame painted after a colour bar's title contains ``needle``."""
    start = page.evaluate("() => performance.now()")
    act()
    ms = page.evaluate(LATENCY_JS, ["ColorBar", "title", needle, [], start, timeout_s * 1000])
    assert ms > 0, f"no colour bar titled {needle!r} within {timeout_s} s"
    return ms
