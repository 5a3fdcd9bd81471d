"""Suite-wide set-up.

One thread per process for torch and the OpenMP/BLAS libraries, set before any of them loads
(the test servers, job processes and dask workers inherit it): the tests' problems are tiny,
and on them two threads cost more than they give (the engine tests: 141 s on two threads, 113
s on one, on a 2-core CPU) while the other processes of a test wait for the second core. The
engine's own default (every core) is tested by setting torch's threads explicitly.

pyproj is imported before any test opens a NetCDF file: the netCDF4 wheel's bundled libraries,
once a file has been read, break a later first initialisation of pyproj's PROJ database (see
dashboard/__init__.py).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyproj  # noqa: E402, F401
