"""Feedback the browser draws the moment a button is clicked, before the server answers.

Under load the server may take seconds to handle a click (its one event loop draws every
page; trainings share the cores), and a click that shows nothing gets clicked again. So each
group of buttons has a note: at the click the browser itself writes what was asked ("sending
the training to the server…"); once the server has handled the click, the note says what the
server is still doing for this page (reading a run, comparing, labelling days) or nothing, and
the result shows where it always does (status line, maps, tables).
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Callable

import panel as pn

from dashboard.session import Session

PENDING_CLASS = "dsc-pending"
"""CSS class of the browser's own note (the soak benchmark times its appearance)."""
NOTE_STYLE = "color: #555; font-size: 13px; font-style: italic"
"""Inline: the page's style sheet does not reach into a pane's shadow root."""


class NotedButton(pn.widgets.Button):
    """A Button that, at its click, writes ``pending`` (HTML) into the note whose CSS classes
    include ``note_class``, in the browser. The callback sits on the button's own Bokeh model:
    Panel's ``js_on_click`` would register a link, and Panel then walks every model of the page
    at each redraw of any view (~25 % of the server's time to draw a run)."""

    def __init__(self, *, note_class: str, pending: str, **params) -> None:
        super().__init__(**params)
        self._note_code = (
            "for (const doc of Bokeh.documents) for (const m of doc.all_models)\n"
            f"  if (m.css_classes != null && m.css_classes.includes({json.dumps(note_class)})) "
            f"m.text = {json.dumps(html.escape(pending))}"
        )  # Panel's HTML model holds its text HTML-escaped and unescapes it to draw it

    def _get_model(self, doc, root=None, parent=None, comm=None):
        from bokeh.models import CustomJS

        model = super()._get_model(doc, root, parent, comm)
        model.js_on_event("button_click", CustomJS(code=self._note_code))
        return model


class ClickNote:
    """One line under a group of buttons. ``session.busy[action]``, when set, is what the
    server is still doing for the group's clicks."""

    _count = itertools.count()

    def __init__(self, session: Session, action: str | None = None) -> None:
        self._class = f"dsc-note-{next(self._count)}"
        self.pane = pn.pane.HTML("", css_classes=["dsc-note", self._class], margin=(0, 10))
        self._session = session
        self._action = action
        self._answers = 0
        if action is not None:
            session.param.watch(lambda _: self.answer(), "busy")

    def button(self, says: str, handler: Callable[[], None], **params) -> pn.widgets.Button:
        """A Button (``params`` as for ``pn.widgets.Button``) that, when clicked, calls
        ``handler()`` on the server and at once, in the browser, writes ``says`` in the note."""
        pending = f'<span class="{PENDING_CLASS}" style="{NOTE_STYLE}">{html.escape(says)}…</span>'
        button = NotedButton(note_class=self._class, pending=pending, **params)

        def handle(_event) -> None:
            try:
                handler()
            finally:
                self.answer()

        button.on_click(handle)
        return button

    def answer(self) -> None:
        """Replace the browser's note with the server's: what it still does, or nothing. Each
        answer differs from the last (a serial number), so it always reaches the page, even
        when its words are the same."""
        self._answers += 1
        words = self._session.busy.get(self._action, "") if self._action else ""
        self.pane.object = (
            f'<span class="dsc-busy" style="{NOTE_STYLE}" data-answer="{self._answers}">'
            f"{html.escape(words)}{'…' if words else ''}</span>"
        )
