"""Generated clips with known moving-object masks for ml.camera.motion (numpy + cv2 only).

Every clip is rendered plane by plane with exact homographies, so what is static and what
moves is known to the pixel:

* ``ground_clip``: a camera travelling over a textured ground (a plane: the homography
  model is exact) with a textured box sliding over it on its own;
* ``boxes_clip``: the same camera past static cards standing on the ground at three
  places (a homography fits the ground, yet nothing moves);
* ``rotation_clip``: a camera panning and tilting on a tripod over a whole textured
  scene (no parallax at all, whatever the depths);
* ``parallax_clip``: a camera travelling sideways and forwards over a floor towards a
  far wall (two planes, up to ~10 px of parallax a frame), optionally with an object
  moving across the epipolar lines.
"""
from __future__ import annotations

import cv2
import numpy as np

W, H, F = 640, 360, 500.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])
SS = 3  # supersampling: a far ground minified without it aliases into shimmering noise


def texture(h: int, w: int, seed: int, cell: int = 4) -> np.ndarray:
    """Blurred coloured noise: texture at every scale a flow needs."""
    rng = np.random.default_rng(seed)
    small = (rng.random((max(2, h // cell), max(2, w // cell), 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0)


def rot(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """World-to-camera rotation (OpenCV camera: x right, y down, z forward)."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return Rz @ Rx @ Ry


def plane_homography(R: np.ndarray, t: np.ndarray, origin, u, v, px_per_m: float) -> np.ndarray:
    """Texture pixel (col, row) of a plane (origin + col/s u + row/s v) -> image pixel."""
    o, u, v = (np.asarray(x, float) for x in (origin, u, v))
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])  # pixel centres of the fine grid
    P = np.diag([SS, SS, 1.0]) @ half @ K @ np.c_[R @ u / px_per_m, R @ v / px_per_m, R @ o + t] @ half
    return P / P[2, 2] if abs(P[2, 2]) > 1e-12 else P


def canvas() -> np.ndarray:
    return np.zeros((H * SS, W * SS, 3), np.uint8)


def draw_plane(img: np.ndarray, tex: np.ndarray, Hp: np.ndarray) -> np.ndarray:
    """Paint the plane over the (supersampled) canvas; returns its coverage there."""
    size = (img.shape[1], img.shape[0])
    warped = cv2.warpPerspective(tex, Hp, size, flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.full(tex.shape[:2], 255, np.uint8), Hp, size, flags=cv2.INTER_NEAREST) > 127
    img[cover] = warped[cover]
    return cover


def finish(img: np.ndarray, cover: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The frame at W x H (area-averaged) and the mask of the pixels mostly covered."""
    small = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
    if cover is None:
        return small, np.zeros((H, W), bool)
    return small, cv2.resize(cover.astype(np.float32), (W, H), interpolation=cv2.INTER_AREA) > 0.5


def ground_clip(n: int = 24, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Camera 1.6 m over a ground z = 0 (y forward), walking forward and turning; a box
    (a textured card standing on the ground, 1.0 x 1.4 m) walks sideways on its own."""
    ground = texture(1000, 1600, seed)  # 16 x 10 m at 100 px/m, all in front of the camera
    card = texture(280, 200, seed + 1, cell=3)
    frames, truth = [], []
    for i in range(n):
        yaw, pitch = np.radians(-6 + 0.5 * i), np.radians(18)
        # world (x right, y forward, z up) -> camera (x right, y down, z forward)
        R = rot(yaw, pitch) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]])
        c = np.array([0.3 - 0.02 * i, -3.0 + 0.06 * i, 1.6])
        t = -R @ c
        img = canvas()
        draw_plane(img, ground, plane_homography(R, t, (-8, 8.8, 0), (1, 0, 0), (0, -1, 0), 100))
        x0 = -1.6 + 0.1 * i  # the object walks at 0.1 m a frame across the view
        mask = draw_plane(img, card, plane_homography(R, t, (x0, 1.0, 1.4), (1, 0, 0), (0, 0, -1), 200))
        img, mask = finish(img, mask)
        frames.append(img)
        truth.append(mask)
    return frames, truth


def boxes_clip(n: int = 24, seed: int = 6) -> list[np.ndarray]:
    """The ground clip's travelling camera past three static cards standing on the ground
    at different places (nothing moves): the ground dominates the frame, so a homography
    fits most points, yet the cards' parallax is static."""
    ground = texture(1000, 1600, seed)
    cards = [texture(280, 200, seed + k, cell=3) for k in (1, 2, 3)]
    frames = []
    for i in range(n):
        R = rot(np.radians(-6 + 0.5 * i), np.radians(18)) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]])
        c = np.array([0.3 - 0.02 * i, -3.0 + 0.06 * i, 1.6])
        t = -R @ c
        img = canvas()
        draw_plane(img, ground, plane_homography(R, t, (-8, 8.8, 0), (1, 0, 0), (0, -1, 0), 100))
        for card, (x, y) in zip(cards, [(-1.6, 1.5), (0.4, 3.0), (1.6, 1.0)]):
            draw_plane(img, card, plane_homography(R, t, (x, y, 1.4), (1, 0, 0), (0, 0, -1), 200))
        frames.append(finish(img)[0])
    return frames


def rotation_clip(n: int = 24, seed: int = 2) -> list[np.ndarray]:
    """A tripod pan and tilt (a little roll too) over a scene of three planes at 2, 5 and
    20 m: their images move by one homography each frame, whatever the depths."""
    wall, box, near = texture(2000, 4000, seed), texture(400, 600, seed + 1), texture(300, 300, seed + 2)
    frames = []
    for i in range(n):
        R = rot(np.radians(-8 + 0.6 * i), np.radians(2 - 0.2 * i), np.radians(0.1 * i))
        t = np.zeros(3)
        img = canvas()
        draw_plane(img, wall, plane_homography(R, t, (-20, -10, 20), (1, 0, 0), (0, 1, 0), 100))
        draw_plane(img, box, plane_homography(R, t, (-1.5, -1, 5), (1, 0, 0), (0, 1, 0), 200))
        draw_plane(img, near, plane_homography(R, t, (0.3, -0.2, 2), (1, 0, 0), (0, 1, 0), 400))
        frames.append(finish(img)[0])
    return frames


def parallax_clip(n: int = 24, seed: int = 4, mover: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A camera 1.5 m over a floor travelling sideways (6 cm a frame) and a little forwards,
    towards a wall 10 m away: the floor's near edge moves ~4x faster than the wall, a
    parallax no homography explains. With ``mover``, a card 6 m away falls straight down
    (across the horizontal epipolar lines). World axes as the camera's: x right, y down."""
    wall, floor, card = texture(1000, 3000, seed), texture(850, 1200, seed + 1), texture(160, 120, seed + 2)
    frames, truth = [], []
    for i in range(n):
        R = rot(np.radians(3 - 0.3 * i), np.radians(12))
        c = np.array([-0.7 + 0.06 * i, 0.0, 0.02 * i])
        t = -R @ c
        img = canvas()
        draw_plane(img, wall, plane_homography(R, t, (-15, -8.5, 10), (1, 0, 0), (0, 1, 0), 100))
        draw_plane(img, floor, plane_homography(R, t, (-6, 1.5, 10), (1, 0, 0), (0, 0, -1), 100))
        mask = None
        if mover:
            mask = draw_plane(img, card, plane_homography(R, t, (0.6, -0.6 + 0.12 * i, 6), (1, 0, 0), (0, 1, 0), 100))
        img, mask = finish(img, mask)
        frames.append(img)
        truth.append(mask)
    return frames, truth


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0
