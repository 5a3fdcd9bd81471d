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


SAVE_RECORDED = """
import os, sys
import dsc_core.runs as runs
save = runs.save_run
def recording(run, path):
    with open(sys.argv[1], "a") as f:
        f.write(os.environ["RANK"] + "\\n")
    return save(run, path)
runs.save_run = recording
from dsc_core.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.timeout(300)
def test_a_distributed_training_is_written_by_rank_0_alone(tmp_path):
    """`dsc train --distributed` in two processes with the environment torchrun gives them:
    both train one DSC (gloo), rank 0 alone saves the run and prints its summary."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, saved = tmp_path / "run", tmp_path / "saved-by"
    # 31 days: one batch of the fast preset's 32 for two processes (each must still take a
    # batch, or one waits for ever for the other's gradients)
    argv = ["train", "--data", "sample", "--start", "2021-01-01", "--end", "2021-01-31",
            "--bbox", "35,38,-30,-27", "--variables", "t2m", "--clusters", "2", "--preset",
            "fast", "--device", "cpu", "--threads", "1", "--quiet", "--distributed",
            "--out", str(out)]  # fmt: skip
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port)}  # fmt: skip
        cmd = [sys.executable, "-c", SAVE_RECORDED, str(saved), *argv]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    try:
        (out0, err0), (out1, err1) = (p.communicate(timeout=240) for p in procs)
    finally:
        for p in procs:  # a rank left waiting for the other would wait for ever
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], err0 + err1
    assert saved.read_text().split() == ["0"]  # rank 1 saved nothing
    assert f"written to {out}" in out0 and out1 == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "saved-by"]
    assert (out / "config.json").is_file()
    assert len((out / "labels.csv").read_text().splitlines()) == 1 + 31
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) > 1  # the deep training's epochs
