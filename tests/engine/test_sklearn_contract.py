"""DSC keeps scikit-learn's estimator contract in its documented 2-D form (day, feature).

Every check runs; the only ones expected to fail are those where a day's latent vector
depends on its neighbouring rows, which is the point of a windowed model.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from dsc_core.errors import DataError
from dsc_core.estimator import DSC

WINDOWED = (
    "rows are consecutive days and a day's latent vector reads its neighbours in the window, "
    "so reordering or subsetting the rows changes the result by design"
)
FEW_EPOCHS = {"pretrain_epochs": 3, "max_epochs": 3}  # the contract, not the quality


def expected_failures(estimator: DSC) -> dict[str, str]:
    if estimator.window == 1:
        return {}
    return {
        "check_methods_sample_order_invariance": WINDOWED,
        "check_methods_subset_invariance": WINDOWED,
    }


@parametrize_with_checks(
    [
        DSC(n_clusters=3, preset="fast", window=3, random_state=0, **FEW_EPOCHS),
        DSC(n_clusters=3, preset="fast", window=1, random_state=0, **FEW_EPOCHS),
    ],
    expected_failed_checks=expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    if check.func.__name__ == "check_clustering":  # asks for a good clustering of blobs
        estimator.set_params(pretrain_epochs=None, max_epochs=None)  # the preset's epochs
    check(estimator)


def test_two_d_days_take_the_given_day_shape():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2 * 3 * 4)).astype(np.float32)
    model = DSC(2, preset="fast", max_epochs=1, pretrain_epochs=1, day_shape=(2, 3, 4))
    latent = model.fit_transform(X)
    assert model.grid_shape_ == (3, 4) and model.n_variables_ == 2
    assert model.n_features_in_ == 24 and latent.shape == (30, 8)
    assert list(model.get_feature_names_out()[:2]) == ["dsc0", "dsc1"]
    with pytest.raises(DataError, match="day_shape"):
        DSC(2, preset="fast", day_shape=(5, 3, 4)).fit(X)


def test_nan_and_complex_input_get_scikit_learns_messages():
    X = np.ones((10, 4))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        DSC(2, preset="fast").fit(X)
    with pytest.raises(ValueError, match="Complex data not supported"):
        DSC(2, preset="fast").fit(np.ones((10, 4)) + 1j)
