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
