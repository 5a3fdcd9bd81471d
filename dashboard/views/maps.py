"""Maps: per-cluster composites, the composite of the selected days, a clicked day's fields.

All maps are GeoViews images on a PlateCarree projection with offline coastlines; an online
tile basemap (Web Mercator) is drawn only when the user asks for it. Fields are
(latitude, longitude) arrays in physical units.

Each view is drawn once per run (and basemap) and then updated in place when the variable,
the field kind, the selection or the clicked day change (see ``dashboard.views.live``), except on
the basemap, where a change re-projects the fields and so draws the maps anew.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import lru_cache

import numpy as np
import panel as pn

from dashboard.figures import stipples
from dashboard.results import Results
from dashboard.views.live import Live, live_view
from dashboard.views.safe import text
from dashboard.views.style import cluster_color, cmap_for, color_range, field_label, fmt_day

MAP_WIDTH = 250
MAP_HEIGHT = 230
PROMPT = "Select days: UMAP, timeline or a cluster map"


def _crs():
    import cartopy.crs as ccrs
    import geoviews.plotting.bokeh  # noqa: F401  (registers GeoViews' Bokeh plots)

    return ccrs


@lru_cache(maxsize=16)
def _coastline_xy(bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Coastline pieces in ``bbox`` joined into one (n, 2) lon/lat array, NaN rows between
    pieces (one glyph instead of one per piece: much faster to draw)."""
    from dashboard.coastlines import coastline_segments

    pieces = coastline_segments(bbox)
    if not pieces:
        return np.empty((0, 2))
    gap = np.full((1, 2), np.nan)
    return np.concatenate([p for piece in pieces for p in (piece, gap)][:-1])


def _coastlines(bbox):
    import geoviews as gv

    return gv.Path([_coastline_xy(bbox)], kdims=["Longitude", "Latitude"]).opts(
        color="black", line_width=0.8, tools=[]
    )


def geo_map(
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    *,
    title: str,
    clim: tuple[float, float],
    cmap: str,
    clabel: str,
    live: Live,
    layer: str,
    significant: np.ndarray | None = None,
    colorbar: bool = True,
    basemap: bool = False,
    width: int = MAP_WIDTH,
    height: int = MAP_HEIGHT,
):
    """One map: ``values`` (lat, lon) with stippling where ``significant`` (lat, lon) is True.

    Returns a GeoViews overlay: image, stipple points (if ``significant`` is given),
    coastlines (and tiles if ``basemap``). Without the basemap, :func:`show_field` can update
    it in place: its image and stipples are the layers ``layer`` and ``layer + ":stipples"``
    of ``live``.
    """
    import geoviews as gv
    import holoviews as hv

    ccrs = _crs()
    pc = ccrs.PlateCarree()
    img = gv.Image(
        (lon, lat, np.asarray(values, dtype=np.float32)),
        kdims=["Longitude", "Latitude"],
        vdims=[hv.Dimension("value", label=clabel)],
        crs=pc,
    ).opts(
        cmap=cmap,
        clim=clim,
        colorbar=colorbar,
        clabel=clabel,
        cformatter="%.3g",
        tools=["hover"],
        framewise=True,
        hooks=[live.hook(layer)],
    )
    layers = [img]
    if significant is not None:
        pts = gv.Points(stipples(lon, lat, significant), crs=pc).opts(
            color="black", size=1.5, alpha=0.6, tools=[], hooks=[live.hook(f"{layer}:stipples")]
        )
        layers.append(pts)
    bbox = (float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max()))
    layers.append(_coastlines(bbox))
    overlay = hv.Overlay(layers)
    dx = float(abs(lon[1] - lon[0])) / 2 if len(lon) > 1 else 0.5
    dy = float(abs(lat[1] - lat[0])) / 2 if len(lat) > 1 else 0.5
    extent = dict(xlim=(lon.min() - dx, lon.max() + dx), ylim=(lat.min() - dy, lat.max() + dy))
    if basemap:
        overlay = gv.tile_sources.CartoLight() * overlay
    return overlay.opts(
        title=title,
        width=width + (90 if colorbar else 0),
        height=height,
        projection=ccrs.GOOGLE_MERCATOR if basemap else pc,
        toolbar="below",
        fontsize={"title": "10pt"},
        **({} if basemap else extent),
    )


