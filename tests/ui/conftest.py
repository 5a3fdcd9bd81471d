"""Browser-test fixtures: a `panel serve dashboard/app.py` server on a free localhost port with
a temporary run store, and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ui.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    launch_server,
    start_server,
    stop_server,
    wait_until_up,
)

OUT = ROOT / "test-output"

# The first run the page starts by itself: 60 days, 3 variables, a 17 x 17 box, 3 + 3 epochs.
TINY_RUN = {
    "start": "2021-01-01",
    "end": "2021-03-01",
    "variables": ["sst", "t2m", "u10"],
    "bbox": [36.0, 40.0, -30.0, -26.0],
    "clusters": 3,
    "preset": "fast",
    "params": {"pretrain_epochs": 3, "max_epochs": 3},
    "check_stability": False,
}


HOSTILE = "<img src=x onerror=alert({})>"
"""A file or variable name that runs a script wherever a page inserts it as HTML."""


def hostile_data(folder: Path) -> None:
    """Data files whose names, variable names and attributes are HTML: one readable, one not."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    folder.mkdir(parents=True)
    grid = {"time": pd.date_range("2021-01-01", periods=30), "latitude": np.arange(38.0, 43.0),
            "longitude": np.arange(-30.0, -25.0)}  # fmt: skip
    noise = np.random.default_rng(0).normal(size=(30, 5, 5))
    attrs = {"long_name": "<script>alert(4)</script>", "units": HOSTILE.format(5)}
    fields = {f"t{HOSTILE.format(2)}": (tuple(grid), 280 + noise, attrs),
              "sp": (tuple(grid), 101000 + 100 * noise, {"units": "Pa"})}  # fmt: skip
    xr.Dataset(fields, coords=grid).to_netcdf(folder / f"{HOSTILE.format(1)}.nc")
    (folder / f"{HOSTILE.format(3)}broken.nc").write_bytes(b"not a netcdf file")


@pytest.fixture(scope="session")
def servers(tmp_path_factory):
    """Two dashboard servers, started at once (their start-ups overlap): the test server
    (``main``, on an empty run store: its pages start a first run by themselves) and a
    read-only gallery on its run store (``gallery``). Each: url, proc, log (and more)."""
    tmp = tmp_path_factory.mktemp("ui")
    hostile_data(tmp / "data")
    env = {
        "DSC_RUN_STORE": str(tmp / "runs"),
        "DSC_DATA_DIRS": str(tmp / "data"),
        "DSC_DEFAULT_RUN": json.dumps(TINY_RUN),
        "DSC_AUTOSTART": "1",
        "DSC_PRESETS": "fast,default,paper",  # the cancel test trains the slow paper network
    }
    gallery, gallery_port = launch_server({**env, "DSC_READ_ONLY": "1"}, tmp / "gallery.log")
    proc, url, up_after = start_server(env, tmp / "server.log")
    out = {"main": {"url": url, "up_after": up_after, "data": tmp / "data", "proc": proc,
                    "log": tmp / "server.log", "store": tmp / "runs"},
           "gallery": {"url": wait_until_up(gallery, gallery_port, tmp / "gallery.log"),
                       "proc": gallery, "log": tmp / "gallery.log"}}  # fmt: skip
    yield out
    stop_server(*(s["proc"] for s in out.values()))


@pytest.fixture(scope="session")
def server(servers):
    """The test server: url, up_after (its start-up time), data (its data folder, which holds
    :func:`hostile_data`), store, log."""
    return servers["main"]


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
