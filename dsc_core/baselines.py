"""Every clustering method behind one interface, by name.

``make_estimator(method, n_clusters, random_state=None, **params)`` returns an object with
``fit(X, y=None, mask=None, time=None)``, ``predict(X, time=None)``, ``fit_predict(X, y=None,
mask=None, time=None)``, ``transform(X, time=None)`` (the features the method clusters, ``(day,
feature)``), ``soft_assignments(X, time=None)`` ``(day, K)`` and, once fitted, ``labels_``;
``time`` (the days' dates) matters to the windowed deep methods only. ``X`` is the
Preprocessor's float32 ``(day, variable, y, x)``, ``mask`` its bool ``(y, x)``.

Soft assignments: Student's-t q for the deep methods; GMM posterior probabilities for
"pca-gmm"; for the centroid methods ("kmeans", "agglomerative", "pca-kmeans") a softmax of
−d²/T over the squared distances d² to the cluster means, T = the mean squared distance of the
training days to their own cluster mean (a scale-free temperature).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.mixture import GaussianMixture

from dsc_core.blocks import array_blocks
from dsc_core.days import on_disk
from dsc_core.errors import ConfigError, DataError
from dsc_core.estimator import DSC, VARIANTS, check_input, check_no_mask_as_y, check_on_disk
from dsc_core.features import component_count, flatten_valid, valid_cells_pca
from dsc_core.model import (
    DenseAutoencoder,
    Preset,
    TemporalAutoencoder,
    get_preset,
    training_settings,
)

METHODS: dict[str, str] = {
    "dsc": "Deep Spatiotemporal Clustering: CNN-RNN autoencoder + Student's-t layer, joint",
    "cnn-encoder": "CNN encoder only (no decoder, no RNN), trained on the clustering loss",
    "cnn-ae": "CNN autoencoder (no RNN), then k-means on its latent vectors",
    "cnn-rnn-encoder": "CNN-RNN encoder only (no decoder), trained on the clustering loss",
    "cnn-rnn-ae": "CNN-RNN autoencoder, then k-means on its latent vectors",
    "kmeans": "k-means on the flattened valid cells of every variable",
    "agglomerative": "Ward agglomerative clustering on the flattened valid cells",
    "pca-kmeans": "EOF/PCA (15 components) + k-means, the classical weather-regime method",
    "pca-gmm": "PCA (20 components) + Gaussian mixture with full covariances",
    "dec": "DEC: dense autoencoder 500-500-2000-10 (150 with the paper preset), then KL(P||Q)",
    "dtc": "DTC: temporal conv + BiLSTM autoencoder over 7-day windows, joint KL clustering",
}


KINDS = ("kmeans", "agglomerative", "gmm")


class FeatureClusterer(ClusterMixin, BaseEstimator):
    """A scikit-learn clusterer on flattened valid cells, optionally after PCA.

    ``kind`` is one of :data:`KINDS`; ``n_components`` > 0 inserts a PCA.
    New days are assigned to the nearest cluster mean (GMM: highest posterior).
    """

    def __init__(
        self,
        kind: str,
        n_clusters: int,
        n_components: int = 0,
        random_state: int | None = None,
        n_init: int = 10,
    ) -> None:
        self.kind = kind
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.random_state = random_state
        self.n_init = n_init

    def transform(self, X: np.ndarray, time: Any = None) -> np.ndarray:
        """Features ``(day, feature)``: flattened valid cells, or their PCA scores (single
        days: ``time`` is not used). Days on disk (:mod:`dsc_core.days`) are read in blocks."""
        if on_disk(X):
            check_on_disk(X, self.mask_)
            parts = [self._features(flatten_valid(b, self.mask_)) for b in array_blocks(X)]
            return np.concatenate(parts)
        X, _ = check_input(X, self.mask_)
        return self._features(flatten_valid(X, self.mask_))

    def _features(self, flat: np.ndarray) -> np.ndarray:
        if self.pca_ is None:
            return flat
        return self.pca_.transform(flat).astype(flat.dtype, copy=False)

    def _fit_features(self, X: Any, mask: np.ndarray) -> np.ndarray:
        """The features of days ``X`` fitted on: in memory, the flattened valid cells (and a
        PCA of them); on disk, an incremental PCA fitted block by block (without PCA, the
        flattened cells in float32, which must fit in memory)."""
        if not on_disk(X):
            if not self.n_components:
                return flatten_valid(X, mask)
            self.pca_, flat = valid_cells_pca(X, mask, self.n_components, self.random_state)
            return self.pca_.fit(flat).transform(flat)
        if not self.n_components:
            return np.concatenate(
                [flatten_valid(b, mask).astype(np.float32) for b in array_blocks(X)]
            )
        n = component_count(self.n_components, X.shape[0], int(mask.sum()) * X.shape[1])
        self.pca_ = IncrementalPCA(n)
        for block in array_blocks(X, at_least=n):
            self.pca_.partial_fit(flatten_valid(block, mask))
        return np.concatenate([self._features(flatten_valid(b, mask)) for b in array_blocks(X)])

    def fit(
        self, X: np.ndarray, y: Any = None, mask: np.ndarray | None = None, time: Any = None
    ) -> FeatureClusterer:
        """Cluster the days of ``X`` ``(day, variable, y, x)`` (``y`` and ``time`` are not
        used)."""
        check_no_mask_as_y(y)
        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 2:
            raise ConfigError(f"n_clusters must be an integer ≥ 2, got {self.n_clusters!r}")
        if self.kind not in KINDS:
            raise ConfigError(f"unknown kind {self.kind!r}: choose one of {', '.join(KINDS)}")
        if not on_disk(X):
            X, mask = check_input(X, mask)
        else:
            mask = check_on_disk(X, mask)
        if self.n_clusters > X.shape[0]:
            raise ConfigError(
                f"n_clusters={self.n_clusters} exceeds the {X.shape[0]} days: choose fewer clusters"
            )
        self.mask_ = mask
        self.pca_ = None
        flat = self._fit_features(X, mask)
        if self.kind == "gmm":
            self.model_ = GaussianMixture(
                self.n_clusters,
                covariance_type="full",
                n_init=self.n_init,
                reg_covar=1e-4,
                random_state=self.random_state,
            ).fit(flat)
            self.labels_ = self.model_.predict(flat).astype(np.int64)
            self.cluster_centers_ = self.model_.means_
            return self
        if self.kind == "kmeans":
            est = KMeans(
                self.n_clusters, n_init=self.n_init, random_state=self.random_state, copy_x=False
            )  # centres our own copy in place: no second copy
            labels = est.fit_predict(flat)
        else:
            labels = AgglomerativeClustering(self.n_clusters, linkage="ward").fit_predict(flat)
        self.labels_ = labels.astype(np.int64)
        self.cluster_centers_ = np.stack(
            [flat[self.labels_ == k].mean(0) for k in range(self.n_clusters)]
        )
        d2 = self._distances(flat)
        self.temperature_ = float(d2[np.arange(len(flat)), self.labels_].mean()) or 1.0
        return self

    def _distances(self, feats: np.ndarray) -> np.ndarray:
        """Squared distances ``(day, K)`` to the cluster means, one cluster at a time."""
        return np.stack([((feats - c) ** 2).sum(1) for c in self.cluster_centers_], axis=1)

    def soft_assignments(self, X: np.ndarray, time: Any = None) -> np.ndarray:
        """``(day, K)``: GMM posteriors, or softmax(−d²/T) to the cluster means (module doc)."""
        feats = self.transform(X)
        if self.kind == "gmm":
            return self.model_.predict_proba(feats)
        logits = -self._distances(feats) / self.temperature_
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    def predict(self, X: np.ndarray, time: Any = None) -> np.ndarray:
        """Cluster ``(day,)`` of each day: nearest cluster mean (GMM: highest posterior)."""
        feats = self.transform(X)
        if self.kind == "gmm":
            return self.model_.predict(feats).astype(np.int64)
        return self._distances(feats).argmin(1).astype(np.int64)

    def fit_predict(
        self, X: np.ndarray, y: Any = None, mask: np.ndarray | None = None, time: Any = None
    ) -> np.ndarray:
        """Fit, then return ``labels_`` ``(day,)``."""
        return self.fit(X, mask=mask).labels_

    _PCA_ARRAYS = ("components_", "mean_", "explained_variance_")
    _GMM_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_")

    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` (parameters) and ``arrays.npz`` (the fitted arrays): no pickle."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"mask_": self.mask_, "labels_": self.labels_}
        arrays["cluster_centers_"] = self.cluster_centers_
        if self.kind != "gmm":
            arrays["temperature_"] = np.asarray(self.temperature_)
        else:
            arrays |= {f"gmm.{a}": getattr(self.model_, a) for a in self._GMM_ARRAYS}
        if self.pca_ is not None:
            arrays |= {f"pca.{a}": getattr(self.pca_, a) for a in self._PCA_ARRAYS}
        np.savez(path / "arrays.npz", **arrays)
        config = {"estimator": type(self).__name__, "params": self.get_params()}
        (path / "config.json").write_text(json.dumps(config, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeatureClusterer:
        """Restore what :meth:`save` wrote; predictions are identical."""
        path = Path(path)
        if not (path / "config.json").is_file() or not (path / "arrays.npz").is_file():
            raise DataError(f"{path} holds no saved baseline (config.json + arrays.npz)")
        est = cls(**json.loads((path / "config.json").read_text())["params"])
        with np.load(path / "arrays.npz", allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        est.mask_, est.labels_ = arrays["mask_"], arrays["labels_"]
        est.cluster_centers_ = arrays["cluster_centers_"]
        est.pca_ = None
        if "pca.components_" in arrays:
            est.pca_ = PCA(len(arrays["pca.components_"]))
            for a in cls._PCA_ARRAYS:
                setattr(est.pca_, a, arrays[f"pca.{a}"])
            est.pca_.n_components_, est.pca_.n_features_in_ = est.pca_.components_.shape
        if est.kind == "gmm":
            est.model_ = GaussianMixture(est.n_clusters, covariance_type="full")
            for a in cls._GMM_ARRAYS:
                setattr(est.model_, a, arrays[f"gmm.{a}"])
            est.model_.n_features_in_ = est.model_.means_.shape[1]
        else:
            est.temperature_ = float(arrays["temperature_"])
        return est


class _OwnNetwork(DSC):
    """A baseline with a network of its own that reuses DSC's training loop, save and load:
    pretrained on reconstruction, centroids by k-means on the raw latent vectors (metric
    "latent"), then the joint phase. Parameters, with DSC's meanings: those stored here,
    shared by the baselines, and the network's own (DEC's ``latent_dim``, DTC's
    ``window``); DSC's other settings are its default preset's (γ = 1)."""

    def __init__(
        self,
        n_clusters: int,
        pretrain_epochs: int,
        max_epochs: int,
        alpha: float,
        tol: float,
        update_interval: int,
        batch_size: int,
        learning_rate: float,
        device: str,
        random_state: int | None,
        callbacks: list | None,
        max_minutes: float | None,
        precision: str,
        day_shape: tuple[int, int, int] | None,
    ) -> None:
        self.n_clusters = n_clusters
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.alpha = alpha
        self.tol = tol
        self.update_interval = update_interval
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks
        self.max_minutes = max_minutes
        self.precision = precision
        self.day_shape = day_shape

    def _variant(self) -> tuple[bool, bool, bool]:
        return VARIANTS["dsc"]  # trained as DSC: pretrained, then jointly

    def _network_preset(self, window: int, reconstruct: str, latent_dim: int | None) -> Preset:
        """DSC's default preset with this baseline's settings and its network's ``window``,
        ``reconstruct`` and ``latent_dim`` (None: unused)."""
        return get_preset(
            "default",
            window=window,
            reconstruct=reconstruct,
            latent_dim=latent_dim,
            metric="latent",
            gamma=1.0,
            **training_settings(self),
        )


class DEC(_OwnNetwork):
    """DEC (Xie et al. 2016) on the flattened day: dense autoencoder d-500-500-2000-latent
    (ReLU), pretrained on reconstruction; centroids by k-means; then the clustering loss
    KL(P‖Q) alone, the decoder dropped. Single days (no window)."""

    def __init__(
        self,
        n_clusters: int = 4,
        latent_dim: int = 10,
        pretrain_epochs: int = 30,
        max_epochs: int = 30,
        alpha: float = 1.0,
        tol: float = 0.001,
        update_interval: int = 12,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        device: str = "auto",
        random_state: int | None = None,
        callbacks: list | None = None,
        max_minutes: float | None = None,
        precision: str = "32",
        day_shape: tuple[int, int, int] | None = None,
    ) -> None:
        super().__init__(
            n_clusters, pretrain_epochs, max_epochs, alpha, tol, update_interval, batch_size,
            learning_rate, device, random_state, callbacks, max_minutes, precision, day_shape,
        )  # fmt: skip
        self.latent_dim = latent_dim

    def _preset(self) -> Preset:
        return self._network_preset(window=1, reconstruct="centre", latent_dim=self.latent_dim)

    def _build(self, n_variables: int, grid: tuple[int, int], preset: Preset):
        return DenseAutoencoder(
            n_variables, grid, self.n_clusters, latent_dim=preset.latent_dim, alpha=self.alpha
        )

    def _train_config(self, preset: Preset, seed: int):
        return replace(super()._train_config(preset, seed), joint_recon=False)


class DTC(_OwnNetwork):
    """DTC (Madiraju et al. 2018), adapted to days of maps (:class:`dsc_core.model.
    TemporalAutoencoder`): each day's window of ``window`` days is a series; the temporal
    autoencoder is pretrained on reconstruction, its latent sequences initialised by k-means,
    then trained jointly on reconstruction + KL(P‖Q). The latent size follows from the window
    (:class:`~dsc_core.model.TemporalAutoencoder`)."""

    def __init__(
        self,
        n_clusters: int = 4,
        window: int = 7,
        pretrain_epochs: int = 20,
        max_epochs: int = 15,
        alpha: float = 1.0,
        tol: float = 0.001,
        update_interval: int = 12,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        device: str = "auto",
        random_state: int | None = None,
        callbacks: list | None = None,
        max_minutes: float | None = None,
        precision: str = "32",
        day_shape: tuple[int, int, int] | None = None,
    ) -> None:
        super().__init__(
            n_clusters, pretrain_epochs, max_epochs, alpha, tol, update_interval, batch_size,
            learning_rate, device, random_state, callbacks, max_minutes, precision, day_shape,
        )  # fmt: skip
        self.window = window

    def _preset(self) -> Preset:
        return self._network_preset(window=self.window, reconstruct="window", latent_dim=None)

    def _build(self, n_variables: int, grid: tuple[int, int], preset: Preset):
        return TemporalAutoencoder(
            n_variables, grid, self.n_clusters, window=preset.window, alpha=self.alpha
        )


CLASSICAL_PARAMS = ("n_components", "n_init")
"""What the classical methods take from ``make_estimator``'s parameters."""


