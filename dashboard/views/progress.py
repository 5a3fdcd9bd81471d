"""Progress of the session's training: phase, progress bar, epoch, live loss curve, share of
changed labels, time left, queue position."""

from __future__ import annotations

import pandas as pd
import panel as pn

from dashboard.job_status import JobStatus
from dashboard.views.safe import text


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def status_text(status: JobStatus) -> str:
    """One-paragraph summary of the job's state (Markdown)."""
    if status.state == "idle":
        return "No training running."
    if status.state == "queued":
        where = f" (position {status.position} in the queue)" if status.position else ""
        return f"**Queued**{where}: waiting for a free worker."
    if status.state == "failed":
        return f"**Failed**: {text(status.error)}"
    if status.state == "cancelled":
        return "**Cancelled.**"
    if status.state == "done":
        return f"**Done** in {_fmt_seconds(status.elapsed)}."
    parts = [f"**{text(status.phase or 'starting')}**"]
    if status.n_epochs:
        unit = "epoch" if status.phase in TRAINING_PHASES else "block of days"
        parts.append(f"{unit} {status.epoch}/{status.n_epochs}")
    if status.changed is not None:
        parts.append(f"labels changed {status.changed:.1%}")
    parts.append(f"elapsed {_fmt_seconds(status.elapsed)}")
    parts.append(f"time left {_fmt_seconds(status.eta)}")
    stage = f"<br><small>{text(status.stage)}</small>" if status.stage else ""
    return " · ".join(parts) + stage


TRAINING_PHASES = ("pretrain", "joint")  # not the k-means init's inertia: another scale


def loss_frame(status: JobStatus) -> pd.DataFrame:
    """Long table of the training losses so far (pretrain and joint epochs): step, loss, value."""
    df = pd.DataFrame(status.losses)
    if df.empty or "phase" not in df:
        return pd.DataFrame({"step": [], "loss": [], "value": []})
    df = df[df["phase"].isin(TRAINING_PHASES)].drop(columns=["phase", "epoch"])
    return df.melt("step", var_name="loss", value_name="value").dropna()


def progress_view(status: JobStatus) -> pn.viewable.Viewable:
    """Status line, and while a job is queued or running a progress bar and the loss curve."""
    import holoviews as hv

    bar = pn.indicators.Progress.from_param(
        status.param.progress, max=100, sizing_mode="stretch_width", bar_color="primary"
    )
    watched = [status.param[n] for n in ("state", "stage", "position", "epoch", "phase", "error")]
    text = pn.pane.Markdown(
        pn.bind(lambda *_: status_text(status), *watched), css_classes=["dsc-status"]
    )

    def curve(losses):
        data = loss_frame(status)
        if data.empty:
            return hv.Curve([], "step", "value").opts(title="Losses", height=180, responsive=True)
        return hv.NdOverlay(
            {name: hv.Curve(g, "step", "value") for name, g in data.groupby("loss")}, "loss"
        ).opts(
            hv.opts.Curve(height=180, responsive=True, tools=["hover"], logy=True),
            hv.opts.NdOverlay(title="Losses (per epoch)", legend_position="top_right"),
        )

    # Rebuilt at each new epoch (about once a second): the set of loss names is only known
    # once training reports them, which an in-place update could not follow.
    losses = pn.bind(curve, status.param.losses)
    live = pn.Column(bar, pn.pane.HoloViews(losses, sizing_mode="stretch_width"))

    def while_active(state):  # the plot is only built once a job starts
        return live if state in ("queued", "running") else None

    return pn.Column(
        text, pn.panel(pn.bind(while_active, status.param.state)), sizing_mode="stretch_width"
    )
