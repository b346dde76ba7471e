"""The ground cover (ml/pipeline/ground_cover.py): grass round the product hides its base with a
ragged edge fixed on the ground, on a position pass ray-cast here from an upright cylinder
standing on the ground plane (z = 0), seen by a camera 3 m off."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ml.io.exr import read_passes, write_passes
from ml.pipeline.frames import FrameSkip, load_frame
from ml.pipeline.ground_cover import FADE, RAGGED, SHADE, UNDER_SHADE, apply_cover, blade_heights, shade_under_cover
from ml.pipeline.synthetic import make_shot
from shotcache.schema import SchemaError, Shot, check_cover_m

RADIUS, HEIGHT = 0.1, 0.3
W, H = 160, 200


def _cylinder(cam_x: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA, position pass) of a grey cylinder (RADIUS, HEIGHT) on z = 0 at the origin, seen from
    (cam_x, -3, 0.4) towards (0, 0, 0.15) by a pinhole camera (W x H, 0.4 m wide at 3 m)."""
    eye = np.array([cam_x, -3.0, 0.4])
    fwd = np.array([0.0, 0.0, 0.15]) - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    xs = (np.arange(W) + 0.5 - W / 2) / W * 0.4 / 3.0
    ys = (H / 2 - np.arange(H) - 0.5) / W * 0.4 / 3.0
    d = fwd + xs[None, :, None] * right + ys[:, None, None] * up
    # |(eye + t d)_xy| = RADIUS: the nearer root
    a = d[..., 0] ** 2 + d[..., 1] ** 2
    b = 2 * (eye[0] * d[..., 0] + eye[1] * d[..., 1])
    c = eye[0] ** 2 + eye[1] ** 2 - RADIUS**2
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    pos = eye + t[..., None] * d
    hit = (disc > 0) & (pos[..., 2] >= 0) & (pos[..., 2] <= HEIGHT)
    rgba = np.zeros((H, W, 4), np.float32)
    rgba[hit] = [0.5, 0.5, 0.5, 1.0]
    return rgba, np.where(hit[..., None], pos, 0.0).astype(np.float32)


def test_bare_ground_changes_nothing():
    rgba, pos = _cylinder()
    assert apply_cover(rgba, pos, [0, 0, 0], [0, 0, 1], 0.0)[0] is rgba


def test_the_cover_hides_the_base_with_a_ragged_edge_and_darkens_above_it():
    rgba, pos = _cylinder()
    cover = 0.08
    out, hidden, _level = apply_cover(rgba, pos, [0, 0, 0], [0, 0, 1], cover)
    z = pos[..., 2]
    on = rgba[..., 3] > 0
    low = on & (z < (1 - RAGGED) * cover - 0.01)
    high = on & (z > cover * (1 + FADE) + 0.01)
    assert low.sum() > 50 and high.sum() > 500
    assert out[..., 3][low].max() < 0.05  # below the shortest blades: grass everywhere
    assert out[..., 3][high].min() > 0.99  # well above the tallest: the product
    # the edge is ragged: the lowest row the product shows differs from column to column
    cols = [c for c in range(W) if on[:, c].sum() > 10]
    lowest = [int(np.nonzero(out[:, c, 3] > 0.5)[0].max()) for c in cols]
    assert np.ptp(lowest) >= 3 and len(set(lowest)) >= 4
    # darker just above the edge than high up (the blades take the sky), never brighter
    edge = np.full(z.shape, np.inf)
    edge[on] = blade_heights(pos[on].astype(np.float64), np.zeros(3), np.array([0.0, 0.0, 1.0]), cover)
    fading = on & (z > edge) & (z - edge < FADE * cover)  # the product seen through the blades' tips
    assert fading.sum() > 10 and 0.05 < out[..., 3][fading].mean() < 0.95
    assert out[..., 0][fading].mean() < 0.5 * (1 - 0.3 * SHADE) and out[..., 0][high].mean() > 0.49
    assert (out[..., :3] <= rgba[..., :3] + 1e-6).all()


