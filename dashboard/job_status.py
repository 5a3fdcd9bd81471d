"""Progress of a session's training job (:class:`JobStatus`), as the page shows it."""

from __future__ import annotations

import param


class JobStatus(param.Parameterized):
    """Progress of the session's current job, copied from it by :meth:`Session.poll`."""

    state = param.Selector(
        default="idle", objects=["idle", "queued", "running", "done", "failed", "cancelled"]
    )
    stage = param.String(default="")
    position = param.Integer(default=0, doc="1-based place in the queue; 0 = not waiting")
    phase = param.String(default="")
    epoch = param.Integer(default=0)
    n_epochs = param.Integer(default=0)
    progress = param.Integer(default=0, bounds=(0, 100))
    changed = param.Number(default=None, allow_None=True)
    eta = param.Number(default=None, allow_None=True)
    elapsed = param.Number(default=0.0)
    losses = param.List(default=[], doc="one dict per event: step, phase, epoch, losses")
    error = param.String(default="")

    def reset(self, state: str = "idle") -> None:
        """Clear the progress for a new job."""
        self.param.update(
            state=state, stage="", position=0, phase="", epoch=0, n_epochs=0, progress=0,
            changed=None, eta=None, elapsed=0.0, losses=[], error="",
        )  # fmt: skip

    def add_events(self, events: list) -> None:
        """Fold engine ``Event`` objects into the status (one param update)."""
        if not events:
            return
        rows = list(self.losses)
        for ev in events:
            if ev.losses:
                rows.append({"step": len(rows), "phase": ev.phase, "epoch": ev.epoch, **ev.losses})
        last = events[-1]
        self.param.update(
            phase=last.phase,
            epoch=int(last.epoch),
            n_epochs=int(last.n_epochs),
            changed=last.changed if last.changed is not None else self.changed,
            eta=last.eta,
            elapsed=float(last.elapsed),
            progress=_progress(last),
            losses=rows,
        )


PIPELINE_PROGRESS = {"load": 0, "preprocess": 3, "write": 4, "analysis": 96, "trust": 97}


def _progress(ev) -> int:
    """Overall percentage: from elapsed/ETA when known, else from the phase and epoch."""
    if ev.phase == "done":
        return 100
    if ev.eta is not None and ev.elapsed + ev.eta > 0:
        return int(min(95, 5 + 90 * ev.elapsed / (ev.elapsed + ev.eta)))
    if ev.phase in PIPELINE_PROGRESS:
        return PIPELINE_PROGRESS[ev.phase]
    share = ev.epoch / ev.n_epochs if ev.n_epochs else 0.0
    base = {"pretrain": 0.0, "init": 0.5, "joint": 0.5}.get(ev.phase, 0.0)
    return int(min(95, 5 + 90 * (base + 0.5 * share)))
