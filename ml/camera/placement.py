"""Where to stand the product: on the ground, inside a target area, in frame all shot long."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from shotcache.areas import PLACEMENT_AREAS, parse_area
from shotcache.errors import PlacementError

from .solve import Solve

AREAS = PLACEMENT_AREAS
__all__ = ["AREAS", "PlacementError", "choose_placement", "parse_area", "ray_to_ground", "visibility"]


def ray_to_ground(solve: Solve, frame: int, px: tuple[float, float]) -> np.ndarray | None:
    """World point where the pixel's ray meets z = 0, or None if it does not (sky, behind)."""
    c2w = solve.c2w(frame)
    K = solve.K(frame)
    d_cam = np.linalg.solve(K, np.array([px[0], px[1], 1.0]))
    d = c2w[:3, :3] @ d_cam
    o = c2w[:3, 3]
    if abs(d[2]) < 1e-12:
        return None
    t = -o[2] / d[2]
    return o + t * d if t > 0 else None


def _footprint(p: np.ndarray, radius: float, height: float) -> np.ndarray:
    ring = [p + radius * np.array([math.cos(a), math.sin(a), 0.0]) for a in np.linspace(0, 2 * math.pi, 8, endpoint=False)]
    return np.array(ring + [p + np.array([0, 0, height])])


def visibility(solve: Solve, p: np.ndarray, radius: float, height: float) -> tuple[float, float]:
    """(margin, in-frame fraction) of the product's footprint over the whole shot.

    margin: smallest distance (fraction of frame) of the footprint to the frame edge over
    every frame, negative if it leaves the frame or goes behind a camera at some point;
    in-frame fraction: the share of frames where it is wholly in view."""
    pts = _footprint(p, radius, height)
    worst, inside = np.inf, 0
    for f in solve.cameras:
        px, z = solve.project(f, pts)
        if (z <= 0).any():
            worst = min(worst, -1.0)
            continue
        u, v = px[:, 0] / solve.width, px[:, 1] / solve.height
        m = float(np.min(np.concatenate([u, 1 - u, v, 1 - v])))
        worst = min(worst, m)
        inside += m >= 0
    return worst, inside / max(len(solve.cameras), 1)


