"""Server settings from the environment, and the data sources the page may read.

Environment variables (read once per process):

- ``DSC_DATA_DIRS``: directories the page may read data from, separated by ``os.pathsep``
  (default ``./data``); the built-in sample is always offered.
- ``DSC_RUN_STORE``: the run store's root directory (default ``./runs``).
- ``DSC_MAX_JOBS``: trainings that run at the same time; more wait in a queue (default 2).
- ``DSC_AUTOSTART``: ``1`` (default) to start a first run on the sample when a session opens
  on an empty run store; ``0`` to wait for the Train button.
- ``DSC_DEFAULT_RUN``: JSON object of ``RunConfig`` fields that pre-fill the page's settings
  (and the first automatic run), e.g. ``{"start": "2021-01-01", "end": "2021-03-01"}``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from dsc_core.errors import ConfigError, DataError

SAMPLE = "sample"
DATA_SUFFIXES = (".nc", ".nc4", ".netcdf", ".grib", ".grib2", ".grb", ".grb2", ".zarr", ".zip")


@dataclass(frozen=True)
class ServerConfig:
    """What this server may read and write."""

    data_dirs: tuple[Path, ...] = (Path("data"),)
    run_store: Path = Path("runs")
    max_jobs: int = 2
    autostart: bool = True
    listing_limit: int = 200
    default_run: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict | None = None) -> ServerConfig:
        """Settings from ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        dirs = [d for d in env.get("DSC_DATA_DIRS", "data").split(os.pathsep) if d.strip()]
        try:
            max_jobs = max(1, int(env.get("DSC_MAX_JOBS", "2")))
        except ValueError:
            max_jobs = 2
        try:
            default_run = json.loads(env.get("DSC_DEFAULT_RUN", "") or "{}")
        except ValueError as err:
            raise ConfigError(
                f"DSC_DEFAULT_RUN is not valid JSON ({err}): fix the variable"
            ) from err
        if not isinstance(default_run, dict):
            raise ConfigError("DSC_DEFAULT_RUN must be a JSON object of run settings")
        return cls(
            default_run=default_run,
            data_dirs=tuple(Path(d).expanduser().resolve() for d in dirs),
            run_store=Path(env.get("DSC_RUN_STORE", "runs")).expanduser().resolve(),
            max_jobs=max_jobs,
            autostart=env.get("DSC_AUTOSTART", "1").strip().lower() not in ("0", "false", "no"),
        )

    def sources(self) -> dict[str, str]:
        """Label shown in the page → source passed to the loader.

        The built-in sample first, then every data file, Zarr store and sub-folder found (two
        levels deep) in the allowed directories. The page only ever picks from this mapping, so
        no path typed in a browser reaches the loader.
        """
        out = {"Built-in sample (SYNTHETIC)": SAMPLE}
        for root in self.data_dirs:
            if not root.is_dir():
                continue
            for path in sorted(_candidates(root, depth=2))[: self.listing_limit]:
                out[f"{root.name}/{path.relative_to(root).as_posix()}"] = str(path)
        return out

    def check_source(self, source: str) -> str:
        """``source`` if it is the sample or lies inside an allowed directory, else DataError."""
        if source == SAMPLE:
            return source
        real = Path(source).resolve()
        for root in self.data_dirs:
            if real == root or root in real.parents:
                return str(real)
        raise DataError(
            f"{source} is outside the allowed data directories; put it under one of "
            f"{', '.join(str(d) for d in self.data_dirs)} (DSC_DATA_DIRS)"
        )


def _candidates(root: Path, depth: int):
    """Data files and Zarr stores under ``root``, and the folders that directly hold some."""
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    data = [p for p in entries if p.suffix.lower() in DATA_SUFFIXES]
    if data and depth < 2:
        yield root
    yield from data
    if depth > 0:
        for sub in entries:
            if sub.is_dir() and not sub.is_symlink() and sub not in data:
                yield from _candidates(sub, depth - 1)
