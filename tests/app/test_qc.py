"""The placement gate: a tilted ground or an upside-down product is refused before the render
(nothing rendered, exit 2 through UsageError), with the same checks the shot's QC makes after."""
import math

import cv2
import numpy as np
import pytest

from app.qc import known_ground, placement_gate
from ml.camera.solve import write_solve
from posts_world import POSTS, posts_world
from shotcache.errors import UsageError

LEVEL = {"point": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0]}
STANDING = np.eye(4)
STANDING[:3, 3] = [0.0, 1.0, 0.0]


def _shot(tmp_path, ground=LEVEL):
    """A transforms.json levelled on ``ground`` (as `vanelia track` leaves it) and its plate frames."""
    solve, images = posts_world()
    floor = np.array([(x, y, 0.0) for x in np.linspace(-3, 3, 13) for y in np.linspace(-1, 4, 11)])
    solve.points = np.vstack([floor, [(x, y, h) for x, y in POSTS for h in (0.5, 1.5, 2.5)]])  # as a track reconstructs them
    plate = tmp_path / "plate"
    plate.mkdir()
    for f, img in images.items():
        cv2.imwrite(str(plate / f"{f:06d}.png"), cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    camera = write_solve(tmp_path / "transforms.json", solve, qc={"ground": ground} if ground else None)
    return plate, camera


def test_a_level_ground_and_an_upright_product_pass(tmp_path):
    plate, camera = _shot(tmp_path)
    lines = []
    checks = placement_gate(plate, camera, STANDING.tolist(), [], False, lines.append)
    assert checks is not None and all(c["ok"] is not False for c in checks.values()), checks
    assert checks["up_vs_vertical_lines"]["ok"] is True and checks["up_vs_vertical_lines"]["angle_deg"] < 2.0
    assert any("placement check up_vs_vertical_lines: ok" in line for line in lines)
    assert checks["view_above_ground"]["ok"] is True  # the solve's points: the floor in front lies on it


def test_a_tilted_ground_is_refused_before_anything_is_rendered(tmp_path):
    plate, camera = _shot(tmp_path)
    t = math.radians(20)
    tilted = f"--ground=0,0,0,0,{math.sin(t)},{math.cos(t)}"
    with pytest.raises(UsageError, match="refused before the render: .*the solved 'up' is 2[0-9.]+ deg off"):
        placement_gate(plate, camera, STANDING.tolist(), [tilted], False, lambda _m: None)
    lines = []
    forced = placement_gate(plate, camera, STANDING.tolist(), [tilted], True, lines.append)
    assert forced is not None and forced["up_vs_vertical_lines"]["ok"] is False
    assert any("rendering anyway because of --force" in line for line in lines)


def test_a_ground_the_camera_sees_through_is_refused(tmp_path):
    """A plane rising away from the cameras (a solve's ground along the line of sight): the
    floor the camera sees nearest lies under it. Refused before the render, with what to give."""
    plate, camera = _shot(tmp_path)
    t = math.radians(10)
    rising = f"--ground=0,2,0,0,{math.sin(t)},{math.cos(t)}"
    with pytest.raises(UsageError, match="lower third of the frame lie under the solved ground.*--camera"):
        placement_gate(plate, camera, STANDING.tolist(), [rising], False, lambda _m: None)


def test_an_upside_down_product_is_refused(tmp_path):
    plate, camera = _shot(tmp_path)
    upside = np.diag([1.0, -1.0, -1.0, 1.0])
    upside[:3, 3] = [0.0, 1.0, 0.0]
    with pytest.raises(UsageError, match="upside down"):
        placement_gate(plate, camera, upside.tolist(), [], False, lambda _m: None)


def test_an_unknown_ground_is_left_to_the_shots_qc(tmp_path):
    plate, camera = _shot(tmp_path, ground=None)
    assert known_ground(camera, []) is None
    assert placement_gate(plate, camera, STANDING.tolist(), [], False, lambda _m: None) is None
    assert known_ground(camera, ["--ground=0,0,1,0,0,1"]) == ([0.0, 0.0, 1.0], [0.0, 0.0, 1.0])
    assert placement_gate(plate, camera, None, [], False, lambda _m: None) is None  # no placement chosen yet


def test_a_product_on_a_step_is_judged_against_the_solved_ground(tmp_path):
    """The contact check stands the product on a step of the ground (night-street: a pavement
    0.2 m above the road, `--ground` raised at the spot): the road in the near view lies under
    that step, not under the solve's ground, and the placement is not refused for it."""
    plate, camera = _shot(tmp_path)
    step = "--ground=0,1,0.2,0,0,1"
    checks = placement_gate(plate, camera, STANDING.tolist(), [step], False, lambda _m: None)
    assert checks is not None and checks["view_above_ground"]["ok"] is True, checks["view_above_ground"]
