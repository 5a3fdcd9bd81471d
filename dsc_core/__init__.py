"""DSC Explorer's engine: Deep Spatiotemporal Clustering of gridded climate data.

The public names are imported lazily, so that ``import dsc_core`` stays cheap (the dashboard
imports it at page load; torch is only imported when a model is built).
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "load": "dsc_core.data",
    "describe": "dsc_core.data",
    "sample": "dsc_core.data",
    "Preprocessor": "dsc_core.preprocess",
    "Regimes": "dsc_core.regime_model",
    "DSC": "dsc_core.estimator",
    "make_estimator": "dsc_core.baselines",
    "METHODS": "dsc_core.baselines",
    "RunConfig": "dsc_core.run_config",
    "run": "dsc_core.pipeline",
    "Run": "dsc_core.runs",
    "RunStore": "dsc_core.runs",
    "DSCError": "dsc_core.errors",
    "DataError": "dsc_core.errors",
    "ConfigError": "dsc_core.errors",
    "Cancelled": "dsc_core.errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'dsc_core' has no attribute {name!r}")
