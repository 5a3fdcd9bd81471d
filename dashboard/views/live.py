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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from panel.io import unlocked


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

    def set_color_range(self, name: str, low: float, high: float) -> None:
        """Set the colour range of layer ``name``'s colour mapper."""
        mapper = self.handles.get(name, {}).get("color_mapper")
        if mapper is not None:
            with unlocked():
                mapper.update(low=low, high=high)

    def set_glyph(self, name: str, **props) -> None:
        """Set properties of layer ``name``'s glyph (e.g. a Span's ``location``)."""
        glyph = self.handles.get(name, {}).get("glyph")
        if glyph is not None:
            with unlocked():
                glyph.update(**props)
