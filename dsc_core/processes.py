"""Processes of this host: whether one still runs (what a killed one left can then go)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether the process ``pid`` of this host runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
