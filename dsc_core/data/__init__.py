"""Data layer: files or the built-in sample → one clean daily xarray.Dataset."""
