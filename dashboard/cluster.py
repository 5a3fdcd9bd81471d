"""Trainings as tasks on a ``dask.distributed`` cluster (``DSC_SCHEDULER=ADDRESS``).

Each training is one fire-and-forget task, so it runs on when the web server stops or restarts.
It talks to the server through a folder of the run store, ``.tasks/<key>/``, which every
worker must see (on a cluster: a shared filesystem, as for the run store itself):

- ``task.json``: the request (the run's settings, its journal token), written by the server;
- ``messages.jsonl``: the task's reports, one JSON line each (progress events, its stage,
  then its outcome), appended by the task;
- ``cancel``: created by the server; the task stops at its next progress event.

A task that dies with its worker (out of memory, killed) reports nothing more; the scheduler
marks its future as erred and the job fails, and the run store never holds a partly written run
(saves are atomic). A server that starts follows again the tasks the scheduler still runs
(:meth:`ClusterRunner.adopt`): the page offers to follow them.

The task's side is :func:`dashboard.job_work.work`, the same function a local job's process runs,
given a :class:`_TaskPipe` in place of a pipe's end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import time
import uuid
from pathlib import Path

TASKS = ".tasks"
POLL_S = 0.1
log = logging.getLogger(__name__)
GONE = ("error", "cancelled", "lost")
"""States of a dask future whose task will report nothing more."""


def _encode(message) -> str:
    """One JSON line of a report: ``("event", Event)``, ``("stage", text)`` or an outcome."""
    kind, *rest = message
    if kind == "event":
        rest = [dataclasses.asdict(rest[0])]
    return json.dumps([kind, *rest]) + "\n"


SHAPES = {
    "event": (dict,),
    "stage": (str,),
    "table": (dict,),
    "done": (str,),
    "failed": (str,),
    "cancelled": (str,),
    "crashed": (str, str),
}
"""Each report's kind and the types of what follows it (see :func:`dashboard.job_work.work`)."""


def _decode(line: str) -> tuple:
    """A report from one line of ``messages.jsonl``; ``ValueError`` for anything a task does
    not write (the folder sits in the run store, whose files are read as untrusted)."""
    from dsc_core.training import Event

    message = json.loads(line)
    if not isinstance(message, list) or not message or message[0] not in SHAPES:
        raise ValueError("not a report")
    kind, *rest = message
    if len(rest) != len(SHAPES[kind]) or not all(
        isinstance(r, t) for r, t in zip(rest, SHAPES[kind], strict=True)
    ):
        raise ValueError(f"a {kind!r} report of the wrong shape")
    if kind == "event":
        rest = [_event(rest[0], Event)]
    return (kind, *rest)


def _kind(line: str) -> str | None:
    """The kind of the report on ``line``; None where it is not a report."""
    try:
        return _decode(line)[0]
    except (ValueError, TypeError):
        return None


def _event(fields: dict, event_type):
    """An ``Event`` from its fields, each of its declared type (numbers as numbers)."""
    number = (int, float)
    expected = {"phase": str, "epoch": int, "n_epochs": int, "losses": dict, "changed": number,
                "elapsed": number, "eta": number, "message": str}  # fmt: skip
    optional = {"changed", "eta"}
    for name, value in fields.items():
        if name not in expected or isinstance(value, bool):
            raise ValueError(f"an event with a field {name!r}")
        if not (isinstance(value, expected[name]) or (value is None and name in optional)):
            raise ValueError(f"an event whose {name!r} is not of its type")
    losses = fields.get("losses", {})
    if not all(isinstance(k, str) and isinstance(v, number) for k, v in losses.items()):
        raise ValueError("an event with losses that are not numbers")
    return event_type(**fields)


