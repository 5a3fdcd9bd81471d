"""Fixtures for the dashboard's unit tests: a tiny trained run in a temporary run store."""

from __future__ import annotations

import pytest

TINY = dict(
    data="sample",
    variables=["sst", "t2m", "u10"],
    start="2021-01-01",
    end="2021-03-01",
    bbox=(36.0, 40.0, -30.0, -26.0),
    clusters=3,
    method="dsc",
    preset="fast",
    seed=0,
    params={"pretrain_epochs": 2, "max_epochs": 2},
)


def tiny_config(**changes):
    """A RunConfig that trains in seconds (60 days, 3 variables, 17 x 17 grid, 2+2 epochs)."""
    from dsc_core.pipeline import RunConfig

    return RunConfig(**{**TINY, **changes})


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    from dsc_core.runs import RunStore

    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def tiny_run(store):
    """One trained and saved tiny DSC run (with a path, as the dashboard sees runs)."""
    from dsc_core.pipeline import run

    result = run(tiny_config())
    store.save(result)
    return result


@pytest.fixture(scope="session")
def server_config(tmp_path_factory, store):
    from dashboard.config import ServerConfig

    data = tmp_path_factory.mktemp("data")
    return ServerConfig(data_dirs=(data,), run_store=store.root, max_jobs=2, autostart=False)
