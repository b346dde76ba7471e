"""The product's default spot on a camera given with --camera: a track `vanelia track` levelled
gets the default area's spot, as one solved by the run itself (beach-sunset's duck, at the view's
centre, stood between a walking man's feet); a track with its own placement keeps it; a camera
without a ground stands it at the view's centre."""
from pathlib import Path

import numpy as np

from app.run import DEFAULT_PLACE, RunOptions, _product_matrix
from ml.camera.placement import choose_placement
from ml.camera.solve import write_solve
from posts_world import dolly_solve

LEVEL = {"point": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0]}


def _camera(tmp_path: Path, qc: dict | None) -> tuple[Path, object]:
    solve = dolly_solve()
    solve.points = np.array([(x, y, 0.0) for x in np.linspace(-3, 3, 13) for y in np.linspace(-1, 4, 11)])
    return write_solve(tmp_path / "transforms.json", solve, qc=qc), solve


def _opts(tmp_path: Path, camera: Path) -> RunOptions:
    return RunOptions(input=tmp_path / "plate.mp4", model=tmp_path / "product.glb", output=tmp_path / "out.mp4", camera=camera)


def test_a_levelled_track_given_with_camera_gets_the_default_spot(tmp_path):
    camera, solve = _camera(tmp_path, {"ground": LEVEL})
    lines: list[str] = []
    matrix = _product_matrix(_opts(tmp_path, camera), camera, lines.append)
    expected = choose_placement(solve, DEFAULT_PLACE)
    assert matrix is not None and np.allclose(np.asarray(matrix), np.asarray(expected["matrix_world"])), lines
    assert any(f"({DEFAULT_PLACE})" in line for line in lines), lines


def test_a_tracks_own_placement_is_kept_and_no_ground_means_the_centre(tmp_path):
    own = np.eye(4)
    own[:3, 3] = [0.3, 1.2, 0.0]
    camera, _ = _camera(tmp_path, {"ground": LEVEL, "placement": {"area": "top_left", "point": [0.3, 1.2, 0.0],
                                                                 "matrix_world": own.tolist()}})
    assert np.allclose(_product_matrix(_opts(tmp_path, camera), camera, lambda _m: None), own)
    (tmp_path / "bare").mkdir()
    bare, _ = _camera(tmp_path / "bare", None)
    lines: list[str] = []
    assert _product_matrix(_opts(tmp_path, bare), bare, lines.append) is None
    assert any("centre of the view" in line for line in lines), lines


def box_glb(path: Path, size: tuple[float, float, float]) -> Path:
    """A valid GLB of one box (glTF axes: x, y up, z), its 8 corners and 12 triangles."""
    import json
    import struct

    sx, sy, sz = size
    pos = np.array([(x, y, z) for x in (-sx / 2, sx / 2) for y in (0.0, sy) for z in (-sz / 2, sz / 2)], np.float32)
    idx = np.array([0, 1, 3, 0, 3, 2, 4, 6, 7, 4, 7, 5, 0, 4, 5, 0, 5, 1, 2, 3, 7, 2, 7, 6, 0, 2, 6, 0, 6, 4, 1, 5, 7, 1, 7, 3],
                   np.uint16)
    blob = pos.tobytes() + idx.tobytes()
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
           "buffers": [{"byteLength": len(blob)}],
           "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": pos.nbytes},
                           {"buffer": 0, "byteOffset": pos.nbytes, "byteLength": idx.nbytes}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3",
                          "min": pos.min(0).tolist(), "max": pos.max(0).tolist()},
                         {"bufferView": 1, "componentType": 5123, "count": len(idx), "type": "SCALAR"}]}
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    blob += b"\0" * (-len(blob) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(blob), 0x004E4942) + blob
    path.write_bytes(struct.pack("<III", 0x46546C67, 2, 12 + len(body)) + body)
    return path


def _counter(tmp_path: Path) -> tuple[Path, object]:
    """A countertop 0.4 m under a camera that slides 20 cm, and an 8 cm apple standing at the
    centre of its view (its points on the solve, as a solve reconstructs a textured fruit)."""
    from ml.camera.solve import Solve
    from shotcache.schema import FrameCamera

    cams = {}
    for i in range(8):
        eye = np.array([-0.1 + 0.2 * i / 7, -0.45, 0.4])
        z = -eye / np.linalg.norm(eye)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = np.stack([x, np.cross(z, x), z], axis=1), eye
        cams[i + 1] = FrameCamera(500.0, 500.0, 320.0, 180.0, c2w.tolist())
    counter = np.array([(x, y, 0.0) for x in np.linspace(-0.5, 0.5, 41) for y in np.linspace(-0.3, 0.6, 37)])
    a, h = np.random.default_rng(0).uniform(0, 2 * np.pi, 60), np.random.default_rng(1).uniform(0.01, 0.08, 60)
    apple = np.c_[0.04 * np.cos(a), 0.04 * np.sin(a), h]
    solve = Solve(width=640, height=360, cameras=cams, points=np.vstack([counter, apple]), tracker="synthetic")
    return write_solve(tmp_path / "transforms.json", solve, qc={"ground": LEVEL}), solve


def test_a_small_product_gets_a_spot_for_its_own_size_clear_of_what_stands_there(tmp_path):
    """apple-countertop: the spot was chosen for a 0.3 m product whatever the product, so an 8 cm
    duck 0.4 m under the camera 'left the frame' from every spot of the default area and fell
    back to the view's centre, inside the apple. Now the GLB's box, scaled to --product-size,
    is the footprint; where the area has no spot, the whole view's best one is taken."""
    from ml.camera.placement import occupied

    camera, solve = _counter(tmp_path)
    opts = _opts(tmp_path, camera)
    opts.model = box_glb(tmp_path / "product.glb", (1.0, 0.9, 0.7))
    opts.render_extra = ["--product-size=0.08"]
    lines: list[str] = []
    matrix = _product_matrix(opts, camera, lines.append)
    assert matrix is not None, lines
    assert any("0.072 m tall within 0.0488 m" in line for line in lines), lines
    spot = np.asarray(matrix)[:3, 3]
    assert occupied(solve, spot, 0.05, 0.08) == 0 and np.hypot(spot[0], spot[1]) > 0.09, spot
    assert any(f"({DEFAULT_PLACE})" in line for line in lines), lines
    opts.place = "center"  # asked for: the nearest clear spot to the centre, not the apple
    spot = np.asarray(_product_matrix(opts, camera, lines.append))[:3, 3]
    assert occupied(solve, spot, 0.05, 0.08) == 0 and np.hypot(spot[0], spot[1]) > 0.09, spot


def test_a_product_too_big_for_the_view_is_refused_not_stood_at_the_centre(tmp_path):
    """dog-lawn with the Khronos duck as modelled (1.65 m): no spot kept it in frame, the run
    stood it at the view's centre, cut off by the frame in every frame, and exited 0. Now the
    placement is refused before the render, naming --product-size; at its size it is placed."""
    import pytest

    from shotcache.errors import PlacementError

    camera, _solve = _counter(tmp_path)
    opts = _opts(tmp_path, camera)
    opts.model = box_glb(tmp_path / "product.glb", (1.65, 1.54, 1.15))
    with pytest.raises(PlacementError, match=r"too big for this shot.*--product-size"):
        _product_matrix(opts, camera, lambda _m: None)
    opts.render_extra = ["--product-size=0.08"]
    assert _product_matrix(opts, camera, lambda _m: None) is not None
