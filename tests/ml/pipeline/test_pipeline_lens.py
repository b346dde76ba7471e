"""The render resampled into the plate's lens before the stages: the product lands where the
lens images it, depth keeps real values at the silhouette, a pinhole shot is untouched."""
import numpy as np

from ml.io.colour import REC709_LUMA as LUMA
from ml.pipeline.lens import needs_lens, to_plate_lens
from shotcache.lens import project
from shotcache.schema import Distortion, FrameCamera

W, H = 320, 180
CAM = FrameCamera(300.0, 300.0, W / 2, H / 2, np.eye(4).tolist())
LENS = Distortion(k1=0.15)


def _render(point: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A 7x7 px product at the pinhole image of ``point``, depth 2 m there, 1e10 elsewhere."""
    u, v = point[:2] / point[2] * 300.0 + [W / 2, H / 2]
    rgba = np.zeros((H, W, 4), np.float32)
    depth = np.full((H, W, 1), 1e10, np.float32)
    ys, xs = slice(int(v) - 3, int(v) + 4), slice(int(u) - 3, int(u) + 4)
    rgba[ys, xs] = 1.0
    depth[ys, xs] = 2.0
    return rgba, {"depth": depth, "shadow_catcher": np.ones((H, W, 3), np.float32)}


def test_the_product_moves_to_where_the_lens_images_it():
    point = np.array([0.9, 0.45, 2.0])  # near the bottom-right corner: the lens moves it most
    rgba, passes = _render(point)
    warped, out = to_plate_lens(rgba, passes, CAM, LENS)
    ys, xs = np.nonzero(warped[..., 3] > 0.5)
    centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    want = project(CAM, LENS, point[None])[0]
    pinhole = point[:2] / point[2] * 300.0 + [W / 2, H / 2]
    assert np.abs(want - pinhole).max() > 4.0          # the lens moves it by pixels
    assert np.abs(centre - want).max() < 1.0, (centre, want)
    d = out["depth"][..., 0]
    assert set(np.unique(d).tolist()) <= {2.0, 1e10}   # nearest: no blended depth at the rim
    assert out["depth"].shape == (H, W, 1) and out["shadow_catcher"].shape == (H, W, 3)


def test_a_pinhole_or_undistorted_shot_needs_nothing():
    assert not needs_lens(Distortion(), False)
    assert not needs_lens(LENS, True)
    assert needs_lens(LENS, False)



def test_stmap_file_reads_back_in_nukes_convention(tmp_path):
    import OpenEXR

    from ml.pipeline.lens import STMAP_FILE, maps_for, write_stmap

    path = write_stmap(str(tmp_path), CAM, LENS, (W, H))
    assert path.endswith(STMAP_FILE)
    with OpenEXR.File(path, separate_channels=True) as f:
        ch = f.channels()
        r, g = np.asarray(ch["R"].pixels, np.float64), np.asarray(ch["G"].pixels, np.float64)
    mu, mv = maps_for(CAM, LENS, (W, H))
    assert r.shape == (H, W)
    assert np.allclose(r * W - 0.5, mu, atol=2e-3) and np.allclose((1.0 - g) * H - 0.5, mv, atol=2e-3)
    assert g[0, W // 2] > 0.95 and g[-1, W // 2] < 0.05  # y up: the top row reads near 1


def test_the_lens_leaves_no_dark_fringe_round_the_product():
    """The render's rgba is straight alpha, black where nothing is; resampled through the lens,
    an edge pixel keeps the product's own colour at partial cover, so the product over a plate
    has no rim darker than both."""
    yy, xx = np.mgrid[0:H, 0:W]
    disc = np.clip(12.0 - np.hypot(xx - 250.0, yy - 130.0), 0.0, 1.0).astype(np.float32)  # soft-edged
    yellow = np.array([0.9, 0.7, 0.05], np.float32)
    rgba = np.zeros((H, W, 4), np.float32)
    rgba[..., :3] = np.where(disc[..., None] > 0, yellow, 0.0)
    rgba[..., 3] = disc
    warped, _ = to_plate_lens(rgba, {}, CAM, LENS)
    a = warped[..., 3:4]
    edge = (a[..., 0] > 0.05) & (a[..., 0] < 0.95)
    assert edge.sum() > 20
    assert np.allclose(warped[..., :3][edge], yellow, atol=1e-3)       # straight: the product's own colour
    green = np.array([0.1, 0.4, 0.1], np.float32)
    over = warped[..., :3] * a + green * (1.0 - a)
    lum = over @ LUMA
    assert lum[edge].min() >= min(float(green @ LUMA), float(yellow @ LUMA)) - 1e-3
    assert np.isclose(a.sum(), disc.sum(), rtol=0.1)                    # coverage kept
