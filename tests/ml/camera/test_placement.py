"""The product is stood on ground the plate shows, not behind something standing on it."""
import numpy as np

from ml.camera.placement import choose_placement, ground_hidden


def _person_over(solve, ref, pixel, rng):
    """Points of a 1.7 m 'person' standing halfway between the camera and the ground seen
    at ``pixel`` in frame ``ref``, spread over the pixels around it."""
    c2w = solve.c2w(ref)
    d = c2w[:3, :3] @ np.linalg.solve(solve.K(ref), np.array([pixel[0], pixel[1], 1.0]))
    o = c2w[:3, 3]
    ground = o + (-o[2] / d[2]) * d
    foot = o + 0.5 * (ground - o)
    foot[2] = 0.0
    return np.c_[foot[0] + rng.uniform(-0.2, 0.2, 300), foot[1] + rng.uniform(-0.1, 0.1, 300), rng.uniform(0.1, 1.7, 300)]


def test_a_spot_behind_a_reconstructed_person_is_avoided(dolly):
    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    assert "warning" not in first
    ref, px = first["ref_frame"], first["pixel"]
    assert ground_hidden(solve, ref, px, np.array(first["point"]), 0.04 * solve.width) == 0
    solve.points = np.vstack([solve.points, _person_over(solve, ref, px, np.random.default_rng(0))])
    assert ground_hidden(solve, ref, px, np.array(first["point"]), 0.04 * solve.width) >= 2
    moved = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    assert np.hypot(moved["pixel"][0] - px[0], moved["pixel"][1] - px[1]) > 0.04 * solve.width, moved["pixel"]
    assert ground_hidden(solve, ref, moved["pixel"], np.array(moved["point"]), 0.04 * solve.width) == 0


def test_an_explicit_pixel_behind_a_person_is_kept_with_a_warning(dolly):
    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    solve.points = np.vstack([solve.points, _person_over(solve, first["ref_frame"], first["pixel"], np.random.default_rng(1))])
    x, y = first["pixel"]
    kept = choose_placement(solve, f"{x},{y}", radius=0.1, height=0.2)
    assert kept["pixel"] == [x, y] and "stand in front of the ground" in kept.get("warning", "")


def test_ground_with_reconstructed_points_is_preferred_and_bare_plane_is_flagged(dolly):
    from ml.camera.placement import ground_evidence

    solve = dolly(n=8)
    chosen = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    ref = chosen["ref_frame"]
    assert ground_evidence(solve, ref, chosen["pixel"], np.array(chosen["point"]), 0.06 * solve.width)[0] > 0
    # the plane goes on where nothing was reconstructed: keep only a strip of floor on the right
    solve.points = solve.points[(solve.points[:, 2] == 0) & (solve.points[:, 0] > 2.5)]
    bare = choose_placement(solve, "bottom_left", radius=0.1, height=0.2)
    assert ground_evidence(solve, ref, bare["pixel"], np.array(bare["point"]), 0.06 * solve.width)[0] == 0
    assert "no reconstructed ground point near the spot" in bare.get("warning", ""), bare
    solve.points = np.zeros((0, 3))  # a nodal solve: no evidence either way, no warning
    assert ground_evidence(solve, ref, bare["pixel"], np.array(bare["point"]), 10.0) is None


def _crest(solve, ref, edge_y, rng):
    """The ground ends at y = ``edge_y`` (a crest, a table's edge): the plateau's points up to
    it, and beyond it a valley 2 m lower, of which ``ref`` sees only what the plateau does not
    hide (points whose ray crosses z = 0 beyond the edge, so they show just above it)."""
    plateau = np.c_[rng.uniform(-3, 4, 800), rng.uniform(-3.5, edge_y, 800), np.zeros(800)]
    valley = np.c_[rng.uniform(-4, 6, 3000), rng.uniform(edge_y, edge_y + 12, 3000), np.full(3000, -2.0)]
    o = solve.c2w(ref)[:3, 3]
    crossing_y = o[1] + o[2] / (o[2] - valley[:, 2]) * (valley[:, 1] - o[1])
    return np.vstack([plateau, valley[crossing_y > edge_y]])


