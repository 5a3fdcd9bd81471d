"""DSC, the scikit-learn style estimator of Deep Spatiotemporal Clustering, with save / load.

Input ``X`` is the Preprocessor's float32 array ``(day, variable, y, x)`` (z-scores, invalid
cells 0) and ``mask`` its bool ``(y, x)`` grid of valid cells; days must be consecutive, in
order, since each day's window is taken from its neighbours in ``X``.

Variants (the paper's ablations):

- ``"dsc"``: CNN-RNN autoencoder, pretrained, k-means init, then joint training (IDEC:
  reconstruction + γ·KL(P‖Q)).
- ``"cnn-rnn-ae"``: the same autoencoder, pretrained, then k-means on the latent vectors.
- ``"cnn-ae"``: CNN autoencoder without the RNN (window 1), then k-means on the latent vectors.
- ``"cnn-rnn-encoder"`` / ``"cnn-encoder"``: encoder only, no decoder. Our reading of the
  paper's "encoder only": a randomly initialised encoder, centroids from k-means on its
  features, then trained with the clustering loss KL(P‖Q) alone (DEC without pretraining).

For variants without an RNN the window is 1 whatever ``window`` says.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn

from dsc_core.data.calendar import year_blocks
from dsc_core.days import Days, check_window, on_disk, window_indices
from dsc_core.errors import ConfigError, DataError
from dsc_core.model import PRESETS, DSCNet, Preset, get_preset, training_settings
from dsc_core.training import (
    METRICS,
    PRECISIONS,
    Callback,
    InputClusters,
    TrainConfig,
    TrainResult,
    encode_all,
    resolve_device,
    seeded,
    tied_mixture,
    train,
)
from dsc_core.trust import year_agreement

YEARS_FOLLOWED = 0.5
"""Clusters that agree this much (ARI) with the years of the record separate one year's
anomalies from another's (a warm winter, a wet summer), not weather regimes that recur every
year: DSC then trains again on the days with each year's mean removed."""


def without_year_means(X: np.ndarray, time: Any) -> np.ndarray:
    """``X`` ``(day, variable, y, x)`` less the mean of each year's days (season-years of a
    season-only record, :func:`~dsc_core.data.calendar.year_blocks`; ``time`` None: one year)."""
    years = year_blocks(time) if time is not None else np.zeros(len(X), np.int64)
    out = np.array(X, dtype=np.float32, copy=True)
    for year in np.unique(years):
        rows = years == year
        out[rows] -= out[rows].mean(axis=0, keepdims=True)
    return out


VARIANTS = {
    # name: (use_rnn, use_decoder, joint phase)
    "dsc": (True, True, True),
    "cnn-rnn-ae": (True, True, False),
    "cnn-ae": (False, True, False),
    "cnn-rnn-encoder": (True, False, True),
    "cnn-encoder": (False, False, True),
}


