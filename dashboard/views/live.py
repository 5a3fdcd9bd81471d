"""In-place updates of drawn plots, for the views that follow the selection.

HoloViews re-renders a whole plot when a DynamicMap's stream fires (ranges, frame, every
glyph): ~70 ms per view on a 2-core CPU, too slow for three linked views within the 300 ms a
selection may take to reach the page. Instead, a view draws its highlight layers once as plain
elements whose HoloViews hook (``.opts(hooks=[live.hook(name)])``) hands their Bokeh models
to a :class:`Live`; when the selection changes, the view rewrites only those models' data
(~1 ms each), and Bokeh sends the change to the page.

The changes are made inside Panel's ``unlocked()``, as HoloViews does for its own updates:
a stream callback (box selection, span, tap) runs on the server's event loop without the
document lock, and ``unlocked()`` sends the changes to the page's websocket directly.

:func:`live_view` is the pattern every linked view follows: draw when the run changes,
update in place when the selection (or variable, or clicked day) changes, or when another run
of the same shape (grid, number of clusters; any run for the latent space and the timeline)
replaces the one drawn: drawing those two anew cost ~0.15 s of the server, and the browser
builds their models again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping

import panel as pn
from panel.io import unlocked


@functools.cache
def palette(cmap: str) -> tuple[str, ...]:
    """The colours of the colour map ``cmap`` (a name), as HoloViews turns it into a palette
    (~10 ms: done once per name)."""
    from holoviews.plotting.util import process_cmap

    return tuple(process_cmap(cmap, None, categorical=False))


class Live:
    """The Bokeh models of named layers of the latest drawing of one view."""

    def __init__(self) -> None:
        self.handles: dict[str, dict] = {}

    def hook(self, name: str) -> Callable:
        """A HoloViews plot hook that records the layer ``name``'s Bokeh models
        (``plot.handles``: ``source``, ``glyph``, ``plot`` (the figure), ...)."""

        def record(plot, element) -> None:
            self.handles[name] = plot.handles

        return record

    def set_data(self, name: str, columns: Mapping, keep: bool = False) -> None:
        """Replace the data of layer ``name``'s ColumnDataSource with ``columns`` (``keep``:
        columns not given keep their values; nothing happens before the layer is drawn)."""
        source = self.handles.get(name, {}).get("source")
        if source is not None:
            with unlocked():
                source.data = {**(source.data if keep else {}), **columns}

    def clear_selection(self, name: str) -> None:
        """Drop the box/lasso selection drawn on layer ``name``."""
        source = self.handles.get(name, {}).get("source")
        if source is not None and len(source.selected.indices):
            with unlocked():
                source.selected.indices = []

    def set_title(self, name: str, text: str) -> None:
        """Set the title of the figure that holds layer ``name``."""
        figure = self.handles.get(name, {}).get("plot")
        if figure is not None and figure.title is not None and figure.title.text != text:
            with unlocked():
                figure.title.text = text

    def set_colors(
        self, name: str, low: float, high: float, label: str | None = None, cmap: str | None = None
    ) -> None:
        """Set the colour range of layer ``name``'s colour mapper; when given, its colour map
        ``cmap`` (a name, turned into a palette as HoloViews does) and its colour bar's title
        ``label``."""
        handles = self.handles.get(name, {})
        with unlocked():
            if handles.get("color_mapper") is not None:
                handles["color_mapper"].update(low=low, high=high)
                if cmap is not None and tuple(handles["color_mapper"].palette) != palette(cmap):
                    handles["color_mapper"].palette = palette(cmap)
            if label is not None and handles.get("colorbar") is not None:
                handles["colorbar"].title = label

    def set_ranges(self, name: str, x: tuple | None = None, y: tuple | None = None) -> None:
        """Set the x and/or y range (start, end) of the figure that holds layer ``name``."""
        handles = self.handles.get(name, {})
        with unlocked():
            for axis, limits in (("x_range", x), ("y_range", y)):
                if limits is not None and handles.get(axis) is not None:
                    handles[axis].update(start=limits[0], end=limits[1])

    def set_glyph(self, name: str, **props) -> None:
        """Set properties of layer ``name``'s glyph (e.g. a Span's ``location``)."""
        glyph = self.handles.get(name, {}).get("glyph")
        if glyph is not None:
            with unlocked():
                glyph.update(**props)


def live_view(
    state,
    draw: Callable[[Live], object],
    follow: Callable[[Live], None],
    *,
    redraw: list[str],
    update: list[str],
    in_place: Callable[[], bool] = lambda: True,
    shape: Callable[[], Hashable] | None = None,
    replace: Callable[[Live], None] | None = None,
    **pane_options,
) -> pn.Column:
    """A panel showing ``draw(live)`` (a HoloViews object, or Markdown text when there is
    nothing to draw), drawn anew when one of the ``redraw`` parameters of ``state`` changes,
    and updated in place by ``follow(live)`` when one of the ``update`` parameters changes,
    unless ``in_place()`` is False or nothing is drawn yet (then it is drawn anew too).

    ``shape()``, when given, is what the drawn models' layout depends on (a grid, a number of
    clusters): a ``redraw`` change that leaves it as it was drawn is followed in place too
    (another run of the same grid and K: its data replace the old, as for a selection);
    ``replace(live)``, when given, is called first then, for the data that ``follow`` leaves
    as drawn (every day's point of a scatter, its ranges)."""
    live = Live()
    holder = pn.Column(margin=0)
    drawn: list = [False, None]  # something drawn; its shape

    def refresh(*events) -> None:
        redrawn = {event.name for event in events} & set(redraw)
        # the shape is read only when a redraw parameter changed: not at every selection
        if drawn[0] and in_place() and (not redrawn or (shape and shape() == drawn[1])):
            if redrawn and replace is not None:
                replace(live)
            follow(live)
            return
        live.handles.clear()
        obj = draw(live)
        drawn[0] = not isinstance(obj, str)
        drawn[1] = shape() if shape is not None and drawn[0] else None
        holder[:] = [
            pn.pane.Markdown(obj) if not drawn[0] else pn.pane.HoloViews(obj, **pane_options)
        ]

    state.param.watch(refresh, [*redraw, *update])
    refresh()
    return holder
