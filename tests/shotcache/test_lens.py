"""The lens model both sides share: undistort inverts distort; the ST-map reads the pinhole
render where the plate's lens looks."""
import numpy as np

from shotcache.lens import distort, project, st_map, undistort
from shotcache.schema import Distortion, FrameCamera

LENS = Distortion(k1=0.08, k2=-0.02, p1=0.001, p2=-0.0015)
CAM = FrameCamera(600.0, 600.0, 320.0, 180.0, np.eye(4).tolist())


def test_undistort_inverts_distort_over_the_frame():
    x, y = np.meshgrid(np.linspace(-0.55, 0.55, 23), np.linspace(-0.32, 0.32, 13))
    xd, yd = distort(x, y, LENS)
    assert np.abs(xd - x).max() > 5e-3  # the lens moves the edges (several pixels at f = 600)
    xu, yu = undistort(xd, yd, LENS)
    assert np.abs(xu - x).max() < 1e-7 and np.abs(yu - y).max() < 1e-7


def test_st_map_samples_the_render_where_the_plate_pixel_looks():
    mu, mv = st_map(CAM, LENS, (640, 360))
    pts = np.array([[0.9, -0.4, 2.0], [-1.1, 0.5, 3.0], [0.5, 0.25, 1.0]])  # off the optical axis
    plate_px = project(CAM, LENS, pts)                       # where the lens images the points
    pinhole = pts[:, :2] / pts[:, 2:] * 600.0 + [320.0, 180.0]
    for (u, v), want in zip(plate_px, pinhole):
        i, j = int(v), int(u)                                # the plate pixel holding the point
        got = np.array([mu[i, j], mv[i, j]]) + 0.5           # the map, in corner coordinates
        assert np.abs(got - want).max() < 1.0, (got, want)   # within the pixel's own extent
        assert np.abs(np.array([u, v]) - want).max() > 3.0   # where the lens moved it by pixels
    assert np.allclose([mu[180, 320], mv[180, 320]], [320.0, 180.0], atol=0.02)  # the centre stays
