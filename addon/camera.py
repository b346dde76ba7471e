"""Pixel intrinsics + OpenCV pose  <->  a Blender camera, frame by frame.

Blender's projection follows its viewplane rule (BKE_camera_params_compute_viewplane): with
sensor fit HORIZONTAL the sensor width spans the image width, shift is in units of the
fitted side, and the pixel aspect stretches y. Solving that rule for lens, shift and pixel
aspect makes a Blender camera project exactly like the pinhole camera of the track; the
inverse turns any Blender camera (animated, Camera Solver constraint) into the track.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import bpy
import numpy as np
from mathutils import Matrix

from ..shotcache.schema import FrameCamera
from . import compat
from ..shotcache.axes import cv_to_gl, gl_to_cv
from ..shotcache.errors import InputError

SENSOR_WIDTH_MM = 36.0


@dataclass
class BlenderIntrinsics:
    lens: float
    sensor_width: float
    shift_x: float
    shift_y: float
    pixel_aspect_x: float
    pixel_aspect_y: float


def to_blender(fx: float, fy: float, cx: float, cy: float, width: int, height: int, sensor_width: float = SENSOR_WIDTH_MM) -> BlenderIntrinsics:
    """Lens/shift/pixel aspect for a HORIZONTAL-fit camera that projects like (fx, fy, cx, cy)."""
    ycor = fx / fy  # Blender: ycor = pixel_aspect_y / pixel_aspect_x, and fy = fx / ycor
    asp_x, asp_y = (1.0, ycor) if ycor >= 1.0 else (1.0 / ycor, 1.0)
    return BlenderIntrinsics(
        lens=fx * sensor_width / width,
        sensor_width=sensor_width,
        shift_x=(width / 2.0 - cx) / width,
        shift_y=(cy - height / 2.0) * ycor / width,
        pixel_aspect_x=asp_x,
        pixel_aspect_y=asp_y,
    )


def from_blender(cam: Any, width: int, height: int, asp_x: float = 1.0, asp_y: float = 1.0) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) in pixels of a Blender camera datablock rendered at width x height."""
    if cam.type != "PERSP":
        raise InputError(f"camera {cam.name!r} is {cam.type}; Vanelia needs a perspective camera")
    ycor = asp_y / asp_x
    fit = cam.sensor_fit
    if fit == "AUTO":
        fit = "HORIZONTAL" if asp_x * width >= asp_y * height else "VERTICAL"
        sensor = cam.sensor_width
    else:
        sensor = cam.sensor_width if fit == "HORIZONTAL" else cam.sensor_height
    viewfac = width if fit == "HORIZONTAL" else ycor * height
    fx = cam.lens * viewfac / sensor
    fy = fx / ycor
    cx = width / 2.0 - cam.shift_x * viewfac
    cy = height / 2.0 + cam.shift_y * viewfac / ycor
    return fx, fy, cx, cy


def _orthonormal(c2w: np.ndarray) -> np.ndarray:
    """Strip scale/shear from a pose (some tracks carry a global scale in the rotation)."""
    u, _s, vt = np.linalg.svd(c2w[:3, :3])
    rot = u @ vt
    if np.linalg.det(rot) < 0:
        u[:, -1] *= -1
        rot = u @ vt
    out = np.array(c2w, dtype=np.float64)
    out[:3, :3] = rot
    return out


def cv_to_blender_matrix(c2w_cv: Any) -> Matrix:
    gl = cv_to_gl(_orthonormal(np.asarray(c2w_cv, dtype=np.float64)))
    return Matrix(gl.tolist())


def blender_to_cv_matrix(matrix_world: Any) -> list[list[float]]:
    gl = _orthonormal(np.array(matrix_world, dtype=np.float64))
    return gl_to_cv(gl).tolist()


def set_scene_pixel_aspect(scene: Any, frames: dict[int, FrameCamera]) -> None:
    """Pixel aspect is per scene in Blender: take it from the track (fx/fy is constant in practice)."""
    first = next(iter(frames.values()))
    bi = to_blender(first.fx, first.fy, first.cx, first.cy, scene.render.resolution_x, scene.render.resolution_y)
    scene.render.pixel_aspect_x = bi.pixel_aspect_x
    scene.render.pixel_aspect_y = bi.pixel_aspect_y


def build_camera(scene: Any, frames: dict[int, FrameCamera], name: str = "Vanelia Camera", clip_end: float = 1000.0) -> Any:
    """A camera object keyed on every track frame (constant interpolation), made the scene camera."""
    if not frames:
        raise InputError("the camera track has no frames")
    width, height = scene.render.resolution_x, scene.render.resolution_y
    old = bpy.data.objects.get(name)
    if old is not None:
        bpy.data.objects.remove(old, do_unlink=True)
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = SENSOR_WIDTH_MM
    data.clip_start = 0.01
    data.clip_end = clip_end
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    obj.rotation_mode = "QUATERNION"
    set_scene_pixel_aspect(scene, frames)
    prev_q = None
    for frame, fc in sorted(frames.items()):
        bi = to_blender(fc.fx, fc.fy, fc.cx, fc.cy, width, height)
        obj.matrix_world = cv_to_blender_matrix(fc.c2w)
        q = obj.rotation_quaternion.copy()
        if prev_q is not None and q.dot(prev_q) < 0:  # keep quaternions on one hemisphere
            q.negate()
            obj.rotation_quaternion = q
        prev_q = q
        obj.keyframe_insert("location", frame=frame)
        obj.keyframe_insert("rotation_quaternion", frame=frame)
        data.lens, data.shift_x, data.shift_y = bi.lens, bi.shift_x, bi.shift_y
        for prop in ("lens", "shift_x", "shift_y"):
            data.keyframe_insert(prop, frame=frame)
    compat.set_constant_interpolation(obj, data)
    scene.camera = obj
    return obj


def bake_camera(scene: Any, obj: Any, frames: Iterable[int]) -> dict[int, FrameCamera]:
    """Per-frame intrinsics + OpenCV c2w of any camera (keys, drivers, Camera Solver constraint)."""
    if obj is None or obj.type != "CAMERA":
        raise InputError("no camera to bake; the .blend needs a scene camera (or give --camera TRACK)")
    width, height = scene.render.resolution_x, scene.render.resolution_y
    asp_x, asp_y = scene.render.pixel_aspect_x, scene.render.pixel_aspect_y
    out: dict[int, FrameCamera] = {}
    current = scene.frame_current
    try:
        for frame in frames:
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            ev = obj.evaluated_get(depsgraph)
            fx, fy, cx, cy = from_blender(ev.data, width, height, asp_x, asp_y)
            out[frame] = FrameCamera(fx, fy, cx, cy, blender_to_cv_matrix(ev.matrix_world))
    finally:
        scene.frame_set(current)
    return out


def project(fc: FrameCamera, points: np.ndarray) -> np.ndarray:
    """Pinhole projection of Nx3 world points to Nx2 pixels (the track's own camera model)."""
    c2w = np.asarray(fc.c2w, dtype=np.float64)
    rot, t = c2w[:3, :3], c2w[:3, 3]
    pc = (np.asarray(points, dtype=np.float64) - t) @ rot  # world -> camera (R^T (p - t))
    return np.stack([fc.fx * pc[:, 0] / pc[:, 2] + fc.cx, fc.fy * pc[:, 1] / pc[:, 2] + fc.cy], axis=1)
