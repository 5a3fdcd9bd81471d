"""The DSC network: per-day CNN encoder, RNN over a window of days, mirrored decoder, and
the Student's-t clustering layer; plus the dense autoencoder used by the DEC baseline.

Shape conventions: a batch of days is ``(day, variable, y, x)``; day embeddings are
``(day, embedding)``; a window index array is ``(day, window)`` int (rows into the embeddings,
centre column = the day itself); latent vectors are ``(day, latent)``.

Every network exposes the same three steps so that one training loop drives them all:
``embed(x, mask)`` encodes each day once, ``latent(emb, windows)`` builds each day's latent
vector from the gathered window of embeddings, ``recon_target(x, mask)`` prepares the
reconstruction targets of all days once, and ``recon_loss(z, target, mask)`` scores the
decoder's reconstruction against the targets of each day's window ``(day, W, variable, y', x')``
(``decoder`` is ``None`` when the network has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dsc_core.errors import ConfigError


@dataclass(frozen=True)
class TrainingSettings:
    """The training hyperparameters: a preset's defaults, an estimator's parameters and a
    training run's settings (see :class:`dsc_core.estimator.DSC` for their meanings)."""

    pretrain_epochs: int
    max_epochs: int
    gamma: float
    tol: float
    update_interval: int
    batch_size: int
    learning_rate: float


TRAINING_SETTINGS = tuple(f.name for f in fields(TrainingSettings))


def training_settings(source: Any) -> dict[str, Any]:
    """The :class:`TrainingSettings` that ``source`` (a preset, an estimator) has, by name."""
    return {name: getattr(source, name) for name in TRAINING_SETTINGS if hasattr(source, name)}


