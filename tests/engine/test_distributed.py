"""Data-parallel training: two gloo processes train one DSC like a single process does."""

import numpy as np
import pytest
import torch.multiprocessing as mp
from sklearn.metrics import adjusted_rand_score
from tiny_data import tiny_days

from dsc_core.estimator import DSC

PARAMS = {"preset": "fast", "window": 3, "pretrain_epochs": 6, "max_epochs": 4, "batch_size": 8}


def _rank(rank: int, world: int, init: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        x, mask, _ = tiny_days()
        model = DSC(2, random_state=0, device="cpu", **PARAMS).fit(x, mask=mask)
        np.save(f"{out}-{rank}.npy", model.labels_)
        weights = np.concatenate([p.detach().numpy().ravel() for p in model.model_.parameters()])
        np.save(f"{out}-{rank}-weights.npy", weights)
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_gloo_processes_agree_with_a_single_process(tmp_path):
    out = str(tmp_path / "labels")
    mp.spawn(_rank, args=(2, f"file://{tmp_path / 'init'}", out), nprocs=2, join=True)
    first, second = np.load(f"{out}-0.npy"), np.load(f"{out}-1.npy")
    np.testing.assert_array_equal(first, second)
    # one model: each process trained on its half of the batches, the gradients averaged
    np.testing.assert_allclose(np.load(f"{out}-0-weights.npy"), np.load(f"{out}-1-weights.npy"))
    x, mask, truth = tiny_days()
    single = DSC(2, random_state=0, device="cpu", **PARAMS).fit(x, mask=mask).labels_
    assert adjusted_rand_score(single, first) >= 0.95
    assert adjusted_rand_score(truth, first) >= 0.95


def test_distributed_without_torchrun_says_how(tmp_path, capsys, monkeypatch):
    from dsc_core.cli import main

    monkeypatch.delenv("RANK", raising=False)
    argv = ["train", "--method", "kmeans", "--distributed", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "--distributed needs torchrun" in capsys.readouterr().err
