"""The offline coastlines: real islands in the paper's box, nothing from the network."""

import numpy as np

from dashboard.coastlines import coastline_segments

AZORES_BOX = (33.0, 43.0, -33.0, -23.0)


def test_azores_islands_are_in_the_paper_box():
    segments = coastline_segments(AZORES_BOX, margin=0.0)
    points = np.concatenate(segments)
    assert len(segments) >= 5  # the Azores are several islands
    assert points[:, 0].min() >= -33.0 and points[:, 0].max() <= -23.0
    assert points[:, 1].min() >= 33.0 and points[:, 1].max() <= 43.0


def test_open_ocean_box_has_no_coast():
    assert coastline_segments((-50.0, -45.0, -140.0, -130.0), margin=0.0) == []


def test_parts_leaving_the_box_are_cut():
    # Iberia's coast crosses this box's edges: every kept point must be inside it.
    box = (36.0, 44.0, -10.0, -5.0)
    points = np.concatenate(coastline_segments(box, margin=0.0))
    assert points[:, 0].min() >= -10.0 and points[:, 0].max() <= -5.0
