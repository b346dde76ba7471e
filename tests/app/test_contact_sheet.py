"""Contact sheet: plate | product render | composite rows for a few frames of a version."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from app.contact_sheet import make_contact_sheet, pick_frames
from ml.io.images import read_rgb8
from ml.pipeline.runner import PipelineRunner
from ml.pipeline.synthetic import make_shot
from shotcache.schema import JobSpec


def test_pick_frames_spreads_and_keeps_ends():
    assert pick_frames([1, 2, 3], 4) == [1, 2, 3]
    assert pick_frames(list(range(1, 49)), 4) == [1, 17, 32, 48]


def test_sheet_layout_and_content(tmp_path: Path):
    shot = make_shot(tmp_path / "shot", frames=5, size=(64, 48))
    runner = PipelineRunner()
    spec = JobSpec(shot=str(shot.root))
    v = runner.prepare(spec, shot.root)
    runner.run(spec, shot.root, version=v)
    sheet = read_rgb8(make_contact_sheet(shot.root, v, tmp_path / "sheet.png", n=3))
    assert sheet.shape == (3 * 48 + 2 * 4, 3 * 64 + 2 * 4, 3)
    # right column = the composite of frame 1 (below the label), left = its plate
    comp = read_rgb8(shot.version_frame(v, 1))
    assert np.array_equal(sheet[30:48, 136:200], comp[30:48])
    assert np.array_equal(sheet[30:48, 0:64], read_rgb8(shot.plate_frame(1))[30:48])


def test_sheet_carries_the_qc_verdict_and_slide(tmp_path: Path):
    """A refused shot: a red banner with the verdict heads the sheet; without a version the
    composite tiles say 'not composited' and the plate rows are unchanged below the banner."""
    from shotcache.schema import ShotQC

    shot = make_shot(tmp_path / "shot", frames=3, size=(64, 48))
    s = shot.load_shot()
    s.qc = ShotQC(verdict="refused", reasons=["lock: the product slides over the ground: 4.00 px mean"],
                  slide_mean_px=4.0, slide_max_px=9.0, slide_per_frame={"1": 2.0, "3": 9.0})
    shot.save_shot(s)
    sheet = read_rgb8(make_contact_sheet(shot.root, None, tmp_path / "sheet.png", n=3))
    rows = 3 * 48 + 2 * 4
    banner = sheet.shape[0] - rows - 4
    assert banner > 10 and sheet.shape[1] == 3 * 64 + 2 * 4
    top = sheet[:banner].reshape(-1, 3).astype(int)
    assert np.median(top[:, 0]) > 120 and np.median(top[:, 1]) < 60  # red: refused
    first = banner + 4
    assert np.array_equal(sheet[first + 30:first + 48, 0:64], read_rgb8(shot.plate_frame(1))[30:48])
    assert sheet[first + 30:first + 48, 136:200].max() < 60  # no composite drawn


def test_a_shot_refused_before_the_render_shows_the_products_spot(tmp_path: Path):
    """No render (refused before it): the middle tile is the plate with the product's
    contact point ringed where the solved camera projects it, so the artist sees the spot
    the lock was measured at; a rendered frame keeps its product render."""
    from ml.camera.shotqc import contact_point, shot_solve

    shot = make_shot(tmp_path / "shot", frames=3, size=(64, 48))
    s = shot.load_shot()
    forward = np.array([0.0, 3.0, -1.5]) / np.linalg.norm([0.0, 3.0, -1.5])  # from (0, -3, 1.5) at the product's foot
    right = np.array([1.0, 0.0, 0.0])
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([right, np.cross(forward, right), forward], axis=1)  # x right, y down, z forward
    c2w[:3, 3] = [0.0, -3.0, 1.5]
    for cam in s.camera.frames.values():
        cam.c2w = c2w.tolist()
    shot.save_shot(s)
    shot.render_frame(1).unlink()
    sheet = read_rgb8(make_contact_sheet(shot.root, None, tmp_path / "sheet.png", n=3))
    (u, v), = shot_solve(s).project(1, contact_point(s)[None])[0]
    assert 8 < u < 56 and 8 < v < 40, (u, v)  # the synthetic product stands in view
    middle = sheet[0:48, 68:132].astype(int)
    plate = read_rgb8(shot.plate_frame(1)).astype(int)
    ring = (middle[..., 0] > 200) & (middle[..., 1] < 120) & (middle[..., 2] < 120) & (np.abs(middle - plate).sum(-1) > 60)
    ys, xs = np.nonzero(ring)
    assert len(ys) > 10 and abs(xs.mean() - u) < 3 and abs(ys.mean() - v) < 3, (xs.mean(), ys.mean(), u, v)
    from app.contact_sheet import render_tile

    assert np.array_equal(sheet[52 + 30:100, 68:132], render_tile(shot.render_frame(2), (64, 48))[30:48])  # frame 2 is rendered