def test_the_edge_stays_on_the_ground_as_the_camera_moves():
    """The blades' heights are a function of the ground point alone: a world point of the product
    is hidden or shown alike from two cameras (no boiling edge), and the pattern varies along the
    ground (blade to blade)."""
    cover = 0.08
    seen = []
    for cam_x in (0.0, 0.3):
        rgba, pos = _cylinder(cam_x)
        out, hidden, _level = apply_cover(rgba, pos, [0, 0, 0], [0, 0, 1], cover)
        on = rgba[..., 3] > 0
        seen.append((pos[on], out[..., 3][on]))
    (p0, a0), (p1, a1) = seen
    # world points both views show, matched within 3 mm
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(p1).query(p0)
    both = (dist < 0.003) & (np.abs(p0[:, 2] - cover * (1 - RAGGED / 2)) < RAGGED * cover / 2)  # in the ragged band
    assert both.sum() > 30
    crisp = ((a0 < 0.1) | (a0 > 0.9)) & ((a1[idx] < 0.1) | (a1[idx] > 0.9))  # away from the anti-aliased edge
    agree = ((a0 > 0.5) == (a1[idx] > 0.5))[both & crisp]
    assert agree.mean() > 0.9
    pts = np.stack([np.linspace(0, 0.3, 200), np.zeros(200), np.zeros(200)], 1)
    h = blade_heights(pts, np.zeros(3), np.array([0.0, 0.0, 1.0]), cover)
    assert h.min() >= (1 - RAGGED) * cover - 1e-9 and h.max() <= cover + 1e-9 and np.ptp(h) > 0.3 * RAGGED * cover
    assert np.array_equal(h, blade_heights(pts, np.zeros(3), np.array([0.0, 0.0, 1.0]), cover))


@pytest.mark.parametrize("value", [-0.01, 1.5, float("nan"), "0.1", True])
def test_a_cover_that_is_no_height_is_refused_with_its_name(value):
    with pytest.raises(SchemaError, match="--ground-cover"):
        check_cover_m(value, "--ground-cover")


def test_a_shot_loads_with_its_cover_and_every_stage_sees_the_base_hidden(tmp_path):
    """shot.json ground.cover_m is read by the frame loader, before any stage; a shot without a
    position pass is told what to do; a shot.json with a bad cover is refused on load."""
    paths = make_shot(tmp_path / "shot", frames=1, size=(W, H))
    rgba, pos = _cylinder()
    f = paths.load_shot().frames[0]
    passes = read_passes(paths.render_frame(f), ["rgba", "shadow_catcher"])
    write_passes(paths.render_frame(f), {"rgba": rgba, "position": pos, "shadow_catcher": passes["shadow_catcher"]})
    bare = load_frame(paths, paths.load_shot(), f)
    assert np.allclose(bare.rgba[..., 3], rgba[..., 3], atol=1e-3)
    shot = paths.load_shot()
    shot.ground.cover_m = 0.1
    paths.save_shot(shot)
    covered = load_frame(paths, paths.load_shot(), f)
    low = (rgba[..., 3] > 0) & (pos[..., 2] < 0.03)
    assert low.any() and covered.rgba[..., 3][low].max() < 0.05
    write_passes(paths.render_frame(f), {"rgba": rgba, "shadow_catcher": passes["shadow_catcher"]})
    with pytest.raises(FrameSkip, match="position pass"):
        load_frame(paths, paths.load_shot(), f)
    data = json.loads(paths.shot_json.read_text())
    data["ground"]["cover_m"] = 3.0
    with pytest.raises(SchemaError, match="ground.cover_m"):
        Shot.from_dict(data)


def test_the_grass_where_the_base_was_is_shaded_and_its_contact_outline_goes():
    """The render's catcher reads 1 under the product and dark in a contact ring round it. Where
    the cover shows the grass in place of the base, that grass is shaded (at most UNDER_SHADE,
    the ground beyond the ring being unshadowed here); the ring next to the hidden base is
    lightened to the ground beyond it, and the ring by the parts still shown stays as rendered."""
    import cv2

    rgba, pos = _cylinder()
    alpha = rgba[..., 3]
    sil = (alpha > 0).astype(np.uint8)
    ring = cv2.dilate(sil, np.ones((5, 5), np.uint8)).astype(bool) & ~sil.astype(bool)
    catcher = np.ones((H, W, 3), np.float32)
    catcher[ring] = 0.2
    covered = apply_cover(rgba, pos, [0, 0, 0], [0, 0, 1], 0.08)
    out = shade_under_cover(catcher, alpha, covered)
    gone = covered.hidden > 0.99
    assert gone.sum() > 50
    assert np.allclose(out[gone], UNDER_SHADE, atol=0.02)  # shaded, not the render's unshadowed 1
    ys, _xs = np.nonzero(sil)
    below = ring & (np.arange(H)[:, None] > ys.max() - 2)  # the ring under the hidden base
    above = ring & (np.arange(H)[:, None] < ys.min() + 20)  # the ring round the top, far from the cover
    assert below.any() and above.any()
    assert out[below].mean() > 0.8 and np.allclose(out[above], 0.2)
    assert np.array_equal(shade_under_cover(catcher, alpha, apply_cover(rgba, pos, [0, 0, 0], [0, 0, 1], 0.0)), catcher)
