"""Tiny model inputs shared by the engine tests."""

import numpy as np


def tiny_days(n=40, seed=0):
    """Tiny (day, variable, y, x) data: two persistent patterns plus noise; mask (y, x)."""
    rng = np.random.default_rng(seed)
    patterns = np.kron(rng.normal(size=(2, 3, 2, 2)), np.ones((8, 8)))
    truth = (np.arange(n) // 5) % 2
    x = (patterns[truth] + 0.5 * rng.normal(size=(n, 3, 16, 16))).astype(np.float32)
    mask = np.ones((16, 16), bool)
    mask[:2, :3] = False
    x[:, :, ~mask] = 0
    return x, mask, truth
