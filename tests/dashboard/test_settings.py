"""The page's settings hold a whole RunConfig: what the page shows and what it does not."""

import dataclasses

from dashboard import jobs
from dashboard.settings import Settings
from dsc_core.run_config import RunConfig


def test_every_run_setting_survives_the_page(server_config):
    """An interrupted run's settings, none at the page's default, come back from the page as
    they were: the page drops no RunConfig field, shown or not (score_space, memory_budget,
    device)."""
    run = RunConfig(
        variables=["sst", "u10"], start="2021-02-01", end="2021-11-30", months=[6, 7, 8],
        bbox=(36.0, 40.0, -30.0, -26.0), clusters=5, method="kmeans", window=3,
        deseasonalize=False, area_weighting=False, score_space="paper", preset="fast", seed=7,
        device="cpu", params={"n_init": 3}, min_spell=2, check_stability=False, surrogates=3,
        memory_budget=0.5,
    )  # fmt: skip
    defaults = RunConfig()
    same = [f.name for f in dataclasses.fields(RunConfig)
            if getattr(run, f.name) == getattr(defaults, f.name)]  # fmt: skip
    assert set(same) == {"data", "level", "check_stability"}  # the page's default: True
    s = Settings(sources=server_config.sources(), server=server_config)
    s.set_engine_options(jobs.engine_options())
    s.apply(run.to_dict())
    s.poll(None)
    assert s.to_config() == run


def test_a_fresh_page_trains_the_engine_defaults_and_checks_a_second_seed(server_config):
    s = Settings(sources=server_config.sources(), server=server_config)
    s.poll(None)
    config = s.to_config()
    assert config.check_stability
    config.check_stability = False
    assert config == RunConfig(variables=config.variables, start="2021-01-01", end="2021-12-31")
