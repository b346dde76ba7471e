"""Occlusion: depth-ordered holdout mattes from moving-object masks, with guided-filter edges.

A synthetic frame with an exact camera: 1.5 m above a z = 0 floor looking down the +y axis,
a product (a box whose depth pass says 5 m), a person standing at 3 m (in front: hides the
product) and one at 8 m (behind: does not)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import look_at

from ml.camera.occlusion import (
    auto_holdout, depth_ordered_holdout, edge_band, ground_depth_map, guided_filter, occluders, refine_matte,
)
from ml.camera.solve import Solve
from shotcache.schema import FrameCamera

W, H, F = 320, 240, 300.0
POINT, NORMAL = (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)


CAM = FrameCamera(F, F, W / 2, H / 2, look_at((0, 0, 1.5), (0, 8, 0)).tolist())
SOLVE = Solve(width=W, height=H, cameras={1: CAM})


def ground_at_depth(depth: float, x: float = 0.0) -> np.ndarray:
    """The floor point at lateral offset x whose camera-axis depth is ``depth``."""
    c2w = np.asarray(CAM.c2w)
    zaxis, C = c2w[:3, 2], c2w[:3, 3]
    # depth(P) = (P - C) . zaxis with P = (x, y, 0): linear in y
    y = (depth - (x - C[0]) * zaxis[0] - (0 - C[2]) * zaxis[2]) / zaxis[1] + C[1]
    return np.array([x, y, 0.0])


def card_mask(foot: np.ndarray, width: float, height: float) -> np.ndarray:
    """Image mask of a vertical card standing at ``foot`` (a person-ish silhouette: body + head)."""
    corners = np.array([foot + (-width / 2, 0, 0), foot + (width / 2, 0, 0),
                        foot + (width / 2, 0, height * 0.85), foot + (-width / 2, 0, height * 0.85)])
    px, _ = SOLVE.project(1, corners)
    m = np.zeros((H, W), np.uint8)
    cv2.fillPoly(m, [np.round(px - 0.5).astype(np.int32)], 1)
    head, _ = SOLVE.project(1, (foot + (0, 0, height * 0.92))[None])
    rad = int(round(0.5 * (px[1, 0] - px[0, 0]) * 0.45))
    cv2.circle(m, tuple(np.round(head[0] - 0.5).astype(int)), max(rad, 2), 1, -1)
    return m.astype(bool)


def product_depth() -> tuple[np.ndarray, np.ndarray]:
    """Depth pass (5 m over the box, 1e10 elsewhere) and the box's mask."""
    foot = ground_at_depth(5.0)
    box = np.array([foot + (dx, dy, dz) for dx in (-0.6, 0.6) for dy in (0, 0.8) for dz in (0, 1.0)])
    px, _ = SOLVE.project(1, box)
    m = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(px - 0.5).astype(np.int32)), 1)
    mask = m.astype(bool)
    return np.where(mask, 5.0, 1e10).astype(np.float32)[..., None], mask


@pytest.fixture
def scene():
    depth, box = product_depth()
    near = card_mask(ground_at_depth(3.0, x=-0.4), 0.6, 1.75)
    far = card_mask(ground_at_depth(8.0, x=0.6), 0.6, 1.75)
    assert not (near & far).any()
    assert (near & box).sum() > 200 and (far & box).sum() > 200  # both overlap the product in the image
    return depth, box, near, far


def test_ground_depth_is_the_camera_axis_depth_of_the_floor():
    g = ground_depth_map(CAM, (W, H), POINT, NORMAL)
    p = ground_at_depth(4.0, x=0.3)
    (u, v), = SOLVE.project(1, p[None])[0]
    assert abs(g[int(v), int(u)] - 4.0) < 0.05
    assert np.isinf(g[0]).all() and np.isfinite(g[-1]).all()  # sky above the horizon, floor at the bottom