def check_input(
    X: Any, mask: np.ndarray | None, day_shape: tuple[int, int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate days ``X`` and ``mask`` ``(y, x)``; return float32 ``(day, variable, y, x)``
    (C-contiguous, writable) and a bool mask (None: every cell valid).

    ``X`` is 4-D ``(day, variable, y, x)``, or 2-D ``(day, feature)`` (the form scikit-learn
    tools pass) read as ``day_shape`` ``(variable, y, x)``, by default ``(feature, 1, 1)``:
    each feature a variable on a one-cell grid. NaN/inf, complex, sparse, 1-D and empty input
    are refused with scikit-learn's messages.
    """
    X = check_array(X, allow_nd=True, dtype=[np.float32, np.float64], input_name="X")
    if X.ndim == 2:
        shape = tuple(day_shape) if day_shape is not None else (X.shape[1], 1, 1)
        if len(shape) != 3 or int(np.prod(shape)) != X.shape[1]:
            raise DataError(
                f"day_shape {shape} does not hold the {X.shape[1]} features of each day: "
                "give (variable, y, x) whose product is the number of features"
            )
        X = X.reshape(len(X), *shape)
    elif X.ndim != 4:
        raise DataError(
            f"X must have shape (day, variable, y, x) or (day, feature), got {X.shape}: "
            "use Preprocessor.transform"
        )
    X = np.require(X, dtype=np.float32, requirements=["C", "W"])
    if mask is None:
        mask = np.ones(X.shape[2:], dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != X.shape[2:]:
        raise DataError(f"mask shape {mask.shape} does not match the grid {X.shape[2:]} of X")
    if not mask.any():
        raise DataError("mask has no valid cell: check the data's mask")
    return X, mask


def check_on_disk(X: Any, mask: np.ndarray | None) -> np.ndarray:
    """The checks of :func:`check_input` that need no reading, for days ``X`` on disk
    (a Zarr array, say: float32 ``(day, variable, y, x)``); returns the bool mask."""
    if len(X.shape) != 4 or np.dtype(X.dtype) != np.float32:
        raise DataError(
            f"days on disk must be float32 (day, variable, y, x), got {X.dtype} {X.shape}: "
            "write them with Preprocessor.transform"
        )
    mask = np.ones(X.shape[2:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != tuple(X.shape[2:]):
        raise DataError(f"mask shape {mask.shape} does not match the grid {X.shape[2:]} of X")
    if not mask.any():
        raise DataError("mask has no valid cell: check the data's mask")
    return mask


def check_no_mask_as_y(y: Any) -> None:
    """``fit(X, y)`` ignores ``y`` (scikit-learn's convention); a 2-D ``y`` is a grid mask
    given in its place, which would be silently ignored: ConfigError naming the fix."""
    if len(getattr(y, "shape", ())) == 2:
        raise ConfigError("fit's second argument is y (ignored): pass the grid mask as mask=")


INPUT_COMPONENTS = 20
"""Principal components of the input that :func:`input_clusters` clusters."""


def input_clusters(X: np.ndarray, mask: np.ndarray, n_clusters: int, seed: int) -> InputClusters:
    """Clusterings of the days ``X`` ``(day, variable, y, x)`` on the leading principal
    components of their valid cells (``mask``), for the consensus head: as its candidate, a
    Gaussian mixture with one shared covariance (it finds regimes that sit below larger noise
    modes of the input, as PCA + GMM does); as voters, k-means and a mixture with full
    covariances (the classical baselines' clusterings)."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    from dsc_core.features import valid_cells_pca

    pca, flat = valid_cells_pca(X, mask, INPUT_COMPONENTS, seed)
    pcs = pca.fit_transform(flat)
    gmm = GaussianMixture(n_clusters, covariance_type="full", n_init=3, reg_covar=1e-4,
                          random_state=seed)  # fmt: skip
    return InputClusters(
        candidate=tied_mixture(pcs, n_clusters, seed, n_init=10)[2],
        voters=[
            KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(pcs),
            gmm.fit_predict(pcs),
        ],
    )


def _dates(X: Any, time: Any) -> Any:
    """``time``, else the ``time`` coordinate of an xarray ``X`` (its windows then stop at
    the gaps between its dates, e.g. between winters), else None."""
    coords = getattr(X, "coords", None)  # xarray's: a mapping (a sparse array's: a tuple)
    if time is None and hasattr(coords, "keys") and "time" in coords:
        return X["time"].values
    return time


class DSC(ClusterMixin, TransformerMixin, ClassNamePrefixFeaturesOutMixin, BaseEstimator):
    """Deep Spatiotemporal Clustering of days.

    Parameters left ``None`` take the preset's value (``dsc_core.model.PRESETS``).

    n_clusters: number of clusters K (1 ≤ K ≤ days; regimes need K ≥ 2).
    window: odd number of consecutive days the RNN reads, centred on the day.
    preset: "default" (2-core CPU size), "paper" (the reference network), "fast" (tests).
    latent_dim: size of the latent vector. rnn: "gru" or "lstm" (the "paper" preset: LSTM
    with dropout 0.1, as the reference). input_pool: cells per side
    averaged before the encoder, or "auto" (the longer side pooled to ≤ 32 cells).
    reconstruct: "window" (the decoder rebuilds every day of the window) or "centre".
    metric: how the initialisation and the Student's-t layer measure distances between latent
    vectors: "latent" (raw, k-means init), "field" (between the maps the days decode to;
    networks without a decoder use "latent"), "standardized" (z-scored dims), "mixture" /
    "field-mixture" (a Gaussian mixture with one covariance shared by the clusters, in raw /
    field distances, initialises them, and distances are Mahalanobis distances in that
    covariance), or "consensus" (the default preset's: the partition that those four and
    clusterings of the input share most); see :func:`dsc_core.training.initial_clusters`.
    pretrain_epochs / max_epochs: autoencoder pretraining epochs / joint-phase epoch cap.
    gamma: weight of KL(P‖Q) in the joint loss. alpha: Student's-t degrees of freedom.
    tol: stop when fewer than this share of days changed cluster between target refreshes.
    update_interval: steps between refreshes of the target P.
    batch_size, learning_rate: Adam mini-batches over days.
    variant: "dsc", "cnn-rnn-ae", "cnn-ae", "cnn-rnn-encoder", "cnn-encoder" (module doc).
    device: "auto" (cuda, then mps, then cpu), "cpu", "cuda", "mps".
    random_state: int seed (None: a fresh one, kept in ``seed_``); a CPU run is repeatable.
    callbacks: callables receiving :class:`dsc_core.training.Event`; raising
    :class:`dsc_core.errors.Cancelled` stops training and leaves the estimator unfitted.
    day_shape: ``(variable, y, x)`` of one day when ``X`` comes 2-D (see below).
    max_minutes: time budget of the training (None: none): pretraining and the joint phase end
    early, at an epoch's end, once their shares of it are spent (the big "paper" preset on a
    laptop). precision: "32" (full), "bf16" or "16": mixed precision of the training steps
    (autocast; bf16 on recent CPUs and GPUs, "16" on CUDA, with loss scaling).

    ``X`` is ``(day, variable, y, x)``, or 2-D ``(day, feature)`` as scikit-learn tools pass
    it, read as ``day_shape`` (None: ``(feature, 1, 1)``, each feature a variable on a
    one-cell grid); either way the rows are consecutive days, in order. In the 2-D form DSC
    passes scikit-learn's estimator checks, except those listed with their reasons in
    ``tests/engine/test_sklearn_contract.py``. ``fit(X, y=None, mask=None, time=None)``
    ignores ``y``; ``transform`` gives the latent vectors, so ``fit_transform`` and pipelines
    work as for any transformer.

    Fitted attributes: labels_ ``(day,)``, cluster_centers_ ``(K, latent)``, history_ (list of
    per-epoch dicts), head_ (the metric the clustering used; with "consensus", each candidate's
    agreement with the others), years_removed_ (None, or the ARI between the first training's
    clusters and the years of ``time`` when it reached :data:`YEARS_FOLLOWED`: the network
    was then trained again, and labels new days, on days less their year's mean),
    n_features_in_ (variable·y·x), n_variables_, grid_shape_,
    mask_, window_, seed_, fit_seconds_, model_ (the torch network).
    """

    def __init__(
        self,
        n_clusters: int = 4,
        window: int | None = None,
        preset: str = "default",
        latent_dim: int | None = None,
        input_pool: int | str | None = None,
        reconstruct: str | None = None,
        metric: str | None = None,
        rnn: str | None = None,
        pretrain_epochs: int | None = None,
        max_epochs: int | None = None,
        gamma: float | None = None,
        alpha: float = 1.0,
        tol: float | None = None,
        update_interval: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        variant: str = "dsc",
        device: str = "auto",
        random_state: int | None = None,
        callbacks: list[Callback] | None = None,
        day_shape: tuple[int, int, int] | None = None,
        max_minutes: float | None = None,
        precision: str = "32",
    ) -> None:
        self.n_clusters = n_clusters
        self.window = window
        self.preset = preset
        self.latent_dim = latent_dim
        self.input_pool = input_pool
        self.reconstruct = reconstruct
        self.metric = metric
        self.rnn = rnn
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.gamma = gamma
        self.alpha = alpha
        self.tol = tol
        self.update_interval = update_interval
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.variant = variant
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks
        self.day_shape = day_shape
        self.max_minutes = max_minutes
        self.precision = precision

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # --- configuration ----------------------------------------------------------------------
    def _variant(self) -> tuple[bool, bool, bool]:
        """``(use_rnn, use_decoder, joint phase)`` of the variant (:data:`VARIANTS`)."""
        if self.variant not in VARIANTS:
            raise ConfigError(
                f"unknown variant {self.variant!r}: choose one of {', '.join(VARIANTS)}"
            )
        return VARIANTS[self.variant]

    def _preset(self) -> Preset:
        """The preset with this estimator's explicit settings applied, unchecked."""
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}: choose one of {', '.join(PRESETS)}")
        return get_preset(
            self.preset,
            rnn=self.rnn,
            window=self.window,
            latent_dim=self.latent_dim,
            input_pool=self.input_pool,
            reconstruct=self.reconstruct,
            metric=self.metric,
            **training_settings(self),
        )

    def _resolved(self) -> Preset:
        """The preset with this estimator's explicit settings applied; validates them."""
        use_rnn = self._variant()[0]
        p = self._preset()
        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 1:
            raise ConfigError(f"n_clusters must be an integer ≥ 1, got {self.n_clusters!r}")
        check_window(p.window)
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )
        if p.rnn not in ("gru", "lstm"):
            raise ConfigError(f"unknown rnn {p.rnn!r}: use 'gru' or 'lstm'")
        if p.metric not in METRICS:
            raise ConfigError(f"unknown metric {p.metric!r}: choose one of {', '.join(METRICS)}")
        if p.reconstruct not in ("window", "centre"):
            raise ConfigError(f"unknown reconstruct {p.reconstruct!r}: use 'window' or 'centre'")
        checks = {
            "latent_dim": p.latent_dim >= 1,
            "input_pool": p.input_pool == "auto"
            or (isinstance(p.input_pool, int | np.integer) and p.input_pool >= 1),
            "pretrain_epochs": p.pretrain_epochs >= 0,
            "max_epochs": p.max_epochs >= 0,
            "gamma": p.gamma >= 0,
            "tol": 0 <= p.tol < 1,
            "update_interval": p.update_interval >= 1,
            "batch_size": p.batch_size >= 1,
            "learning_rate": p.learning_rate > 0,
            "alpha": self.alpha > 0,
            "max_minutes": self.max_minutes is None or self.max_minutes > 0,
        }
        for name, ok in checks.items():
            if not ok:
                value = (
                    getattr(self, name) if name in ("alpha", "max_minutes") else getattr(p, name)
                )
                raise ConfigError(f"invalid {name}={value!r}: see DSC's docstring for the range")
        return p if use_rnn else replace(p, window=1)

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _build(self, n_variables: int, grid: tuple[int, int], preset: Preset) -> nn.Module:
        use_rnn, use_decoder, _ = self._variant()
        return DSCNet(
            n_variables,
            grid,
            self.n_clusters,
            preset,
            alpha=self.alpha,
            use_rnn=use_rnn,
            use_decoder=use_decoder,
        )

    def _train_config(self, preset: Preset, seed: int) -> TrainConfig:
        return TrainConfig(
            **training_settings(preset),
            n_clusters=self.n_clusters,
            seed=seed,
            joint=self._variant()[2],
            metric=preset.metric,
            epoch_days=preset.epoch_days,
            max_seconds=None if self.max_minutes is None else 60.0 * self.max_minutes,
            precision=self.precision,
        )

    # --- fitting ----------------------------------------------------------------------------
    def _days(self, X: Any, mask: np.ndarray | None, reset: bool) -> tuple[Any, np.ndarray]:
        """:func:`check_input`, then scikit-learn's count of features (``n_features_in_``);
        an on-disk array (:mod:`dsc_core.days`) is checked by its shape alone, not read."""
        if on_disk(X):
            X, mask = X, check_on_disk(X, mask)
            if reset:
                self.n_features_in_ = int(np.prod(X.shape[1:]))
            return X, mask
        X, mask = check_input(X, mask, self.day_shape)
        validate_data(self, X.reshape(len(X), -1), reset=reset, skip_check_array=True)
        return X, mask

    def fit(self, X: Any, y: Any = None, mask: np.ndarray | None = None, time: Any = None) -> DSC:
        """Train on days ``X`` ``(day, variable, y, x)`` (or 2-D, class doc); ``y`` is
        ignored; ``mask`` ``(y, x)`` True = valid; ``time`` datetime64 ``(day,)``: the
        dates, so that windows stop at gaps (None: the ``time`` coordinate of an xarray
        ``X``, else consecutive days)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)
        check_no_mask_as_y(y)
        preset = self._resolved()
        time = _dates(X, time)
        X, mask = self._days(X, mask, reset=True)
        if self.n_clusters > X.shape[0]:
            raise ConfigError(
                f"n_clusters={self.n_clusters} exceeds the days (n_samples={X.shape[0]}): "
                "choose fewer clusters"
            )
        device = resolve_device(self.device)
        seed = self._seed()
        start = perf_counter()
        net, result = self._train(X, mask, time, preset, device, seed)
        self.years_removed_ = None
        followed = None if time is None else year_agreement(result.labels, time)
        if followed is not None and followed >= YEARS_FOLLOWED and not on_disk(X):
            X_ = without_year_means(X, time)
            net, result = self._train(X_, mask, time, preset, device, seed)
            self.years_removed_ = followed
        self.model_ = net.eval()
        self.labels_ = result.labels
        self.cluster_centers_ = result.centroids
        self.history_ = result.history
        self.head_ = result.head
        self._set_shape(X.shape, mask, preset.window, seed, device)
        self.fit_seconds_ = perf_counter() - start
        return self

    def _train(
        self, X: Any, mask: np.ndarray, time: Any, preset: Preset, device: torch.device, seed: int
    ) -> tuple[nn.Module, TrainResult]:
        """A new network trained on ``X`` (:func:`dsc_core.training.train`), and the result."""
        windows = window_indices(X.shape[0], preset.window, time)
        with seeded(seed):
            net = self._build(X.shape[1], X.shape[2:], preset).to(device)
            config = self._train_config(preset, seed)
            result = train(
                net,
                Days(X, device),
                torch.from_numpy(mask).to(device),
                windows,
                config,
                self.callbacks or (),
                input_clusters(X, mask, self.n_clusters, seed)
                if config.metric == "consensus" and not on_disk(X)
                else None,
            )
        return net, result

    def _set_shape(self, shape, mask, window, seed, device) -> None:
        self.n_variables_ = int(shape[1])
        self.grid_shape_ = (int(shape[2]), int(shape[3]))
        self.n_features_in_ = int(shape[1] * shape[2] * shape[3])
        self.mask_ = np.asarray(mask, dtype=bool)
        self.window_ = int(window)
        self.seed_ = int(seed)
        self.device_ = device

    def fit_predict(
        self, X: Any, y: Any = None, mask: np.ndarray | None = None, time: Any = None
    ) -> np.ndarray:
        """Fit, then return ``labels_`` ``(day,)``."""
        return self.fit(X, mask=mask, time=time).labels_

    def fit_transform(
        self, X: Any, y: Any = None, mask: np.ndarray | None = None, time: Any = None
    ) -> np.ndarray:
        """Fit, then return the latent vectors ``(day, latent)`` of the same days."""
        return self.fit(X, mask=mask, time=time).transform(X, time=time)

    @property
    def _n_features_out(self) -> int:
        """Latent size, for ``get_feature_names_out`` (names ``dsc0``, ``dsc1``, ...)."""
        return int(self.cluster_centers_.shape[1])

    # --- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def _latent(self, X: Any, time: Any = None) -> torch.Tensor:
        check_is_fitted(self, "model_")
        time = _dates(X, time)
        X, _ = self._days(X, self.mask_, reset=False)
        if X.shape[1:] != (self.n_variables_, *self.grid_shape_):
            raise DataError(
                f"X has shape {X.shape[1:]} per day but the model was fitted on "
                f"{(self.n_variables_, *self.grid_shape_)}: preprocess with the same settings"
            )
        if getattr(self, "years_removed_", None) is not None:
            X = without_year_means(X, time)
        windows = window_indices(X.shape[0], self.window_, time)
        mask = torch.from_numpy(self.mask_).to(self.device_)
        return encode_all(self.model_, Days(X, self.device_), mask, windows)

    def transform(self, X: np.ndarray, time: Any = None) -> np.ndarray:
        """Latent vectors ``(day, latent)`` float32 of the days of ``X``; windows follow
        ``time`` (datetime64 ``(day,)``; None: X's days are consecutive)."""
        return self._latent(X, time).cpu().numpy()

    @torch.no_grad()
    def soft_assignments(self, X: np.ndarray, time: Any = None) -> np.ndarray:
        """Student's-t soft assignments q ``(day, K)`` (rows sum to 1); ``time`` as in
        :meth:`transform`."""
        z = self._latent(X, time)
        return self.model_.clustering(z).cpu().numpy()

    def predict(self, X: np.ndarray, time: Any = None) -> np.ndarray:
        """Cluster of each day of ``X`` ``(day,)`` int64: argmax of q."""
        return self.soft_assignments(X, time).argmax(1).astype(np.int64)

    # --- persistence ------------------------------------------------------------------------
    def _config(self) -> dict:
        params = {k: v for k, v in self.get_params().items() if k != "callbacks"}
        return {
            "estimator": type(self).__name__,
            "params": params,
            "fitted": {
                "n_variables": self.n_variables_,
                "grid_shape": list(self.grid_shape_),
                "window": self.window_,
                "seed": self.seed_,
                "labels": self.labels_.tolist(),
                "history": self.history_,
                "head": self.head_,
                "years_removed": self.years_removed_,
                "fit_seconds": self.fit_seconds_,
            },
        }

    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` (params, fitted metadata) and ``model.pt`` (state dict with the
        centroids as ``clustering.centroids``, and the mask) into directory ``path``."""
        check_is_fitted(self, "model_")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(self._config(), indent=1))
        state = {k: v.detach().cpu() for k, v in self.model_.state_dict().items()}
        torch.save({"state_dict": state, "mask": torch.from_numpy(self.mask_)}, path / "model.pt")
        return path

    @classmethod
    def load(cls, path: str | Path) -> DSC:
        """Restore an estimator written by :meth:`save` (weights loaded with weights_only)."""
        path = Path(path)
        if not (path / "config.json").is_file() or not (path / "model.pt").is_file():
            raise DataError(f"{path} holds no saved model (config.json + model.pt): check the path")
        config = json.loads((path / "config.json").read_text())
        if config.get("estimator") != cls.__name__:
            raise DataError(
                f"{path} holds a {config.get('estimator')} model: load it with that class"
            )
        est = cls(**config["params"])
        fitted = config["fitted"]
        preset = est._resolved()
        blob = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        try:
            device = resolve_device(est.device)
        except ConfigError:
            device = torch.device("cpu")
        net = est._build(fitted["n_variables"], tuple(fitted["grid_shape"]), preset)
        net.load_state_dict(blob["state_dict"])
        est.model_ = net.to(device).eval()
        est.labels_ = np.asarray(fitted["labels"], dtype=np.int64)
        est.cluster_centers_ = blob["state_dict"]["clustering.centroids"].numpy().copy()
        est.history_ = fitted["history"]
        est.head_ = fitted.get("head", {})
        est.years_removed_ = fitted.get("years_removed")
        mask = blob["mask"].numpy()
        shape = (len(est.labels_), fitted["n_variables"], *fitted["grid_shape"])
        est._set_shape(shape, mask, fitted["window"], fitted["seed"], device)
        est.fit_seconds_ = fitted["fit_seconds"]
        return est
