"""Which rectangle of each frame Cycles renders: the product and its shadows, through the camera.

The rule (what the rectangle holds, when it is the whole frame) is shotcache/render_region.py;
this module gathers its inputs from the shot's scene - the product's bounding box, the scene's
lights (the shot's and any an artist added), the shot's environment map - and projects them through the scene camera at the frame (and at
the shutter's open and close with motion blur). ``VANELIA_FULL_FRAME=1`` in the environment
renders every frame whole (benchmarks compare the two).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from ..shotcache import render_region as rule
from ..shotcache.schema import Shot
from . import lighting, product, shot_scene

Box = tuple[float, float, float, float]


def scene_lights(scene: Any) -> tuple[list[Any], list[Any]]:
    """(sun directions towards the light, lamp positions) of every light Cycles will render in
    ``scene``: the shot's, and any an artist added in Blender (shot.json does not know those)."""
    suns: list[Any] = []
    lamps: list[Any] = []
    for obj in scene.objects:
        if obj.type != "LIGHT" or obj.hide_render:
            continue
        m = obj.matrix_world
        if cast(Any, obj.data).type == "SUN":  # a sun shines along its -Z: the light is towards +Z
            suns.append(np.asarray((m.to_3x3() @ Vector((0.0, 0.0, 1.0))).normalized()[:]))
        else:
            lamps.append(np.asarray(m.translation[:]))
    return suns, lamps


class RegionPlanner:
    """The border of each frame of a shot's render (None: the whole frame)."""

    def __init__(self, scene: Any, shot: Shot, shot_dir: str | os.PathLike[str]):
        self.scene = scene
        self.shutter = float(shot.render.motion_blur)
        self.points: np.ndarray | None = None  # None: every frame whole
        root = shot_scene.find(scene, product.PRODUCT_ROOT)
        if os.environ.get("VANELIA_FULL_FRAME") or root is None:
            return
        corners = rule.box_corners(*product.mesh_bounds(root))
        g, n = shot.ground.point, shot.ground.normal
        suns, lamps = scene_lights(scene)
        if shot.lighting.environment:
            env = lighting.load_env(Path(shot_dir) / shot.lighting.environment)
            if env is None:  # where its light comes from is unknown
                return
            suns += rule.env_casters(env, n)
        shadows = rule.shadow_points(corners, g, n, suns, lamps)
        if shadows is None:  # a light low enough to throw a shadow across the frame
            return
        self.points = np.concatenate([shadows, rule.soft_points(corners, g, n)])

    def instants(self, frame: int) -> list[tuple[int, float]]:
        """(frame, subframe) of the frame and, with motion blur, of the shutter's open and close."""
        if self.shutter <= 0:
            return [(frame, 0.0)]
        out = []
        for t in (frame - self.shutter / 2, frame, frame + self.shutter / 2):
            f = math.floor(t)
            out.append((int(f), float(t - f)))
        return out

    def region(self, frame: int) -> Box | None:
        """The frame's border (x_min, x_max, y_min, y_max; fractions, y up) or None."""
        if self.points is None:
            return None
        cam = self.scene.camera
        boxes = []
        for f, sub in self.instants(frame):
            self.scene.frame_set(f, subframe=sub)
            uvz = np.array([list(cast(Any, world_to_camera_view(self.scene, cam, Vector(p)))) for p in self.points])
            boxes.append(rule.screen_box(uvz))
        return rule.union(boxes)


def share(box: Box | None) -> float:
    """The part of the frame a border renders (1 for the whole frame)."""
    return 1.0 if box is None else (box[1] - box[0]) * (box[3] - box[2])
