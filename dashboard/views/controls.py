"""The settings of the next run, the Train and Cancel buttons, and messages for the user."""

from __future__ import annotations

import panel as pn

from dashboard.session import Session
from dashboard.settings import choosable_levels
from dashboard.views.feedback import ClickNote
from dashboard.views.safe import text


def controls_view(session: Session) -> pn.viewable.Viewable:
    """Data source, variables, dates, vertical level (for data on several), season, clusters,
    method, window, seasonal cycle, area weighting, preset, seed, shortest spell, stability
    check, red-noise test, Train / Cancel; loader and configuration errors appear in the page
    as one line."""
    s = session.settings
    # The widget holds labels only: Panel sends a Select's option values to the browser.
    labels = {path: label for label, path in s.sources.items()}
    source = pn.widgets.Select(name="Data source", options=list(s.sources), value=labels[s.source])
    source.param.watch(lambda e: setattr(s, "source", s.sources[e.new]), "value")
    s.param.watch(lambda e: setattr(source, "value", labels[e.new]), "source")
    variables = pn.widgets.MultiChoice.from_param(s.param.variables, name="Variables")
    start = pn.widgets.DatePicker.from_param(s.param.start, name="First day", width=145)
    end = pn.widgets.DatePicker.from_param(s.param.end, name="Last day", width=145)
    months = pn.widgets.Select.from_param(
        s.param.months, name="Season", width=145, css_classes=["dsc-season"]
    )
    level = pn.widgets.Select.from_param(
        s.param.level, name="Level", width=145, css_classes=["dsc-level"],
        visible=pn.bind(lambda info: bool(choosable_levels(info)), s.param.info),
    )  # fmt: skip
    clusters = pn.widgets.IntInput.from_param(
        s.param.clusters, name="Number of clusters", width=145
    )
    method = pn.widgets.Select.from_param(s.param.method, name="Method")
    window = pn.widgets.Select.from_param(
        s.param.window,
        name="Window (days)",
        width=145,
        options={"preset's": 0, **{str(w): w for w in (1, 3, 5, 7, 9, 11)}},
    )
    deseason = pn.widgets.Checkbox.from_param(s.param.deseasonalize, name="Remove seasonal cycle")
    weighting = pn.widgets.Checkbox.from_param(
        s.param.area_weighting, name="Weight cells by area (cos latitude)"
    )
    preset = pn.widgets.Select.from_param(s.param.preset, name="Model preset", width=145)
    seed = pn.widgets.IntInput.from_param(s.param.seed, name="Seed", width=145)
    min_spell = pn.widgets.IntInput.from_param(
        s.param.min_spell, name="Shortest spell (days)", width=145
    )
    stability = pn.widgets.Checkbox.from_param(
        s.param.check_stability, name="Check stability (a second seed)"
    )
    surrogates = pn.widgets.IntInput.from_param(
        s.param.surrogates, name="Red-noise test (surrogates; 0: off)", width=145
    )
    note = ClickNote(session)
    train = note.button(
        "sending the training to the server",
        session.train,
        name="Train",
        button_type="primary",
        css_classes=["dsc-train"],
    )
    cancel = note.button(
        "asking the server to stop the training",
        session.cancel,
        name="Cancel",
        button_type="danger",
        css_classes=["dsc-cancel"],
    )

    def _cancel_enabled(state):
        return state not in ("queued", "running")

    cancel.disabled = pn.bind(_cancel_enabled, session.status.param.state)

    def _method_help(method, helps):
        return f"<small>{helps.get(method, '')}</small>"

    def _data_note(info, error):
        if error:
            return pn.pane.Alert(text(error), alert_type="danger", css_classes=["dsc-data-error"])
        if not info:
            return pn.pane.Markdown("<small>reading the data source…</small>")
        kind = "**SYNTHETIC** sample with planted regimes · " if info.get("synthetic") else ""
        ny, nx = info.get("shape", ("?", "?"))
        days = text(f"{info['n_days']} days {info['start']} – {info['end']}, grid {ny} × {nx}")
        return pn.pane.Markdown(f"<small>{kind}{days}</small>")

    def _message(msg):
        if not msg:
            return pn.pane.Markdown("")
        return pn.pane.Alert(text(msg), alert_type="warning", css_classes=["dsc-message"])

    return pn.Column(
        source,
        pn.bind(_data_note, s.param.info, s.param.error),
        variables,
        pn.Row(start, end, sizing_mode="stretch_width"),
        level,
        pn.Row(months, clusters, sizing_mode="stretch_width"),
        pn.Row(seed, min_spell, sizing_mode="stretch_width"),
        method,
        pn.bind(_method_help, s.param.method, s.param.method_help),
        pn.Row(preset, window, sizing_mode="stretch_width"),
        deseason,
        weighting,
        stability,
        surrogates,
        pn.Row(train, cancel),
        note.pane,
        pn.bind(_message, session.param.message),
        sizing_mode="stretch_width",
    )