def _points_in(solve: Solve, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """The solve's points projected into ``frame``: (pixels, depths)."""
    return solve.project(frame, solve.points)


def ground_hidden(solve: Solve, frame: int, px: tuple[float, float], ground_pt: np.ndarray, radius_px: float,
                  min_points: int = 2, projected: tuple[np.ndarray, np.ndarray] | None = None) -> int:
    """How many of the solve's points stand *in front of* the ground seen at ``px``.

    Why: the ray through a pixel always meets the infinite ground plane, even where the
    plate shows a person, a table or a wall standing on it; a product stood there is behind
    that thing (the tea-table duck floated over the woman's arm). A reconstructed point that
    projects within ``radius_px`` of the pixel, well above the ground and nearer the camera
    than the ground point, is evidence of such an occluder. Returns the count when it reaches
    ``min_points`` (0 otherwise, and always 0 for solves without points: nodal, static).
    ``projected``: ``_points_in(solve, frame)`` when the caller tries many pixels."""
    if not len(solve.points):
        return 0
    uv, z = projected if projected is not None else _points_in(solve, frame)
    _, z_ground = solve.project(frame, np.asarray(ground_pt, dtype=np.float64)[None])
    cam_h = abs(float(solve.c2w(frame)[2, 3]))
    near = np.hypot(uv[:, 0] - px[0], uv[:, 1] - px[1]) < radius_px
    in_front = (z > 0) & (z < 0.9 * z_ground[0]) & (solve.points[:, 2] > 0.05 * max(cam_h, 1e-6))
    n = int((near & in_front).sum())
    return n if n >= min_points else 0


GROUND_SHARE = 0.6
"""A spot is ground the plate shows when at least this share of the reconstructed points seen
round it lie on the plane there. Why a share and not a count: at a crest or a table's edge the
plane goes on past where the plate's ground ends, and the points seen just beyond the spot
belong to the valley or the floor below. On paragliding-hill the default spot stood on the
crest (4 of 8 points round it on the plane, the rest the valley's), and the duck's shadow hung
over the valley; the slope below it shows 12-23 of 18-36 (0.52-0.91: a near-nodal solve is
noisy even on good ground). On the generated dolly every spot is 1.0."""
MIN_GROUND_POINTS = 3
"""...and at least this many of them (fewer is no evidence either way)."""
OFF_GROUND_SHARE = 0.3
"""A spot is flagged (a warning, never a refusal) only when under this share of at least
2 x MIN_GROUND_POINTS points round it lie on the plane. COLMAP's solves are noisy enough that
good ground shows 0.33-0.5 round the kept real shots' spots (beach-sunset 26 of 56, hotel 7 of
14, night-street 7 of 16, park-market 3 of 9), and a warning on most shots would be noise."""


def ground_evidence(solve: Solve, frame: int, px: tuple[float, float], ground_pt: np.ndarray, radius_px: float,
                    projected: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[int, int] | None:
    """(reconstructed points on the plane at about the spot's depth, all points in front of
    the camera) that the frame shows within ``radius_px`` of ``px``. The first is positive
    evidence that the plate shows ground there, where an empty neighbourhood (a textureless
    lap, a wall) only means the plane was extended into it; the second says how much else
    the plate shows there (GROUND_SHARE). None for solves without points (nodal, static: no
    evidence either way)."""
    if not len(solve.points):
        return None
    _uv, near, on = _round_spot(solve, frame, px, ground_pt, radius_px, projected)
    return int(on.sum()), int(near.sum())


def _round_spot(solve: Solve, frame: int, px: tuple[float, float], ground_pt: np.ndarray, radius_px: float,
                projected: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the points' pixels in ``frame``, which of them show within ``radius_px`` of ``px`` in
    front of the camera, which of those lie on the plane at about the spot's depth)."""
    uv, z = projected if projected is not None else _points_in(solve, frame)
    _, z_ground = solve.project(frame, np.asarray(ground_pt, dtype=np.float64)[None])
    cam_h = abs(float(solve.c2w(frame)[2, 3]))
    near = (np.hypot(uv[:, 0] - px[0], uv[:, 1] - px[1]) < radius_px) & (z > 0)
    on_plane = np.abs(solve.points[:, 2]) < 0.05 * max(cam_h, 1e-6)
    same_depth = np.abs(z - z_ground[0]) < 0.25 * z_ground[0]
    return uv, near, near & on_plane & same_depth


ONE_SIDE_GAP = np.pi
"""The ground's points round a spot lie to one side of it when no point shows in a half-turn
facing into the frame: the spot is outside their convex hull."""
ONE_SIDE_MIN_POINTS = 8
"""...counted only over this many points on the plane: n points scattered round a spot leave a
half-turn gap by chance n / 2^(n-1) of the time, 6% for 8 and 19% for 6 (the generated dolly's
default spot had 6 and such a gap)."""


def ground_surrounds(solve: Solve, frame: int, px: tuple[float, float], ground_pt: np.ndarray, radius_px: float,
                     projected: tuple[np.ndarray, np.ndarray] | None = None) -> bool | None:
    """Whether the points on the plane round the spot (``ground_evidence``'s first count) lie
    round it in the frame rather than to one side (no gap of ONE_SIDE_GAP between their bearings
    from it, unless the gap faces the frame's border, beyond which no point can show); None where
    fewer than ONE_SIDE_MIN_POINTS lie there (too few to tell). Why:
    where the plate's ground ends at an edge with nothing reconstructed beyond it (a table's
    edge before a person's plain robe), every point round the spot is the table's and the share
    test passes; tea-table's default spot stood the duck on the woman's robe, 8 of 10 points
    round it on the plane, all of them to its left."""
    if not len(solve.points):
        return None
    uv, _near, on = _round_spot(solve, frame, px, ground_pt, radius_px, projected)
    if on.sum() < ONE_SIDE_MIN_POINTS:
        return None
    bearing = np.sort(np.arctan2(uv[on, 1] - px[1], uv[on, 0] - px[0]))
    gaps = np.diff(np.r_[bearing, bearing[0] + 2 * np.pi])
    widest = int(np.argmax(gaps))
    if gaps[widest] < ONE_SIDE_GAP:
        return True
    mid = bearing[widest] + gaps[widest] / 2  # a gap that faces the frame's border is the border's, not the ground's end
    x, y = px[0] + 0.5 * radius_px * np.cos(mid), px[1] + 0.5 * radius_px * np.sin(mid)
    return not (0 <= x < solve.width and 0 <= y < solve.height)


def is_ground(evidence: tuple[int, int] | None) -> bool:
    """Whether ``ground_evidence`` says the plate shows the plane's ground there (GROUND_SHARE)."""
    if evidence is None:
        return False
    on, seen = evidence
    return on >= MIN_GROUND_POINTS and on >= GROUND_SHARE * seen


def is_off_ground(evidence: tuple[int, int]) -> bool:
    """Whether ``ground_evidence`` says the ground may end at the spot, clearly enough to warn
    (OFF_GROUND_SHARE); no point on the plane at all has its own warning."""
    on, seen = evidence
    return 0 < on < OFF_GROUND_SHARE * seen and seen >= 2 * MIN_GROUND_POINTS


MOVING_SHARE = 0.25
"""A spot is on something that moves (a person, a car) when the track's masks cover any point
of the product's footprint there in more than this share of the frames."""


def moving_share(solve: Solve, frame: int, p: np.ndarray, radius: float, height: float,
                 coverage: np.ndarray | None) -> float:
    """How often the track's moving-object masks cover the product's footprint at ``p`` (the
    most of its points, seen from ``frame``); 0 without masks. ``coverage``: the share of
    frames each cell of a grid over the frame is moving (ml.camera.motion.coverage_grid). The
    grid is the frame's, not the world's: exact for a still camera, a guide for one that moves
    (what a person covers drifts across the frame with the camera's turn)."""
    if coverage is None or not coverage.size:
        return 0.0
    px, z = solve.project(frame, _footprint(p, radius, height))
    rows, cols = coverage.shape
    u = np.clip((px[:, 0] / solve.width * cols).astype(int), 0, cols - 1)
    v = np.clip((px[:, 1] / solve.height * rows).astype(int), 0, rows - 1)
    return float(coverage[v[z > 0], u[z > 0]].max(initial=0.0))


OCCUPIED_MIN_POINTS = 2
"""Reconstructed points inside the product's volume at a spot that say something already stands
there (one may be a stray match)."""


def occupied(solve: Solve, p: np.ndarray, radius: float, height: float) -> int:
    """How many of the solve's points stand inside the product's volume at ``p`` (an upright
    cylinder of ``radius`` and ``height`` on the ground, clear of the ground's own points):
    something already stands there, and the product would stand inside it. Why: the ray test
    (``ground_hidden``) sees only what stands between the camera and the spot; an object standing
    on the spot itself - the apple of the apple-countertop clip, where the view's centre put an
    8 cm duck through it - is at the spot's depth. Returns the count when it reaches
    OCCUPIED_MIN_POINTS (0 otherwise, and for solves without points)."""
    if not len(solve.points):
        return 0
    cam_h = float(np.median([abs(solve.c2w(f)[2, 3]) for f in solve.cameras]))
    floor = max(0.05 * cam_h, 0.15 * height)  # above the ground's own scatter (``_round_spot``'s plane tolerance)
    pts = solve.points
    inside = (np.hypot(pts[:, 0] - p[0], pts[:, 1] - p[1]) < radius) & (pts[:, 2] > floor) & (pts[:, 2] < height)
    n = int(inside.sum())
    return n if n >= OCCUPIED_MIN_POINTS else 0


def facing_matrix(p: np.ndarray, solve: Solve, scale: float = 1.0) -> np.ndarray:
    """Product matrix_world at p, yawed so its front (-Y after glTF import) faces the cameras."""
    d = solve.centres().mean(0) - p
    phi = math.atan2(d[1], d[0]) + math.pi / 2
    c, s = math.cos(phi), math.sin(phi)
    M = np.eye(4)
    M[:3, :3] = scale * np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    M[:3, 3] = p
    return M


DEFAULT_RADIUS_M, DEFAULT_HEIGHT_M = 0.15, 0.3
"""The footprint taken where the product's own is not known: a 0.3 m product's."""


def choose_placement(solve: Solve, area: str = "bottom_right", radius: float = DEFAULT_RADIUS_M, height: float = DEFAULT_HEIGHT_M,
                     ref_frame: int | None = None, grid: int = 9, enough_margin: float = 0.04,
                     moving: Sequence[Sequence[float]] | np.ndarray | None = None) -> dict:
    """Best ground point for the product (world must be levelled: ground z = 0).

    Candidates are pixels of the target area in the reference frame (middle of the shot),
    each cast onto the ground. A candidate is good when the product's footprint stays at
    least ``enough_margin`` (fraction of the frame) inside the frame all shot long; among
    good ones the one nearest the area's centre wins, so 'bottom_right' means the bottom
    right, not the corner of that quadrant nearest the frame centre. When no candidate stays
    in frame the whole shot (a long pan), the one in view for the most frames is taken and
    the result carries a warning (an error under a quarter of the shot). An explicit pixel is
    used as given, and refused if the product would leave the frame. ``moving``: the track's
    grid of how often each part of the frame moves (ml.camera.motion.coverage_grid); a spot a
    person or a car covers in more than MOVING_SHARE of the frames ranks after every other
    spot in view, and is taken only with a warning. ``radius`` and ``height``: the product's
    footprint on the ground (app.place gives the model's own, scaled as ``--product-size``
    scales it); a spot where reconstructed points stand inside it (``occupied``) ranks after
    every clear spot in view, and is taken only with a warning.
    """
    cover = np.asarray(moving, dtype=np.float64) if moving is not None and len(moving) else None
    frames = sorted(solve.cameras)
    ref = ref_frame if ref_frame is not None else frames[len(frames) // 2]
    parsed = parse_area(area)
    kind = parsed.kind
    W, H = solve.width, solve.height
    if kind == "pixel":
        cands = [(parsed.value[0], parsed.value[1])]
        centre = np.asarray(parsed.value, dtype=float)
    else:
        x0, y0, x1, y1 = parsed.fraction_box(W, H)
        cands = [(x, y) for y in np.linspace(y0, y1, grid) for x in np.linspace(x0, x1, grid)]
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    scored = []
    projected = _points_in(solve, ref) if len(solve.points) else None
    for px in cands:
        p = ray_to_ground(solve, ref, px)
        if p is None:
            continue
        margin, frac = visibility(solve, p, radius, height)
        dist = float(np.hypot((px[0] - centre[0]) / W, (px[1] - centre[1]) / H))
        hidden = ground_hidden(solve, ref, px, p, 0.04 * W, projected=projected)
        evidence = ground_evidence(solve, ref, px, p, 0.06 * W, projected=projected)
        support = None if evidence is None else evidence[0]
        surrounded = ground_surrounds(solve, ref, px, p, 0.06 * W, projected=projected)
        busy = moving_share(solve, ref, p, radius, height, cover)
        inside = occupied(solve, p, radius, height)
        # rank: in view all shot with room to spare, off what moves, clear of anything standing on the spot, then
        # on ground the plate shows (most points round it on the plane, not all to one side of it, none
        # reconstructed in front of it, some ground round it), then the share of frames in view, then closeness
        # to the area's centre
        scored.append(((min(margin, enough_margin), busy <= MOVING_SHARE, not inside, is_ground(evidence) and surrounded is not False,
                        -hidden, min(support or 0, 3), frac, -dist), margin, frac, p, px, hidden, evidence, busy, surrounded, inside))
    if not scored:
        raise PlacementError(f"--place {area}: no ground visible there in frame {ref} (the ray misses the ground plane)")
    best, margin, frac, p, px, hidden, evidence, busy, surrounded, inside = max(scored, key=lambda t: t[0])
    support = None if evidence is None else evidence[0]
    out = {"point": p.tolist(), "pixel": [float(px[0]), float(px[1])], "ref_frame": ref, "margin": margin,
           "in_frame_fraction": frac, "matrix_world": facing_matrix(p, solve).tolist()}
    if evidence is not None and is_off_ground(evidence) and not hidden:
        out["warning"] = (f"--place {area}: only {evidence[0]} of the {evidence[1]} reconstructed points round "
                          f"the spot in frame {ref} lie on the ground plane: the plate's ground may end there (a "
                          "crest, a table's edge) or something stands on it; check the contact sheet or choose "
                          "another area")
    if surrounded is False and not hidden and "warning" not in out:
        out["warning"] = (f"--place {area}: the reconstructed ground round the spot in frame {ref} lies to one side of it: "
                          "the plate's ground may end before it (a table's edge, a crest) and something else shows there; "
                          "check the contact sheet or choose another area")
    if support == 0 and not hidden:
        out["warning"] = (f"--place {area}: no reconstructed ground point near the spot in frame {ref}: the plate may "
                          "show no ground there (a person, a wall, a cloth); check the contact sheet or choose another area")
    if hidden:
        out["warning"] = (f"--place {area}: {hidden} reconstructed point(s) stand in front of the ground there in frame "
                          f"{ref} (a person or an object on the ground?); the product will stand behind them - "
                          "choose another area, or give --holdout mattes")
    if inside:
        out["warning"] = (f"--place {area}: {inside} reconstructed point(s) stand where the product would stand "
                          f"(within {radius:.2g} m of the spot, up to its {height:.2g} m): an object on the ground there, "
                          "and the product would stand inside it - choose another area"
                          + ("" if kind == "pixel" else " (no spot of this one in view is clear)"))
    if busy > MOVING_SHARE:
        out["warning"] = (f"--place {area}: something moving (a person, a car) covers the spot in {busy:.0%} of the frames"
                          + ("" if kind == "pixel" else " and no spot of the area in view stays clear of it")
                          + "; the product will stand under it - choose another area, or give --holdout mattes")
    if margin < 0:
        if kind == "pixel" or frac < 0.25:
            raise PlacementError(
                f"--place {area}: the product would leave the frame or pass behind the camera during the shot "
                f"(wholly in view in {frac:.0%} of the frames); choose another area or a smaller product"
            )
        out["warning"] = (f"--place {area}: no ground point there keeps the product in frame all shot (the camera "
                          f"turns away); it is in view in {frac:.0%} of the frames")
    return out
