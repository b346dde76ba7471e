"""Lambert relighting: brighter facing the light, alpha kept, registered engines."""
from __future__ import annotations

import numpy as np

from ml.pipeline.synthetic import synth_render
from ml.relight.lambert import lambert_shade
from ml.stages import base
from ml.stages.base import FrameState
from shotcache.schema import Light, Lighting


def test_facing_light_brighter_than_away():
    lighting = Lighting(world_color=[0.1, 0.1, 0.1], world_strength=1.0, lights=[Light(direction=[0, 0, 1], intensity=3.0)])
    albedo = np.full((1, 3, 3), 0.5, np.float32)
    normal = np.array([[[0, 0, 1], [1, 0, 0], [0, 0, -1]]], np.float32)
    out = lambert_shade(albedo, normal, lighting)
    assert out[0, 0].mean() > out[0, 1].mean() > 0
    assert out[0, 1].mean() >= out[0, 2].mean() > 0  # ambient only, sky-weighted
    # colour of the light tints the result
    lighting.lights[0].color = [1.0, 0.2, 0.2]
    tinted = lambert_shade(albedo, normal, lighting)
    assert tinted[0, 0, 0] > tinted[0, 0, 1]


def test_engines_keep_alpha():
    r = synth_render(48, 32, 1)
    st = FrameState(index=1, plate=np.zeros((32, 48, 3), np.float32), rgba=r["rgba"], passes={k: v for k, v in r.items() if k != "rgba"}, lighting=Lighting())
    for name in ("lambert", "none"):
        eng = base.create("relight", name)
        eng.setup()
        eng.check_inputs(st)
        out = eng.process(st, {})
        assert out.shape == (32, 48, 4)
        assert np.array_equal(out[..., 3], r["rgba"][..., 3])
        assert (out[r["rgba"][..., 3] == 0, :3] == 0).all()
    # the lit side of the sphere (normal towards the default sun) is brighter than the far side
    lam = base.create("relight", "lambert")
    out = lam.process(st, {})
    sun = np.array(Lighting().lights[0].direction, np.float32)
    cos = (r["normal"] @ (sun / np.linalg.norm(sun)))
    inside = r["rgba"][..., 3] > 0.99
    assert out[inside & (cos > 0.6), :3].mean() > out[inside & (cos < 0.0), :3].mean()
