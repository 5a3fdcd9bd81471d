"""What the sessions of this server process share: the I/O threads that read files off the
event loop, ``describe()`` of data sources, and recently loaded runs."""

from __future__ import annotations

import functools
import os
import threading
from concurrent import futures

from dashboard.config import SAMPLE


@functools.cache
def io_pool() -> futures.ThreadPoolExecutor:
    """The threads that read files for the sessions of this process (describe, stored runs)."""
    return futures.ThreadPoolExecutor(2, thread_name_prefix="dsc-io")


def describe_cached(source: str) -> dict:
    """``dsc_core.data.describe(source)``, remembered per source and modification time (the
    sample's description never changes), so that a new session does not rebuild the sample."""
    stamp = 0.0 if source == SAMPLE else os.stat(source).st_mtime
    return _describe(source, stamp)


@functools.lru_cache(maxsize=64)
def _describe(source: str, stamp: float) -> dict:
    from dsc_core.data import describe

    return describe(source)


_RUNS: dict[tuple, object] = {}
_RUNS_LOCK = threading.Lock()
RUN_CACHE_SIZE = 4


def load_run_cached(store, name: str):
    """``store.load(name)``, shared by the sessions of this process: a run directory does not
    change once written (a rewrite changes its config.json's time, and so the cache key)."""
    config = store.root / name / "config.json"
    key = (str(store.root), name, config.stat().st_mtime_ns if config.exists() else 0)
    with _RUNS_LOCK:
        if key in _RUNS:
            return _RUNS[key]
    run = store.load(name)
    with _RUNS_LOCK:
        _RUNS[key] = run
        while len(_RUNS) > RUN_CACHE_SIZE:
            _RUNS.pop(next(iter(_RUNS)))
    return run


def result_when_done(future: futures.Future, timeout: float | None):
    """``future``'s result once done (waiting up to ``timeout`` s; None: until done), else
    None; its exception is raised."""
    done, _ = futures.wait([future], timeout)
    return future.result() if done else None
