"""Server settings from the environment, and the data sources the page may read.

Environment variables (read once per process; the README's "Server settings" lists them):

- ``DSC_DATA_DIRS``: directories the page may read data from, separated by ``os.pathsep``
  (default ``./data``); the built-in sample is always offered.
- ``DSC_RUN_STORE``: the run store's root directory (default ``./runs``).
- ``DSC_MAX_JOBS``: trainings that run at the same time; more wait in a queue (default 2).
- ``DSC_QUEUE_LENGTH``: trainings that may wait; a full queue refuses new ones (default 8).
- ``DSC_JOBS_PER_SESSION``: trainings one browser session may have queued or running (default 1).
- ``DSC_PRESETS``: model presets the page offers, comma-separated (default ``fast,default``;
  add ``paper`` to offer the paper's network, ~100 s per epoch on a laptop CPU).
- ``DSC_MAX_VALUES``: the most days × grid cells × variables one run may read (default
  20 000 000, about 2 GB of memory at :data:`BYTES_PER_VALUE`).
- ``DSC_MEASURE_K_MINUTES``: the longest one Measure K may run; it keeps the K's measured in
  full by then (default 10).
- ``DSC_EXPORT_MAX_MB``: the largest run folder the page offers as a zip (default 200).
- ``DSC_AUTOSTART``: ``1`` (default) to start a first run on the sample when a session opens
  on an empty run store; ``0`` to wait for the Train button.
- ``DSC_SCHEDULER``: address of a ``dask.distributed`` scheduler (e.g. ``tcp://host:8786``)
  to run the trainings on, as fire-and-forget tasks that outlive a server restart (the
  workers must see the run store); unset (default): each training runs in a process of this
  server's own.
- ``DSC_READ_ONLY``: ``1`` for a read-only gallery: the page browses the stored runs, with
  their reports and exports, but offers no training, Measure K, Assign or data folders, and
  the server refuses those actions whatever a client sends (default ``0``).
- ``DSC_DEFAULT_RUN``: JSON object of ``RunConfig`` fields that pre-fill the page's settings
  (and the first automatic run), e.g. ``{"start": "2021-01-01", "end": "2021-03-01"}``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsc_core.data.io import inside
from dsc_core.errors import ConfigError, DataError

SAMPLE = "sample"
DATA_SUFFIXES = (".nc", ".nc4", ".netcdf", ".grib", ".grib2", ".grb", ".grb2", ".zarr", ".zip")
BYTES_PER_VALUE = 100
"""Memory a run needs per value read, roughly: the loaded fields, the preprocessed and padded
array, the anomalies kept for the maps, float64 features and the network's copies (measured on
the sample: ~80 bytes for k-means, ~95 for DSC "fast", beyond a fixed ~0.5 GB)."""
WARD_BYTES_PER_DAY_PAIR = 9
"""Peak memory of Ward's clustering per (day, day) pair: scikit-learn keeps the condensed
distances of all pairs (measured: 8 bytes × days², 8000 days)."""

PAGE_RANGES = {"clusters": (2, 20), "seed": (0, None), "min_spell": (1, 30), "surrogates": (0, 50)}
PAGE_WINDOWS = (0, 1, 3, 5, 7, 9, 11)
"""What the page lets a user set (its widgets' ranges; window 0: the preset's own). The server
holds settings it did not make itself (DSC_DEFAULT_RUN, a journal entry) to the same."""


@dataclass(frozen=True)
class ServerConfig:
    """What this server may read and write, and how much work it takes on."""

    data_dirs: tuple[Path, ...] = (Path("data"),)
    run_store: Path = Path("runs")
    max_jobs: int = 2
    queue_length: int = 8
    jobs_per_session: int = 1
    presets: tuple[str, ...] = ("fast", "default")
    max_values: int = 20_000_000
    export_max_mb: int = 200
    measure_k_minutes: int = 10
    autostart: bool = True
    listing_limit: int = 200
    default_run: dict = field(default_factory=dict)
    scheduler: str | None = None
    read_only: bool = False

    @classmethod
    def from_env(cls, env: dict | None = None) -> ServerConfig:
        """Settings from ``env`` (default ``os.environ``); ConfigError on a malformed one."""
        env = os.environ if env is None else env
        dirs = [d for d in env.get("DSC_DATA_DIRS", "data").split(os.pathsep) if d.strip()]
        try:
            default_run = json.loads(env.get("DSC_DEFAULT_RUN", "") or "{}")
        except ValueError as err:
            raise ConfigError(
                f"DSC_DEFAULT_RUN is not valid JSON ({err}): fix the variable"
            ) from err
        if not isinstance(default_run, dict):
            raise ConfigError("DSC_DEFAULT_RUN must be a JSON object of run settings")
        check_run_settings(default_run, "DSC_DEFAULT_RUN")
        presets = tuple(p.strip() for p in env.get("DSC_PRESETS", "fast,default").split(","))
        if not any(presets):
            raise ConfigError("DSC_PRESETS names no preset: list some, e.g. fast,default")
        return cls(
            default_run=default_run,
            data_dirs=tuple(Path(d).expanduser().resolve() for d in dirs),
            run_store=Path(env.get("DSC_RUN_STORE", "runs")).expanduser().resolve(),
            max_jobs=_count(env, "DSC_MAX_JOBS", 2),
            queue_length=_count(env, "DSC_QUEUE_LENGTH", 8, minimum=0),
            jobs_per_session=_count(env, "DSC_JOBS_PER_SESSION", 1),
            presets=tuple(p for p in presets if p),
            max_values=_count(env, "DSC_MAX_VALUES", 20_000_000),
            export_max_mb=_count(env, "DSC_EXPORT_MAX_MB", 200, minimum=0),
            measure_k_minutes=_count(env, "DSC_MEASURE_K_MINUTES", 10),
            autostart=_flag(env, "DSC_AUTOSTART", True),
            scheduler=env.get("DSC_SCHEDULER", "").strip() or None,
            read_only=_flag(env, "DSC_READ_ONLY", False),
        )

    def sources(self) -> dict[str, str]:
        """Label shown in the page → source passed to the loader.

        The built-in sample first, then every data file, Zarr store and sub-folder found (two
        levels deep) in the allowed directories; symlinks that lead outside them are left out.
        The page only ever picks from this mapping, so no path typed in a browser reaches the
        loader, and the browser sees the labels only. A read-only gallery lists no folder.
        """
        out = {"Built-in sample (SYNTHETIC)": SAMPLE}
        for root in () if self.read_only else self.data_dirs:
            if not root.is_dir():
                continue
            found = (p for p in _candidates(root, depth=2) if inside(p, self.data_dirs))
            for path in sorted(found)[: self.listing_limit]:
                out[f"{root.name}/{path.relative_to(root).as_posix()}"] = str(path)
        return out

    def check_replay(self, settings: Any) -> None:
        """ConfigError when the settings of an interrupted run (read back from the run store's
        journal, which a page must not trust) are not what this page could have started: a
        run's and the page's ranges, a window and preset the page offers, and no engine
        settings beyond the server's own (DSC_DEFAULT_RUN)."""
        what = "the interrupted run's settings"
        if not isinstance(settings, dict):
            raise ConfigError(f"{what} are not a table of settings: dismiss it")
        check_run_settings(settings, what)
        window = settings.get("window") or 0
        if window not in PAGE_WINDOWS:
            raise ConfigError(f"{what}: window {window} is not one the page offers: dismiss it")
        if settings.get("preset", "default") not in self.presets:
            raise ConfigError(f"{what}: preset {settings.get('preset')!r} is not offered here")
        if (settings.get("params") or {}) != (self.default_run.get("params") or {}):
            raise ConfigError(f"{what}: engine settings the page cannot set: dismiss it")

    def check_writable(self, action: str) -> None:
        """ConfigError naming ``action`` when this server is a read-only gallery."""
        if self.read_only:
            raise ConfigError(
                f"this server is a read-only gallery of stored runs: {action} is off here "
                "(DSC_READ_ONLY); run DSC Explorer yourself to train"
            )

    def check_source(self, source: str) -> str:
        """``source`` if it is the sample or lies inside an allowed directory, else DataError."""
        if source == SAMPLE:
            return source
        if inside(Path(source), self.data_dirs):
            return source
        raise DataError(
            f"{self.label(source)} is outside the data folders this server may read; pick a "
            "source from the list (DSC_DATA_DIRS sets the folders)"
        )

    def check_size(self, days: int, cells: int, variables: int, method: str = "dsc") -> None:
        """ConfigError when a run of that size exceeds ``max_values`` (DSC_MAX_VALUES), or when
        ``method`` is Ward's, whose memory grows with the square of the days, beyond the
        memory that many values would take."""
        values = days * cells * variables
        if values > self.max_values:
            raise ConfigError(
                f"this run would read {days} days × {cells} grid cells × {variables} "
                f"variables = {values / 1e6:.1f} million values (about "
                f"{values * BYTES_PER_VALUE / 1e9:.1f} GB of memory), over this server's limit "
                f"of {self.max_values / 1e6:g} million (DSC_MAX_VALUES): pick fewer days, a "
                "smaller box or fewer variables"
            )
        ward = WARD_BYTES_PER_DAY_PAIR * days**2
        if method == "agglomerative" and ward > self.max_values * BYTES_PER_VALUE:
            raise ConfigError(
                f"Ward's clustering of {days} days needs about {ward / 1e9:.1f} GB of memory "
                f"(it grows with the square of the days), over this server's limit of "
                f"{self.max_values * BYTES_PER_VALUE / 1e9:.1f} GB (DSC_MAX_VALUES): pick fewer "
                "days or another method"
            )

    def label(self, text: str) -> str:
        """``text`` with the server's folders (data folders, run store) named as the page
        names them, by their last part: the browser never sees an absolute server path."""
        for folder in sorted((*self.data_dirs, self.run_store), key=lambda p: -len(str(p))):
            text = text.replace(str(folder), folder.name)
        return text


