"""The README's Python code runs as written, on small files with the names it uses."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDS_A_BATCH_SCHEDULER = "dask_jobqueue"
"""Blocks that start workers through SLURM or PBS: shown, not run here."""


def python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def write_the_files_it_reads(folder: Path) -> None:
    """Small stand-ins of the README's files: two winters (CF names), the winter after,
    a year of surface fields; a 9 × 9 box of the built-in sample."""
    import dsc_core

    box = {"latitude": slice(38.0, 40.0), "longitude": slice(-30.0, -28.0)}
    years = dsc_core.sample(start="2020-12-01", end="2022-02-28").sel(box)
    winters = years.sel(time=years["time.season"] == "DJF")[["t2m", "sp", "u10"]]
    cf = {"time": "valid_time", "latitude": "lat", "longitude": "lon"}
    winters.rename(cf).to_netcdf(folder / "z500_djf.nc")
    later = dsc_core.sample(start="2023-12-01", end="2024-02-29").sel(box)
    later[["t2m", "sp", "u10"]].rename(cf).to_netcdf(folder / "z500_djf_2024.nc")
    years.sel(time=years["time.year"] == 2021).to_netcdf(folder / "era5_2021.nc")


def test_the_readme_s_python_runs(tmp_path, monkeypatch):
    from dsc_core import model

    blocks = [b for b in python_blocks() if NEEDS_A_BATCH_SCHEDULER not in b]
    assert len(blocks) >= 1 and any("dsc_core.Regimes" in b for b in blocks)
    write_the_files_it_reads(tmp_path)
    monkeypatch.chdir(tmp_path)
    # the default network at the size of the tests' (the code is what is checked here)
    small = replace(model.PRESETS["fast"], pretrain_epochs=1, max_epochs=1)
    monkeypatch.setitem(model.PRESETS, "default", small)
    for block in blocks:
        try:
            exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
        except Exception as err:  # the block's own text in the failure
            pytest.fail(f"a README block fails ({type(err).__name__}: {err}):\n{block}")
