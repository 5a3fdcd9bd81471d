"""Exceptions with one-line messages that name the problem and the fix.

Every failure a user can cause raises a subclass of :class:`DSCError`; the CLI prints
``error: <message>`` without a traceback and exits with status 2, the dashboard shows the
message in the page.
"""


class DSCError(Exception):
    """Base class: a problem the user can fix; ``str(err)`` is one line."""


class DataError(DSCError, ValueError):
    """The input data cannot be used (missing file, wrong format, bad selection, ...)."""


class ConfigError(DSCError, ValueError):
    """An argument or setting is invalid (unknown method, K < 2, ...)."""


class DependencyError(DSCError, ImportError):
    """An optional package needed for this request is not installed."""


class RetrievalError(DSCError, RuntimeError):
    """Downloading data failed (no credentials, no network, request refused)."""


class Cancelled(DSCError):
    """Training was cancelled by a callback; the estimator is left unfitted."""


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message (at most 200 characters), or its type's name."""
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