def test_a_spot_at_the_edge_of_the_ground_is_avoided_and_an_explicit_one_is_flagged(dolly):
    from ml.camera.placement import ground_evidence, is_ground

    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    ref, px, spot = first["ref_frame"], first["pixel"], np.array(first["point"])
    edge_y = spot[1] + 0.1
    solve.points = _crest(solve, ref, edge_y, np.random.default_rng(2))
    at_edge = ground_evidence(solve, ref, px, spot, 0.06 * solve.width)
    assert at_edge is not None and at_edge[0] >= 3 and not is_ground(at_edge), at_edge  # ground below, valley above
    moved = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    assert moved["point"][1] < edge_y - 0.2 and "warning" not in moved, moved
    assert is_ground(ground_evidence(solve, ref, moved["pixel"], np.array(moved["point"]), 0.06 * solve.width))
    kept = choose_placement(solve, f"{px[0]},{px[1]}", radius=0.1, height=0.2)
    assert kept["pixel"] == [px[0], px[1]] and "ground may end there" in kept.get("warning", ""), kept


def _moving_over(solve, pixel, share=1.0, cols=64):
    """A coverage grid (ml.camera.motion.coverage_grid) with a person-sized block round
    ``pixel`` moving in ``share`` of the frames."""
    rows = round(cols * solve.height / solve.width)
    grid = np.zeros((rows, cols))
    u, v = int(pixel[0] / solve.width * cols), int(pixel[1] / solve.height * rows)
    grid[max(0, v - 6):v + 7, max(0, u - 5):u + 6] = share
    return grid.tolist()


def test_a_spot_on_something_moving_is_avoided_and_an_explicit_one_is_flagged(dolly):
    """tea-table: the default spot stood on the sleeve of a woman masked as moving in every frame."""
    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    px = first["pixel"]
    person = _moving_over(solve, px)
    moved = choose_placement(solve, "bottom_right", radius=0.1, height=0.2, moving=person)
    assert np.hypot(moved["pixel"][0] - px[0], moved["pixel"][1] - px[1]) > 0.05 * solve.width, moved["pixel"]
    assert "warning" not in moved, moved
    passing = choose_placement(solve, "bottom_right", radius=0.1, height=0.2, moving=_moving_over(solve, px, share=0.2))
    assert passing["pixel"] == px  # something crossing the spot now and then is no reason to move
    x, y = px
    kept = choose_placement(solve, f"{x},{y}", radius=0.1, height=0.2, moving=person)
    assert kept["pixel"] == [x, y] and "something moving (a person, a car) covers the spot in 100%" in kept["warning"]


def test_the_coverage_grid_counts_frames_per_cell(tmp_path):
    import cv2

    from ml.camera.motion import coverage_grid

    a = np.zeros((90, 160), bool)
    a[:45, :80] = True  # top-left quarter moving in frame 1
    b = np.zeros((90, 160), bool)
    b[:, :80] = True  # left half in frame 2
    cv2.imwrite(str(tmp_path / "000002.png"), b.astype(np.uint8) * 255)
    grid = np.array(coverage_grid({1: a, 2: tmp_path / "000002.png"}, cols=16))
    assert grid.shape == (9, 16)
    assert grid[1, 2] == 1.0 and grid[7, 2] == 0.5 and grid[4, 12] == 0.0


