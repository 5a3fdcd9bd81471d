"""How many threads a process's numerical work uses: torch's and the OpenMP and BLAS
libraries' (NumPy, SciPy, scikit-learn). Unlimited, they use every core; a process that shares
the cores with others (a server job, a suite worker) or a user's ``--threads N`` limits them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def limited_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most ``n`` threads in torch and the OpenMP/BLAS libraries (None:
    no limit). Torch and scikit-learn are imported first: ``threadpoolctl`` limits only the
    libraries already loaded, and torch keeps the thread count it started with otherwise."""
    if n is None:
        yield
        return
    import sklearn.cluster  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(previous)
