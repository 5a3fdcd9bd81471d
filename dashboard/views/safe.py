"""Untrusted text in Markdown and HTML panes: file, variable and run names, attributes and
error messages are shown as written, never read as markup (no script from a file name)."""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


def text(value: object) -> str:
    """``value`` on one line, escaped for Markdown and HTML: it renders as the text itself."""
    line = " ".join(str(value).split())
    return html.escape(_MARKDOWN.sub(r"\\\1", line))
