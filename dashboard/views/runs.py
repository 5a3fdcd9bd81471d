"""Past runs (reload any of them), runs a server stop interrupted (start them again) or left
training on the cluster (follow them), and exports of the run on screen: labels CSV,
composites NetCDF, the maps figure (PNG, PDF, SVG), the self-contained HTML report, the whole
run folder (zip). Files are read and archived
off the event loop."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
import panel as pn

from dashboard.figures import composite_figure
from dashboard.report import report_html
from dashboard.results import Results
from dashboard.session import Session
from dashboard.views.feedback import ClickNote
from dashboard.views.safe import text
from dsc_core.errors import DataError

INTERRUPTED_SHOWN = 3


def run_label(summary: dict) -> str:
    """One line per stored run: name, days, scores."""
    scores = summary.get("scores") or {}
    extra = f" · ARI {scores['ari']:.2f}" if scores.get("ari") is not None else ""
    return f"{summary['name']} · {summary.get('n_days', '?')} days{extra}"


def runs_view(session: Session) -> pn.viewable.Viewable:
    """Select a stored run and load it (no retraining)."""
    select = pn.widgets.Select(name="Past runs", css_classes=["dsc-runs"])

    def refresh(runs):
        select.options = {run_label(r): r["name"] for r in runs}
        if runs and select.value not in select.options.values():
            select.value = runs[0]["name"]

    refresh(session.runs)
    session.param.watch(lambda e: refresh(e.new), "runs")
    note = ClickNote(session, "load")
    load = note.button(
        "asking the server for the run",
        lambda: select.value and session.load_run(select.value),
        name="Load run", button_type="default", css_classes=["dsc-load"],
    )  # fmt: skip
    return pn.Column(select, load, note.pane, sizing_mode="stretch_width")


def interrupted_text(entry: dict, label) -> str:
    """Markdown: what an interrupted run was (``label`` names server paths as the page does)."""
    c = entry.get("config") or {}
    data = "the built-in sample" if c.get("data") == "sample" else label(str(c.get("data")))
    dates = f"{c.get('start') or 'first day'} – {c.get('end') or 'last day'}"
    what = f"{c.get('method')}, K={c.get('clusters')}, preset {c.get('preset')}, seed "
    what += f"{c.get('seed')}, {data}, {dates}"
    return f"**Interrupted** by a server stop (started {text(entry.get('started'))}): {text(what)}"


def interrupted_view(session: Session) -> pn.viewable.Viewable:
    """The runs a server stop interrupted, each with Start again and Dismiss."""

    def render(entries):
        rows = []
        for entry in entries[:INTERRUPTED_SHOWN]:
            token = entry["token"]
            clicked = ClickNote(session)
            again = clicked.button(
                "starting the run again",
                lambda t=token: session.restart(t),
                name="Start again",
                css_classes=["dsc-restart"],
            )
            dismiss = clicked.button(
                "dismissing the run",
                lambda t=token: session.dismiss(t),
                name="Dismiss",
                css_classes=["dsc-dismiss"],
            )
            note = interrupted_text(entry, session.server.label)
            alert = pn.pane.Alert(note, alert_type="warning", css_classes=["dsc-interrupted"])
            rows.append(
                pn.Column(alert, pn.Row(again, dismiss), clicked.pane, sizing_mode="stretch_width")
            )
        return pn.Column(*rows, sizing_mode="stretch_width")

    return pn.panel(pn.bind(render, session.param.interrupted))


def adopted_view(session: Session) -> pn.viewable.Viewable:
    """Cluster trainings a former server started and that still run, each with Follow."""

    def render(entries):
        rows = []
        for entry in entries[:INTERRUPTED_SHOWN]:
            clicked = ClickNote(session)
            follow = clicked.button(
                "following the training",
                lambda i=entry["id"]: session.follow(i),
                name="Follow",
                css_classes=["dsc-follow"],
            )
            what = interrupted_text(entry, session.server.label).split(": ", 1)[1]
            note = f"**Still training on the cluster** ({text(entry['stage'])}): {what}"
            alert = pn.pane.Alert(note, alert_type="info", css_classes=["dsc-adopted"])
            rows.append(pn.Column(alert, follow, clicked.pane, sizing_mode="stretch_width"))
        return pn.Column(*rows, sizing_mode="stretch_width")

    return pn.panel(pn.bind(render, session.param.adopted))


def labels_csv(run) -> io.BytesIO:
    """time,cluster CSV of the run's labels."""
    times = np.datetime_as_string(run.labels["time"].values, unit="D")
    lines = [
        "time,cluster",
        *(f"{t},{int(c)}" for t, c in zip(times, run.labels.values, strict=True)),
    ]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def composites_netcdf(run) -> io.BytesIO:
    """The cluster composites as NetCDF-4 bytes (the run folder's ``composites.nc``)."""
    saved = Path(run.path) / "composites.nc" if run.path is not None else None
    if saved is not None and saved.is_file():
        return io.BytesIO(saved.read_bytes())
    from dsc_core.data.io import NETCDF_LOCK

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "composites.nc"
        with NETCDF_LOCK:
            run.composites.to_netcdf(path, engine="netcdf4")
        return io.BytesIO(path.read_bytes())


