"""A server whose environment is wrong refuses to start, with one line that names it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.ui.browser import ROOT, free_port


@pytest.mark.parametrize(
    ("env", "named"),
    [
        # every malformed variable raises as DSC_DEFAULT_RUN does (test_state.py): one of them
        ({"DSC_DEFAULT_RUN": '{"clusterz": 3}'}, "clusterz"),
        ({"DSC_SCHEDULER": "tls://127.0.0.1:9"}, "DSC_SCHEDULER"),
    ],
)
def test_a_bad_environment_stops_the_start_with_one_line(env, named, tmp_path):
    port = str(free_port())
    cmd = [sys.executable, "-m", "panel", "serve", "dashboard/app.py", "--warm",
           "--address", "127.0.0.1", "--port", port]  # fmt: skip
    env = {**os.environ, "DSC_RUN_STORE": str(tmp_path / "runs"), **env}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and named in errors[0], done.stderr[-2000:]
