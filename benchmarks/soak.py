"""Soak test of the app (not in CI): browser sessions train, cancel and reload runs against one
server for a while, and nothing may be lost.

Serves ``dashboard/app.py`` (two workers, the defaults) on an empty temporary run store with
autostart on, opens ``--sessions`` headless Chromium pages at the same moment (each starts a
first run by itself), then every session repeats, until ``--minutes`` have passed, one of:
train a k-means run (a new seed each time), train DSC (preset "fast") and cancel it once it
trains, load a past run, or reload the page (a new session); or, as a hostile user would,
assign a file over the server's size limit (``DSC_MAX_VALUES``), storm the queue with
Train–Cancel clicks, or start again an interrupted run whose journal entry was tampered with.
Meanwhile a vandal with access to the run store drops, every 90 s, a run folder with fields of
the wrong types, journal entries that are not a job's ([1, 2], ``config`` a string) and one
that asks for a window of 99 999 days. Reports:

- runs finished: runs a page reported done, and runs in the store at the end;
- runs lost: runs a page reported done that the store does not hold (must be 0);
- the server's resident memory (RSS) once the first runs are done and at the end;
- for Train, Cancel and Load, click → first feedback (the browser's own note of the click,
  timed in the page) and click → result (status line for Train and Cancel, the loaded run's
  name for Load): count, median, 95th percentile, slowest; clicks that showed no note, and
  actions that never finished (a wait that timed out);
- whether the server stayed up, and the errors in its log (those that closed or reloaded
  pages leave, messages to or from a session that is gone, are counted apart);
- the hostile actions: refusals seen, pages that opened blank or with an empty run list
  (must be 0), tampered runs started (must be 0).

    python benchmarks/soak.py [--minutes 10] [--sessions 3] [--seed 0]

Writes ``test-output/soak.json`` (and the server's log beside it) and prints the report.
Linux (reads /proc for the RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.views.feedback import PENDING_CLASS  # noqa: E402
from tests.ui import browser as ui  # noqa: E402

MAX_VALUES = 800_000
"""The soak server's DSC_MAX_VALUES: the first run's 181 days × 625 cells × 4 variables fit,
a year of the sample (913 000 values) does not."""
FIRST_RUN = {  # what the page pre-fills and autostarts: k-means on half a year of a small box
    "start": "2021-01-01",
    "end": "2021-06-30",
    "bbox": [35.0, 41.0, -31.0, -25.0],
    "variables": ["sst", "t2m", "sp", "u10"],
    "clusters": 4,
    "method": "kmeans",
    "preset": "fast",
    "check_stability": False,
}
RUN_NAME = re.compile(r"Run\s+(\d{8}-\d{6}-[A-Za-z0-9._-]+)")
DEEP_TEXT = """(root) => {
  const out = [];
  const walk = (n) => {
    if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) {
      if (c.nodeType === 3) out.push(c.textContent);
      else if (c.nodeType === 1 && !["STYLE", "SCRIPT"].includes(c.nodeName)) walk(c);
    }
  };
  walk(root);
  return out.join(" ");
}"""
"""The text under an element, shadow roots included (Panel draws its panes in them), without
style sheets."""


CLOSED = ("WebSocketClosedError", "StreamClosedError", "assert self._session is not None")
"""Errors a closed or reloaded page leaves in the log (a message to or from a session that is
gone), counted apart from the others."""


def log_errors(text: str) -> tuple[list[str], int]:
    """The server log's errors, one line each (the first of its entry), and how many entries
    were about closed pages only."""
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text)
    errors = [e for e in entries if re.search(r"Traceback|Error|error", e)]
    closed = [e for e in errors if any(c in e for c in CLOSED)]
    return [e.splitlines()[0] for e in errors if e not in closed], len(closed)


def spread(seconds: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per action: how many, the median, the 95th percentile and the slowest, in seconds."""
    return {
        what: {"n": len(v), "median": round(float(np.median(v)), 3),
               "p95": round(float(np.percentile(v, 95)), 3), "max": round(max(v), 3)}
        for what, v in seconds.items() if v
    }  # fmt: skip