def make_estimator(
    method: str, n_clusters: int, random_state: int | None = None, **params: Any
) -> Any:
    """A clusterer for ``method`` (a key of :data:`METHODS`) with ``n_clusters`` clusters.

    ``params`` go to the estimator: DSC's parameters for the deep methods (``window``,
    ``preset``, ``device``, ``callbacks`` ...; DEC takes a latent of 150 with the "paper"
    preset, as the reference notebooks, else 10), ``n_components`` / ``n_init`` for the PCA and
    k-means ones. Parameters another method uses are ignored, so that one call site can serve
    all; a name no method knows (a typo) is a ConfigError.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    known = {*DSC().get_params(), *DTC().get_params(), *DEC().get_params(), *CLASSICAL_PARAMS}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}: no method takes them; "
            f"check the spelling (DSC's parameters: {', '.join(sorted(DSC().get_params()))})"
        )
    if method in ("dsc", "cnn-encoder", "cnn-ae", "cnn-rnn-encoder", "cnn-rnn-ae"):
        keys = DSC().get_params()
        return DSC(
            n_clusters=n_clusters,
            random_state=random_state,
            variant=method,
            **{k: v for k, v in params.items() if k in keys and k != "variant"},
        )
    if method == "dtc":
        keys = DTC().get_params()
        return DTC(
            n_clusters=n_clusters,
            random_state=random_state,
            **{k: v for k, v in params.items() if k in keys},
        )
    if method == "dec":
        keys = DEC().get_params()
        options = {k: v for k, v in params.items() if k in keys}
        if params.get("preset") == "paper":
            options.setdefault("latent_dim", 150)  # the reference notebooks' DEC
        return DEC(n_clusters=n_clusters, random_state=random_state, **options)
    kind, n_components = {
        "kmeans": ("kmeans", 0),
        "agglomerative": ("agglomerative", 0),
        "pca-kmeans": ("kmeans", 15),
        "pca-gmm": ("gmm", 20),
    }[method]
    options = {k: params[k] for k in CLASSICAL_PARAMS if k in params}
    options.setdefault("n_components", n_components)
    if kind == "gmm":
        options.setdefault("n_init", 3)
    return FeatureClusterer(kind, n_clusters, random_state=random_state, **options)
