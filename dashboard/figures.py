"""Publication figures of a run: every cluster's composite of one variable in one panel.

Drawn with matplotlib (no browser, no network): one small map per cluster titled with its share
of days, one shared colour bar in physical units (symmetric about zero for anomalies), the
shipped coastlines, and stippling where the composite is significant. PNG, PDF, SVG and EPS;
the width is a journal's column (85 mm) or page (174 mm), the height follows from the panels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dashboard.coastlines import coastline_segments
from dashboard.views.style import cmap_for, color_range, field_label
from dsc_core.errors import ConfigError, DataError

FORMATS = ("png", "pdf", "svg", "eps")
COLUMN_MM = 85.0
PAGE_MM = 174.0
PANEL_MIN_MM = 40.0
"""Panels narrower than this are hard to read: the figure uses fewer columns."""
MM = 1 / 25.4
MAX_STIPPLES = 300


def stipples(lon, lat, significant) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of the stipples where ``significant`` (lat, lon) is True:
    every grid point on coarse grids, a regular subset (at most ~MAX_STIPPLES) on fine ones."""
    significant = np.asarray(significant, dtype=bool)
    jj, ii = np.nonzero(significant)
    step = max(1, int(np.ceil(np.sqrt(significant.size / MAX_STIPPLES))))
    keep = (jj % step == 0) & (ii % step == 0)
    return lon[ii[keep]], lat[jj[keep]]


def figure_format(path: str | Path, fmt: str | None = None) -> str:
    """The file format of ``path`` (its suffix) or ``fmt``; ConfigError when unknown."""
    fmt = (fmt or Path(path).suffix.lstrip(".") or "png").lower()
    if fmt not in FORMATS:
        raise ConfigError(
            f"cannot write a figure as {fmt!r}: name the file .png, .pdf, .svg or .eps"
        )
    return fmt


def composite_figure(
    run,
    variable: str,
    kind: str = "anomaly",
    width_mm: float = PAGE_MM,
    fmt: str = "png",
    dpi: int = 300,
) -> bytes:
    """Every cluster's ``kind`` ("anomaly" or "mean") composite of ``variable`` as one figure,
    ``width_mm`` wide, in ``fmt`` (:data:`FORMATS`). DataError for a variable the run lacks."""
    import matplotlib as mpl
    from matplotlib.figure import Figure  # not pyplot: no global state, safe off the main thread
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    comp = run.composites
    names = [str(v) for v in comp["variable"].values]
    if variable not in names:
        raise DataError(f"the run has no variable {variable!r}: pick one of {', '.join(names)}")
    if kind not in ("anomaly", "mean"):
        raise ConfigError(f"kind must be 'anomaly' or 'mean', got {kind!r}")
    data = comp[kind].sel(variable=variable).values
    sig = comp["significant"].sel(variable=variable).values
    freq = comp["frequency"].values
    lon, lat = comp["longitude"].values, comp["latitude"].values
    lo, hi = color_range(data, kind)
    k = data.shape[0]
    cols = int(max(1, min(k, width_mm // PANEL_MIN_MM)))
    rows = int(np.ceil(k / cols))
    aspect = 1 / np.cos(np.deg2rad(np.clip(np.mean(lat), -80, 80)))  # degrees, not projected
    box = (np.ptp(lat) or 1.0) * aspect / (np.ptp(lon) or 1.0)
    panel_mm = (width_mm - 8) / cols
    height_mm = rows * (panel_mm * box + 8) + 16  # titles and ticks; the colour bar below
    with mpl.rc_context({"font.size": 7, "axes.titlesize": 7, "axes.linewidth": 0.5,
                         "xtick.labelsize": 6, "ytick.labelsize": 6}):  # fmt: skip
        fig = Figure(figsize=(width_mm * MM, height_mm * MM), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
        coast = coastline_segments((float(lat.min()), float(lat.max()), float(lon.min()),
                                    float(lon.max())))  # fmt: skip
        mesh = None
        for c, ax in enumerate(axes.flat):
            if c >= k:
                ax.axis("off")
                continue
            mesh = ax.pcolormesh(lon, lat, data[c], cmap=cmap_for(kind), vmin=lo, vmax=hi,
                                 shading="nearest", rasterized=True)  # fmt: skip
            ax.scatter(*stipples(lon, lat, sig[c]), s=0.4, c="black", linewidths=0)
            for seg in coast:
                ax.plot(seg[:, 0], seg[:, 1], color="black", linewidth=0.5)
            ax.set_xlim(lon.min(), lon.max())
            ax.set_ylim(lat.min(), lat.max())
            ax.set_aspect(aspect)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _degrees(x, "E", "W")))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: _degrees(y, "N", "S")))
            ax.set_title(f"({chr(97 + c)}) cluster {c}: {freq[c]:.0%} of days", loc="left")
        bar = fig.colorbar(mesh, ax=axes, orientation="horizontal", shrink=0.7, aspect=40,
                           extend="both")  # fmt: skip
        bar.set_label(field_label(run.fields, variable, kind))
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(run, fmt))
    return buf.getvalue()


def _degrees(value: float, positive: str, negative: str) -> str:
    """A tick label in degrees: 30°W, 0°, 45°N (longitudes beyond 180 read as west)."""
    if positive == "E" and value > 180:
        value -= 360
    hemisphere = positive if value > 0 else negative if value < 0 else ""
    return f"{abs(value):g}°{hemisphere}"


def _metadata(run, fmt: str) -> dict:
    """The figure file's own record of where it came from (formats that keep one)."""
    if fmt == "eps":
        return {}
    from dsc_core import __version__

    what = f"DSC Explorer {__version__}, run {run.name or '(unsaved)'}"
    return {"Title": what} if fmt in ("pdf", "svg") else {"Software": what}
