"""dsc_core.Regimes, the xarray front door: fit on a Dataset or DataArray along a named time
dimension, results as labelled xarray objects, new days predicted, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

import dsc_core
from dsc_core.errors import ConfigError, DSCError
from dsc_core.pipeline import RunConfig, run
from dsc_core.trust import warnings_for

BOX = (36.0, 40.0, -30.0, -26.0)


@pytest.fixture(scope="module")
def two_winters():
    """Two DJF seasons of the sample as a CF-named DataArray stack: lat/lon, valid_time,
    variables on a ``variable`` dimension (as ``Dataset.to_dataarray`` makes them)."""
    ds = dsc_core.sample(start="2021-01-01", end="2022-12-31")[["t2m", "sp", "u10"]]
    ds = ds.sel(time=ds["time.season"] == "DJF")
    stacked = ds.to_dataarray(dim="variable")
    return stacked.rename(time="valid_time", latitude="lat", longitude="lon")


def test_a_season_of_a_dataset_gives_labelled_results_as_the_pipeline_s():
    ds = dsc_core.sample()
    model = dsc_core.Regimes(4, "kmeans", months="DJF", bbox=BOX).fit(ds)
    labels = model.labels_
    assert isinstance(labels, xr.DataArray) and labels.dims == ("time",)
    assert labels.sizes["time"] == 90 and set(labels["time.month"].values) == {12, 1, 2}
    assert model.probabilities_.dims == ("time", "cluster")
    np.testing.assert_allclose(model.probabilities_.sum("cluster"), 1, rtol=1e-5)
    composites = model.composites_
    assert composites["anomaly"].dims == ("cluster", "variable", "latitude", "longitude")
    assert set(composites["variable"].values) == {"sst", "t2m", "sp", "sshf", "slhf", "u10", "v10"}
    assert composites["significant"].dtype == bool
    same = run(RunConfig(clusters=4, method="kmeans", months=[12, 1, 2], bbox=BOX), data=ds)
    np.testing.assert_array_equal(labels.values, same.labels.values)
    truth = ds["regime"].sel(time=labels["time"]).values
    assert adjusted_rand_score(truth, labels.values) > 0.5  # the sample's planted regimes


def test_a_dataarray_with_its_own_names_fits_predicts_and_saves(two_winters, tmp_path):
    model = dsc_core.Regimes(3, "dsc", preset="fast", params={"pretrain_epochs": 2,
                             "max_epochs": 2}, random_state=1)  # fmt: skip
    labels = model.fit_predict(two_winters, dim="valid_time")
    assert (
        labels.dims == ("valid_time",)
        and labels.sizes["valid_time"] == two_winters.sizes["valid_time"]
    )
    assert model.latent_.dims[0] == "valid_time"
    assert set(model.composites_["variable"].values) == {"t2m", "sp", "u10"}
    assert "silhouette_euclidean" in model.scores_
    new = model.predict(two_winters.isel(valid_time=slice(0, 50)))
    assert new.dims == ("valid_time",) and new.sizes["valid_time"] == 50
    np.testing.assert_array_equal(new["valid_time"].values, two_winters["valid_time"].values[:50])
    saved = dsc_core.runs.load_run(model.save(tmp_path / "winters"))
    np.testing.assert_array_equal(saved.labels.values, labels.values)
    # the warnings are the sentences the stored trust numbers call for, and are stored
    trust = saved.metrics["trust"]
    assert model.warnings_ == trust["warnings"] == warnings_for("dsc", trust)


def test_bad_input_is_refused_in_one_line(two_winters):
    model = dsc_core.Regimes(3, "kmeans")
    with pytest.raises(ConfigError, match="no dimension 'time'.*dim="):
        model.fit(two_winters)  # its time dimension is valid_time
    with pytest.raises(ConfigError, match="got ndarray"):
        model.fit(two_winters.values)
    with pytest.raises(NotFittedError):
        model.predict(two_winters, dim="valid_time")
    with pytest.raises(DSCError, match="months 'XYZ'"):
        dsc_core.Regimes(3, months="XYZ").fit(two_winters, dim="valid_time")
    assert clone(dsc_core.Regimes(5, months="DJF")).get_params()["months"] == "DJF"
