"""The training loop (:class:`Trainer`): autoencoder pretraining → initial centroids → joint
phase.

The centroids start from k-means in the chosen metric, or from a Gaussian mixture with one
shared covariance whose whitening then fixes the metric, or from the partition that several of
them and clusterings of the input share ("consensus", :func:`initial_clusters`). The joint
phase is IDEC's: loss = reconstruction + γ·KL(P‖Q), the target P refreshed every
``update_interval`` steps (at most once an epoch); it stops when the share of days whose label
changed since the last refresh falls below ``tol`` (or at ``max_epochs``). Networks without a
decoder train on the KL term alone (DEC). Progress goes to callbacks as :class:`Event` objects,
at every epoch end and at least every ~1 s; a callback raising
:class:`~dsc_core.errors.Cancelled` stops training.

Each step encodes every day its batch's windows need exactly once, then gathers windows of day
embeddings by index; batches are built from short runs of consecutive days so that windows
overlap and few extra days need encoding.

Data parallel: when a ``torch.distributed`` process group is initialised (``torchrun ...
dsc train --distributed``), every process holds the days and the same seed, takes its share of
each epoch's batches, and the network is wrapped in ``DistributedDataParallel``, which averages
the gradients; the targets P and the k-means init are computed from all days in every process,
identically, since the weights are identical.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from torch import nn

from dsc_core.days import Days
from dsc_core.errors import ConfigError
from dsc_core.model import TrainingSettings, target_distribution

PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}
"""Mixed precision of the training steps: autocast to this dtype ("32": full precision; "16"
scales the loss against underflow). Encoding all days for P and the labels stays in full
precision."""
METRICS = ("latent", "field", "standardized", "mixture", "field-mixture", "consensus")
"""How the clustering measures distances between latent vectors (:func:`initial_clusters`)."""
EVENT_EVERY_S = 1.0
CHUNK_DAYS = 4  # consecutive days per run inside a batch when window > 1
SHUFFLE_CHUNKS = 8  # stored chunks whose days are shuffled together when reading from disk


@dataclass
class Event:
    """A progress report sent to callbacks.

    ``phase`` is "pretrain", "init", "joint" or "done"; ``epoch`` counts from 1 within the
    phase (0 for "init"); ``losses`` holds running means of this epoch's loss terms;
    ``changed`` is the share of days that changed cluster at the last target refresh (joint
    phase only); ``elapsed`` and ``eta`` are seconds since training began / still to go.
    """

    phase: str
    epoch: int
    n_epochs: int
    losses: dict[str, float] = field(default_factory=dict)
    changed: float | None = None
    elapsed: float = 0.0
    eta: float | None = None
    message: str = ""


Callback = Callable[[Event], None]


@dataclass(frozen=True)
class TrainConfig(TrainingSettings):
    """Settings of one training run (see :class:`dsc_core.estimator.DSC` for meanings)."""

    n_clusters: int
    seed: int
    joint: bool = True
    joint_recon: bool = True  # False: KL only in the joint phase (DEC)
    metric: str = "latent"  # distances of the init and the Student's t: METRICS
    epoch_days: int | None = None  # epoch counts are per this many days (scaled_epochs)
    kmeans_n_init: int = 10
    max_seconds: float | None = None  # time budget: phases end early, at an epoch's end
    precision: str = "32"  # PRECISIONS: the training steps' autocast dtype


@dataclass
class TrainResult:
    """Labels ``(day,)`` int64, centroids ``(cluster, latent)``, per-epoch history rows and
    the clustering head used (``{"metric", "agreement"}``, :func:`initial_clusters`)."""

    labels: np.ndarray
    centroids: np.ndarray
    history: list[dict] = field(default_factory=list)
    head: dict = field(default_factory=dict)  # the metric used; with "consensus", the votes


def resolve_device(name: str) -> torch.device:
    """ "auto" → cuda, then mps, then cpu; an unavailable explicit device is a ConfigError."""
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda:
            raise ConfigError(f"device {name!r} is not available here: use device='cpu' or 'auto'")
        # cuBLAS repeats its results only with a fixed workspace, set before its first call
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.device(name)
    if name == "mps":
        if not mps:
            raise ConfigError("device 'mps' is not available here: use device='cpu' or 'auto'")
        return torch.device("mps")
    raise ConfigError(f"unknown device {name!r}: use 'auto', 'cpu', 'cuda' or 'mps'")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch inside, with deterministic algorithms; restore the global state after. Torch
    trains on as many threads as the process allows: every core unless ``OMP_NUM_THREADS`` or
    :func:`dsc_core.threads.limited_threads` says fewer (the CLI's ``--threads``, a server
    job's share of the cores, a dask worker's one). Results repeat for a given thread count."""
    previous = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