def test_front_occluder_hides_the_product_and_a_far_one_does_not(scene):
    depth, box, near, far = scene
    found: list = []
    matte = depth_ordered_holdout(near | far, CAM, POINT, NORMAL, depth, found=found)
    depths = sorted(o.depth for o in found)
    assert len(found) == 2 and all(o.why == "ground" for o in found)
    assert depths[0] == pytest.approx(3.0, rel=0.03) and depths[1] == pytest.approx(8.0, rel=0.03)
    assert matte.dtype == np.float32 and matte.shape == (H, W)
    assert (matte[near & box] == 1).all()  # the near person hides the box
    assert (matte[far & box] == 0).all()  # the far one is hidden by it
    assert matte[far & ~box].mean() > 0.95  # beside the box it still hides the ground (the shadow) behind it
    assert (matte[~(near | far)] == 0).all()


def test_a_far_product_is_hidden_by_the_same_person(scene):
    """Move the product behind the far person (depth 9 m): now both hide it."""
    _, box, near, far = scene
    matte = depth_ordered_holdout(near | far, CAM, POINT, NORMAL, np.where(box, 9.0, 1e10).astype(np.float32))
    assert (matte[far & box] == 1).all() and (matte[near & box] == 1).all()


def test_unseen_feet_are_in_front(scene):
    depth, box, _, _ = scene
    cut = np.zeros((H, W), bool)
    ys, xs = np.nonzero(box)
    cut[int(ys.mean()):, int(xs.mean()) - 10:int(xs.mean()) + 10] = True  # runs out of the bottom of the frame
    sky = np.zeros((H, W), bool)
    sky[5:25, 10:40] = True  # a bird: its lowest pixel's ray never meets the floor
    found: list = []
    matte = depth_ordered_holdout(cut | sky, CAM, POINT, NORMAL, np.where(box, 0.5, 1e10).astype(np.float32)[..., None],
                                  found=found)
    why = {o.why for o in found}
    assert why == {"bottom border", "no ground hit"} and all(o.depth == 0.0 for o in found)
    assert (matte[cut & box] == 1).all()  # even a product at 0.5 m is behind a cut-off object
    assert (matte[sky] == 1).all()


