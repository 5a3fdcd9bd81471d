"""What a training job does, wherever it runs: in a process of the server's own
(:mod:`dashboard.jobs`) or as a task on a dask cluster (:mod:`dashboard.cluster`). It trains
(or measures K), saves the run and reports through a pipe-like ``conn``: progress events,
then its outcome (the report kinds :data:`dashboard.cluster.SHAPES` checks)."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Sequence

from dsc_core.choose_k import ChooseKRequest
from dsc_core.errors import Cancelled, DSCError


def work(conn, config, store_root: str, data_dirs: Sequence[str] | None) -> None:
    """A job's process: train ``config``, save the run into the store at ``store_root``,
    report through ``conn`` (a ``ChooseKRequest``: measure it, report its table). Anything
    arriving from the server (a cancel), or the server's end closing (the server died), stops
    the work at its next progress event."""
    from dsc_core.choose_k import choose_k
    from dsc_core.data.io import confine
    from dsc_core.pipeline import run
    from dsc_core.runs import RunStore
    from dsc_core.training import Event

    confine(data_dirs)

    def callback(event) -> None:
        if conn.poll():
            raise Cancelled("training cancelled from the page")
        conn.send(("event", event))

    def progress(message: str) -> None:
        callback(Event(phase="choose-k", epoch=0, n_epochs=0, message=message))

    try:
        if isinstance(config, ChooseKRequest):
            table = choose_k(config.config, config.ks, config.seeds, progress=progress,
                             callbacks=[callback], max_minutes=config.max_minutes)  # fmt: skip
            conn.send(("table", table.reset_index().to_dict("list")))
            return
        result = run(config, callbacks=[callback])
        if conn.poll():
            raise Cancelled("training cancelled from the page")
        conn.send(("stage", "saving"))
        RunStore(store_root).save(result)
        outcome: tuple = ("done", result.name)
    except Cancelled:
        outcome = ("cancelled", "")
    except DSCError as err:
        outcome = ("failed", str(err))
    except Exception as err:  # a bug, not a user error: the server logs the traceback
        outcome = ("crashed", type(err).__name__, traceback.format_exc())
    with contextlib.suppress(OSError):
        conn.send(outcome)


def task_config(request: dict):
    """The ``RunConfig`` or ``ChooseKRequest`` a request (a task's ``task.json``) asks for."""
    from dsc_core.run_config import RunConfig

    if request.get("ks"):
        return ChooseKRequest.from_dict(request)
    return RunConfig.from_dict(request["config"])
