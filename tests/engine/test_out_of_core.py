"""Out of core: blocks of days in preprocessing and composites, days read from a Zarr store,
and a run whose days exceed its memory budget giving what the in-memory run gives."""

import numpy as np
import pytest
import zarr
from sklearn.metrics import adjusted_rand_score
from tiny_data import tiny_days

import dsc_core
import dsc_core.blocks
import dsc_core.data.io
import dsc_core.preprocess as preprocess
from dsc_core.baselines import make_estimator
from dsc_core.composites import cluster_composites, composite_of_days
from dsc_core.errors import Cancelled, ConfigError
from dsc_core.estimator import DSC
from dsc_core.pipeline import RunConfig, run, score_sample
from dsc_core.training import batches

BBOX = (35.0, 38.0, -30.0, -27.0)
DEEP = {"preset": "fast", "window": 3, "pretrain_epochs": 2, "max_epochs": 2, "batch_size": 8}


@pytest.fixture(scope="module")
def year():
    ds = dsc_core.sample(start="2021-01-01", end="2021-12-31")
    ds["t2m"][10:20, 3:6, 2:5] = np.nan  # missing values in the sums
    return ds


def _on_disk(x: np.ndarray, path, chunk: int = 8) -> zarr.Array:
    z = zarr.open_array(path, mode="w", shape=x.shape, chunks=(chunk, *x.shape[1:]), dtype="f4")
    z[:] = x
    return zarr.open_array(path, mode="r")


def test_preprocessing_in_small_blocks_matches_one_block(year, monkeypatch):
    whole = preprocess.Preprocessor(deseasonalize=True, area_weighting=True)
    x = whole.fit_transform(year)
    monkeypatch.setattr(dsc_core.blocks, "BLOCK_BYTES", 2**19)  # five days a block
    assert len(dsc_core.blocks.time_blocks(365, 8 * 7 * 41 * 41)) > 50
    blocks = preprocess.Preprocessor(deseasonalize=True, area_weighting=True)
    np.testing.assert_allclose(blocks.fit_transform(year), x, atol=1e-5)
    np.testing.assert_allclose(blocks.std_.values, whole.std_.values, rtol=1e-9)
    np.testing.assert_array_equal(blocks.mask_, whole.mask_)


def test_dask_backed_days_are_read_a_chunk_of_days_at_a_time(year, monkeypatch):
    monkeypatch.setattr(dsc_core.blocks, "BLOCK_BYTES", 8 * 7 * 41 * 41 * 10)  # 10 days a block
    blocks = dsc_core.blocks.read_blocks(year.chunk({"time": 25}), 8 * 7 * 41 * 41)
    days = [b for b, _ in blocks]
    assert [d.start for d in days] == sorted(d.start for d in days)
    assert sum(d.stop - d.start for d in days) == 365
    assert all(d.start // 25 == (d.stop - 1) // 25 for d in days)  # no block spans two chunks
    part = blocks[3][1]()
    assert part["t2m"].chunks is None  # read into memory
    np.testing.assert_array_equal(part["t2m"].values, year["t2m"].values[days[3]])


def test_transform_writes_into_a_zarr_array(year, tmp_path):
    pre = preprocess.Preprocessor(deseasonalize=True).fit(year)
    out = zarr.open_array(tmp_path / "d.zarr", mode="w", shape=(365, 7, 48, 48), dtype="f4")
    pre.transform(year, out=out)
    np.testing.assert_array_equal(out[:], pre.transform(year))
    with pytest.raises(Exception, match="out has shape"):
        pre.transform(year, out=np.zeros((3, 7, 48, 48), np.float32))


def test_dsc_trains_from_days_on_disk_as_from_memory(tmp_path):
    x, mask, truth = tiny_days(n=64)
    in_memory = DSC(2, random_state=0, device="cpu", **DEEP).fit(x, mask=mask)
    stored = _on_disk(x, tmp_path / "x")  # 8 chunks: shuffled as a whole, as in memory
    on_disk = DSC(2, random_state=0, device="cpu", **DEEP).fit(stored, mask=mask)
    np.testing.assert_array_equal(on_disk.labels_, in_memory.labels_)
    np.testing.assert_allclose(on_disk.transform(stored), in_memory.transform(x), atol=1e-6)
    # small chunks: shuffled a group of chunks at a time, each chunk read about once an epoch
    many = _on_disk(x, tmp_path / "y", chunk=3)
    grouped = DSC(2, random_state=0, device="cpu", **DEEP).fit(many, mask=mask)
    assert adjusted_rand_score(truth, grouped.labels_) > 0.9


def test_an_epoch_from_disk_visits_every_day_once_a_group_of_chunks_at_a_time():
    rng = np.random.default_rng(0)
    days = np.concatenate(batches(1000, 32, 5, rng, stored=10))
    assert sorted(days.tolist()) == list(range(1000))
    first_group = days[: 8 * 10] // 10  # the first 80 days come from 8 chunks
    assert len(set(first_group.tolist())) == 8


def test_pca_kmeans_streams_days_on_disk(tmp_path, monkeypatch):
    x, mask, truth = tiny_days(n=80)
    monkeypatch.setattr(dsc_core.blocks, "BLOCK_BYTES", 8 * 3 * 256 * 9)  # blocks of 9 days
    est = make_estimator("kmeans", 2, random_state=0, n_components=5)
    labels = est.fit(_on_disk(x, tmp_path / "x"), mask=mask).labels_
    assert type(est.pca_).__name__ == "IncrementalPCA"
    assert adjusted_rand_score(truth, labels) > 0.9
    np.testing.assert_array_equal(est.predict(x), labels)  # in memory or on disk, same features


def test_cluster_composites_of_lazy_fields_match_the_in_memory_ones(year, monkeypatch):
    fields = year[["t2m", "sp", "u10"]].assign(mask=year["mask"])
    labels = year["regime"].values
    monkeypatch.setattr(dsc_core.blocks, "BLOCK_BYTES", 2**17)
    lazy = cluster_composites(fields.chunk({"time": 30}), labels)
    for k in range(int(labels.max()) + 1):
        one = composite_of_days(fields, labels == k)
        np.testing.assert_allclose(lazy["anomaly"][k], one["anomaly"], rtol=1e-4, atol=1e-2)
        assert (lazy["significant"][k].values == one["significant"].values).mean() > 0.999
        assert int(lazy["count"][k]) == int(one["count"])


def test_score_sample_bounds_days_and_values():
    assert score_sample(365, 11767, 0) is None
    days = score_sample(3653, 11767, 0)
    assert 500 <= len(days) < 3653 and days.tolist() == sorted(set(days.tolist()))
    assert len(days) * 11767 <= 16_000_000
    np.testing.assert_array_equal(days, score_sample(3653, 11767, 0))  # seeded


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory, year):
    path = tmp_path_factory.mktemp("data") / "year.nc"
    year.sel(latitude=slice(BBOX[1], BBOX[0]) if year.latitude[0] > year.latitude[-1]
             else slice(BBOX[0], BBOX[1])).to_netcdf(path)  # fmt: skip
    return str(path)


