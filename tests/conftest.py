"""Suite-wide set-up.

pyproj is imported before any test opens a NetCDF file: the netCDF4 wheel's bundled libraries,
once a file has been read, break a later first initialisation of pyproj's PROJ database (see
dashboard/__init__.py).
"""

import pyproj  # noqa: F401