@pytest.mark.parametrize("behind", ["background", "shadow catcher"])
def test_the_products_rim_counts_as_product(scene, behind: str):
    """Cycles' pixel filter gives the product's rim alpha, but its depth is what is behind:
    1e10, or the shadow-catcher ground (Blender writes its depth too). With the alpha given,
    the rim takes the product's depth, so a person behind the product does not cut its rim."""
    depth, box, _, far = scene
    if behind == "shadow catcher":
        g = ground_depth_map(CAM, (W, H), POINT, NORMAL)
        depth = np.where(box, 5.0, np.where(np.isfinite(g), g, 1e10)).astype(np.float32)
    rim = cv2.dilate(box.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~box
    alpha = np.where(box, 1.0, np.where(rim, 0.6, 0.0)).astype(np.float32)
    assert (far & rim).sum() > 5
    bare = depth_ordered_holdout(far, CAM, POINT, NORMAL, depth)
    filled = depth_ordered_holdout(far, CAM, POINT, NORMAL, depth, product_alpha=alpha)
    assert bare[far & rim].mean() > 0.5 and (filled[far & rim] == 0).all()
    assert (filled[far & ~box & ~rim] == bare[far & ~box & ~rim]).all()
    assert filled[far & ~box & ~rim].mean() > 0.9  # the ground beside it stays hidden by the person


def test_an_upside_down_solve_falls_back_to_the_image_order(scene):
    """A solved "ground" above the camera (a world upside down: the shot QC refuses it, --force
    composites anyway): its depths would put both people in front (their feet's rays never
    meet it); the image order keeps the far one, whose foot is above the box's, behind it."""
    depth, box, near, far = scene
    ceiling = (0.0, 0.0, 3.0)
    alpha = box.astype(np.float32)
    found: list = []
    matte = depth_ordered_holdout(near | far, CAM, ceiling, NORMAL, depth, product_alpha=alpha, found=found)
    assert {o.why for o in found} == {"image order"}
    assert (matte[near & box] == 1).all() and (matte[far & box] == 0).all()
    assert (matte[far & ~box] == 0).all()  # behind everything: it cuts nothing


def test_specks_are_ignored(scene):
    depth, box, _, _ = scene
    speck = np.zeros((H, W), bool)
    ys, xs = np.nonzero(box)
    speck[int(ys.mean()):int(ys.mean()) + 2, int(xs.mean()):int(xs.mean()) + 2] = True
    assert depth_ordered_holdout(speck, CAM, POINT, NORMAL, depth).max() == 0.0
    labels, found = occluders(speck, CAM, POINT, NORMAL, min_area=1)
    assert len(found) == 1 and labels.max() == 1


def _plate(near: np.ndarray, far: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.full((H, W, 3), (90, 120, 100), np.uint8)
    img[near] = (200, 60, 40)
    img[far] = (40, 60, 200)
    return np.clip(img.astype(int) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)


def test_refined_edges_are_soft_only_near_the_edge(scene):
    depth, box, near, far = scene
    plate = _plate(near, far)
    coarse = cv2.resize(cv2.resize(near.astype(np.uint8), (W // 3, H // 3), interpolation=cv2.INTER_AREA),
                        (W, H), interpolation=cv2.INTER_NEAREST).astype(bool)  # a blocky segmentation
    assert (coarse != near)[box].sum() > 40
    matte = depth_ordered_holdout(coarse, CAM, POINT, NORMAL, depth, plate, radius=3)
    band = edge_band(coarse, 6)
    soft = (matte > 0.05) & (matte < 0.95)
    assert soft.any() and not (soft & ~band).any()  # soft values only within 2r px of the mask's edge
    inside = cv2.erode(coarse.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & box
    outside = ~cv2.dilate(coarse.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert inside.sum() > 500 and matte[inside].min() >= 0.95 and matte[outside].max() <= 0.05
    # the soft edge follows the plate: closer to the person's true outline than the blocky mask
    true_err = np.abs(matte - near)[band & box].mean()
    coarse_err = np.abs(coarse.astype(np.float32) - near)[band & box].mean()
    assert true_err < 0.7 * coarse_err, (true_err, coarse_err)
    # the far person's edges never reach over the box (the depth test cuts along the render's silhouette)
    far_only = depth_ordered_holdout(far, CAM, POINT, NORMAL, depth, plate, radius=3)
    assert far_only[box].max() == 0.0


def _crossing(row: np.ndarray) -> float:
    """Sub-pixel column where a falling 1 -> 0 profile crosses 0.5."""
    i = int(np.nonzero(row < 0.5)[0][0])
    return i - 1 + (row[i - 1] - 0.5) / (row[i - 1] - row[i])


@pytest.mark.parametrize("colour_only", [False, True])
def test_guided_filter_snaps_to_the_guide_edge(colour_only: bool):
    """Binary edge between columns 29 and 30, the plate's edge 2 px further (between 31 and
    32): the matte moves towards the plate's edge and drops to 0 exactly there.
    colour_only: both sides have the same brightness (only a colour guide sees the edge)."""
    h, w = 40, 64
    mask = np.zeros((h, w), bool)
    mask[:, :30] = True
    left, right = ((0.8, 0.2, 0.5), (0.2, 0.8, 0.5)) if colour_only else ((0.9, 0.9, 0.9), (0.1, 0.1, 0.1))
    guide = np.empty((h, w, 3), np.float32)
    guide[:, :32] = left
    guide[:, 32:] = right
    flat = refine_matte(mask, np.full((h, w, 3), 0.5, np.float32), radius=4, eps=1e-3, stretch=0.0)[20]
    snapped = refine_matte(mask, guide, radius=4, eps=1e-3, stretch=0.0)[20]  # the filter alone
    assert abs(_crossing(flat) - 29.5) < 0.3  # a flat guide: a symmetric ramp around the mask's edge
    assert _crossing(snapped) > _crossing(flat) + 0.8  # pulled towards the plate's edge
    assert snapped[32:].max() <= 0.01 and flat[32] > 0.1  # nothing of it past the plate's edge
    steps = snapped[:-1] - snapped[1:]
    assert int(np.argmax(steps)) == 31 and steps[31] > 0.4  # its sharpest step is the plate's edge
    assert (snapped[:22] == 1.0).all() and (snapped[38:] == 0.0).all()  # outside the band: the binary mask
    stretched = refine_matte(mask, guide, radius=4, eps=1e-3)[20]  # the default stretch keeps the edge's place
    assert _crossing(stretched) > _crossing(flat) + 0.8 and stretched[32:].max() == 0.0
    assert stretched[27] == 1.0 and snapped[27] < 0.9  # and no faint tail inside the object


def _guided_reference(I: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s colour guided filter, per pixel with numpy's inverse (slow, for checking)."""
    h, w, _ = I.shape
    pad = lambda a: np.pad(a, [(r, r), (r, r)] + [(0, 0)] * (a.ndim - 2), mode="symmetric")  # noqa: E731
    Ip, pp = pad(I), pad(p)
    a = np.zeros((h, w, 3))
    b = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            wi = Ip[y:y + 2 * r + 1, x:x + 2 * r + 1].reshape(-1, 3).astype(np.float64)
            wp = pp[y:y + 2 * r + 1, x:x + 2 * r + 1].reshape(-1).astype(np.float64)
            mu = wi.mean(0)
            cov = (wi - mu).T @ (wi - mu) / len(wi)
            a[y, x] = np.linalg.solve(cov + eps * np.eye(3), ((wi - mu) * (wp - wp.mean())[:, None]).mean(0))
            b[y, x] = wp.mean() - a[y, x] @ mu
    ap, bp = pad(a), pad(b)
    q = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            q[y, x] = ap[y:y + 2 * r + 1, x:x + 2 * r + 1].reshape(-1, 3).mean(0) @ I[y, x] + bp[y:y + 2 * r + 1, x:x + 2 * r + 1].mean()
    return q


def test_guided_filter_matches_the_textbook_definition():
    rng = np.random.default_rng(3)
    I = rng.random((14, 17, 3)).astype(np.float32)
    p = (rng.random((14, 17)) > 0.5).astype(np.float32)
    ref = _guided_reference(I, p, 2, 1e-2)
    assert np.abs(guided_filter(I, p, 2, 1e-2) - ref).max() < 1e-3
    grey = guided_filter(I[..., 0], p, 2, 1e-2)  # grey guide: the same with a 1x1 covariance
    ref_grey = _guided_reference(np.repeat(I[..., :1], 3, axis=2), p, 2, 1e-2 * 3)  # (same direction, eps scaled)
    assert grey.shape == p.shape and np.isfinite(grey).all() and np.abs(grey - ref_grey).max() < 2e-2


# ---------------------------------------------------------------------------
# a shot folder: auto_holdout writes the mattes the pipeline applies
# ---------------------------------------------------------------------------


def _shot(tmp_path: Path, scene) -> tuple:
    from ml.io.exr import write_passes
    from ml.pipeline.synthetic import make_shot, synth_render

    depth, box, near, far = scene
    paths = make_shot(tmp_path / "shot", frames=3, size=(W, H))
    shot = paths.load_shot()
    shot.camera.frames = {f: FrameCamera(**CAM.__dict__) for f in shot.frames}
    shot.ground.point, shot.ground.normal = list(POINT), list(NORMAL)
    paths.save_shot(shot)
    for f in shot.frames:
        passes = synth_render(W, H, f)
        rgba = np.zeros((H, W, 4), np.float32)
        rgba[box] = (0.8, 0.05, 0.05, 1.0)
        passes["rgba"], passes["depth"] = rgba, depth
        passes["shadow_catcher"] = np.ones((H, W, 3), np.float32)
        write_passes(paths.render_frame(f), passes)
        cv2.imwrite(str(paths.plate_frame(f)), _plate(near, far))
    return paths, shot


def test_auto_holdout_writes_depth_ordered_mattes_into_the_shot(tmp_path: Path, scene):
    from ml.io.exr import read_passes

    depth, box, near, far = scene
    paths, shot = _shot(tmp_path, scene)
    moving = {1: near | far, 2: far, 3: np.zeros((H, W), bool)}
    lines: list[str] = []
    summary = auto_holdout(paths.root, moving, user_holdout_present=False, log=lines.append)
    assert summary["frames"] == 3 and summary["occluded_frames"] == [1]
    covered = (near & box).sum() / box.sum()
    assert summary["covered"]["1"] == pytest.approx(covered, abs=0.03) and summary["covered"]["2"] == 0.0
    assert summary["mean_covered"] == pytest.approx(covered / 3, abs=0.01)
    assert "an occluder covers the product in 1/3 frames" in lines[0]
    m1 = cv2.imread(str(paths.holdout_frame(1)), cv2.IMREAD_GRAYSCALE)
    core = cv2.erode((near & box).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert m1.shape == (H, W) and (m1[core] == 255).all() and (m1[far & box] == 0).all()
    assert paths.holdout_frame(2).is_file()  # the far person still hides the ground (a shadow) beside the box
    assert not paths.holdout_frame(3).exists()  # nothing moves: no matte
    assert not list(paths.holdout_dir.glob(".*"))  # no temp file left behind
    # a re-run with the same masks leaves the files alone (the stage cache keys on their stamps)
    stamp = paths.holdout_frame(1).stat().st_mtime_ns
    assert auto_holdout(paths.root, moving, False)["written"] == 0
    assert paths.holdout_frame(1).stat().st_mtime_ns == stamp
    # the person left frame 1: its stale automatic matte goes
    auto_holdout(paths.root, {1: np.zeros((H, W), bool)}, False)
    assert not paths.holdout_frame(1).exists()
    # a user matte (left quarter of frame 3) is combined with the automatic one (max)
    user = np.zeros((H, W), np.uint8)
    user[:, : W // 4] = 255
    cv2.imwrite(str(paths.holdout_frame(3)), user)
    auto_holdout(paths.root, {3: near}, user_holdout_present=True)
    m3 = cv2.imread(str(paths.holdout_frame(3)), cv2.IMREAD_GRAYSCALE)
    assert (m3[:, : W // 4] == 255).all() and (m3[core] == 255).all()
    # and the pipeline applies it: the product's alpha is cut where the near person stands
    from ml.pipeline.frames import load_frame

    state = load_frame(paths, shot, 3)
    assert state.rgba is not None
    alpha = read_passes(paths.render_frame(3), ["rgba"])["rgba"][..., 3]
    assert alpha[near & box].min() == 1.0 and state.rgba[..., 3][core].max() == 0.0
    clear = box & ~cv2.dilate(near.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & (np.arange(W) >= W // 4)[None, :]
    assert clear.sum() > 200 and (state.rgba[..., 3][clear] == 1.0).all()


def test_auto_holdout_composite_shows_the_plate_in_front_of_the_product(tmp_path: Path, scene):
    """End to end without Blender: automatic matte -> classical composite: where the near
    person stands over the box the final frame is the plate; where the far person is, the box."""
    from ml.io.images import read_rgb8
    from ml.pipeline.runner import PipelineRunner
    from shotcache.schema import JobSpec

    depth, box, near, far = scene
    paths, shot = _shot(tmp_path, scene)
    auto_holdout(paths.root, {f: near | far for f in shot.frames}, False)
    spec = JobSpec(shot=str(paths.root), stages=["composite"], engines={"composite": "classical"}, frames=[2],
                   params={"composite": {"grain": 0}})
    runner = PipelineRunner()
    version = runner.prepare(spec, paths.root)
    runner.run(spec, paths.root, version=version)
    comp = read_rgb8(paths.version_frame(version, 2)).astype(int)
    plate = read_rgb8(paths.plate_frame(2)).astype(int)
    hidden = cv2.erode((near & box).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    shown = cv2.erode((far & box).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert hidden.sum() > 100 and shown.sum() > 100
    assert np.abs(comp - plate)[hidden].mean() < 3.0
    assert np.abs(comp - plate)[shown].mean() > 10.0
