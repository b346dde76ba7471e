"""A solved dolly over a level floor with upright posts: the app layer's tests of the ground and its checks."""
import cv2
import numpy as np

from ml.camera.solve import Solve
from shotcache.schema import FrameCamera


def dolly_solve(n=8, W=640, H=360, f=500.0, height=1.5):
    """Cameras dollying sideways at ``height`` over z = 0, looking at a point 0.3 m up."""
    cams = {}
    for i in range(n):
        eye = np.array([-1.0 + 2.0 * i / (n - 1), -4.0, height])
        z = np.array([0.0, 0.0, 0.3]) - eye
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        c2w = np.eye(4)
        c2w[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
        c2w[:3, 3] = eye
        cams[i + 1] = FrameCamera(f, f, W / 2, H / 2, c2w.tolist())
    return Solve(width=W, height=H, cameras=cams, tracker="synthetic")


def posts_image(solve, frame, posts):
    """Black frame with the plate's vertical posts drawn in white (their vanishing point is
    the world's up through this camera)."""
    img = np.zeros((solve.height, solve.width), np.uint8)
    for x, y in posts:
        (a, b), z = solve.project(frame, np.array([[x, y, 0.0], [x, y, 2.5]]))
        if (z > 0).all():
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 255, 2, cv2.LINE_AA)
    return img


POSTS = [(x, y) for x in np.linspace(-2.5, 2.5, 6) for y in (2.0, 3.0, 4.0)]


def posts_world(n=8):
    """(solve, plate images by frame): a dolly over z = 0 whose plate shows POSTS standing
    upright (their vertical lines give the world's up)."""
    solve = dolly_solve(n=n)
    return solve, {f: posts_image(solve, f, POSTS) for f in solve.cameras}