@dataclass(frozen=True)
class Preset(TrainingSettings):
    """Architecture and training defaults (:class:`TrainingSettings`) of a named model size.

    ``conv`` lists ``(channels, pool)`` per 3×3 conv layer of the encoder (pool = 2×2 max-pool
    after it); the decoder mirrors the pooled layers: one (upsample 2 → conv 3×3 tanh) per pool,
    with ``decoder`` output channels (``None``: the pooled layers' channels reversed, as in
    the paper), then a linear conv 3×3 to the variables. ``input_pool`` > 1 first averages
    the valid cells of each ``input_pool``² block (encoder input and reconstruction target):
    synoptic regimes are large-scale, and it divides the cost by about ``input_pool``².
    ``embedding`` is the Dense day embedding after the flattened CNN output (``None``: feed the
    flattened map to the RNN, as the paper does).
    ``reconstruct``: "window" decodes every day of the window from the latent vector (output
    channels W × variables), so the latent must carry the window's persistent state; "centre"
    decodes the centre day only (the paper). ``metric``: how the clustering layer (and the
    k-means init) measure distances between latent vectors
    (:func:`dsc_core.training.latent_metric`). ``rnn``: "gru" or "lstm"; ``dropout``: between
    stacked RNN layers and on the RNN's output (PyTorch's RNNs have no recurrent dropout, so
    the paper's recurrent dropout 0.1 is not reproduced).
    """

    conv: tuple[tuple[int, bool], ...]
    decoder: tuple[int, ...] | None
    input_pool: int | str  # cells per side of a pooled block, or "auto" (auto_pool)
    embedding: int | None
    rnn_hidden: int
    rnn_layers: int
    bidirectional: bool
    latent_dim: int
    latent_activation: str  # "sigmoid" (paper) or "linear"
    window: int
    reconstruct: str = "centre"
    metric: str = "latent"
    epoch_days: int | None = None
    rnn: str = "gru"
    dropout: float = 0.0
    extra: dict = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    # The reference notebooks' network (SPEC): conv 64-64-128-256-512 tanh, LSTM 512 ×2,
    # Dense 256 sigmoid; window 1 as published.
    "paper": Preset(
        conv=((64, False), (64, True), (128, True), (256, True), (512, True)),
        decoder=None,
        input_pool=1,
        embedding=None,
        rnn_hidden=512,
        rnn_layers=2,
        bidirectional=False,
        latent_dim=256,
        latent_activation="sigmoid",
        window=1,
        pretrain_epochs=30,
        max_epochs=30,
        gamma=1.0,
        tol=0.001,
        update_interval=50,
        batch_size=8,
        learning_rate=1e-4,
        rnn="lstm",  # the reference notebooks: LSTM 512 × 2, dropout 0.1
        dropout=0.1,
    ),
    # Sized for a 2-core laptop CPU; widths from SPEC's prototype. Chosen on the validation
    # suite's "choose" half (benchmarks/suite.py; benchmarks/README.md records what was tried):
    # latent 32 over 16, input pooling to ≤ 32 cells a side (cheaper, same ARI as 2), epochs
    # counted per 730 days, W = 3 over W = 1, γ = 1 over 0.1, the joint phase over none, and
    # the partition shared by four heads and the input's clusterings ("consensus") over raw latent
    # distances alone, which follow the dominant variance and clustered noise where the
    # regimes sat below it, and over a shared-covariance mixture alone, which fits chance
    # structure of persistent noise.
    "default": Preset(
        conv=((16, True), (32, True), (64, True)),
        decoder=(32, 16, 8),
        input_pool="auto",
        embedding=64,
        rnn_hidden=64,
        rnn_layers=1,
        bidirectional=True,
        latent_dim=32,
        latent_activation="linear",
        window=3,
        pretrain_epochs=20,
        max_epochs=15,
        gamma=1.0,
        tol=0.001,
        update_interval=12,
        batch_size=32,
        learning_rate=1e-3,
        epoch_days=730,
        metric="consensus",
    ),
    # Tiny network for tests and previews.
    "fast": Preset(
        conv=((8, True), (16, True)),
        decoder=(8, 8),
        input_pool=1,
        embedding=32,
        rnn_hidden=32,
        rnn_layers=1,
        bidirectional=True,
        latent_dim=8,
        latent_activation="linear",
        window=1,
        pretrain_epochs=10,
        max_epochs=10,
        gamma=0.1,
        tol=0.001,
        update_interval=10,
        batch_size=32,
        learning_rate=2e-3,
    ),
}


def get_preset(name: str, **overrides) -> Preset:
    """The preset ``name`` with ``overrides`` (preset field names) applied."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


class ClusteringLayer(nn.Module):
    """Student's-t soft assignment to learnable centroids (DEC).

    q_ij ∝ (1 + ‖s(z_i) − μ_j‖² / α)^(−(α+1)/2), rows normalised to 1, where
    s(z) = (z − shift) · metric is a fixed linear map of the latent vectors (buffers; the
    identity until :meth:`set_metric` sets it, see :mod:`dsc_core.training` for the choices).
    """

    def __init__(self, n_clusters: int, latent_dim: int, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.centroids = nn.Parameter(torch.zeros(n_clusters, latent_dim))
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("metric", torch.eye(latent_dim))

    def set_metric(self, shift: torch.Tensor, metric: torch.Tensor) -> None:
        """Fix s(z) = (z − ``shift``) · ``metric`` (latent × latent)."""
        self.shift.copy_(shift)
        self.metric.copy_(metric)

    def scaled(self, z: torch.Tensor) -> torch.Tensor:
        """s(z): the vectors the centroids live among, ``(day, latent)``."""
        return (z - self.shift) @ self.metric

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` (day, latent) → q (day, cluster)."""
        d2 = torch.cdist(self.scaled(z), self.centroids).pow(2)
        log_kernel = -(self.alpha + 1.0) / 2.0 * torch.log1p(d2 / self.alpha)
        return torch.softmax(log_kernel, dim=1)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's sharpened target: p_ij = (q_ij² / f_j) normalised over j, f_j = Σ_i q_ij."""
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)
    return weight / weight.sum(dim=1, keepdim=True)