def test_a_run_over_its_memory_budget_matches_the_in_memory_run(sample_file, tmp_path, monkeypatch):
    monkeypatch.setenv("DSC_SCRATCH", str(tmp_path))
    # 120 days in stored chunks of a few days, shuffled as a whole as in memory, so the same labels
    cfg = RunConfig(data=sample_file, clusters=3, preset="fast", device="cpu",
                    end="2021-04-30", params={"pretrain_epochs": 2, "max_epochs": 1})  # fmt: skip
    in_memory = run(cfg)
    monkeypatch.setattr(dsc_core.data, "IN_MEMORY_BYTES", 0)  # the file stays dask-backed,
    monkeypatch.setattr(dsc_core.data.io, "CHUNK_SIZE", "256KiB")  # in chunks of days
    on_disk = run(RunConfig(**{**cfg.to_dict(), "memory_budget": 1e-6}))
    assert on_disk.fields["t2m"].chunks is not None  # lazy fields, read a chunk at a time
    assert not in_memory.metrics["days_on_disk"] and on_disk.metrics["days_on_disk"]
    np.testing.assert_array_equal(on_disk.labels.values, in_memory.labels.values)
    np.testing.assert_allclose(on_disk.composites["anomaly"], in_memory.composites["anomaly"],
                               rtol=1e-4, atol=1e-3)  # fmt: skip
    assert "principal components" in on_disk.metrics["reference"]["note"]
    assert list(tmp_path.iterdir()) == []  # the Zarr store is gone


def test_a_cancelled_run_on_disk_leaves_no_store(sample_file, tmp_path, monkeypatch):
    monkeypatch.setenv("DSC_SCRATCH", str(tmp_path))

    def cancel(event):
        if event.phase == "pretrain":
            assert len(list(tmp_path.iterdir())) == 1  # the store exists while training
            raise Cancelled("stopped by the user")

    cfg = RunConfig(data=sample_file, clusters=3, preset="fast", device="cpu", memory_budget=1e-6)
    with pytest.raises(Cancelled):
        run(cfg, callbacks=[cancel])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="memory"):
        run(RunConfig(**{**cfg.to_dict(), "surrogates": 2}))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scratch", ["missing", "a-file"])
def test_a_scratch_folder_that_is_not_one_is_a_clear_error(
    sample_file, tmp_path, scratch, monkeypatch
):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("DSC_SCRATCH", str(tmp_path / scratch))
    cfg = RunConfig(data=sample_file, clusters=3, preset="fast", device="cpu", memory_budget=1e-6)
    with pytest.raises(ConfigError, match="is not a folder: create it, or unset DSC_SCRATCH"):
        run(cfg)


def test_scratch_stores_of_killed_processes_are_cleared(tmp_path, monkeypatch):
    import os
    import socket
    import subprocess
    import sys

    from dsc_core.pipeline import clear_stale_scratch

    monkeypatch.setenv("DSC_SCRATCH", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    host = socket.gethostname()
    for name in (f"dsc-days-{host}-{gone}-abc", f"dsc-days-{host}-{os.getpid()}-def",
                 f"dsc-days-another-host-{gone}-ghi"):  # fmt: skip
        (tmp_path / name / "days.zarr").mkdir(parents=True)
    assert clear_stale_scratch() == [f"dsc-days-{host}-{gone}-abc"]
    kept = [f"dsc-days-{host}-{os.getpid()}-def", f"dsc-days-another-host-{gone}-ghi"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