class Soak:
    """Shared counters of the sessions."""

    def __init__(self, deadline: float, seed: int) -> None:
        self.deadline = deadline
        self.rng = random.Random(seed)  # the actions' order
        self.done: set[str] = set()
        self.cancelled = 0
        self.responses: dict[str, list[float]] = {"train": [], "cancel": [], "load": []}
        self.feedback: dict[str, list[float]] = {"train": [], "cancel": [], "load": []}
        self.unnoted: dict[str, int] = {}
        self.actions: dict[str, int] = {}
        self.failures: list[str] = []
        self.refusals: dict[str, int] = {}
        self.blank_pages = 0
        self.empty_run_lists = 0
        self.vandalised = 0

    def timed(self, what: str, seconds: float) -> None:
        self.responses[what].append(seconds)


async def click(page, soak: Soak, what: str, button) -> None:
    """Click ``button``, timing the browser's own note of the click (the first feedback) as
    ``what``'s; a click without a note within 5 s is counted."""
    await page.evaluate(ui.RECORD_POINTER_JS)
    await page.evaluate(ui.WATCH_NOTE_JS, PENDING_CLASS)
    await button.click()
    ms = await page.evaluate(ui.NOTE_SEEN_JS, 5000)
    if ms > 0:
        soak.feedback[what].append(ms / 1000)
    else:
        soak.unnoted[what] = soak.unnoted.get(what, 0) + 1


async def status_text(page) -> str:
    return await page.locator(".dsc-status").evaluate(DEEP_TEXT)


async def changed(page, before: str, timeout_s: float = 30) -> None:
    """Wait until the status line differs from ``before``."""
    t = time.monotonic()
    while await status_text(page) == before:
        if time.monotonic() - t > timeout_s:
            raise TimeoutError(f"the status stayed {before!r}")
        await asyncio.sleep(0.02)


async def shown_run(page) -> str:
    """Name of the run on screen (the summary beside the maps)."""
    found = RUN_NAME.search(await page.evaluate(f"() => ({DEEP_TEXT})(document.body)"))
    return found.group(1) if found else ""


async def wait_done(page, soak: Soak, timeout_s: float = 180) -> None:
    """Wait for the session's job to end; a finished run is recorded by its name."""
    await page.locator(".dsc-status", has_text=re.compile("Done|Cancelled|Failed")).wait_for(
        timeout=timeout_s * 1000
    )
    text = await status_text(page)
    if "Failed" in text:
        soak.failures.append(text)
    elif "Done" in text:
        t, name = time.monotonic(), ""
        while not name and time.monotonic() - t < 30:
            name = await shown_run(page)
            await asyncio.sleep(0.1)
        soak.done.add(name)


async def choose(page, label: str, value: str) -> None:
    select = page.locator("select", has=page.locator("option", has_text=label))
    await select.first.select_option(value)


async def train(page, soak: Soak) -> None:
    await choose(page, "kmeans", "kmeans")
    before = await status_text(page)
    t = time.monotonic()
    await click(page, soak, "train", page.get_by_role("button", name="Train"))
    await changed(page, before)
    soak.timed("train", time.monotonic() - t)
    await wait_done(page, soak)


async def train_and_cancel(page, soak: Soak) -> None:
    await choose(page, "kmeans", "dsc")
    await page.get_by_role("button", name="Train").click()
    try:
        await page.locator(".dsc-status", has_text=re.compile("pretrain|joint")).wait_for(
            timeout=120000
        )
        t = time.monotonic()
        await click(page, soak, "cancel", page.get_by_role("button", name="Cancel"))
        await page.locator(".dsc-status", has_text="Cancel").wait_for(timeout=60000)
        soak.timed("cancel", time.monotonic() - t)
        soak.cancelled += 1
    except Exception:  # it finished before the cancel: a run like any other
        pass
    await wait_done(page, soak)
    await choose(page, "kmeans", "kmeans")


async def load(page, soak: Soak) -> None:
    runs = page.locator(".dsc-runs select")
    options = await runs.locator("option").all_inner_texts()
    if len(options) < 2:
        return
    label = soak.rng.choice(options)
    name = label.split(" · ")[0]
    await runs.select_option(label=label)
    t = time.monotonic()
    await click(page, soak, "load", page.get_by_role("button", name="Load run"))
    while await shown_run(page) != name:
        if time.monotonic() - t > 60:
            raise TimeoutError(f"run {name} did not load")
        await asyncio.sleep(0.05)
    soak.timed("load", time.monotonic() - t)


async def refused(page, soak: Soak, what: str, pattern: str, timeout_s: float = 30) -> None:
    """Wait for the page's message matching ``pattern`` (a refusal) and count it."""
    await page.locator(".dsc-message", has_text=re.compile(pattern)).wait_for(
        timeout=timeout_s * 1000
    )
    soak.refusals[what] = soak.refusals.get(what, 0) + 1