def masked_mse(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over valid cells only; ``mask`` (y, x) bool, True = valid."""
    m = mask.to(x.dtype)
    diff = (x_hat - x).pow(2) * m
    return diff.sum() / (m.sum() * x.shape[0] * x.shape[1])


def pool_valid(x: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of the valid cells of each k×k block.

    ``(day, variable, y, x)`` and mask ``(y, x)`` → ``(day, variable, ⌈y/k⌉, ⌈x/k⌉)`` and the
    pooled mask (True where a block has a valid cell).
    """
    if k == 1:
        return x, mask
    m = mask.to(x.dtype)[None, None]
    pad = (0, -x.shape[-1] % k, 0, -x.shape[-2] % k)
    total = F.avg_pool2d(F.pad(x * m, pad), k)
    share = F.avg_pool2d(F.pad(m, pad), k)
    return total / share.clamp_min(1e-12), share[0, 0] > 0


MAX_POOLED_SIDE = 32


def auto_pool(grid: tuple[int, int]) -> int:
    """The smallest input pooling that brings the grid's longer side to ≤ 32 cells: regimes
    are large-scale, and the cost of the network grows with the pooled grid."""
    return max(1, -(-max(grid) // MAX_POOLED_SIDE))


def _activation(name: str) -> nn.Module:
    return nn.Sigmoid() if name == "sigmoid" else nn.Identity()


class DSCNet(nn.Module):
    """CNN(-RNN) autoencoder with a clustering layer.

    ``use_rnn=False`` drops the RNN (the day embedding feeds the latent Dense directly; window
    must then be 1); ``use_decoder=False`` drops the decoder (encoder-only ablations).
    Grids whose sides are not multiples of 2^pools are zero-padded inside and cropped back.
    """

    def __init__(
        self,
        n_variables: int,
        grid: tuple[int, int],
        n_clusters: int,
        preset: Preset,
        alpha: float = 1.0,
        use_rnn: bool = True,
        use_decoder: bool = True,
    ) -> None:
        super().__init__()
        self.input_pool = auto_pool(grid) if preset.input_pool == "auto" else preset.input_pool
        if preset.reconstruct not in ("window", "centre"):
            raise ConfigError(
                f"unknown reconstruct {preset.reconstruct!r}: use 'window' or 'centre'"
            )
        self.window = preset.window if preset.reconstruct == "window" else 1
        self.n_variables = n_variables
        self.grid = tuple(-(-g // self.input_pool) for g in grid)
        n_pools = sum(pool for _, pool in preset.conv)
        self.factor = 2**n_pools
        padded = [-(-g // self.factor) * self.factor for g in self.grid]
        self.pad = (0, padded[1] - self.grid[1], 0, padded[0] - self.grid[0])
        self.bottom = (padded[0] // self.factor, padded[1] // self.factor)

        layers: list[nn.Module] = []
        channels = n_variables
        for out, pool in preset.conv:
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.Tanh()]
            if pool:
                layers.append(nn.MaxPool2d(2))
            channels = out
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        flat = channels * self.bottom[0] * self.bottom[1]
        if preset.embedding:
            self.embedding = nn.Sequential(nn.Linear(flat, preset.embedding), nn.Tanh())
            emb_dim = preset.embedding
        else:
            self.embedding = nn.Identity()
            emb_dim = flat

        self.rnn: nn.Module | None = None
        if use_rnn:
            if preset.rnn not in ("gru", "lstm"):
                raise ConfigError(f"unknown rnn {preset.rnn!r}: use 'gru' or 'lstm'")
            cls = {"gru": nn.GRU, "lstm": nn.LSTM}[preset.rnn]
            self.rnn = cls(
                emb_dim,
                preset.rnn_hidden,
                num_layers=preset.rnn_layers,
                dropout=preset.dropout if preset.rnn_layers > 1 else 0.0,
                batch_first=True,
                bidirectional=preset.bidirectional,
            )
            head_in = preset.rnn_hidden * (2 if preset.bidirectional else 1)
        else:
            head_in = emb_dim
        self.dropout = preset.dropout
        self.to_latent = nn.Sequential(
            nn.Linear(head_in, preset.latent_dim), _activation(preset.latent_activation)
        )

        self.decoder: nn.Module | None = None
        if use_decoder:
            up_channels = preset.decoder or [c for c, pool in preset.conv if pool][::-1]
            if len(up_channels) != n_pools:
                raise ConfigError("a preset's decoder needs one channel count per pooling layer")
            dec: list[nn.Module] = [
                nn.Linear(preset.latent_dim, flat),
                nn.Unflatten(1, (channels, *self.bottom)),
            ]
            prev = channels
            for out in up_channels:
                dec += [nn.Upsample(scale_factor=2), nn.Conv2d(prev, out, 3, padding=1), nn.Tanh()]
                prev = out
            dec.append(nn.Conv2d(prev, self.window * n_variables, 3, padding=1))
            self.decoder = nn.Sequential(*dec)
        self.clustering = ClusteringLayer(n_clusters, preset.latent_dim, alpha)

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Days ``(day, variable, y, x)`` → embeddings ``(day, embedding)``, one pass per day."""
        x, _ = pool_valid(x, mask, self.input_pool)
        if any(self.pad):
            x = F.pad(x, self.pad)
        return self.embedding(self.cnn(x))

    def latent(self, emb: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(n, embedding)``, windows ``(day, W)`` (rows of emb) → ``(day, latent)``.

        The RNN runs over each window; its output at the centre step is read.
        """
        if self.rnn is None:
            return self.to_latent(emb[windows[:, windows.shape[1] // 2]])
        seq, _ = self.rnn(emb[windows])
        out = F.dropout(seq[:, windows.shape[1] // 2], self.dropout, self.training)
        return self.to_latent(out)

    def decode(self, z: torch.Tensor) -> torch.Tensor | None:
        """Latent ``(day, latent)`` → reconstruction ``(day, W', variable, y', x')`` of the
        window's days (W' = W when ``reconstruct`` is "window", else 1: the centre day), on the
        grid pooled by ``input_pool``; ``None`` without a decoder."""
        if self.decoder is None:
            return None
        out = self.decoder(z)[..., : self.grid[0], : self.grid[1]]
        return out.reshape(len(z), self.window, self.n_variables, *self.grid)

    def recon_target(
        self, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Days ``(day, variable, y, x)`` → targets ``(day, variable, y', x')`` pooled like
        the input, and their mask ``(y', x')``."""
        return pool_valid(x, mask, self.input_pool)

    def recon_loss(self, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked MSE between ``decode(z)`` and the targets of each day's window ``target``
        ``(day, W, variable, y', x')`` (only the centre day when reconstructing the centre)."""
        if self.window == 1:
            target = target[:, target.shape[1] // 2, None]
        out = self.decode(z)
        return masked_mse(out.flatten(0, 1), target.flatten(0, 1), mask)


class DenseAutoencoder(nn.Module):
    """DEC's dense autoencoder (d-500-500-2000-latent, ReLU) on the flattened day.

    Padding cells are zero in every day, so flattening the padded grid only adds dead inputs;
    the masked loss ignores them on the output side. Windows are ignored (centre day only).
    """

    def __init__(
        self,
        n_variables: int,
        grid: tuple[int, int],
        n_clusters: int,
        latent_dim: int = 10,
        hidden: tuple[int, ...] = (500, 500, 2000),
        alpha: float = 1.0,
    ) -> None:
        super().__init__()
        d = n_variables * grid[0] * grid[1]
        sizes = [d, *hidden]
        enc: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(nn.Flatten(), *enc, nn.Linear(sizes[-1], latent_dim))
        dec: list[nn.Module] = []
        back = [latent_dim, *hidden[::-1]]
        for a, b in zip(back[:-1], back[1:], strict=True):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.decoder = nn.Sequential(
            *dec, nn.Linear(back[-1], d), nn.Unflatten(1, (n_variables, *grid))
        )
        self.clustering = ClusteringLayer(n_clusters, latent_dim, alpha)

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Days ``(day, variable, y, x)`` → latent ``(day, latent)``."""
        return self.encoder(x * mask)

    def latent(self, emb: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Centre day's latent vector: ``(day, latent)``."""
        return emb[windows[:, windows.shape[1] // 2]]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``(day, latent)`` → ``(day, variable, y, x)``."""
        return self.decoder(z)

    def recon_target(
        self, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The days themselves and the mask (no pooling)."""
        return x, mask

    def recon_loss(self, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked MSE between ``decode(z)`` and the centre days of ``target``
        ``(day, W, variable, y, x)``."""
        return masked_mse(self.decode(z), target[:, target.shape[1] // 2], mask)


DTC_POOLED_SIDE = 8


class TemporalAutoencoder(nn.Module):
    """DTC (deep temporal clustering, Madiraju et al. 2018) adapted to days of maps.

    A day's window of W days is a series of W steps; a step is the day's valid cells pooled to
    at most 8 × 8 and flattened (variable · y' · x' features). Encoder: a temporal convolution
    (kernel 3, ``hidden`` filters, leaky ReLU), then two bidirectional LSTMs (``hidden``, then
    ``latent_units`` units a direction): the latent is that sequence of W steps, flattened
    (W · 2 · latent_units). Decoder: each latent step back to its day's pooled map (dense,
    shared over steps). Clustering: the Student's t layer on the latent sequence (Euclidean
    distance, one of DTC's similarity options). Our adaptation: the published DTC runs on one
    long series per sample, with max-pooling over time and a deconvolution decoder.
    """

    def __init__(
        self,
        n_variables: int,
        grid: tuple[int, int],
        n_clusters: int,
        window: int,
        hidden: int = 50,
        latent_units: int = 8,
        alpha: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_pool = max(1, -(-max(grid) // DTC_POOLED_SIDE))
        self.grid = tuple(-(-g // self.input_pool) for g in grid)
        self.n_variables = n_variables
        self.window = window
        features = n_variables * self.grid[0] * self.grid[1]
        self.conv = nn.Conv1d(features, hidden, 3, padding=1)
        self.lstm1 = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(2 * hidden, latent_units, batch_first=True, bidirectional=True)
        self.decoder = nn.Sequential(
            nn.Linear(2 * latent_units, hidden), nn.LeakyReLU(), nn.Linear(hidden, features)
        )
        self.clustering = ClusteringLayer(n_clusters, window * 2 * latent_units, alpha)

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Days ``(day, variable, y, x)`` → pooled, flattened steps ``(day, features)``."""
        pooled, _ = pool_valid(x * mask.to(x.dtype), mask, self.input_pool)
        return pooled.flatten(1)

    def latent(self, emb: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Steps ``(n, features)``, windows ``(day, W)`` → latent sequences ``(day, W·2·units)``."""
        seq = F.leaky_relu(self.conv(emb[windows].transpose(1, 2))).transpose(1, 2)
        seq, _ = self.lstm1(seq)
        seq, _ = self.lstm2(seq)
        return seq.flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``(day, W·2·units)`` → the window's pooled maps ``(day, W, variable, y', x')``."""
        steps = self.decoder(z.reshape(len(z), self.window, -1))
        return steps.reshape(len(z), self.window, self.n_variables, *self.grid)

    def recon_target(
        self, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Days pooled like the encoder's steps, and their mask ``(y', x')``."""
        return pool_valid(x, mask, self.input_pool)

    def recon_loss(self, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked MSE between ``decode(z)`` and the window's targets ``(day, W, variable, y',
        x')``."""
        return masked_mse(self.decode(z).flatten(0, 1), target.flatten(0, 1), mask)