def test_a_spot_past_a_tables_edge_with_nothing_beyond_is_avoided_and_an_explicit_one_is_flagged(dolly):
    """tea-table: the default spot stood on a woman's plain robe just past the table's edge; all
    the points round it were the table's (on the plane, at its depth), so the share test passed.
    Here the floor's points end 0.15 m before the default spot and nothing is reconstructed beyond
    (a textureless robe or wall): the spot has the plane's points on one side only. Further past
    the edge they thin out under ONE_SIDE_MIN_POINTS, too few to tell either way: the pick may
    still land there (on the real tea-table solve it lands on the table)."""
    from ml.camera.placement import ground_evidence, ground_surrounds, is_ground

    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    ref, px, spot = first["ref_frame"], first["pixel"], np.array(first["point"])
    rng = np.random.default_rng(3)
    edge_y = spot[1] - 0.15
    solve.points = np.c_[rng.uniform(-3, 4, 8000), rng.uniform(-3.5, edge_y, 8000), np.zeros(8000)]
    w = 0.06 * solve.width
    at_edge = ground_evidence(solve, ref, px, spot, w)
    assert is_ground(at_edge) and ground_surrounds(solve, ref, px, spot, w) is False, at_edge  # the share test alone passes it
    moved = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    assert moved["pixel"] != px and "warning" not in moved, moved
    assert ground_surrounds(solve, ref, moved["pixel"], np.array(moved["point"]), w) is not False
    kept = choose_placement(solve, f"{px[0]},{px[1]}", radius=0.1, height=0.2)
    assert kept["pixel"] == [px[0], px[1]] and "lies to one side of it" in kept.get("warning", ""), kept


def _object_on(point, radius, height, rng, n=40):
    """Points on the surface of a round object of ``radius`` and ``height`` standing at ``point``
    (an apple on the counter): what a solve reconstructs of it, its top and sides."""
    a = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(0.2 * height, height, n)
    r = radius * np.sqrt(np.clip(1 - ((z - 0.5 * height) / (0.5 * height)) ** 2, 0.05, 1))
    return np.c_[point[0] + r * np.cos(a), point[1] + r * np.sin(a), z]


def test_a_spot_where_an_object_stands_is_avoided_and_an_explicit_one_is_flagged(dolly):
    """An object standing on the spot is at the spot's depth, so the ray test (``ground_hidden``)
    does not see it; the product's own volume does (``occupied``): an 8 cm duck stood inside the
    apple of the apple-countertop clip. An object the size of the product, seen from a camera
    1.5 m up: it stands clear of the floor's scatter (5% of the camera height)."""
    from ml.camera.placement import occupied

    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.15, height=0.3)
    assert "warning" not in first
    p = np.array(first["point"])
    assert occupied(solve, p, 0.15, 0.3) == 0
    # a few points of it, as a sparse solve has of a small object: too few to outvote the floor's round the spot
    solve.points = np.vstack([solve.points, _object_on(p, 0.14, 0.32, np.random.default_rng(2), n=4)])
    assert ground_hidden(solve, first["ref_frame"], first["pixel"], p, 0.04 * solve.width) == 0  # not in front of it
    assert occupied(solve, p, 0.15, 0.3) >= 2
    moved = choose_placement(solve, "bottom_right", radius=0.15, height=0.3)
    assert "warning" not in moved and occupied(solve, np.array(moved["point"]), 0.15, 0.3) == 0
    assert np.hypot(*(np.array(moved["point"][:2]) - p[:2])) >= 0.15
    x, y = first["pixel"]
    kept = choose_placement(solve, f"{x},{y}", radius=0.15, height=0.3)
    assert kept["pixel"] == [x, y] and "would stand inside it" in kept.get("warning", ""), kept


def test_the_ground_under_the_spot_is_no_object(dolly):
    """The floor's own points round the spot, however many, are not something standing there."""
    from ml.camera.placement import occupied

    solve = dolly(n=8)
    p = np.array(choose_placement(solve, "center", radius=0.15, height=0.3)["point"])
    rng = np.random.default_rng(3)
    floor = np.c_[p[0] + rng.uniform(-0.1, 0.1, 50), p[1] + rng.uniform(-0.1, 0.1, 50), rng.normal(0, 0.02, 50)]
    solve.points = np.vstack([solve.points, floor])
    assert occupied(solve, p, 0.15, 0.3) == 0
