"""Every method of METHODS behind make_estimator's one interface."""

import numpy as np
import pytest

from dsc_core.baselines import DEC, METHODS, make_estimator
from dsc_core.errors import ConfigError

QUICK = {"preset": "fast", "pretrain_epochs": 2, "max_epochs": 1, "batch_size": 16, "window": 3}


def _days(n=40, seed=0):
    """Tiny (day, variable, y, x) data: two persistent patterns plus noise; mask (y, x)."""
    rng = np.random.default_rng(seed)
    patterns = np.kron(rng.normal(size=(2, 3, 2, 2)), np.ones((8, 8)))
    truth = (np.arange(n) // 5) % 2
    x = (patterns[truth] + 0.5 * rng.normal(size=(n, 3, 16, 16))).astype(np.float32)
    mask = np.ones((16, 16), bool)
    mask[:2, :3] = False
    x[:, :, ~mask] = 0
    return x, mask, truth


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_runs(method):
    x, mask, truth = _days()
    est = make_estimator(method, 2, random_state=0, **QUICK)
    labels = est.fit_predict(x, mask)
    assert labels.shape == (40,) and np.array_equal(labels, est.labels_)
    assert est.predict(x).shape == (40,)
    assert est.transform(x).shape[0] == 40
    q = est.soft_assignments(x)
    assert q.shape == (40, 2) and np.allclose(q.sum(1), 1, atol=1e-5)


def test_classical_methods_find_planted_split():
    x, mask, truth = _days()
    for method in ("kmeans", "pca-kmeans", "pca-gmm", "agglomerative"):
        labels = make_estimator(method, 2, random_state=0).fit_predict(x, mask)
        assert abs(np.corrcoef(labels, truth)[0, 1]) > 0.99, method


def test_dec_save_load(tmp_path):
    x, mask, _ = _days()
    dec = make_estimator("dec", 2, random_state=0, pretrain_epochs=2, max_epochs=1)
    dec.fit(x, mask)
    dec.save(tmp_path / "dec")
    np.testing.assert_array_equal(DEC.load(tmp_path / "dec").predict(x), dec.predict(x))


def test_unknown_method():
    with pytest.raises(ConfigError, match="kmeans"):
        make_estimator("spectral", 3)