def cluster_fields(results: Results) -> tuple[np.ndarray, np.ndarray, tuple, str]:
    """The chosen variable's composites, values and significance (cluster, lat, lon), with
    their shared colour range and colour-bar label."""
    run, var, kind = results.run, results.variable, results.kind
    comp = run.composites
    data = comp[kind].sel(variable=var).values
    sig = comp["significant"].sel(variable=var).values
    return data, sig, color_range(data, kind), field_label(run.fields, var, kind)


def cluster_maps(results: Results, live: Live, width: int = MAP_WIDTH, linked: bool = True):
    """One small map per cluster of the chosen variable: composite mean or anomaly against the
    whole period, stippled where significant, frequency in the title, one shared colour scale
    (colour bar on the last map), layers "cluster:<c>" of ``live``. ``linked``: clicking a
    map highlights its cluster's days (a server's Python callback)."""
    import holoviews as hv

    comp = results.run.composites
    data, sig, clim, label = cluster_fields(results)
    freq = comp["frequency"].values
    lon, lat = comp["longitude"].values, comp["latitude"].values
    k = data.shape[0]
    maps = []
    for c in range(k):
        m = geo_map(
            lon, lat, data[c],
            title=cluster_title(c, freq[c]),
            clim=clim, cmap=cmap_for(results.kind), clabel=label, significant=sig[c],
            colorbar=c == k - 1, basemap=results.basemap, width=width,
            live=live, layer=f"cluster:{c}",
        )  # fmt: skip
        if linked:
            tap = hv.streams.Tap(source=m)
            tap.add_subscriber(
                lambda x=None, y=None, c=c: x is not None and results.select_cluster(c)
            )
        maps.append(m)
    return hv.Layout(maps).cols(4).opts(shared_axes=True)


def cluster_title(cluster: int, frequency: float) -> str:
    """A cluster map's title: the cluster and how often it occurs."""
    return f"Cluster {cluster} · {frequency:.0%} of days"


def follow_clusters(results: Results, live: Live) -> None:
    """Show the chosen variable and field kind of the run on screen on the drawn
    :func:`cluster_maps` (in place: the run drawn, or another of its grid and K)."""
    data, sig, clim, label = cluster_fields(results)
    comp = results.run.composites
    lon, lat, freq = comp["longitude"].values, comp["latitude"].values, comp["frequency"].values
    for c in range(len(data)):
        show_field(
            live, f"cluster:{c}", lon, lat, data[c], title=cluster_title(c, freq[c]),
            significant=sig[c], clim=clim, clabel=label, cmap=cmap_for(results.kind),
        )  # fmt: skip


def grid_shape(results: Results, clusters: bool = False) -> Hashable:
    """What a drawn map's layout depends on: the run's grid (and its number of clusters when
    ``clusters``); None without a run."""
    if results.run is None or results.variable is None:
        return None
    comp = results.run.composites
    grid = (comp["longitude"].values.tobytes(), comp["latitude"].values.tobytes())
    return (*grid, comp.sizes["cluster"]) if clusters else grid


def without_basemap(results: Results) -> Callable[[], bool]:
    """Whether the maps can be updated in place: not on the online basemap (there the fields
    are re-projected onto Web Mercator tiles at every change)."""
    return lambda: not results.basemap


def cluster_maps_view(results: Results) -> pn.viewable.Viewable:
    """Panel of :func:`cluster_maps`: drawn again with the basemap or a run of another grid
    or K, updated in place when the variable or field kind change or a run of the same grid
    and K replaces the one drawn (a selection does not change it)."""

    def draw(live: Live):
        if results.run is None or results.variable is None:
            return "*No run yet: train one or load a past run.*"
        return cluster_maps(results, live)

    return live_view(
        results, draw, lambda live: follow_clusters(results, live),
        redraw=["run", "basemap"], update=["variable", "kind"], in_place=without_basemap(results),
        shape=lambda: grid_shape(results, clusters=True), sizing_mode="fixed", linked_axes=False,
    )  # fmt: skip


