"""Past runs (reload any of them) and exports of the run on screen: labels CSV, composites
NetCDF, the map figure PNG, the whole run folder (zip)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import panel as pn

from dashboard.state import Results, Session
from dashboard.views.style import cmap_for, color_range, field_label


def run_label(summary: dict) -> str:
    """One line per stored run: name, days, scores."""
    scores = summary.get("scores") or {}
    extra = f" · ARI {scores['ari']:.2f}" if scores.get("ari") is not None else ""
    return f"{summary['name']} · {summary.get('n_days', '?')} days{extra}"


def runs_view(session: Session) -> pn.viewable.Viewable:
    """Select a stored run and load it (no retraining)."""
    select = pn.widgets.Select(name="Past runs", css_classes=["dsc-runs"])
    load = pn.widgets.Button(name="Load run", button_type="default", css_classes=["dsc-load"])

    def refresh(runs):
        select.options = {run_label(r): r["name"] for r in runs}
        if runs and select.value not in select.options.values():
            select.value = runs[0]["name"]

    refresh(session.runs)
    session.param.watch(lambda e: refresh(e.new), "runs")
    load.on_click(lambda _: select.value and session.load_run(select.value))
    return pn.Column(select, load, sizing_mode="stretch_width")


def labels_csv(run) -> io.BytesIO:
    """time,cluster CSV of the run's labels."""
    times = np.datetime_as_string(run.labels["time"].values, unit="D")
    lines = [
        "time,cluster",
        *(f"{t},{int(c)}" for t, c in zip(times, run.labels.values, strict=True)),
    ]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def composites_netcdf(run) -> io.BytesIO:
    """The cluster composites as NetCDF-4 bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "composites.nc"
        run.composites.to_netcdf(path, engine="netcdf4")
        return io.BytesIO(path.read_bytes())


def run_zip(run) -> io.BytesIO:
    """The run folder as a zip archive."""
    buf = io.BytesIO()
    root = Path(run.path)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, Path(root.name) / f.relative_to(root))
    buf.seek(0)
    return buf


def maps_png(results: Results) -> io.BytesIO:
    """The per-cluster composite maps of the chosen variable as a PNG (matplotlib, with the
    same offline coastlines, shared colour scale and stippling as the page)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dashboard.coastlines import coastline_segments

    run, var, kind = results.run, results.variable, results.kind
    comp = run.composites
    data = comp[kind].sel(variable=var).values
    sig = comp["significant"].sel(variable=var).values
    lon, lat = comp["longitude"].values, comp["latitude"].values
    lo, hi = color_range(data, kind)
    k = data.shape[0]
    cols = min(k, 4)
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols + 1, 3 * rows), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    bbox = (float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max()))
    coast = coastline_segments(bbox)
    mesh = None
    for c, ax in enumerate(axes.flat):
        if c >= k:
            ax.axis("off")
            continue
        mesh = ax.pcolormesh(lon, lat, data[c], cmap=cmap_for(kind), vmin=lo, vmax=hi,
                             shading="nearest")  # fmt: skip
        jj, ii = np.nonzero(sig[c])
        ax.scatter(lon[ii], lat[jj], s=0.5, c="black", alpha=0.5, linewidths=0)
        for seg in coast:
            ax.plot(seg[:, 0], seg[:, 1], color="black", linewidth=0.7)
        ax.set_xlim(lon.min(), lon.max())
        ax.set_ylim(lat.min(), lat.max())
        ax.set_aspect("equal")
        ax.set_title(f"Cluster {c} · {float(comp['frequency'][c]):.0%} of days", fontsize=9)
    fig.colorbar(mesh, ax=axes, label=field_label(run.fields, var, kind), shrink=0.8)
    fig.suptitle(f"{run.name}: {var} composites", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    buf.seek(0)
    return buf


def export_view(results: Results) -> pn.viewable.Viewable:
    """Download buttons for the run on screen (files are built when clicked)."""

    def name(suffix: str) -> str:
        return f"{results.run.name}{suffix}" if results.run is not None else f"run{suffix}"

    def button(label, make, suffix, cls):
        w = pn.widgets.FileDownload(
            callback=lambda: make(results.run), filename=name(suffix), label=label,
            button_type="light", embed=False, css_classes=[cls], sizing_mode="stretch_width",
        )  # fmt: skip
        results.param.watch(lambda e: setattr(w, "filename", name(suffix)), "run")
        return w

    png = pn.widgets.FileDownload(
        callback=lambda: maps_png(results), filename=name("-maps.png"), label="Maps (PNG)",
        button_type="light", embed=False, css_classes=["dsc-export-png"],
        sizing_mode="stretch_width",
    )  # fmt: skip
    results.param.watch(
        lambda *_: setattr(png, "filename", f"{name('')}-{results.variable}-{results.kind}.png"),
        ["run", "variable", "kind"],
    )
    return pn.Column(
        button("Labels (CSV)", labels_csv, "-labels.csv", "dsc-export-labels"),
        button("Composites (NetCDF)", composites_netcdf, "-composites.nc", "dsc-export-nc"),
        png,
        button("Run folder (zip)", run_zip, ".zip", "dsc-export-zip"),
        visible=pn.bind(lambda run: run is not None, results.param.run),
        sizing_mode="stretch_width",
    )
