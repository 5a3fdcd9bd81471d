"""The DSC network pieces: shapes, masked loss, clustering layer, one encoding per day."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from dsc_core.days import Days, window_indices
from dsc_core.model import (
    ClusteringLayer,
    DenseAutoencoder,
    DSCNet,
    get_preset,
    masked_mse,
    pool_valid,
    target_distribution,
)
from dsc_core.training import encode_all, latent_metric, latent_of, tied_mixture


def _net(grid=(16, 16), **overrides) -> DSCNet:
    torch.manual_seed(0)
    return DSCNet(3, grid, 4, get_preset("fast", **overrides))


@pytest.mark.parametrize("grid", [(16, 16), (13, 18)])
def test_shapes(grid):
    net = _net(grid)
    x = torch.randn(6, 3, *grid)
    emb = net.embed(x, torch.ones(grid, dtype=torch.bool))
    assert emb.shape == (6, 32)
    windows = torch.as_tensor(window_indices(6, 3))
    z = net.latent(emb, windows)
    assert z.shape == (6, 8)
    assert net.decode(z).shape == (6, 1, 3, *grid)
    assert net.clustering(z).shape == (6, 4)
    net = _net(grid, window=3, reconstruct="window")
    assert net.decode(z).shape == (6, 3, 3, *grid)


def test_input_pool_reconstructs_pooled_grid():
    net = _net((16, 16), input_pool=2)
    mask = torch.ones(16, 16, dtype=torch.bool)
    z = net.latent(net.embed(torch.randn(2, 3, 16, 16), mask), torch.arange(2)[:, None])
    assert net.decode(z).shape == (2, 1, 3, 8, 8)
    target, tmask = net.recon_target(torch.randn(2, 3, 16, 16), mask)
    assert target.shape == (2, 3, 8, 8) and tmask.shape == (8, 8)


def test_pool_valid_averages_valid_cells_only():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[0, 0] = False
    pooled, pmask = pool_valid(x * mask, mask, 2)
    assert pooled[0, 0, 0, 0].item() == pytest.approx((1 + 4 + 5) / 3)
    assert pmask.all()


def test_masked_loss_ignores_masked_cells():
    net = _net()
    mask = torch.ones(16, 16, dtype=torch.bool)
    mask[:3] = False
    x = torch.randn(4, 1, 3, 16, 16)
    z = torch.randn(4, 8)
    before = net.recon_loss(z, x, mask)
    x2 = x.clone()
    x2[..., 1, 5] = 100.0
    assert net.recon_loss(z, x2, mask).item() == pytest.approx(before.item())
    x2[..., 8, 5] = 100.0
    assert net.recon_loss(z, x2, mask).item() > before.item()
    assert masked_mse(x[:, 0], x[:, 0], mask).item() == 0.0


@pytest.mark.parametrize("reconstruct", ["window", "centre"])
def test_window_reconstruction_covers_every_day(reconstruct):
    """Window reconstruction: every day's target enters the loss; centre: only the centre's."""
    net = _net(window=5, reconstruct=reconstruct)
    mask = torch.ones(16, 16, dtype=torch.bool)
    z = torch.randn(2, 8)
    target = torch.randn(2, 5, 3, 16, 16)
    before = net.recon_loss(z, target, mask).item()
    for offset in range(5):
        changed = target.clone()
        changed[:, offset] += 10.0
        differs = net.recon_loss(z, changed, mask).item() != pytest.approx(before)
        assert differs == (reconstruct == "window" or offset == 2), offset


@pytest.mark.parametrize("kind", ["latent", "standardized"])
def test_latent_metric_scales_to_latent_size(kind):
    torch.manual_seed(0)
    z = torch.randn(200, 2) * torch.tensor([100.0, 0.01]) + 5.0
    shift, metric = latent_metric(z, kind)
    s = (z - shift) @ metric
    assert torch.allclose(s.mean(0), torch.zeros(2), atol=1e-3)
    assert s.pow(2).sum(1).mean().item() == pytest.approx(2.0, rel=1e-4)
    ratio = (s.std(0)[0] / s.std(0)[1]).item()
    assert ratio == pytest.approx(1.0, rel=1e-3) if kind == "standardized" else ratio > 1e3


def test_field_metric_measures_distances_between_decoded_maps():
    """A latent dim the decoder ignores gets no weight; one it amplifies gets the most."""
    torch.manual_seed(0)
    z = torch.randn(300, 3) * torch.tensor([1.0, 50.0, 1.0])
    weights = torch.zeros(3, 2, 4, 4)
    weights[0] = 10.0  # dim 0 drives every cell strongly
    weights[2, 0] = 1.0  # dim 2 weakly, one variable; dim 1 (largest raw variance) not at all

    def decode(zz):
        return torch.einsum("dl,lvyx->dvyx", zz, weights)[:, None]

    shift, metric = latent_metric(z, "field", decode, torch.ones(4, 4, dtype=torch.bool))
    s = (z - shift) @ metric
    assert s.pow(2).sum(1).mean().item() == pytest.approx(3.0, rel=1e-4)
    dim_effect = [(torch.eye(3)[i] @ metric).norm().item() for i in range(3)]
    assert dim_effect[1] < 1e-6 * dim_effect[0] and dim_effect[0] > 5 * dim_effect[2]
    layer = ClusteringLayer(2, 3)
    layer.set_metric(shift, metric)
    assert torch.allclose(layer.scaled(z), s) and {"shift", "metric"} <= set(layer.state_dict())


def test_tied_mixture_finds_regimes_below_a_larger_noise_mode():
    """Two regimes split along a direction with less variance than a Gaussian noise mode:
    k-means cuts the noise mode, the shared-covariance mixture finds the regimes."""
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 300)
    s = rng.normal(size=(600, 4)) * [4.0, 1.0, 1.0, 1.0]
    s[:, 1] += np.where(truth == 1, 3.0, -3.0)
    kmeans = KMeans(2, n_init=10, random_state=0).fit_predict(s)
    assert adjusted_rand_score(truth, kmeans) < 0.1
    whiten, centres, labels = tied_mixture(s, 2, seed=0, n_init=10)
    assert adjusted_rand_score(truth, labels) > 0.9
    w = s @ whiten
    assert (w**2).sum(1).mean() == pytest.approx(4.0, rel=1e-6)
    nearest = ((w[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    assert adjusted_rand_score(truth, nearest) > 0.9  # the Student's t measures the same


def test_student_t_rows_sum_to_one_and_target_sharpens():
    torch.manual_seed(0)
    layer = ClusteringLayer(5, 3, alpha=1.0)
    with torch.no_grad():
        layer.centroids.copy_(torch.randn(5, 3))
    q = layer(torch.randn(50, 3))
    assert torch.allclose(q.sum(1), torch.ones(50))
    p = target_distribution(q)
    assert torch.allclose(p.sum(1), torch.ones(50))
    assert (p.max(1).values >= q.max(1).values - 1e-6).all()


def test_each_day_encoded_once():
    net = _net()
    seen = []
    net.cnn.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    x = Days(torch.randn(40, 3, 16, 16), torch.device("cpu"))
    mask = torch.ones(16, 16, dtype=torch.bool)
    windows = window_indices(40, 5)
    z = latent_of(net, x, mask, windows, np.arange(10, 20))
    assert z.shape == (10, 8) and seen == [14]  # days 8..21, not 10 × 5
    seen.clear()
    assert encode_all(net, x, mask, windows).shape == (40, 8)
    assert sum(seen) == 40


def test_dense_autoencoder_shapes():
    net = DenseAutoencoder(3, (16, 16), 4, latent_dim=5, hidden=(20, 20, 30))
    mask = torch.ones(16, 16, dtype=torch.bool)
    x = torch.randn(7, 3, 16, 16)
    z = net.latent(net.embed(x, mask), torch.arange(7)[:, None])
    assert z.shape == (7, 5)
    assert net.decode(z).shape == x.shape
    assert net.recon_loss(z, x[:, None], mask).ndim == 0


def test_paper_preset_carries_its_lstm_and_dropout():
    net = DSCNet(2, (16, 16), 3, get_preset("paper"))
    assert isinstance(net.rnn, torch.nn.LSTM) and net.rnn.num_layers == 2
    assert net.rnn.hidden_size == 512 and net.rnn.dropout == pytest.approx(0.1)
    assert net.dropout == pytest.approx(0.1)
    assert isinstance(DSCNet(2, (16, 16), 3, get_preset("paper", rnn="gru")).rnn, torch.nn.GRU)
    assert isinstance(DSCNet(2, (16, 16), 3, get_preset("default")).rnn, torch.nn.GRU)