def stipple_text(run) -> str:
    """Which test the stipples of ``run``'s composite maps come from, in one sentence."""
    attrs = run.composites.attrs
    test = attrs.get("test_description") or (
        f"Welch t-test, p < {attrs.get('alpha', 0.05)} cell by cell, without correction "
        "for persistence or multiplicity (a run saved by an older version)"
    )
    return f"Stippled: the cluster's mean differs from the other days' mean. Test: {test}."


def stipple_legend(results: Results) -> pn.viewable.Viewable:
    """One line under the cluster maps saying which test the stipples come from."""

    def render(run):
        if run is None:
            return pn.pane.Markdown("")
        return pn.pane.Markdown(
            text(stipple_text(run)), css_classes=["dsc-stipple-legend"], margin=(0, 10),
            styles={"font-size": "90%"},
        )  # fmt: skip

    return pn.panel(pn.bind(render, results.param.run))


def selection_title(results: Results, count: int) -> str:
    """Title of the selection map: how many days, what was selected (a span: its dates)."""
    if results.origin == "timeline":
        t = results.times[results.days]
        return f"Composite of {count} timeline days, {fmt_day(t[0])} to {fmt_day(t[-1])}"
    what = {
        "umap": "days selected in the latent space",
        "cluster": f"days of cluster {results.cluster}",
    }.get(results.origin, "selected days")
    return f"Composite of {count} {what}"


def show_field(
    live: Live, layer: str, lon, lat, values, *, title: str | None = None, significant=None,
    clim: tuple[float, float] | None = None, clabel: str | None = None, cmap: str | None = None,
) -> None:  # fmt: skip
    """Show ``values`` (lat, lon) on the drawn :func:`geo_map` ``layer`` (without basemap),
    in place; when given, also its title, stipples where ``significant``, colour range
    ``clim``, colour-bar label ``clabel`` and colour map ``cmap``."""
    rows = values if lat[0] <= lat[-1] else values[::-1]  # Bokeh's first row is the south
    live.set_data(layer, {"image": [np.asarray(rows, dtype=np.float32)]}, keep=True)
    if title is not None:
        live.set_title(layer, title)
    if significant is not None:
        x, y = stipples(lon, lat, significant)
        live.set_data(f"{layer}:stipples", {"Longitude": x, "Latitude": y})
    if clim is not None:
        live.set_colors(layer, *clim, label=clabel, cmap=cmap)


def selection_fields(results: Results) -> tuple[np.ndarray, np.ndarray, str]:
    """What the selection map shows now: composite (lat, lon) of the highlighted days for the
    chosen variable and field kind, where it is significant (lat, lon), and the title."""
    comp = results.run.composites
    var, kind = results.variable, results.kind
    sel = results.selection_composite()
    if sel is None:
        blank = np.zeros((comp.sizes["latitude"], comp.sizes["longitude"]), dtype=np.float32)
        return blank, blank.astype(bool), PROMPT
    title = selection_title(results, int(sel["count"]))
    return sel[kind].sel(variable=var).values, sel["significant"].sel(variable=var).values, title


def selection_map(results: Results, live: Live):
    """The composite of exactly the highlighted days (see :func:`selection_fields`), layer
    "selection" of ``live``."""
    comp = results.run.composites
    lon, lat = comp["longitude"].values, comp["latitude"].values
    values, significant, title = selection_fields(results)
    _, _, clim, label = cluster_fields(results)  # the colours of the cluster maps
    return geo_map(
        lon, lat, values, title=title, significant=significant, clim=clim, clabel=label,
        cmap=cmap_for(results.kind), width=330, height=310, basemap=results.basemap,
        live=live, layer="selection",
    )  # fmt: skip


def follow_selection(results: Results, live: Live) -> None:
    """Show the composite of the current selection (chosen variable and field kind) on the
    drawn selection map, in place; its colour range is that of the cluster composites."""
    values, significant, title = selection_fields(results)
    _, _, clim, label = cluster_fields(results)
    comp = results.run.composites
    lon, lat = comp["longitude"].values, comp["latitude"].values
    show_field(
        live, "selection", lon, lat, values, title=title, significant=significant,
        clim=clim, clabel=label, cmap=cmap_for(results.kind),
    )  # fmt: skip


