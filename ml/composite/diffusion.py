"""The diffusion compositors of the composite stage: ``controlnet`` and ``iclight``.

They share the diffusion machinery of the diffuse stage (model loading, sampling, temporal
consistency: ml/diffuse/engines.py) but are composite engines: they produce the composite
from the plate and the product render, and fall back to ``classical`` (shotcache.engines).
"""
from __future__ import annotations

import numpy as np

from ml.diffuse import masks
from ml.diffuse.engines import ControlNetBase, ICLightBase, alpha_over
from ml.stages.base import EngineError, register


@register
class ControlNetCompositor(ControlNetBase):
    """Composite (alpha-over + shadow catcher), then diffuse the object+shadow region under
    ControlNet depth/normal conditioning so the product's geometry stays put."""

    stage, name = "composite", "controlnet"
    needs = ("plate", "rgba", "depth")

    def image(self, frame, params):
        return alpha_over(frame.plate, frame.rgba, frame.passes.get("shadow_catcher"))

    def region(self, frame, params):
        m = masks.object_shadow_mask(frame.rgba, frame.passes.get("shadow_catcher"))
        if m is None or m.max() <= 0:
            raise EngineError(f"composite engine 'controlnet': the render of frame {frame.index} has an empty alpha")
        return masks.check_mask(m, frame.plate.shape[:2], "render alpha")


@register
class ICLightCompositor(ICLightBase):
    """Relight the product for the plate (background-conditioned), composite over the shadowed plate."""

    stage, name = "composite", "iclight"
    needs = ("plate", "rgba")

    def base(self, frame):
        plate = frame.plate[..., :3].astype(np.float32)
        sc = frame.passes.get("shadow_catcher")
        return plate if sc is None else plate * np.clip(sc if sc.ndim == 3 else sc[..., None], 0, 1)[..., :3]

    def image(self, frame, params):
        return alpha_over(frame.plate, frame.rgba, frame.passes.get("shadow_catcher"))