def folder_files(root: Path) -> list[Path]:
    """The regular files under ``root``; symlinks are neither listed nor followed, and FIFOs,
    sockets and devices are left out (reading a FIFO would block)."""
    out = []
    for folder, _, files in os.walk(root):
        paths = [Path(folder) / f for f in files]
        out += [p for p in paths if stat.S_ISREG(os.lstat(p).st_mode)]
    return sorted(out)


def folder_bytes(run) -> int:
    """Total size of the run folder's files (what :func:`run_zip` archives)."""
    return sum(f.stat().st_size for f in folder_files(Path(run.path)))


def run_zip(run, max_bytes: int | None = None) -> IO[bytes]:
    """The run folder as a zip archive in a temporary file (deleted once closed); symlinks are
    left out. DataError when the files add up to more than ``max_bytes``."""
    root = Path(run.path)
    files = folder_files(root)
    size = sum(f.stat().st_size for f in files)
    if max_bytes is not None and size > max_bytes:
        raise DataError(
            f"the run folder holds {size / 1e6:.0f} MB, over this server's export limit of "
            f"{max_bytes / 1e6:.0f} MB (DSC_EXPORT_MAX_MB): ask the server's owner for it"
        )
    out = tempfile.TemporaryFile()  # noqa: SIM115  (returned open; gone once collected)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, Path(root.name) / f.relative_to(root))
    out.seek(0)
    return out


def maps_png(results: Results, fmt: str = "png") -> io.BytesIO:
    """The per-cluster composite maps of the chosen variable and field as a figure file
    (:func:`dashboard.figures.composite_figure`, a page wide)."""
    return io.BytesIO(composite_figure(results.run, results.variable, results.kind, fmt=fmt))


def export_view(results: Results, max_mb: int = 200) -> pn.viewable.Viewable:
    """Download buttons for the run on screen (files are built when clicked, off the event
    loop); the zip of the run folder only up to ``max_mb`` (DSC_EXPORT_MAX_MB)."""

    def name(suffix: str) -> str:
        return f"{results.run.name}{suffix}" if results.run is not None else f"run{suffix}"

    def button(label, make, suffix, cls):
        async def build():
            return await asyncio.to_thread(make, results.run)

        w = pn.widgets.FileDownload(
            callback=build, filename=name(suffix), label=label, button_type="light",
            embed=False, css_classes=[cls], sizing_mode="stretch_width",
        )  # fmt: skip
        results.param.watch(lambda e: setattr(w, "filename", name(suffix)), "run")
        return w

    fmt = pn.widgets.RadioButtonGroup(
        options=["png", "pdf", "svg"], value="png", button_type="light", name="Figure format",
        css_classes=["dsc-figure-format"], sizing_mode="stretch_width",
    )  # fmt: skip

    async def draw():
        return await asyncio.to_thread(maps_png, results, fmt.value)

    figure = pn.widgets.FileDownload(
        callback=draw, filename=name("-maps.png"),
        label="Maps figure", button_type="light", embed=False, css_classes=["dsc-export-png"],
        sizing_mode="stretch_width",
    )  # fmt: skip

    def figure_name(*_):
        figure.filename = f"{name('')}-{results.variable}-{results.kind}.{fmt.value}"

    results.param.watch(figure_name, ["run", "variable", "kind"])
    fmt.param.watch(figure_name, "value")
    figure_name()

    def report(run) -> io.BytesIO:
        html = report_html(run, results.label, results.embedding, results.embedding_kind)
        return io.BytesIO(html.encode())

    limit = max_mb * 10**6
    archive = button("Run folder (zip)", lambda run: run_zip(run, limit), ".zip", "dsc-export-zip")

    def cap(run):
        big = run is not None and run.path is not None and folder_bytes(run) > limit
        archive.disabled = big
        archive.label = f"Run folder (zip): over {max_mb} MB" if big else "Run folder (zip)"

    results.param.watch(lambda e: cap(e.new), "run")
    cap(results.run)
    return pn.Column(
        button("Labels (CSV)", labels_csv, "-labels.csv", "dsc-export-labels"),
        button("Composites (NetCDF)", composites_netcdf, "-composites.nc", "dsc-export-nc"),
        fmt,
        figure,
        button("Report (HTML, opens offline)", report, "-report.html", "dsc-export-report"),
        archive,
        visible=pn.bind(lambda run: run is not None, results.param.run),
        sizing_mode="stretch_width",
    )
