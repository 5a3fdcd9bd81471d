"""Names and coordinates: map what files call things onto DSC's conventions.

DSC's layout (contract section 1): dims ``(time, latitude, longitude)``, ``time`` daily
datetime64[ns] at 00:00, ``latitude`` ascending (°N), ``longitude`` ascending in −180..180 (°E),
float32 variables named by their ERA5 short name where one fits.

This module only knows names and coordinates; opening files is :mod:`dsc_core.data.io`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from dsc_core.errors import DataError

TIME_NAMES = ("valid_time", "time", "Time", "t", "date", "datetime")
LAT_NAMES = ("latitude", "lat", "nav_lat", "Latitude", "LAT", "lat_0", "y_lat")
LON_NAMES = ("longitude", "lon", "nav_lon", "Longitude", "LON", "lon_0", "x_lon")
LEVEL_NAMES = (
    "level",
    "pressure_level",
    "plev",
    "lev",
    "isobaricInhPa",
    "height",
    "heightAboveGround",
    "depth",
    "deptht",
    "altitude",
    "model_level_number",
    "olevel",
)
# Coordinates ERA5/cfgrib files carry that mean nothing once the data are daily maps.
JUNK_COORDS = ("number", "step", "surface", "expver", "time_bnds", "meanSea", "entireAtmosphere")
JM2 = "J m**-2"
HUGE = 1e19  # |value| >= HUGE is a fill value written without a _FillValue attribute


@dataclass(frozen=True)
class Era5Var:
    """One ERA5 variable: CDS request name, long name, units, accumulated?"""

    cds_name: str
    long_name: str
    units: str
    accumulated: bool = False


ERA5: dict[str, Era5Var] = {
    "sst": Era5Var("sea_surface_temperature", "Sea surface temperature", "K"),
    "t2m": Era5Var("2m_temperature", "2 metre temperature", "K"),
    "d2m": Era5Var("2m_dewpoint_temperature", "2 metre dewpoint temperature", "K"),
    "skt": Era5Var("skin_temperature", "Skin temperature", "K"),
    "sp": Era5Var("surface_pressure", "Surface pressure", "Pa"),
    "msl": Era5Var("mean_sea_level_pressure", "Mean sea level pressure", "Pa"),
    "sshf": Era5Var("surface_sensible_heat_flux", "Surface sensible heat flux", JM2, True),
    "slhf": Era5Var("surface_latent_heat_flux", "Surface latent heat flux", JM2, True),
    "ssr": Era5Var("surface_net_solar_radiation", "Surface net short-wave radiation", JM2, True),
    "str": Era5Var("surface_net_thermal_radiation", "Surface net long-wave radiation", JM2, True),
    "ssrd": Era5Var(
        "surface_solar_radiation_downwards", "Surface short-wave radiation downwards", JM2, True
    ),
    "strd": Era5Var(
        "surface_thermal_radiation_downwards", "Surface long-wave radiation downwards", JM2, True
    ),
    "tisr": Era5Var("toa_incident_solar_radiation", "TOA incident short-wave radiation", JM2, True),
    "tp": Era5Var("total_precipitation", "Total precipitation", "m", True),
    "cp": Era5Var("convective_precipitation", "Convective precipitation", "m", True),
    "lsp": Era5Var("large_scale_precipitation", "Large-scale precipitation", "m", True),
    "e": Era5Var("evaporation", "Evaporation", "m of water equivalent", True),
    "u10": Era5Var("10m_u_component_of_wind", "10 metre U wind component", "m s**-1"),
    "v10": Era5Var("10m_v_component_of_wind", "10 metre V wind component", "m s**-1"),
    "u100": Era5Var("100m_u_component_of_wind", "100 metre U wind component", "m s**-1"),
    "v100": Era5Var("100m_v_component_of_wind", "100 metre V wind component", "m s**-1"),
    "si10": Era5Var("10m_wind_speed", "10 metre wind speed", "m s**-1"),
    "tcc": Era5Var("total_cloud_cover", "Total cloud cover", "(0 - 1)"),
    "tcwv": Era5Var("total_column_water_vapour", "Total column water vapour", "kg m**-2"),
    "blh": Era5Var("boundary_layer_height", "Boundary layer height", "m"),
    "ci": Era5Var("sea_ice_cover", "Sea ice area fraction", "(0 - 1)"),
}
CDS_TO_SHORT = {v.cds_name: k for k, v in ERA5.items()}
# Variables of "reanalysis-era5-pressure-levels" (requested with pressure levels).
ERA5_PL: dict[str, Era5Var] = {
    "z": Era5Var("geopotential", "Geopotential", "m**2 s**-2"),
    "t": Era5Var("temperature", "Temperature", "K"),
    "u": Era5Var("u_component_of_wind", "U component of wind", "m s**-1"),
    "v": Era5Var("v_component_of_wind", "V component of wind", "m s**-1"),
    "q": Era5Var("specific_humidity", "Specific humidity", "kg kg**-1"),
    "w": Era5Var("vertical_velocity", "Vertical velocity", "Pa s**-1"),
    "r": Era5Var("relative_humidity", "Relative humidity", "%"),
    "vo": Era5Var("vorticity", "Vorticity (relative)", "s**-1"),
    "d": Era5Var("divergence", "Divergence", "s**-1"),
    "pv": Era5Var("potential_vorticity", "Potential vorticity", "K m**2 kg**-1 s**-1"),
}
CDS_TO_SHORT_PL = {v.cds_name: k for k, v in ERA5_PL.items()}
# cfgrib's names that differ from the ERA5 NetCDF short names.
GRIB_ALIASES = {
    "2t": "t2m",
    "2d": "d2m",
    "10u": "u10",
    "10v": "v10",
    "100u": "u100",
    "100v": "v100",
}

# Common (CMIP-style) variable names -> (ERA5 short name, sign factor).
COMMON_NAMES: dict[str, tuple[str, float]] = {
    "tas": ("t2m", 1.0),
    "ts": ("skt", 1.0),
    "tos": ("sst", 1.0),
    "psl": ("msl", 1.0),
    "ps": ("sp", 1.0),
    "uas": ("u10", 1.0),
    "vas": ("v10", 1.0),
    "sfcWind": ("si10", 1.0),
    "hfss": ("sshf", -1.0),
    "hfls": ("slhf", -1.0),
}
# CF standard_name -> ERA5 short name (name per height above ground, for near-surface fields).
STANDARD_NAMES: dict[str, str | dict[float, str]] = {
    "sea_surface_temperature": "sst",
    "sea_surface_foundation_temperature": "sst",
    "surface_temperature": "skt",
    "air_temperature": {2.0: "t2m"},
    "dew_point_temperature": {2.0: "d2m"},
    "surface_air_pressure": "sp",
    "air_pressure_at_mean_sea_level": "msl",
    "air_pressure_at_sea_level": "msl",
    "eastward_wind": {10.0: "u10", 100.0: "u100"},
    "northward_wind": {10.0: "v10", 100.0: "v100"},
    "wind_speed": {10.0: "si10"},
    "surface_downward_sensible_heat_flux": "sshf",
    "surface_downward_latent_heat_flux": "slhf",
    "surface_upward_sensible_heat_flux": "sshf",
    "surface_upward_latent_heat_flux": "slhf",
    "sea_ice_area_fraction": "ci",
    "atmosphere_boundary_layer_thickness": "blh",
}
# Upward-positive fluxes become ERA5's downward-positive convention by a sign flip.
UPWARD_FLUXES = ("surface_upward_sensible_heat_flux", "surface_upward_latent_heat_flux")


def _find(ds: xr.Dataset, names: tuple[str, ...], units: tuple[str, ...], axis: str) -> str | None:
    """The name of the coordinate/dimension in ``ds`` that plays one role, or None."""
    candidates = list(ds.coords) + [d for d in ds.dims if d not in ds.coords]
    for name in names:
        if name in candidates:
            return str(name)
    for name in candidates:
        attrs = ds[name].attrs if name in ds.variables else {}
        if attrs.get("axis") == axis or str(attrs.get("units", "")).lower() in units:
            return str(name)
    return None


def find_time(ds: xr.Dataset) -> str | None:
    """Name of the time coordinate (``time``, ``valid_time``, ... or one with datetimes)."""
    for name in TIME_NAMES:  # a dimension first: cfgrib's valid_time beats its reference time
        if name in ds.dims:
            return name
    for name in TIME_NAMES:
        if name in ds.coords and ds[name].ndim == 1:
            return name
    for name, coord in ds.coords.items():
        if coord.ndim == 1 and (
            np.issubdtype(coord.dtype, np.datetime64) or coord.attrs.get("axis") == "T"
        ):
            return str(name)
    return None


def find_lat(ds: xr.Dataset) -> str | None:
    """Name of the latitude coordinate, or None."""
    return _find(ds, LAT_NAMES, ("degrees_north", "degree_north", "degrees_n"), "Y")


def find_lon(ds: xr.Dataset) -> str | None:
    """Name of the longitude coordinate, or None."""
    return _find(ds, LON_NAMES, ("degrees_east", "degree_east", "degrees_e"), "X")


def find_levels(ds: xr.Dataset) -> list[str]:
    """Dimensions that are vertical levels (by name or ``positive``/``axis: Z`` attributes)."""
    found = []
    for dim in ds.dims:
        attrs = ds[dim].attrs if dim in ds.coords else {}
        if dim in LEVEL_NAMES or attrs.get("axis") == "Z" or "positive" in attrs:
            found.append(str(dim))
    return found


def rename_coords(ds: xr.Dataset, label: str = "the data") -> xr.Dataset:
    """Rename time/lat/lon to ``time``/``latitude``/``longitude``; drop ERA5/cfgrib extras.

    Raises DataError when there is no time axis, no 1-D latitude/longitude.
    """
    time = find_time(ds)
    lat, lon = find_lat(ds), find_lon(ds)
    if time is None:
        raise DataError(
            f"no time axis in {label} (looked for {', '.join(TIME_NAMES[:3])} or a datetime "
            f"coordinate; dims are {dict(ds.sizes)}); add a CF time coordinate"
        )
    if lat is None or lon is None:
        missing = " and ".join(n for n, f in (("latitude", lat), ("longitude", lon)) if f is None)
        raise DataError(
            f"no {missing} coordinate in {label} (dims {dict(ds.sizes)}); "
            "provide 1-D lat/lon (or latitude/longitude) coordinates on a regular grid"
        )
    for role, name in (("latitude", lat), ("longitude", lon)):
        if ds[name].ndim != 1:
            raise DataError(
                f"{role} '{name}' in {label} is {ds[name].ndim}-D (curvilinear grid); "
                "regrid to a regular lat/lon grid first (e.g. cdo remapbil)"
            )
    if ds[time].ndim != 1:
        raise DataError(f"time '{time}' in {label} is not 1-D; select one forecast step first")
    ds = expver_combine(ds)
    if time not in ds.dims:
        ds = ds.swap_dims({ds[time].dims[0]: time})
    mapping = {time: "time", lat: "latitude", lon: "longitude"}
    mapping = {k: v for k, v in mapping.items() if k != v}
    drop = [c for c in ds.coords if c in mapping.values() and c not in mapping]
    ds = ds.drop_vars(drop).rename(mapping)
    junk = [c for c in JUNK_COORDS if c in ds.variables and c not in ds.dims]
    return ds.drop_vars(junk)


def expver_combine(ds: xr.Dataset) -> xr.Dataset:
    """Collapse an ERA5 ``expver`` dimension (ERA5 final + ERA5T): first non-NaN along it."""
    if "expver" not in ds.dims:
        return ds
    parts = [ds.isel(expver=i, drop=True) for i in range(ds.sizes["expver"])]
    out = parts[0]
    for part in parts[1:]:
        out = out.combine_first(part)
    return out


def height_of(da: xr.DataArray) -> float | None:
    """Height above ground in metres from a scalar ``height``-like coordinate, else None."""
    for name in ("height", "heightAboveGround", "level"):
        if name in da.coords and da[name].size == 1:
            units = str(da[name].attrs.get("units", "m")).strip()
            if units in ("m", "meters", "metre", "metres", "meter"):
                return float(da[name].values.ravel()[0])
    return None


def short_name(name: str, da: xr.DataArray) -> tuple[str, float]:
    """ERA5 short name and sign factor for a variable; (its own name, 1) when none fits."""
    if name in ERA5:
        return name, 1.0
    if name in GRIB_ALIASES:
        return GRIB_ALIASES[name], 1.0
    if name in CDS_TO_SHORT:
        return CDS_TO_SHORT[name], 1.0
    if name in COMMON_NAMES:
        return COMMON_NAMES[name]
    standard = str(da.attrs.get("standard_name", ""))
    target = STANDARD_NAMES.get(standard)
    if isinstance(target, dict):
        height = height_of(da)
        target = target.get(height) if height is not None else None
    if target is None:
        return name, 1.0
    return target, -1.0 if standard in UPWARD_FLUXES else 1.0


def to_datetime_days(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert time values (datetime64 or cftime) to datetime64[ns]; also return a keep-mask.

    cftime calendars keep each date's year/month/day/time-of-day label (as
    ``xarray.Dataset.convert_calendar(align_on="date")`` does): noleap, all_leap, julian and
    360_day dates map to the same calendar label in the proleptic Gregorian calendar. Dates that
    do not exist there (360_day's Feb 29 in non-leap years and Feb 30, all_leap's Feb 29 in
    non-leap years) are dropped, not clamped: clamping would make two values for one day. No
    day is invented, so 360_day data lack the 31st of each month.
    """
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[ns]"), np.ones(values.shape, bool)
    out = np.empty(values.shape, "datetime64[ns]")
    keep = np.ones(values.shape, bool)
    for i, t in enumerate(values):
        try:
            stamp = pd.Timestamp(t.year, t.month, t.day, t.hour, t.minute, t.second)
            out[i] = stamp.to_datetime64()
        except ValueError:
            keep[i] = False
            out[i] = np.datetime64("NaT")
        except (AttributeError, TypeError, OverflowError) as err:
            raise DataError(
                f"time value {t!r} cannot be read as a date (years 1678-2261 only); "
                "fix the time units/calendar attributes"
            ) from err
    return out, keep