def check_run_settings(settings: dict, what: str) -> None:
    """ConfigError starting with ``what`` when ``settings`` are not a valid run's: unknown
    keys, values a run refuses (K, seed, dates, months ...) or values outside the page's own
    ranges."""
    from dsc_core.run_config import RunConfig

    try:
        RunConfig.from_dict(settings).validate()
    except (ConfigError, DataError, TypeError, ValueError) as err:
        raise ConfigError(f"{what}: {err}") from err
    for name, value in settings.items():  # the page's own limits
        if name not in PAGE_RANGES or not isinstance(value, int | float):
            continue
        low, high = PAGE_RANGES[name]
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(
                f"{what}: {name}={value} is outside the page's range "
                f"{low}..{'' if high is None else high}: fix the variable"
            )


def _flag(env, name: str, default: bool) -> bool:
    """Whether ``env[name]`` says yes (1/true/yes) or no (0/false/no); ConfigError otherwise."""
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return text in ("1", "true", "yes", "on")
    raise ConfigError(f"{name} must be 1 or 0, got {text!r}: fix it")


def _count(env, name: str, default: int, minimum: int = 1) -> int:
    """The whole number in ``env[name]`` (``default`` when unset); ConfigError otherwise."""
    text = env.get(name, "").strip()
    try:
        value = int(text) if text else default
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {text!r}: fix it")
    return value


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