async def assign_over_the_limit(page, soak: Soak) -> None:
    """Assign a year of the sample (over DSC_MAX_VALUES) with the run on screen's model."""
    await page.locator(".bk-tab", has_text="Regimes").click()
    await page.locator(".dsc-assign-source select").select_option(label="data/big.nc")
    await page.get_by_role("button", name="Assign").click()
    await refused(page, soak, "assign over the limit", "DSC_MAX_VALUES")
    await page.locator(".bk-tab", has_text="Explore").click()


async def storm(page, soak: Soak) -> None:
    """Train and Cancel five times as fast as the page takes clicks, then wait for the end."""
    await choose(page, "kmeans", "dsc")
    for _ in range(5):
        await page.get_by_role("button", name="Train").click()
        with contextlib.suppress(Exception):  # Cancel is off when the Train was refused
            await page.get_by_role("button", name="Cancel").click(timeout=2000)
    with contextlib.suppress(Exception):  # a Train refused while a cancelled job still ends
        await refused(page, soak, "train while cancelling", "limit|queue|running", 5)
    await wait_done(page, soak)
    await choose(page, "kmeans", "kmeans")


async def start_again_tampered(page, soak: Soak) -> None:
    """Start again the first interrupted run offered (all of them the vandal's)."""
    if not await page.get_by_role("button", name="Start again").count():
        return
    await page.get_by_role("button", name="Start again").first.click()
    await refused(page, soak, "start again tampered", "dismiss|offered|settings|window")


def vandalise(store: Path, n: int) -> None:
    """What someone with write access to the run store might drop into it."""
    bad = store / f"20990101-0000{n:02d}-tampered"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "config.json").write_text(json.dumps({"scores": {"ari": "x"}, "summary": [1, 2],
                                                 "created": 5}))  # fmt: skip
    journal = store / ".jobs"
    journal.mkdir(parents=True, exist_ok=True)
    (journal / f"20990101-0000{n:02d}-aaaaaaaa.json").write_text("[1, 2]")
    (journal / f"20990101-0000{n:02d}-bbbbbbbb.json").write_text(
        json.dumps({"token": f"20990101-0000{n:02d}-bbbbbbbb", "started": "x", "config": "x"})
    )
    token = f"20990101-0000{n:02d}-cccccccc"
    config = {**FIRST_RUN, "data": "sample", "window": 99999, "surrogates": 50,
              "params": {"pretrain_epochs": 10**9, "latent_dim": 100000}}  # fmt: skip
    (journal / f"{token}.json").write_text(
        json.dumps({"token": token, "started": "2099-01-01T00:00:00", "config": config})
    )


async def vandal(store: Path, soak: Soak) -> None:
    while time.monotonic() < soak.deadline:
        await asyncio.sleep(90)
        vandalise(store, soak.vandalised)
        soak.vandalised += 1


async def open_page(context, url: str, soak: Soak | None = None):
    """A new page, once its Train button shows; a page that stays blank, or whose run list
    stays empty while the store holds runs, is counted."""
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(url)
    try:
        await page.get_by_role("button", name="Train").wait_for(timeout=60000)
    except Exception:
        if soak is not None:
            soak.blank_pages += 1
        raise
    if soak is not None and soak.done - {""}:
        options = page.locator(".dsc-runs select option")
        t = time.monotonic()
        while not await options.count() and time.monotonic() - t < 20:
            await asyncio.sleep(0.2)
        soak.empty_run_lists += not await options.count()
    return page


ACTIONS = {
    "train": train,
    "cancel": train_and_cancel,
    "load": load,
    "assign": assign_over_the_limit,
    "storm": storm,
    "again": start_again_tampered,
}
"""A session's actions on its page, by name; "reload" (a new session) is the session's own."""


async def session(browser, url: str, soak: Soak, first: asyncio.Event, ready: list) -> None:
    """One browser session: the first run (autostarted on an empty store), then random
    actions until the end."""
    context = await browser.new_context(viewport={"width": 1600, "height": 1400})
    page = await first_run(context, url, soak)
    ready.append(page)
    await first.wait()
    while time.monotonic() < soak.deadline:
        action = soak.rng.choice(["train", "train", "train", "cancel", "load", "load", "reload",
                                  "assign", "storm", "again"])  # fmt: skip
        soak.actions[action] = soak.actions.get(action, 0) + 1
        try:
            if action == "reload":
                page = await reopen(page, context, url, soak)
            else:
                await ACTIONS[action](page, soak)
        except Exception as err:
            soak.failures.append(f"{action}: {type(err).__name__}: {str(err)[:200]}")
            page = await reopen(page, context, url, soak)
    soak.failures += page.errors
    await context.close()


