"""Features of days ``(day, variable, y, x)`` for the classical methods and the checks on
the input: the valid cells flattened, and their leading principal components."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA


def flatten_valid(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(day, variable, y, x)`` → ``(day, variable·valid cells)`` float64."""
    return X[:, :, mask].reshape(len(X), -1).astype(np.float64)


def component_count(wanted: int, n_days: int, n_features: int) -> int:
    """Principal components to keep: ``wanted``, at most the days − 1 and the features."""
    return min(wanted, n_days - 1, n_features)


def valid_cells_pca(
    X: np.ndarray, mask: np.ndarray, n_components: int, seed: int | None
) -> tuple[PCA, np.ndarray]:
    """``(pca, flat)``: the flattened valid cells of days ``X`` (:func:`flatten_valid`,
    ``mask`` (y, x)) and a seeded PCA of at most ``n_components`` (:func:`component_count`)
    for them, to fit."""
    flat = flatten_valid(X, mask)
    return PCA(component_count(n_components, *flat.shape), random_state=seed), flat
