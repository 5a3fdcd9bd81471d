"""Coastlines drawn from a local Natural Earth file, so that maps need no network."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

COASTLINE_FILE = (
    Path(__file__).resolve().parent.parent / "assets" / "coastlines" / "ne_50m_coastline.npz"
)


@lru_cache(maxsize=1)
def _coastline_parts() -> list[np.ndarray]:
    """All coastline parts as (n_points, 2) arrays of (lon, lat)."""
    with np.load(COASTLINE_FILE) as data:
        xy = np.column_stack([data["lon"], data["lat"]]).astype(np.float64)
    breaks = np.flatnonzero(np.isnan(xy[:, 0]))
    parts = (part[~np.isnan(part[:, 0])] for part in np.split(xy, breaks))
    return [part for part in parts if len(part) > 1]


def coastline_segments(
    bbox: tuple[float, float, float, float], margin: float = 1.0
) -> list[np.ndarray]:
    """Coastline pieces inside ``bbox = (lat_min, lat_max, lon_min, lon_max)``.

    Returns (n_points, 2) arrays of (lon, lat); a part that leaves the box is cut into the runs of
    points that stay inside it (widened by ``margin`` degrees so lines reach the frame).
    """
    lat_min, lat_max, lon_min, lon_max = bbox
    pieces = []
    for part in _coastline_parts():
        inside = (
            (part[:, 0] >= lon_min - margin)
            & (part[:, 0] <= lon_max + margin)
            & (part[:, 1] >= lat_min - margin)
            & (part[:, 1] <= lat_max + margin)
        )
        if not inside.any():
            continue
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
        pieces.extend(part[start:stop] for start, stop in zip(edges[::2], edges[1::2], strict=True))
    return [piece for piece in pieces if len(piece) > 1]