def selection_map_view(results: Results) -> pn.viewable.Viewable:
    """Panel of :func:`selection_map`: drawn again with the basemap or a run of another grid,
    updated in place when the selection, the variable or the field kind change or a run of the
    same grid replaces the one drawn."""

    def draw(live: Live):
        return (
            "" if results.run is None or results.variable is None else selection_map(results, live)
        )

    return live_view(
        results, draw, lambda live: follow_selection(results, live),
        redraw=["run", "basemap"], update=["version", "variable", "kind"],
        in_place=without_basemap(results), shape=lambda: grid_shape(results), sizing_mode="fixed",
    )  # fmt: skip


def day_fields(results: Results) -> dict[str, tuple[np.ndarray, tuple[float, float], str]]:
    """Every variable of the clicked day: values (lat, lon) with NaN off the valid-data mask,
    its own colour range, the map's title."""
    run, day = results.run, np.datetime64(results.day, "ns")
    fields = run.fields.sel(time=day)
    mask = fields["mask"].values if "mask" in fields else True
    kind = "anomaly" if run.config.deseasonalize else "mean"
    out = {}
    for var in [v for v in fields.data_vars if v != "mask"]:
        values = np.where(mask, fields[var].values, np.nan)
        out[var] = (values, color_range(values, kind), f"{var} on {fmt_day(day)}")
    return out


def day_assignment(results: Results) -> tuple[np.ndarray, str]:
    """The clicked day's soft assignment q (cluster,) and the bar chart's title."""
    day = np.datetime64(results.day, "ns")
    label = int(results.run.labels.sel(time=day))
    return results.run.soft.sel(time=day).values, f"q on {fmt_day(day)}: cluster {label}"


def day_maps(results: Results, live: Live):
    """Every variable of the clicked day (its own colour scale each) and the day's soft
    assignment q over the clusters (bar chart): layers "day:<variable>" and "q" of ``live``,
    which :func:`follow_day` updates in place."""
    import holoviews as hv
    import pandas as pd

    run = results.run
    lon, lat = run.fields["longitude"].values, run.fields["latitude"].values
    kind = "anomaly" if run.config.deseasonalize else "mean"
    maps = []
    for var, (values, clim, title) in day_fields(results).items():
        style = dict(
            title=title, clim=clim, cmap=cmap_for(kind), width=200, height=190,
            clabel=field_label(run.fields, var, kind).replace(" mean", ""),
        )  # fmt: skip
        maps.append(
            geo_map(
                lon, lat, values, basemap=results.basemap, live=live, layer=f"day:{var}", **style
            )  # fmt: skip
        )
    q, title = day_assignment(results)
    bars = hv.Bars(
        pd.DataFrame({"cluster": [str(c) for c in range(len(q))], "q": q}), "cluster", "q"
    ).opts(
        color=hv.dim("cluster").categorize({str(c): cluster_color(c) for c in range(len(q))}),
        ylim=(0, 1), width=260, height=220, tools=["hover"], title=title,
        ylabel="soft assignment q", hooks=[live.hook("q")],
    )  # fmt: skip
    return hv.Layout([bars, *maps]).cols(4).opts(shared_axes=False)


def follow_day(results: Results, live: Live) -> None:
    """Show the clicked day on the drawn :func:`day_maps` (in place)."""
    lon, lat = results.run.fields["longitude"].values, results.run.fields["latitude"].values
    for var, (values, clim, title) in day_fields(results).items():
        show_field(live, f"day:{var}", lon, lat, values, title=title, clim=clim)
    q, title = day_assignment(results)
    live.set_data("q", {"q": q}, keep=True)
    live.set_title("q", title)


DAY_PROMPT = "*Click a day on the timeline to see its own fields and soft assignment.*"


def day_view(results: Results) -> pn.viewable.Viewable:
    """Panel of :func:`day_maps`: drawn at the first clicked day of a run (and again when
    the basemap is switched), updated in place at the next clicks."""

    def draw(live: Live):
        return DAY_PROMPT if results.run is None or results.day is None else day_maps(results, live)

    return live_view(
        results, draw, lambda live: follow_day(results, live),
        redraw=["run", "basemap"], update=["day"], in_place=without_basemap(results),
        sizing_mode="fixed",
    )  # fmt: skip
