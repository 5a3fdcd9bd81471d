"""Browser-test fixtures: a `panel serve dashboard/app.py` server on a free localhost port with
a temporary run store, and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# The first run the page starts by itself: 60 days, 3 variables, a 17 x 17 box, 3 + 3 epochs.
TINY_RUN = {
    "start": "2021-01-01",
    "end": "2021-03-01",
    "variables": ["sst", "t2m", "u10"],
    "bbox": [36.0, 40.0, -30.0, -26.0],
    "clusters": 3,
    "preset": "fast",
    "params": {"pretrain_epochs": 3, "max_epochs": 3},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """URL of a fresh dashboard server; yields after it answers HTTP, with its start-up time."""
    port = _free_port()
    tmp = tmp_path_factory.mktemp("ui")
    env = {
        **os.environ,
        "DSC_RUN_STORE": str(tmp / "runs"),
        "DSC_DATA_DIRS": str(tmp / "data"),
        "DSC_DEFAULT_RUN": json.dumps(TINY_RUN),
        "DSC_AUTOSTART": "1",
    }
    log = open(tmp / "server.log", "w")  # noqa: SIM115  (closed below)
    cmd = [
        sys.executable, "-m", "panel", "serve", "dashboard/app.py", "--warm",
        "--address", "127.0.0.1", "--port", str(port),
        "--allow-websocket-origin", f"127.0.0.1:{port}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/app"
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
                raise RuntimeError(f"panel serve did not start: see {tmp / 'server.log'}") from None
            time.sleep(0.2)
    yield {"url": url, "log": tmp / "server.log", "up_after": time.monotonic() - started}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that records console errors and page errors in ``page.errors``."""
    OUT.mkdir(exist_ok=True)
    pg = browser.new_page(viewport={"width": 1600, "height": 2100})
    pg.errors = []
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    pg.close()
