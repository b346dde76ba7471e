"""Camera axis conventions, converted in one place.

The shot stores cameras in the OpenCV convention (x right, y down, z forward; see schema.py).
NeRF transforms.json files and Blender cameras use the OpenGL one (x right, y up, z back).
Right-multiplying a camera-to-world by ``GL_FROM_CV`` flips the camera's y and z axes; the
matrix is its own inverse, so the same product converts both ways. numpy only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Camera axes OpenCV <-> OpenGL/Blender (self-inverse)."""


def cv_to_gl(c2w_cv: Any) -> np.ndarray:
    """OpenCV camera-to-world -> OpenGL/Blender camera-to-world (4x4)."""
    return np.asarray(c2w_cv, dtype=np.float64) @ GL_FROM_CV


def gl_to_cv(c2w_gl: Any) -> np.ndarray:
    """OpenGL/Blender camera-to-world (transforms.json, ``camera.matrix_world``) -> OpenCV."""
    return np.asarray(c2w_gl, dtype=np.float64) @ GL_FROM_CV
