"""Geofence near misses report the closest approach to a polygon in metres, on the sphere.

A square fence 0.02° of latitude high sits around each test point; tracks pass 500 m outside
(or inside) one of its edges, at the equator and at latitude 60 (where a degree of longitude
is half as long). Expected distances are computed here with the haversine formula on the
IUGG mean radius, independently of ``cep.matcher.detectors._geo``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest

from cep.explain import find_near_misses
from cep.matcher.detectors import _geo
from cep.model import Polygon, parse_pattern
from tests.matcher.harness import events

EARTH_RADIUS_M = 6_371_008.8
HALF_SIDE = 0.01  # degrees of latitude (and of longitude) from the square's centre to its edges


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle metres between points in degrees (numbers or numpy arrays)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    h = (np.sin((phi2 - phi1) / 2) ** 2
         + np.cos(phi1) * np.cos(phi2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h))


def east_of(lat: float, lon: float, metres: float) -> float:
    """The longitude ``metres`` east of (lat, lon) along the parallel (inverse haversine)."""
    half = math.asin(math.sin(metres / (2 * EARTH_RADIUS_M)) / math.cos(math.radians(lat)))
    return lon + math.degrees(2 * half)


def square(lat: float, lon: float) -> dict[str, Any]:
    h = HALF_SIDE
    return {"type": "polygon", "vertices": [
        {"lat": lat - h, "lon": lon - h}, {"lat": lat - h, "lon": lon + h},
        {"lat": lat + h, "lon": lon + h}, {"lat": lat + h, "lon": lon - h}]}


def near(trigger: str, shape: dict[str, Any], lat: list[float],
         lon: list[float]) -> list[Any]:
    pattern = parse_pattern({"name": "fence", "kind": "geofence", "trigger": trigger,
                             "shape": shape})
    frame = events(f"ts: {' '.join(str(i * 10) for i in range(len(lat)))}").with_columns(
        pl.Series("lat", lat, dtype=pl.Float64), pl.Series("lon", lon, dtype=pl.Float64))
    return find_near_misses(pattern, frame)


LATITUDES = pytest.mark.parametrize(("lat0", "lon0"), [(0.0, 10.0), (60.0, 10.0)],
                                    ids=["equator", "latitude_60"])


@LATITUDES
def test_a_track_passing_500_m_east_of_a_square_reports_500_m(lat0: float, lon0: float) -> None:
    edge_lon = lon0 + HALF_SIDE
    # Northbound along the east edge, 2 km, 1 km, 500 m, 800 m and 3 km outside it.
    offsets = [2000.0, 1000.0, 500.0, 800.0, 3000.0]
    lat = [lat0 - 0.008, lat0 - 0.004, lat0, lat0 + 0.004, lat0 + 0.008]
    lon = [east_of(y, edge_lon, m) for y, m in zip(lat, offsets, strict=True)]
    [miss] = near("enter", square(lat0, lon0), lat, lon)
    expected = haversine_m(lat0, lon[2], lat0, edge_lon)
    assert expected == pytest.approx(500.0, rel=1e-9)
    assert (miss.reason, miss.event_ids) == ("boundary_not_crossed", (3,))
    assert miss.details["unit"] == "m"
    assert miss.details["margin"] == pytest.approx(expected, rel=0.01)
    assert "500.0 m (event 3)" in miss.reason_text


@LATITUDES
def test_a_track_passing_500_m_south_of_a_square_reports_500_m(lat0: float, lon0: float) -> None:
    edge_lat = lat0 - HALF_SIDE
    south = math.degrees(500.0 / EARTH_RADIUS_M)
    lat = [edge_lat - 4 * south, edge_lat - south, edge_lat - 3 * south]
    lon = [lon0 - 0.005, lon0, lon0 + 0.005]
    [miss] = near("enter", square(lat0, lon0), lat, lon)
    assert miss.event_ids == (2,)
    assert miss.details["margin"] == pytest.approx(haversine_m(lat[1], lon0, edge_lat, lon0),
                                                   rel=0.01)
    assert miss.details["margin"] == pytest.approx(500.0, rel=0.01)


@LATITUDES
def test_a_key_staying_500_m_inside_reports_500_m_for_exit(lat0: float, lon0: float) -> None:
    edge_lon = lon0 + HALF_SIDE
    west = east_of(lat0, edge_lon, -500.0)
    [miss] = near("exit", square(lat0, lon0), [lat0, lat0, lat0], [lon0, west, lon0])
    assert (miss.reason, miss.event_ids, miss.details["unit"]) == ("boundary_not_crossed", (2,),
                                                                   "m")
    assert miss.details["margin"] == pytest.approx(haversine_m(lat0, west, lat0, edge_lon),
                                                   rel=0.01)


def closest_on_edge_m(lat: float, lon: float, a: tuple[float, float],
                      b: tuple[float, float]) -> float:
    """The least haversine distance from (lat, lon) to 100,001 points along a lat/lon edge."""
    t = np.linspace(0.0, 1.0, 100_001)
    return float(haversine_m(lat, lon, a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])).min())


@pytest.mark.parametrize("lat0", [0.0, 60.0], ids=["equator", "latitude_60"])
def test_distance_to_a_slanted_edge_matches_a_search_along_it(lat0: float) -> None:
    # A triangle whose long edge runs from its south-east to its north-west corner.
    a, b, c = (lat0 - 0.05, 10.05), (lat0 + 0.05, 9.95), (lat0 - 0.05, 9.95)
    polygon = Polygon.model_validate({"vertices": [{"lat": y, "lon": x} for y, x in (a, b, c)]})
    points = [(lat0, 10.01), (lat0 + 0.01, 10.02), (lat0 - 0.02, 10.1)]
    got = _geo.polygon_distance_m(polygon, np.array([p[0] for p in points]),
                                  np.array([p[1] for p in points]))
    for (lat, lon), metres in zip(points, got.tolist(), strict=True):
        expected = min(closest_on_edge_m(lat, lon, u, v) for u, v in ((a, b), (b, c), (c, a)))
        assert metres == pytest.approx(expected, rel=0.01)
        assert metres >= expected * (1 - 1e-6)  # a distance to a point of the outline


def test_polygon_and_circle_margins_agree_on_the_same_crossing_distance() -> None:
    # 500 m outside a 1 km circle and 500 m outside the square's edge: both report metres.
    circle = {"type": "circle", "center": {"lat": 60.0, "lon": 10.0}, "radius_m": 1000.0}
    [round_miss] = near("enter", circle, [60.0], [east_of(60.0, 10.0, 1500.0)])
    [square_miss] = near("enter", square(60.0, 10.0), [60.0],
                         [east_of(60.0, 10.0 + HALF_SIDE, 500.0)])
    assert round_miss.details["unit"] == square_miss.details["unit"] == "m"
    assert square_miss.details["margin"] == pytest.approx(round_miss.details["margin"], rel=0.01)
