"""The compositor API (process_frame / process_video_sequence) with the classical engine."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.composite.api import Compositor
from ml.io.colour import linear_to_uint8
from ml.io.images import read_rgb8, write_rgb8
from ml.pipeline.synthetic import make_shot, synth_plate, synth_render


def test_process_frame_dtypes():
    comp = Compositor("classical", grain=0.0)
    plate8 = synth_plate(64, 48, 1)
    r = synth_render(64, 48, 1)
    rgba8 = np.concatenate([linear_to_uint8(r["rgba"][..., :3]), (r["rgba"][..., 3:] * 255 + 0.5).astype(np.uint8)], -1)
    out8 = comp.process_frame(plate8, rgba8, shadow=r["shadow_catcher"])
    assert out8.dtype == np.uint8 and out8.shape == (48, 64, 3)
    outf = comp.process_frame(plate8.astype(np.float32) / 255.0, r["rgba"], strength=0.5)
    assert outf.dtype == np.float32
    with pytest.raises(ValueError, match="HxWx4"):
        comp.process_frame(plate8, plate8)


def test_unknown_engine_and_fallback():
    from ml.stages.base import EngineError

    with pytest.raises(EngineError, match="unknown composite engine"):
        Compositor("nope")
    from ml.stages import base

    if ("composite", "photorealistic") in base.engines("composite"):
        comp = Compositor("photorealistic", checkpoint_path="/nonexistent/composite.safetensors")
        assert comp.engine_name == "classical" and comp.fallback_reason
        with pytest.raises(base.EngineUnavailable):
            Compositor("photorealistic", checkpoint_path="/nonexistent/composite.safetensors", allow_fallback=False)


def test_process_video_sequence_exr_and_png(tmp_path: Path):
    shot = make_shot(tmp_path / "shot", frames=3, size=(64, 48))
    comp = Compositor("classical")
    a = comp.process_video_sequence(shot.render_dir, shot.plate_dir, tmp_path / "a", seed=3)
    b = Compositor("classical").process_video_sequence(shot.render_dir, shot.plate_dir, tmp_path / "b", seed=3)
    assert [p.name for p in a] == ["000001.png", "000002.png", "000003.png"]
    assert all(np.array_equal(read_rgb8(x), read_rgb8(y)) for x, y in zip(a, b))
    # the shadow-catcher pass of the EXR was used: below the sphere is darker than the plate
    out = read_rgb8(a[0]).astype(int)
    plate = read_rgb8(shot.plate_frame(1)).astype(int)
    sh = synth_render(64, 48, 1)["shadow_catcher"][..., 0] < 0.6
    assert (out[sh] < plate[sh]).mean() > 0.9
    # RGBA PNG renders work too
    rdir = tmp_path / "png"
    r = synth_render(64, 48, 1)
    write_rgb8(rdir / "000001.png", np.concatenate([linear_to_uint8(r["rgba"][..., :3]), (r["rgba"][..., 3:] * 255).astype(np.uint8)], -1))
    c = Compositor("classical").process_video_sequence(rdir, shot.plate_dir, tmp_path / "c")
    assert read_rgb8(c[0]).shape == (48, 64, 3)
