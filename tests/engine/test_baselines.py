"""Every method of METHODS behind make_estimator's one interface."""

import numpy as np
import pytest
import torch
from tiny_data import tiny_days

from dsc_core.baselines import DEC, METHODS, make_estimator
from dsc_core.errors import ConfigError

QUICK = {"preset": "fast", "pretrain_epochs": 2, "max_epochs": 1, "batch_size": 16, "window": 3}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_runs(method):
    x, mask, truth = tiny_days()
    est = make_estimator(method, 2, random_state=0, **QUICK)
    labels = est.fit_predict(x, mask=mask)
    assert labels.shape == (40,) and np.array_equal(labels, est.labels_)
    assert est.predict(x).shape == (40,)
    assert est.transform(x).shape[0] == 40
    q = est.soft_assignments(x)
    assert q.shape == (40, 2) and np.allclose(q.sum(1), 1, atol=1e-5)


def test_classical_methods_find_planted_split():
    x, mask, truth = tiny_days()
    for method in ("kmeans", "pca-kmeans", "pca-gmm", "agglomerative"):
        labels = make_estimator(method, 2, random_state=0).fit_predict(x, mask=mask)
        assert abs(np.corrcoef(labels, truth)[0, 1]) > 0.99, method


def test_dec_save_load(tmp_path):
    x, mask, _ = tiny_days()
    dec = make_estimator("dec", 2, random_state=0, pretrain_epochs=2, max_epochs=1)
    dec.fit(x, mask=mask)
    dec.save(tmp_path / "dec")
    np.testing.assert_array_equal(DEC.load(tmp_path / "dec").predict(x), dec.predict(x))


def test_unknown_method():
    with pytest.raises(ConfigError, match="kmeans"):
        make_estimator("spectral", 3)


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "pca-kmeans", "pca-gmm"])
def test_classical_baselines_save_and_load(method, tmp_path):
    from dsc_core.runs import _load_estimator

    x, mask, _ = tiny_days()
    est = make_estimator(method, 2, random_state=0).fit(x, mask=mask)
    again = _load_estimator(est.save(tmp_path / "model"))
    assert type(again) is type(est)
    np.testing.assert_array_equal(again.predict(x), est.predict(x))
    np.testing.assert_allclose(again.soft_assignments(x), est.soft_assignments(x))
    np.testing.assert_array_equal(again.labels_, est.labels_)


def test_dec_follows_the_reference_latent_with_the_paper_preset():
    assert make_estimator("dec", 4, preset="paper").latent_dim == 150
    assert make_estimator("dec", 4, preset="default").latent_dim == 10
    assert make_estimator("dec", 4, preset="paper", latent_dim=20).latent_dim == 20


def test_dtc_reads_windows_of_days_and_finds_the_planted_split(tmp_path):
    from dsc_core.runs import _load_estimator

    x, mask, truth = tiny_days()
    dtc = make_estimator("dtc", 2, random_state=0, pretrain_epochs=8, max_epochs=4)
    labels = dtc.fit_predict(x, mask=mask)
    assert dtc.window_ == 7 and dtc.model_.latent(dtc.model_.embed(
        torch.from_numpy(x), torch.from_numpy(mask)), torch.zeros((1, 7), dtype=torch.long)
    ).shape == (1, 7 * 2 * 8)  # fmt: skip
    assert abs(np.corrcoef(labels, truth)[0, 1]) > 0.9
    again = _load_estimator(dtc.save(tmp_path / "dtc"))
    np.testing.assert_array_equal(again.predict(x), dtc.predict(x))


def test_a_parameter_no_method_takes_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match="'pretrain_epoch'"):
        make_estimator("dsc", 3, pretrain_epoch=2)  # a typo of pretrain_epochs
    assert make_estimator("kmeans", 3, pretrain_epochs=2).n_clusters == 3  # DSC's: ignored


def test_classical_baselines_are_scikit_learn_estimators_and_refuse_an_unknown_kind():
    from sklearn.base import clone

    from dsc_core.baselines import FeatureClusterer

    X, mask, _ = tiny_days()
    est = make_estimator("pca-kmeans", 2, random_state=0)
    twin = clone(est).set_params(random_state=0)
    assert twin.get_params()["n_components"] == est.get_params()["n_components"] == 15
    np.testing.assert_array_equal(twin.fit_predict(X, mask=mask), est.fit(X, mask=mask).labels_)
    with pytest.raises(ConfigError, match="unknown kind 'ward'"):
        FeatureClusterer("ward", 2).fit(X, mask=mask)