def normalise_lon_lat(ds: xr.Dataset) -> xr.Dataset:
    """Longitudes into −180..180 ascending (duplicates dropped), latitudes ascending, float64."""
    lon = ds["longitude"].values.astype(float)
    if lon.size and (lon.max() > 180 or lon.min() < -180):
        ds = ds.assign_coords(longitude=((lon + 180.0) % 360.0) - 180.0)
    ds = ds.sortby(["latitude", "longitude"])
    _, first = np.unique(ds["longitude"].values, return_index=True)
    if first.size != ds.sizes["longitude"]:
        ds = ds.isel(longitude=np.sort(first))
    return ds.assign_coords(
        latitude=ds["latitude"]
        .astype("float64")
        .assign_attrs(units="degrees_north", long_name="latitude", standard_name="latitude"),
        longitude=ds["longitude"]
        .astype("float64")
        .assign_attrs(units="degrees_east", long_name="longitude", standard_name="longitude"),
    )


def is_accumulated(name: str, units: str) -> bool:
    """True for ERA5 accumulated fields stored as amounts (J m-2, m), not rates (W m-2)."""
    if name not in ERA5 or not ERA5[name].accumulated:
        return False
    u = units.replace(" ", "")
    return not ("s-1" in u or "s**-1" in u or "W" in u)
