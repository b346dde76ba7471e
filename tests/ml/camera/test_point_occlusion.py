"""Static occluders from the solve's points: a trunk in front of the product hides it along
the plate's own edge; points behind, on the ground, or too few hide nothing."""
from __future__ import annotations

import numpy as np
import pytest

from ml.camera.point_occlusion import MIN_SEEDS, project, static_holdout
from shotcache.schema import FrameCamera

W, H, F = 320, 240, 300.0
CAM = FrameCamera(F, F, W / 2, H / 2, np.eye(4).tolist())  # OpenCV: x right, y down, z forward
GROUND_P, GROUND_N = (0.0, 1.5, 0.0), (0.0, -1.0, 0.0)      # the ground 1.5 m below the camera
TRUNK = (150, 176)                                          # columns of a post 3 m away


def _backproject(u: np.ndarray, v: np.ndarray, z: float) -> np.ndarray:
    return np.stack([(u + 0.5 - W / 2) * z / F, (v + 0.5 - H / 2) * z / F, np.full(len(u), z)], axis=1)


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured far wall, a brown post in front, the product (an ellipse 5 m away)."""
    plate = (rng.uniform(90, 200, (H // 8, W // 8, 3))).astype(np.uint8)
    plate = np.ascontiguousarray(np.kron(plate, np.ones((8, 8, 1), np.uint8)))
    plate[:, TRUNK[0]:TRUNK[1]] = (30, 60, 110)
    yy, xx = np.mgrid[:H, :W]
    alpha = ((((xx - 170) / 60.0) ** 2 + ((yy - 150) / 50.0) ** 2) <= 1).astype(np.float32)
    depth = np.where(alpha > 0, 5.0, 1e10).astype(np.float32)
    return plate, alpha, depth


def _points(rng: np.random.Generator, n_front: int, front_z: float = 3.0) -> np.ndarray:
    u = rng.uniform(TRUNK[0] + 2, TRUNK[1] - 2, n_front)
    v = rng.uniform(40, 220, n_front)
    fu = rng.uniform(0, W, 300)
    keep = (fu < TRUNK[0] - 3) | (fu > TRUNK[1] + 3)
    back = _backproject(fu[keep], rng.uniform(0, 200, keep.sum()), 10.0)
    return np.concatenate([_backproject(u, v, front_z), back])


def test_projection_round_trips():
    p = _backproject(np.array([10.0, 200.0]), np.array([30.0, 100.0]), 4.0)
    uv, z = project(CAM, p)
    assert np.allclose(uv, [[10.5, 30.5], [200.5, 100.5]]) and np.allclose(z, 4.0)


def test_a_post_in_front_hides_the_product_along_its_own_edges():
    rng = np.random.default_rng(1)
    plate, alpha, depth = _scene(rng)
    matte = static_holdout(_points(rng, 25), CAM, depth[..., None], alpha, plate, GROUND_P, GROUND_N)  # as read_passes gives it
    prod = alpha > 0
    post = np.zeros_like(prod)
    post[:, TRUNK[0]:TRUNK[1]] = True
    inner = post.copy()
    inner[:, :TRUNK[0] + 3] = inner[:, TRUNK[1] - 3:] = False
    assert matte[prod & inner].min() > 0.9                       # the post hides the product
    assert matte[prod & ~post].max() < 0.5                       # beside it the product shows
    far = prod.copy()
    far[:, TRUNK[0] - 6:TRUNK[1] + 6] = False
    assert matte[far].max() == 0.0
    iou = ((matte > 0.5) & prod & post).sum() / (((matte > 0.5) & prod) | (prod & post)).sum()
    assert iou > 0.9, iou


@pytest.mark.parametrize("case", ["behind", "ground", "too_few", "no_points"])
def test_nothing_in_front_hides_nothing(case: str):
    rng = np.random.default_rng(2)
    plate, alpha, depth = _scene(rng)
    if case == "behind":      # the post's points triangulated behind the product
        pts = _points(rng, 25, front_z=6.0)
    elif case == "ground":    # points in front but on the ground
        u, z = rng.uniform(120, 220, 40), rng.uniform(2.0, 4.0, 40)
        v = 1.5 * F / z + H / 2 - 0.5
        pts = _backproject(u, v, 1.0) * z[:, None]
    elif case == "too_few":
        pts = _points(rng, MIN_SEEDS - 1)
    else:
        pts = np.zeros((0, 3))
    assert static_holdout(pts, CAM, depth, alpha, plate, GROUND_P, GROUND_N).max() == 0.0


def test_shot_points_only_when_the_track_is_the_shots_own_world(tmp_path):
    """Points from the track the shot's camera came from; a shot whose cameras differ from
    the track's (re-levelled, moved) gets none, rather than depths from another world."""
    from types import SimpleNamespace

    from ml.camera.point_occlusion import shot_points
    from shotcache.tracks import TrackData, write_transforms

    cams = {f: FrameCamera(F, F, W / 2, H / 2, np.eye(4).tolist()) for f in (1, 2)}
    src = write_transforms(tmp_path / "transforms.json", TrackData("transforms", "", cams, W, H, points=np.ones((10, 3))))
    same = SimpleNamespace(camera=SimpleNamespace(source=str(src), frames=cams))
    pts, why = shot_points(same)
    assert pts is not None and pts.shape == (10, 3) and why == ""
    moved = np.eye(4)
    moved[0, 3] = 0.5
    other = SimpleNamespace(camera=SimpleNamespace(source=str(src), frames={1: FrameCamera(F, F, W / 2, H / 2, moved.tolist())}))
    pts, why = shot_points(other)
    assert pts is None and "another world" in why
    assert shot_points(SimpleNamespace(camera=SimpleNamespace(source="", frames=cams)))[0] is None