def batches(
    n_days: int,
    batch_size: int,
    window: int,
    rng: np.random.Generator,
    stored: int | None = None,
) -> list[np.ndarray]:
    """One epoch's batches of day indices: shuffled runs of consecutive days (single days
    when ``window`` is 1), so a batch's windows share most of their days.

    ``stored``: days per stored chunk when the days are read from disk. The chunks are then
    visited in a shuffled order, :data:`SHUFFLE_CHUNKS` at a time, and the runs shuffled
    within each group, so that an epoch reads each chunk about once (a record of one group
    or less is shuffled as a whole, as in memory)."""
    run = 1 if window == 1 else CHUNK_DAYS

    def shuffled(first: int, last: int) -> np.ndarray:
        offset = int(rng.integers(run))
        starts = np.arange(first - offset, last, run)
        rng.shuffle(starts)
        return np.concatenate([np.arange(max(s, first), min(s + run, last)) for s in starts])

    n_chunks = -(-n_days // stored) if stored else 1
    if n_chunks <= SHUFFLE_CHUNKS:
        order = shuffled(0, n_days)
    else:
        chunks = rng.permutation(n_chunks)
        groups = [chunks[i : i + SHUFFLE_CHUNKS] for i in range(0, n_chunks, SHUFFLE_CHUNKS)]
        parts = []
        for group in groups:
            days = np.concatenate([np.arange(c * stored, min((c + 1) * stored, n_days))
                                   for c in np.sort(group)])  # fmt: skip
            parts.append(days[shuffled(0, len(days))])
        order = np.concatenate(parts)
    return [order[i : i + batch_size] for i in range(0, n_days, batch_size)]


def encode(
    net: nn.Module, x: Days, mask: torch.Tensor, windows: np.ndarray, days: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(z, rows, idx)``: latent vectors ``(len(days), latent)`` of ``days``, the distinct
    days their windows read ``(need, variable, y, x)`` (each encoded once) and each window's
    rows in them ``(len(days), W)``."""
    need, inverse = np.unique(windows[days], return_inverse=True)
    rows = x.rows(need)
    idx = torch.as_tensor(inverse.reshape(len(days), -1), device=x.device)
    return net.latent(net.embed(rows, mask), idx), rows, idx


def latent_of(
    net: nn.Module, x: Days, mask: torch.Tensor, windows: np.ndarray, days: np.ndarray
) -> torch.Tensor:
    """Latent vectors ``(len(days), latent)`` of ``days``."""
    return encode(net, x, mask, windows, days)[0]


@torch.no_grad()
def encode_all(
    net: nn.Module,
    x: Days,
    mask: torch.Tensor,
    windows: np.ndarray,
    chunk: int = 256,
    rank: int = 0,
    world: int = 1,
) -> torch.Tensor:
    """Latent vectors ``(day, latent)`` of every day of ``x`` in eval mode.

    In a process group of ``world`` processes, each encodes every ``world``-th chunk of days
    and an all-reduce gathers the rows, so that every process holds every day's latent
    vector (and with them the soft assignments and the target distribution's cluster sums
    over all days)."""
    was_training = net.training
    net.eval()
    n = len(windows)
    starts = list(range(0, n, chunk))[rank::world]
    parts = [(a, latent_of(net, x, mask, windows, np.arange(a, min(a + chunk, n)))) for a in starts]
    net.train(was_training)
    if world == 1:
        return torch.cat([z for _, z in parts])
    out = None
    for a, z in parts:
        if out is None:
            out = z.new_zeros((n, z.shape[1]))
        out[a : a + len(z)] = z
    if out is None:  # fewer chunks than processes: this one had none
        dim = net.clustering.centroids.shape[1]
        out = torch.zeros((n, dim), device=x.device)
    torch.distributed.all_reduce(out)
    return out


def scaled_epochs(epochs: int, n_days: int, epoch_days: int | None) -> int:
    """Epochs to run on ``n_days`` when ``epochs`` were set for ``epoch_days`` days: a longer
    record gets proportionally fewer passes (at least a third of them), so that the number
    of optimiser steps stays about the same; None: ``epochs`` as given."""
    if epoch_days is None or n_days <= epoch_days or epochs == 0:
        return epochs
    return max(round(epochs * epoch_days / n_days), -(-epochs // 3), 1)


@torch.no_grad()
def latent_metric(
    z: torch.Tensor,
    kind: str,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    cell_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, metric): the linear map s(z) = (z − shift) · metric that the k-means init and
    the Student's-t layer measure distances in, from the latent vectors ``z`` (day, latent).

    "latent": z itself. "standardized": each dim z-scored. "field" (needs ``decode``, the
    decoder, and ``cell_mask`` (y', x') of its valid output cells): distances between the maps
    the days decode to. The decoded centre-day fields D (day, cells) are fitted linearly on z,
    D ≈ (z − z̄)·B, B = U·S·Vᵀ; s(z) = (z − z̄)·U·S, so ‖s(z₁) − s(z₂)‖ is the RMS distance of
    the linearised decoded maps. Nothing else fixes the latent metric (the decoder's first
    layer absorbs any linear map of z), and a pretrained autoencoder spreads its variance
    evenly over many input modes, so that raw latent distances can drown the regime modes in
    noise modes (SPEC: with the first defaults, ARI 0.02 → 0.9 on two held-out files).
    "mixture": z itself here; :func:`tied_mixture` then whitens it in the clusters' shared
    covariance (the default preset's choice, benchmarks/README.md). Every map is scaled so
    that the mean ‖s‖² equals the latent size (which sets the Student's t width).
    """
    if kind not in METRICS:
        raise ConfigError(f"unknown metric {kind!r}: choose one of {', '.join(METRICS)}")
    zd = z.double()
    shift = zd.mean(0)
    zc = zd - shift
    dim = z.shape[1]
    if kind == "field" and decode is not None:
        maps = []
        for a in range(0, len(z), 256):
            out = decode(z[a : a + 256])
            maps.append(out[:, out.shape[1] // 2][..., cell_mask].flatten(1).double())
        d = torch.cat(maps)
        coef = torch.linalg.lstsq(zc, d - d.mean(0)).solution  # (latent, cells)
        u, s, _ = torch.linalg.svd(coef, full_matrices=False)
        metric = u * s
    elif kind == "standardized":
        metric = torch.diag(1.0 / zd.std(0).clamp_min(1e-6))
    else:
        metric = torch.eye(dim, dtype=zd.dtype, device=z.device)
    norm = (zc @ metric).pow(2).sum(1).mean().div(dim).sqrt().clamp_min(1e-12)
    return shift.to(z.dtype), (metric / norm).to(z.dtype)


@dataclass
class Start:
    """Where the joint phase starts: the metric's name, s(z) = (z − ``shift``) · ``scale``,
    the centroids ``(K, latent)`` in s-space, the days' labels, and (metric "consensus") each
    candidate head's mean agreement (ARI) with the others."""

    metric: str
    shift: torch.Tensor
    scale: torch.Tensor
    centres: torch.Tensor
    labels: np.ndarray
    agreement: dict[str, float] | None = None


MIXTURE_REG = {"mixture": 1e-3, "field-mixture": 1e-2}
"""Regularisation of the shared covariance, as a share of the mean variance of s(z)."""


@torch.no_grad()
def initial_clusters(
    z: torch.Tensor,
    metric: str,
    n_clusters: int,
    seed: int,
    n_init: int = 10,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    cell_mask: torch.Tensor | None = None,
    inputs: InputClusters | None = None,
) -> Start:
    """Initial clusters of the latent vectors ``z`` (day, latent), and the metric the
    Student's-t layer keeps.

    "latent", "field", "standardized": k-means in that metric (:func:`latent_metric`).
    "mixture" / "field-mixture": a Gaussian mixture with one shared covariance in raw / field
    distances, whose whitening becomes the metric (:func:`tied_mixture`). "consensus": every
    one of latent, mixture, field and field-mixture (the last two need ``decode``) clusters
    the days, and so do the clusterings of the input in ``inputs`` (its candidate, "input",
    and its voters); the partition they share most (:func:`consensus_partition`) starts, in
    the latent space's within-cluster metric (:func:`start_from_labels`). Each head has a
    failure of its own (raw and field distances follow the dominant variance, a shared
    covariance can fit chance structure of persistent noise), and they rarely fail together.
    The start's ``agreement`` holds each candidate's mean agreement (ARI) with the other
    candidates, the run's trust check (:func:`dsc_core.trust.head_agreement`).
    """
    if metric == "consensus":
        kinds = ["latent", "mixture"] + (["field", "field-mixture"] if decode is not None else [])
        found = {k: initial_clusters(z, k, n_clusters, seed, n_init, decode, cell_mask)
                 for k in kinds}  # fmt: skip
        voters: list[np.ndarray] = []
        if inputs is not None:
            if len(np.unique(inputs.candidate)) == n_clusters:
                labels = np.asarray(inputs.candidate, np.int64)
                found["input"] = start_from_labels(z, labels, n_clusters)
            voters = [np.asarray(v, np.int64) for v in inputs.voters]
        agreement = {
            k: float(np.mean([adjusted_rand_score(found[k].labels, found[j].labels)
                              for j in found if j != k]))
            for k in found
        }  # fmt: skip
        ballots = [start.labels for start in found.values()] + voters
        labels = consensus_partition(ballots, n_clusters, seed, n_init)
        if len(np.unique(labels)) < n_clusters:  # fewer groups: the most agreed candidate
            chosen = found[max(agreement, key=agreement.get)]
        else:
            chosen = start_from_labels(z, labels, n_clusters, "consensus")
        chosen.agreement = agreement
        return chosen
    base = {"mixture": "latent", "field-mixture": "field"}.get(metric, metric)
    if base == "field" and decode is None:
        base = "latent"  # networks without a decoder: raw distances
    shift, scale = latent_metric(z, base, decode, cell_mask)
    s = ((z - shift) @ scale).cpu().double().numpy()
    if metric in MIXTURE_REG:
        whiten, centres, labels = tied_mixture(s, n_clusters, seed, n_init, MIXTURE_REG[metric])
        scale = scale @ torch.as_tensor(whiten, dtype=z.dtype, device=z.device)
    else:
        km = KMeans(n_clusters, n_init=n_init, random_state=seed).fit(s)
        centres, labels = km.cluster_centers_, km.labels_.astype(np.int64)
    centres_t = torch.as_tensor(centres, dtype=z.dtype, device=z.device)
    return Start(metric, shift, scale, centres_t, labels)


@dataclass
class InputClusters:
    """Clusterings of the days found on the input, outside the network, for the "consensus"
    head: ``candidate`` (day,) labels, a candidate head of its own ("input"); ``voters``
    [(day,) labels] that only add their ballots to the shared partition."""

    candidate: np.ndarray
    voters: list[np.ndarray] = field(default_factory=list)


def consensus_partition(
    partitions: list[np.ndarray], n_clusters: int, seed: int, n_init: int = 10
) -> np.ndarray:
    """(day,) labels of the partition that agrees most with all ``partitions`` (each (day,)
    labels in 0..n_clusters-1): k-means of the days' concatenated one-hot memberships, so that
    two days fall together when most partitions put them together (a co-association
    consensus, Strehl & Ghosh 2002, at linear cost)."""
    memberships = np.hstack([np.eye(n_clusters)[p] for p in partitions])
    km = KMeans(n_clusters, n_init=n_init, random_state=seed)
    return km.fit_predict(memberships).astype(np.int64)


def start_from_labels(
    z: torch.Tensor, labels: np.ndarray, n_clusters: int, name: str = "input"
) -> Start:
    """The joint phase's start from given ``labels`` (day,) of the latent vectors ``z``: the
    metric whitens the pooled within-cluster covariance of the standardized latent (as the
    shared-covariance mixture's does), the centroids are the clusters' means in it."""
    shift, scale = latent_metric(z, "latent", None, None)
    s = ((z - shift) @ scale).cpu().double().numpy()
    means = np.stack([s[labels == k].mean(0) for k in range(n_clusters)])
    within = s - means[labels]
    cov = within.T @ within / max(len(s) - n_clusters, 1)
    reg = MIXTURE_REG["mixture"] * float(s.var(0).mean()) + 1e-12
    values, vectors = np.linalg.eigh(cov + reg * np.eye(len(cov)))
    whiten = vectors / np.sqrt(np.clip(values, reg, None))
    whiten /= np.sqrt(((s @ whiten) ** 2).sum(1).mean() / s.shape[1])
    scale = scale @ torch.as_tensor(whiten, dtype=z.dtype, device=z.device)
    centres = torch.as_tensor(means @ whiten, dtype=z.dtype, device=z.device)
    return Start(name, shift, scale, centres, labels)


def tied_mixture(
    s: np.ndarray, n_clusters: int, seed: int, n_init: int, reg: float = 1e-3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Gaussian mixture with one covariance shared by all clusters, fitted on ``s`` (day,
    dim), the covariance regularised by ``reg`` × the mean variance: ``(whiten (dim, dim),
    centres (K, dim) in whitened units, labels (day,))``.

    The shared covariance is the within-regime (noise) covariance, so distances after
    ``s @ whiten`` are Mahalanobis distances in the noise's metric: regimes that sit below
    larger noise modes count as much as those in the leading ones (the unsupervised
    counterpart of a linear discriminant). Whitened vectors are scaled so that their mean
    squared norm equals ``dim``, as :func:`latent_metric` scales its maps."""
    from sklearn.mixture import GaussianMixture

    reg = reg * float(s.var(0).mean()) + 1e-12
    gmm = GaussianMixture(
        n_clusters, covariance_type="tied", n_init=max(1, n_init // 3), reg_covar=reg,
        random_state=seed,
    ).fit(s)  # fmt: skip
    values, vectors = np.linalg.eigh(gmm.covariances_)
    whiten = vectors / np.sqrt(np.clip(values, reg, None))
    norm = np.sqrt(((s @ whiten) ** 2).sum(1).mean() / s.shape[1])
    whiten = whiten / norm
    return whiten, gmm.means_ @ whiten, gmm.predict(s).astype(np.int64)


class _Reporter:
    """Sends events to callbacks: at epoch ends, and inside epochs at most every ~1 s."""

    def __init__(self, callbacks: Iterable[Callback], total_epochs: int) -> None:
        self.callbacks = list(callbacks)
        self.start = time.perf_counter()
        self.last = self.start
        self.total = max(total_epochs, 1)
        self.done = 0.0  # epochs done, fractional inside an epoch

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def send(self, event: Event) -> None:
        event.elapsed = self.elapsed()
        if self.done > 0:
            event.eta = event.elapsed / self.done * max(self.total - self.done, 0.0)
        self.last = time.perf_counter()
        for cb in self.callbacks:
            cb(event)

    def due(self) -> bool:
        return bool(self.callbacks) and time.perf_counter() - self.last >= EVENT_EVERY_S


def _means(sums: dict[str, float], count: int) -> dict[str, float]:
    return {k: v / max(count, 1) for k, v in sums.items()}


class _Loss(nn.Module):
    """The network and a loss of a batch as one module: ``forward(fn, days)`` returns
    ``fn(net, days)``, so that DistributedDataParallel, which synchronises what goes through
    its ``forward``, can wrap the whole step."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, fn: Callable, days: np.ndarray):
        return fn(self.net, days)


def _parallel(net: nn.Module) -> tuple[nn.Module, int, int]:
    """``(module to call, rank, world size)``: DistributedDataParallel around :class:`_Loss`
    when a process group is initialised, else :class:`_Loss` alone in a world of one."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return _Loss(net), 0, 1
    from torch.nn.parallel import DistributedDataParallel

    device = next(net.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    module = DistributedDataParallel(_Loss(net), device_ids=ids, find_unused_parameters=True)
    return module, dist.get_rank(), dist.get_world_size()


class Trainer:
    """One training run of ``net`` on days ``x`` (:func:`train`'s arguments): :meth:`run`
    pretrains, initialises the clusters, trains jointly and returns the result."""

    def __init__(
        self,
        net: nn.Module,
        x: Days,
        mask: torch.Tensor,
        windows: np.ndarray,
        config: TrainConfig,
        callbacks: Iterable[Callback] = (),
        inputs: InputClusters | None = None,
    ) -> None:
        self.net, self.x, self.mask, self.windows = net, x, mask, windows
        self.config, self.inputs = config, inputs
        self.rng = np.random.default_rng(config.seed)
        n = len(x)
        self.has_decoder = net.decoder is not None
        pretrain_epochs = scaled_epochs(config.pretrain_epochs, n, config.epoch_days)
        self.pretrain_epochs = pretrain_epochs if self.has_decoder else 0
        self.joint_epochs = (
            scaled_epochs(config.max_epochs, n, config.epoch_days) if config.joint else 0
        )
        # P is refreshed at most once an epoch: each refresh encodes every day
        self.update_interval = max(config.update_interval, -(-n // config.batch_size))
        self.report = _Reporter(callbacks, self.pretrain_epochs + self.joint_epochs)
        self.history: list[dict] = []
        self.budget = config.max_seconds or float("inf")
        self.window = windows.shape[1]
        self.target_mask: torch.Tensor | None = None
        if self.has_decoder:
            with torch.no_grad():
                self.target_mask = net.recon_target(x.rows(np.zeros(1, np.int64)), mask)[1]
        self.full_window = getattr(net, "window", 1) > 1
        self.parallel, self.rank, self.world = _parallel(net)
        self.dtype = PRECISIONS[config.precision]
        self.scaler = torch.amp.GradScaler(x.device.type, enabled=self.dtype == torch.float16)
        self.optimizer: torch.optim.Optimizer | None = None
        self.labels: np.ndarray | None = None  # at the last target refresh
        self.head: dict = {}
        self.p: torch.Tensor | None = None  # the target distribution of every day
        self.steps = 0  # joint-phase steps taken
        self.changed: float | None = None  # share of days that changed at the last refresh

    def run(self) -> TrainResult:
        """Pretraining, the initial clusters, the joint phase; the final labels."""
        self.pretrain()
        z = self.init_clusters()
        if self.config.joint and self.joint_epochs:
            self.joint(z)
        return self.finish()

    # --- the phases ---------------------------------------------------------------------------
    def pretrain(self) -> None:
        """Reconstruction only, ending after the epoch that passes the pretraining's share of
        the time budget (its share of the epochs)."""
        n_epochs, report = self.pretrain_epochs, self.report
        budget = self.budget * n_epochs / max(n_epochs + self.joint_epochs, 1)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.learning_rate)
        self.net.train()
        for epoch in range(1, n_epochs + 1):
            losses = self._epoch("pretrain", epoch, n_epochs, self._recon_step)
            report.done = epoch
            self.history.append(
                {"phase": "pretrain", "epoch": epoch, **losses, "elapsed": report.elapsed()}
            )
            report.send(Event("pretrain", epoch, n_epochs, losses))
            if self._out_of_time(budget) and epoch < n_epochs:
                self.history[-1]["budget"] = 1
                report.send(Event("pretrain", epoch, n_epochs, losses, message="time budget"))
                break

    def init_clusters(self) -> torch.Tensor:
        """Set the clustering layer's metric and centroids (:func:`initial_clusters`) and the
        labels; returns every day's latent vector."""
        net, config = self.net, self.config
        z = self._encode_every_day()
        with torch.no_grad():
            decode, cells = (net.decode, self.target_mask) if self.has_decoder else (None, None)
            start = initial_clusters(
                z, config.metric, config.n_clusters, config.seed, config.kmeans_n_init,
                decode, cells, self.inputs,
            )  # fmt: skip
            net.clustering.set_metric(start.shift, start.scale)
            net.clustering.centroids.copy_(start.centres)
            self.labels = start.labels
        self.head = {"metric": start.metric, "agreement": start.agreement}
        self.report.send(Event("init", 0, 0, message=f"{start.metric} init"))
        return z

    def joint(self, z: torch.Tensor) -> None:
        """Reconstruction + γ·KL(P‖Q) from the latent vectors ``z`` of every day, until the
        stop rule fires, the epochs run out or the time budget is spent."""
        n_epochs, report = self.joint_epochs, self.report
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.learning_rate)
        self.net.train()
        self.steps, self.changed = 0, None
        with torch.no_grad():
            self.p = target_distribution(self.net.clustering(z))
        for epoch in range(1, n_epochs + 1):
            losses = self._epoch("joint", epoch, n_epochs, self._joint_step)
            stopped = losses.pop("stopped", 0.0)
            report.done = self.pretrain_epochs + epoch
            self.history.append(
                {
                    "phase": "joint",
                    "epoch": epoch,
                    **losses,
                    "changed": self.changed,
                    "elapsed": report.elapsed(),
                }
            )
            msg = f"converged: {self.changed:.4f} of days changed < tol" if stopped else ""
            if not stopped and self._out_of_time(self.budget) and epoch < n_epochs:
                self.history[-1]["budget"] = 1
                stopped, msg = 1.0, "time budget"
            report.send(Event("joint", epoch, n_epochs, losses, self.changed, message=msg))
            if stopped:
                break

    def finish(self) -> TrainResult:
        """The final labels (argmax of q), centroids, history and clustering head."""
        net = self.net
        net.eval()
        with torch.no_grad():
            q_all = net.clustering(self._encode_every_day())
        final = q_all.argmax(1).cpu().numpy().astype(np.int64)
        self.report.done = self.report.total
        self.report.send(Event("done", 0, 0, message="training finished"))
        return TrainResult(
            labels=final,
            centroids=net.clustering.centroids.detach().cpu().numpy().copy(),
            history=self.history,
            head=self.head,
        )

    def _out_of_time(self, budget: float) -> bool:
        """Whether ``budget`` seconds are spent: by the slowest process's clock when several
        train together, so that all of them stop after the same epoch."""
        late = self.report.elapsed() > budget
        if self.world > 1 and budget != float("inf"):
            flag = torch.tensor([float(late)], device=self.x.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            late = bool(flag.item())
        return late

    # --- the steps ----------------------------------------------------------------------------
    def _epoch(self, phase: str, epoch: int, n_epochs: int, step: Callable) -> dict[str, float]:
        """One epoch of ``step(days)`` over this process's share of the batches: the means of
        the loss terms (with ``"stopped"`` when a step returned None)."""
        sums: dict[str, float] = {}
        x = self.x
        stored = x.chunk if x.array is not None else None
        # the same batches in every process: each takes its share
        every = batches(len(x), self.config.batch_size, self.window, self.rng, stored)
        # as many batches in every process, at least one (fewer batches than processes:
        # some take a batch twice), or a process waits for the others' gradients forever
        share = max(1, len(every) // self.world)
        steps = [every[(self.rank + i * self.world) % len(every)] for i in range(share)]
        for i, days in enumerate(steps):
            terms = step(days)
            if terms is None:  # the joint phase's stop rule fired
                return {**_means(sums, i), "stopped": 1.0}
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            self.report.done += 1.0 / len(steps)
            if self.report.due():
                self.report.send(Event(phase, epoch, n_epochs, _means(sums, i + 1)))
        return _means(sums, len(steps))

    def _recon_step(self, days: np.ndarray) -> dict[str, float]:
        with self._autocast():
            loss = self.parallel(self._recon_loss, days)
        self._descend(loss)
        return {"recon": loss.item()}

    def _recon_loss(self, model: nn.Module, days: np.ndarray) -> torch.Tensor:
        z, rows, idx = encode(model, self.x, self.mask, self.windows, days)
        return model.recon_loss(z, self._targets(rows, idx), self.target_mask)

    def _joint_step(self, days: np.ndarray) -> dict[str, float] | None:
        """One step on ``days``, after refreshing P every ``update_interval`` steps; None
        when the share of days that changed cluster at the refresh is below ``tol``."""
        if self.steps and self.steps % self.update_interval == 0:
            with torch.no_grad():
                q_all = self.net.clustering(self._encode_every_day())
                self.p = target_distribution(q_all)
                new = q_all.argmax(1).cpu().numpy()
            self.changed = float(np.mean(new != self.labels))
            self.labels = new
            if self.changed < self.config.tol:
                return None
        self.steps += 1
        with self._autocast():
            kl, recon = self.parallel(self._joint_loss, days)
        terms = {"kl": kl.item()}
        loss = kl
        if recon is not None:
            loss = recon + self.config.gamma * kl
            terms["recon"] = recon.item()
        self._descend(loss)
        return terms

    def _joint_loss(
        self, model: nn.Module, days: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """KL(P‖Q) of the batch, and its reconstruction loss (None when not trained)."""
        z, rows, idx = encode(model, self.x, self.mask, self.windows, days)
        q = model.clustering(z)
        kl = F.kl_div(q.float().log(), self.p[torch.as_tensor(days, device=self.x.device)],
                      reduction="batchmean")  # fmt: skip
        if self.has_decoder and self.config.joint_recon:
            return kl, model.recon_loss(z, self._targets(rows, idx), self.target_mask)
        return kl, None

    # --- helpers ------------------------------------------------------------------------------
    def _encode_every_day(self) -> torch.Tensor:
        return encode_all(
            self.net, self.x, self.mask, self.windows, rank=self.rank, world=self.world
        )

    def _autocast(self) -> torch.autocast:
        dtype = self.dtype
        return torch.autocast(self.x.device.type, dtype=dtype, enabled=dtype is not None)

    def _descend(self, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss`` (scaled in float16)."""
        self.optimizer.zero_grad()
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def _targets(self, rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Reconstruction targets ``(day, W', variable, y', x')`` of the windows ``idx``
        ``(day, W)`` into ``rows`` (W' = 1: the centre day only)."""
        with torch.no_grad():
            target = self.net.recon_target(rows, self.mask)[0]
        return target[idx if self.full_window else idx[:, self.window // 2, None]]


def train(
    net: nn.Module,
    x: Days,
    mask: torch.Tensor,
    windows: np.ndarray,
    config: TrainConfig,
    callbacks: Iterable[Callback] = (),
    inputs: InputClusters | None = None,
) -> TrainResult:
    """Train ``net`` on days ``x`` ``(day, variable, y, x)`` (:class:`~dsc_core.days.Days`).
    ``inputs``: clusterings of the days found on the input, a candidate start of the consensus
    and its voters (:func:`initial_clusters`).

    ``mask`` (y, x) bool marks valid cells; ``windows`` ``(day, W)`` int holds each day's
    window (rows of ``x``). Returns the final labels (argmax of q), centroids and history.
    Raises whatever a callback raises (:class:`~dsc_core.errors.Cancelled` to stop).

    With ``config.max_seconds``, pretraining ends after the epoch that passes its share of the
    budget (its share of the epochs) and the joint phase after the epoch that passes the whole
    budget; the history's last row of a phase cut short says ``"budget": 1``.
    """
    return Trainer(net, x, mask, windows, config, callbacks, inputs).run()
