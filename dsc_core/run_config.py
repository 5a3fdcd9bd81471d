"""The settings of one run (:class:`RunConfig`), checked, with their JSON round trip: a leaf
that the pipeline, the run store and the dashboard all read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from dsc_core.errors import ConfigError, DataError

DEVICES = ("auto", "cpu", "cuda", "mps")
SCORE_SPACES = ("anomalies", "paper")
MAX_SEED = 2**32 - 100
"""Seeds go to NumPy and scikit-learn (0 … 2³²−1); a run also uses the next ones."""


def _methods() -> dict[str, str]:
    from dsc_core.baselines import METHODS

    return METHODS


def _presets() -> list[str]:
    from dsc_core.model import PRESETS

    return list(PRESETS)


@dataclass
class RunConfig:
    """Settings of one run.

    data: "sample" or a path (file, folder, glob). variables: names to use (None: all).
    start/end: inclusive "YYYY-MM-DD" (None: the data's whole period). months: the months
    to cluster, e.g. [12, 1, 2] (None: all; the CLI and :func:`dsc_core.data.calendar.
    parse_months` also take "DJF"); the seasonal cycle is removed using every day of the
    period first, and windows stop at the gaps between seasons. level: the vertical level to
    use when the data have several (e.g. 500 for 500 hPa). bbox: (lat_min,
    lat_max, lon_min, lon_max) in degrees (None: whole grid). clusters: K. method: a name of
    ``dsc_core.baselines.METHODS``. window: days the RNN reads (None: the estimator's
    default). deseasonalize: remove the smoothed seasonal cycle first. area_weighting: weight
    every cell by √cos(latitude) in what the methods see (distances, losses; see
    :class:`dsc_core.preprocess.Preprocessor`). score_space: what the paper's internal scores
    are computed on: "anomalies" (the fields the methods cluster: deseasonalised when
    deseasonalize) or "paper" (the raw fields, as the paper did). preset: model size of
    the deep methods. seed: random seed. device: "auto", "cpu", "cuda" or "mps".
    params: extra estimator keyword arguments (e.g. ``{"pretrain_epochs": 2}``).
    min_spell: spells shorter than this many days join a neighbouring regime
    (:func:`dsc_core.regimes.min_spell_filter`; 1: off); the statistics before the filter
    are kept in ``metrics["regimes_unfiltered"]``. Clusters are numbered from the most to
    the least frequent; ``metrics["cluster_order"]`` gives the model's id of each.
    surrogates: how many red-noise surrogates the method also clusters, to rank the run's
    clusters against regime-free data (:mod:`dsc_core.significance`; 0: no test; each costs
    one more fit). Every run is also checked against red noise with a fast method and beside
    its classical references (:mod:`dsc_core.trust`). check_stability: also fit the method
    (and the references) with seed + 1, to report seed agreement and warn when the run agrees
    with itself much less than a reference does. memory_budget: GB of preprocessed days kept
    in memory; a longer or larger selection is written once to a Zarr store in the scratch
    folder (``DSC_SCRATCH``, default the system's temporary folder), read from there in
    blocks, and removed after the run.
    """

    data: str = "sample"
    variables: list[str] | None = None
    start: str | None = None
    end: str | None = None
    months: list[int] | None = None
    level: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    clusters: int = 4
    method: str = "dsc"
    window: int | None = None
    deseasonalize: bool = True
    area_weighting: bool = True
    score_space: str = "anomalies"
    preset: str = "default"
    seed: int = 0
    device: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)
    min_spell: int = 1
    check_stability: bool = False
    surrogates: int = 0
    memory_budget: float = 0.25

    def to_dict(self) -> dict:
        """JSON-able dict of the settings."""
        d = asdict(self)
        d["bbox"] = list(self.bbox) if self.bbox is not None else None
        d["data"] = str(self.data)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a ConfigError."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown run settings {sorted(unknown)}: remove them")
        d = dict(d)
        if d.get("bbox") is not None:
            d["bbox"] = tuple(float(v) for v in d["bbox"])
        return cls(**d)

    def validate(self, n_days: int | None = None) -> RunConfig:
        """Raise ConfigError (DataError for K > n_days or bad months) on a bad setting;
        return self (months normalised to a list of ints)."""
        from dsc_core.data.calendar import parse_months
        from dsc_core.days import check_window

        self.months = parse_months(self.months)
        if not isinstance(self.clusters, int | np.integer) or self.clusters < 2:
            raise ConfigError(f"clusters must be an integer >= 2, got {self.clusters!r}")
        if n_days is not None and self.clusters > n_days:
            raise DataError(
                f"fewer days than clusters ({n_days} < {self.clusters}): "
                "select a longer period or fewer clusters"
            )
        self._check_names()
        if self.window is not None:
            check_window(self.window)
        # seed + 1 and one seed per surrogate are used too: keep them within NumPy's range
        if not isinstance(self.seed, int | np.integer) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed!r}")
        if not isinstance(self.min_spell, int | np.integer) or self.min_spell < 1:
            raise ConfigError(f"min_spell must be an integer >= 1 (days), got {self.min_spell!r}")
        if not self.memory_budget > 0:
            raise ConfigError(
                f"memory_budget must be a positive number of GB, got {self.memory_budget!r}"
            )
        if not isinstance(self.surrogates, int | np.integer) or self.surrogates < 0:
            raise ConfigError(f"surrogates must be an integer >= 0, got {self.surrogates!r}")
        if self.score_space not in SCORE_SPACES:
            raise ConfigError(
                f"unknown score space {self.score_space!r}: choose one of {', '.join(SCORE_SPACES)}"
            )
        self._check_period()
        return self

    def _check_names(self) -> None:
        """ConfigError unless the method, preset and device are known ones."""
        methods = _methods()
        if self.method not in methods:
            raise ConfigError(f"unknown method {self.method!r}: choose one of {', '.join(methods)}")
        presets = _presets()
        if self.preset not in presets:
            raise ConfigError(f"unknown preset {self.preset!r}: choose one of {', '.join(presets)}")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"unknown device {self.device!r}: choose one of {', '.join(DEVICES)}")

    def _check_period(self) -> None:
        """ConfigError unless start and end are dates (or None) and bbox has four bounds."""
        for name in ("start", "end"):
            value = getattr(self, name)
            try:
                ok = value is None or bool(np.datetime64(str(value), "D"))
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"{name} {value!r} is not a date: use YYYY-MM-DD")
        if self.bbox is not None and len(self.bbox) != 4:
            raise ConfigError("bbox must be (lat_min, lat_max, lon_min, lon_max)")