class _TaskPipe:
    """The task's end: ``poll()`` is True once a cancel was asked, ``send`` appends a report."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def poll(self) -> bool:
        return (self.folder / "cancel").exists()

    def send(self, message) -> None:
        with open(self.folder / "messages.jsonl", "a", encoding="utf-8") as out:
            out.write(_encode(message))


def run_task(folder: str, store_root: str, data_dirs) -> None:
    """A worker's side of a training: the request in ``folder`` run as a local job's process
    runs it (:func:`dashboard.job_work.work`), reports appended to the folder."""
    from dashboard.job_work import task_config, work

    request = json.loads((Path(folder) / "task.json").read_text())
    work(_TaskPipe(Path(folder)), task_config(request), store_root, data_dirs)


class _ServerPipe:
    """The server's end of a task's folder, with a pipe's ``poll(timeout)``, ``recv()`` (an
    EOFError once the task is gone without a word more), ``send("cancel")`` and ``close()``."""

    def __init__(self, folder: Path, future) -> None:
        self.folder = folder
        self.future = future
        self.offset = 0
        self.lines: list[str] = []

    def _read(self) -> None:
        path = self.folder / "messages.jsonl"
        if not path.exists():
            return
        with open(path, encoding="utf-8") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind("\n") + 1]  # a line being written waits for its end
        self.offset += len(complete.encode("utf-8"))
        self.lines += complete.splitlines()

    def poll(self, timeout: float = 0.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self._read()
            if self.lines or self.future.status in GONE:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0)))

    def recv(self) -> tuple:
        """The next report; lines that are not a task's report are skipped with a logged note."""
        if not self.lines:
            self._read()
        while self.lines:
            line = self.lines.pop(0)
            try:
                return _decode(line)
            except (ValueError, TypeError) as err:
                log.warning("task folder %s: a line skipped (%s)", self.folder.name, err)
        raise EOFError("the task ended without an outcome")

    def send(self, message: str) -> None:
        if message == "cancel":
            (self.folder / "cancel").touch()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _TaskProcess:
    """A task's future with what the job manager asks of a process."""

    def __init__(self, future) -> None:
        self.future = future

    def terminate(self) -> None:
        self.future.cancel()

    def join(self, timeout: float | None = None) -> None:
        return None

    @property
    def exitcode(self) -> str:
        """Why the task ended without an outcome, in words (the job's error names it)."""
        status = self.future.status
        if status == "error":
            with contextlib.suppress(Exception):
                return f"the task failed on the cluster: {self.future.exception(timeout=1)!r}"
        return f"the task is {status} on the cluster"


def connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``, with dask's own security
    settings (a ``tls://`` scheduler: ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``,
    ``..._CLIENT__CERT``, ``..._CLIENT__KEY``); ConfigError naming DSC_SCHEDULER when it cannot
    be reached."""
    from distributed import Client
    from distributed.security import Security

    from dsc_core.errors import ConfigError

    if address.startswith("tls://") and not Security().tls_ca_file:
        raise ConfigError(
            f"DSC_SCHEDULER {address} asks for TLS but dask has no certificates: set "
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._CLIENT__CERT and ..._CLIENT__KEY"
        )
    try:
        return Client(address, set_as_default=False, timeout="10s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        message = f"DSC_SCHEDULER: cannot reach the scheduler at {address} ({err})"
        raise ConfigError(message) from err


class ClusterRunner:
    """Starts trainings as tasks on the scheduler at ``address`` and follows them."""

    def __init__(self, address: str, store_root: Path, data_dirs) -> None:
        self.address = address
        self.client = connect(address)
        self.root = Path(store_root) / TASKS
        self.data_dirs = data_dirs

    def start(self, config, journal_token: str | None) -> tuple[_TaskProcess, _ServerPipe]:
        """Submit ``config`` (a RunConfig or ChooseKRequest); ``(process, pipe)`` to follow."""
        from distributed import fire_and_forget

        key = f"dsc-train-{uuid.uuid4().hex[:12]}"
        folder = self.root / key
        folder.mkdir(parents=True)
        request = {"journal": journal_token}
        request.update(config.to_dict() if hasattr(config, "ks") else {"config": config.to_dict()})
        (folder / "task.json").write_text(json.dumps(request))
        future = self.client.submit(run_task, str(folder), str(folder.parent.parent),
                                    self.data_dirs, key=key, pure=False, retries=0)  # fmt: skip
        fire_and_forget(future)
        return _TaskProcess(future), _ServerPipe(folder, future)

    def adopt(self) -> list[tuple[dict, _TaskProcess, _ServerPipe]]:
        """The tasks a former server started that the scheduler still runs or has finished
        unread: ``(request, process, pipe)`` each; folders of tasks it no longer knows are
        removed (their journal entries stay, offered as interrupted runs)."""
        from distributed import Future

        found = []
        for folder in sorted(self.root.glob("dsc-train-*")) if self.root.is_dir() else []:
            try:
                request = json.loads((folder / "task.json").read_text())
            except (OSError, ValueError):
                shutil.rmtree(folder, ignore_errors=True)
                continue
            future = Future(folder.name, client=self.client)
            pipe = _ServerPipe(folder, future)
            pipe._read()
            ended = any(_kind(line) not in ("event", "stage", None) for line in pipe.lines)
            if not ended and not self._known(folder.name):
                shutil.rmtree(folder, ignore_errors=True)
                continue
            found.append((request, _TaskProcess(future), pipe))
        return found

    def _known(self, key: str) -> bool:
        """Whether the scheduler still holds task ``key``."""
        keys = self.client.run_on_scheduler(_scheduler_keys)
        return key in keys

    def close(self) -> None:
        self.client.close()


def _scheduler_keys(dask_scheduler=None) -> list[str]:
    """The keys of the tasks a scheduler holds (run on the scheduler)."""
    return [str(k) for k in dask_scheduler.tasks]