async def first_run(context, url: str, soak: Soak):
    """A new page, once it shows the run it autostarted (recorded if that run is done)."""
    page = await open_page(context, url)
    t = time.monotonic()
    while not await shown_run(page) and time.monotonic() - t < 300:
        await asyncio.sleep(0.2)
    if "Done" in await status_text(page):
        await wait_done(page, soak)
    return page


async def reopen(page, context, url: str, soak: Soak):
    """Close ``page`` and open a new session's page in its place."""
    await page.close()
    return await open_page(context, url, soak)


async def main(minutes: float, sessions: int, seed: int) -> dict:
    from playwright.async_api import async_playwright

    import dsc_core

    tmp = Path(tempfile.mkdtemp(prefix="dsc-soak-"))
    (tmp / "data").mkdir()
    dsc_core.sample().to_netcdf(tmp / "data" / "big.nc")  # a year: over the size limit
    env = {
        "DSC_MAX_VALUES": str(MAX_VALUES),
        "DSC_RUN_STORE": str(tmp / "runs"),
        "DSC_DATA_DIRS": str(tmp / "data"),
        "DSC_DEFAULT_RUN": json.dumps(FIRST_RUN),
        "DSC_AUTOSTART": "1",
        "DSC_QUEUE_LENGTH": str(2 * sessions),
    }
    proc, url, _ = ui.start_server(env, tmp / "server.log")
    report: dict = {"minutes": minutes, "sessions": sessions}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=ui.CHROMIUM, args=ui.CHROMIUM_ARGS)
            soak = Soak(time.monotonic() + 60 * minutes, seed)
            first, ready = asyncio.Event(), []
            tasks = [
                asyncio.create_task(session(browser, url, soak, first, ready))
                for _ in range(sessions)
            ]
            while len(ready) < sessions and not any(t.done() for t in tasks):
                await asyncio.sleep(0.2)
            report["first_runs_at_once"] = sorted(soak.done)
            report["server_rss_mb_start"] = round(ui.rss_mb(proc.pid), 1)
            started = time.monotonic()
            soak.deadline = started + 60 * minutes
            first.set()
            tasks.append(asyncio.create_task(vandal(tmp / "runs", soak)))
            await asyncio.gather(*tasks, return_exceptions=True)
            report["seconds"] = round(time.monotonic() - started)
            await browser.close()
        alive = proc.poll() is None
        errors, closed = log_errors((tmp / "server.log").read_text())
        report["server_rss_mb_end"] = round(ui.rss_mb(proc.pid), 1) if alive else None
        stored = {d.name for d in (tmp / "runs").iterdir() if (d / "config.json").is_file()}
        stored -= {n for n in stored if "tampered" in n}  # the vandal's own folders
        windows = [json.loads((tmp / "runs" / n / "config.json").read_text())["config"]["window"]
                   for n in stored]  # fmt: skip
        done = soak.done - {""}
        report.update(
            server_alive=alive,
            runs_finished=len(done),
            runs_in_store=len(stored),
            runs_lost=sorted(done - stored),
            cancelled=soak.cancelled,
            actions=soak.actions,
            responses_s={k: [round(x, 2) for x in v] for k, v in soak.responses.items()},
            click_to_result_s=spread(soak.responses),
            click_to_feedback_s=spread(soak.feedback),
            clicks_without_feedback=soak.unnoted,
            actions_not_finished=[f for f in soak.failures if "Timeout" in f],
            refusals=soak.refusals,
            vandalised=soak.vandalised,
            blank_pages=soak.blank_pages,
            empty_run_lists=soak.empty_run_lists,
            tampered_runs_started=windows.count(99999),
            failures=soak.failures,
            server_log_errors=errors,
            server_log_closed_page_errors=closed,
        )
    finally:
        ui.stop_server(proc)
        (ROOT / "test-output").mkdir(exist_ok=True)
        shutil.copy(tmp / "server.log", ROOT / "test-output" / "soak-server.log")
        shutil.rmtree(tmp, ignore_errors=True)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--sessions", type=int, default=3, help="browser sessions (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions")
    args = parser.parse_args()
    result = asyncio.run(main(args.minutes, args.sessions, args.seed))
    out = ROOT / "test-output" / "soak.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
