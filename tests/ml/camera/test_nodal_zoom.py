"""A broadcast pan that zooms: the nodal solve finds the focal length of every frame, and
does not invent a zoom where the lens held still."""
import numpy as np
import pytest

from ml.camera.klt import Tracks
from ml.camera.nodal import solve_nodal


def pan_tracks(f_start, f_end, n=20, W=640, H=360, noise=0.2, seed=0):
    """Tracks of a camera turning 20 deg (and tilting a little) about its centre while the
    focal length ramps from f_start to f_end px; directions spread over the view sphere."""
    rng = np.random.default_rng(seed)
    az, el = rng.uniform(-0.9, 0.9, 2000), rng.uniform(-0.35, 0.35, 2000)
    d = np.c_[np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)]
    fs = np.linspace(f_start, f_end, n)
    obs = {}
    for k in range(n):
        pan, tilt = np.radians(-10 + 20 * k / (n - 1)), np.radians(3 * np.sin(k / 4))
        Ry = np.array([[np.cos(pan), 0, np.sin(pan)], [0, 1, 0], [-np.sin(pan), 0, np.cos(pan)]])
        Rx = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
        p = d @ (Rx @ Ry).T
        z = np.where(p[:, 2] > 0.1, p[:, 2], np.nan)
        u, v = fs[k] * p[:, 0] / z + W / 2, fs[k] * p[:, 1] / z + H / 2
        ids = np.flatnonzero((u > 5) & (u < W - 5) & (v > 5) & (v < H - 5))[:250]
        obs[k + 1] = np.c_[ids, u[ids] + rng.normal(0, noise, len(ids)), v[ids] + rng.normal(0, noise, len(ids))]
    return Tracks(W, H, obs), fs


def _median_error(solve):
    return float(np.median(list(solve.frame_error.values())))


@pytest.mark.slow
def test_a_zooming_pan_gets_a_focal_length_per_frame():
    tracks, truth = pan_tracks(700.0, 1000.0)
    solve = solve_nodal(tracks)
    est = np.array([solve.cameras[k].fx for k in sorted(solve.cameras)])
    # the zoom (focal relative to the first frame) to 1 %; the absolute focal of a 20 deg
    # pan is weaker (a few %), as for any self-calibration from rotation alone
    assert np.abs((est / est[0]) / (truth / truth[0]) - 1).max() < 0.01, np.round(est / truth, 3)
    assert np.abs(est / truth - 1).max() < 0.05, np.round(est / truth, 3)
    assert _median_error(solve) < 0.6
    assert any(n.startswith("zoom:") for n in solve.notes), solve.notes
    fixed = solve_nodal(tracks, zoom=False)  # one focal for the clip cannot fit a zoom
    assert _median_error(fixed) > 3.0


@pytest.mark.slow
def test_a_fixed_lens_is_not_read_as_a_zoom():
    tracks, truth = pan_tracks(700.0, 700.0, seed=1)
    solve = solve_nodal(tracks)
    est = np.array([solve.cameras[k].fx for k in sorted(solve.cameras)])
    assert not any(n.startswith("zoom:") for n in solve.notes), solve.notes
    assert np.ptp(est) == 0.0 and abs(est[0] / 700.0 - 1) < 0.02, est[0]
