"""DSC Explorer's web dashboard (Panel): ``panel serve dashboard/app.py``.

pyproj is imported first on purpose: the netCDF4 wheel's bundled libraries, once a file has
been opened, break a later first initialisation of pyproj's PROJ database (CRS errors, slow
CRS comparisons and a crash at exit). Importing pyproj before any NetCDF file is read avoids it.
"""

import pyproj  # noqa: F401
