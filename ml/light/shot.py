"""Light of a shot, estimated from its plate: environment map + key light -> shot.json.

``estimate_light`` works on frames and cameras (no files); ``estimate_shot`` reads a shot
folder (plate/ + shot.json), writes ``light/env.exr`` and the ``lighting`` record of shot.json.
One estimate per shot (frames sampled evenly, averaged), so the light cannot flicker.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from ml.io.colour import REC709_LUMA as LUMA
from ml.io.exr import write_rgb
from ml.pipeline.fastio import read_linear
from shotcache.key_strength import shadow_ratio as shadow_density, sun_for_ratio
from shotcache.layout import ShotPaths
from shotcache.schema import FrameCamera, Light, Lighting

from .envmap import (CEILING_CAP_DEG, CLEAR_SKY_MEAN, ZENITH_OVER_HORIZON, EnvAccumulator, albedo_prior, canopy_albedo, clear_sky_horizon,
                     daylight_ceiling, is_vegetation, open_sky, overhead_cap, sky_from_ground, sky_from_shadow, sky_over_canopy,
                     sky_with_seen_tint, upper_irradiance)
from . import elevation, key_shadow, local_source, sun_disc
from .soft_side import SOFT_KEY_ELEVATION_DEG, SoftSide, soft_side
from .walls import FarView
from .window import WALLS_LIT, WALLS_OVER_FLOOR, WINDOW_ANGLE_DEG, Window, find_window, floor_luminance, sky_above, walls_above
from .key import (AZIMUTH_FROM, DEFAULT_ELEVATION_DEG, HARD_RATIO, azimuth_between_deg, ENV_ONLY, SKY_BLUE_MIN, WIDE_GRID_M, GroundClasses, GroundGrid, KeyEstimate, at_elevation, confirm_banded, elevation_of_deg, estimate_key, least_elevation_deg,
                  feet_shadow_direction, FeetShadows, foot_shadows, is_daylight, is_grey_sky, is_night, move_assumed_elevation, raise_assumed_elevation, measured_angle_deg, occluder_feet, on_cells, side_from_wider_ground,
                  soft_edges, sun_disagrees, take_given_direction, take_occluders_direction, without_lamp_shadows, direction_from_wider_ground, judge_in_shadow, take_overhead_sun)

MAX_FRAMES = 16
"""Frames sampled over the shot: the light is one estimate for the whole shot."""
WORK_WIDTH = 480
"""Frames are reduced to this width first: the maps are small, full resolution buys nothing."""
ENV_FILE = "light/env.exr"
CENTRE_HEIGHT_M = 0.15
"""Where on the product the environment is seen from: a little above its standing point."""


def sample_frames(frames: list[int], n: int = MAX_FRAMES) -> list[int]:
    if len(frames) <= n:
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]


def estimate_light(images: Iterable[tuple[np.ndarray, FrameCamera]], product_point: np.ndarray, ground_point: np.ndarray, ground_normal: np.ndarray,
                   given_direction: list[float] | None = None) -> tuple[np.ndarray, KeyEstimate, Lighting]:
    """(environment map, key estimate, Lighting record without the environment path).

    ``images``: linear HxWx3 frames at the cameras' resolution or reduced (the scale is taken
    from the width), each with its camera. ``given_direction``: the key's direction as the
    artist or the track gave it (``key.take_given_direction``), before the key's strength is
    worked out (lit = ambient + key sin(elevation)).

    A hard key read off the plate's shadows alone must hold at the neighbouring scales
    (``unsteady_key``): the estimate reads the ground in metres, and a solve's scale is a guess.
    Not a key an occluder's longest shadow directs (``key.from_occluders``), its elevation then
    measured along it: its direction is one occluder's shadow, whatever the scale. Read again,
    held-out sun_high 216 and 224 found no key at 0.71x or 1.41x (the banded reading's thresholds)
    and were left a soft key: +4.61 / +1.65 and +4.14 / +2.83 dB against the paste; kept hard,
    +4.80 / +2.32 and +5.52 / +4.25. Nor a key whose elevation an occluder's shadow along its
    azimuth measured (``measured_along``): that shadow runs its way whatever the scale (cached
    sun_high 387 of stop 78: 2 degrees off the truth, 73 up for its 63, no key read at 0.71x or
    1.41x, and left a soft key)."""
    views = list(images)
    found = read_light(views, product_point, ground_point, ground_normal, given_direction)
    key = found[1]
    if given_direction is not None or not read_off_shadows(key) or key.from_occluders or measured_along(key):
        return found  # an occluder's own shadow directs or measures it: see above
    others = neighbour_keys(views, product_point, ground_point, ground_normal)
    if why := unsteady_key(key, others, ground_normal):
        return read_light(views, product_point, ground_point, ground_normal, None, drop_key=why)
    return found


READING_SCALES = (math.sqrt(0.5), math.sqrt(2.0))
"""The scales, relative to the solve's, at which a key read off the plate's shadows is read again
(``unsteady_key``). A shot's scale is a guess (a typical camera height, an artist's
``--camera-height``), and the reading is in metres: its shadow blobs, edge pairs, occluder
bands and grids. Held-out sun_high seed 214, read at 0.5-2x: its one shadow made a key from
0.71x to 1x only, its side flipping from reading to reading (47-129 degrees off the truth's
sun), and none from 1.09x up; the other sets of that seed kept their calls over 0.71-2x."""
STEADY_AZIMUTH_DEG = 45.0
"""A key read again at a neighbouring scale holds where it is hard there too, its shadows' axis
within this of the first reading's (either side of it: the key exists; its side is read apart)."""
UNSTEADY_NOTE = ("no hard key: read at {scales} the scene's scale, the plate's shadows give no key with its axis within {deg:g} deg "
                 "of this one's ({seen}): a key that holds at one scale only is the reading's, not the light's")


def read_off_shadows(key: KeyEstimate) -> bool:
    """Whether the hard key came from the plate's shadows alone: no sun in view, no given direction."""
    return key.hard and key.direction is not None and key.elevation_source not in ("sun in view", "given")


MEASURED_ALONG = ("shadow length", "short shadows")
"""Elevation sources that an occluder's shadow along the key's azimuth measured (``measure_elevation``)."""


def measured_along(key: KeyEstimate) -> bool:
    """Whether an occluder's height over its shadow's length along the key's azimuth measured the
    key's elevation: a shadow runs from that occluder's foot that way, as for a key its longest
    shadow directs (``key.from_occluders``), and the key is not read again at other scales."""
    return key.elevation_source in MEASURED_ALONG


def foot_on_ground(product_point: np.ndarray, ground_point: np.ndarray, ground_normal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit normal, product point, the product's foot on the ground plane)."""
    n = np.asarray(ground_normal, np.float64) / np.linalg.norm(ground_normal)
    p = np.asarray(product_point, np.float64)
    return n, p, p - n * ((p - np.asarray(ground_point, np.float64)) @ n)


def neighbour_keys(views: list[tuple[np.ndarray, FrameCamera]], product_point: np.ndarray, ground_point: np.ndarray,
                   ground_normal: np.ndarray) -> list[tuple[float, KeyEstimate]]:
    """(scale, key) read again with the world scaled READING_SCALES about the product's foot
    (cameras and product; the same frames)."""
    n, p, foot = foot_on_ground(product_point, ground_point, ground_normal)
    return [(s, read_light(scaled_views(views, foot, s), foot + s * (p - foot), foot, n, None, feet_turn=False)[1]) for s in READING_SCALES]


def axis_off_deg(a: list[float] | np.ndarray, b: list[float] | np.ndarray, normal: np.ndarray) -> float:
    """Angle (0-90 degrees) between two keys' shadow axes on the ground: which side is read apart."""
    off = azimuth_between_deg(a, b, normal)
    return min(off, 180.0 - off)


def unsteady_key(key: KeyEstimate, others: list[tuple[float, KeyEstimate]], ground_normal: np.ndarray) -> str:
    """Why a hard key read off the plate's shadows alone is dropped: hard within
    STEADY_AZIMUTH_DEG of its axis at neither neighbouring scale (``others``, from
    ``neighbour_keys``). "" where it holds at one."""
    if key.direction is None:
        return ""
    n = np.asarray(ground_normal, np.float64)
    read = key.shapes_direction or key.direction  # the shapes' reading, before the feet's shadows turned it
    seen = []
    for s, other in others:
        if other.hard and other.direction is not None:
            off = axis_off_deg(other.direction, read, n)
            if off <= STEADY_AZIMUTH_DEG:
                return ""
            seen.append(f"{s:.2f}x: {off:.0f} deg off")
        else:
            seen.append(f"{s:.2f}x: none")
    return UNSTEADY_NOTE.format(scales=" and ".join(f"{s:.2f}x" for s in READING_SCALES), deg=STEADY_AZIMUTH_DEG, seen=", ".join(seen))


UNSTEADY_KEY_ANGLE_DEG = WINDOW_ANGLE_DEG
"""How wide the soft key an unsteady key leaves is (``unsteady_soft_key``): a window's, which
``eval light`` counts as no hard key."""


def soft_side_key(key: KeyEstimate, side: SoftSide) -> Window:
    """A soft light's key from the side its soft shadows give (soft_side.py), as wide as a
    window's (UNSTEADY_KEY_ANGLE_DEG), at the lit/shadow ratio its edges read, over their shade.
    Environment alone left a duck on a hazy day's concrete and beside the real apple-countertop
    clip's apple with no shadow but its contact's, where everything round it leans one way."""
    why = (f"a soft key {UNSTEADY_KEY_ANGLE_DEG:.0f} deg wide from the side of the {side.why}, {SOFT_KEY_ELEVATION_DEG:.0f} deg up "
           f"(assumed), lit/shadow {key.ratio:.2f}")
    return soft_window(key, side.direction, why)


def soft_side_readable(key: KeyEstimate, night: bool, ceiling: bool) -> bool:
    """Whether a soft reading of the day may read its light's side (``soft_side``): every soft
    reading with measured shadow edges, not only those whose edges were wide (where the
    environment alone lit the duck: hazy 450, its soft shadows too faint for a sun's, lit/shadow
    under key.HARD_RATIO, now a soft key 7 degrees off; 462, a key whose side was read on the
    wider ground and dropped, 9 off). Not by night (lamps, each from its own side), under a
    ceiling's panels (no side), over a canopy of blades (its own shade is no shadow; overcast
    meadow 442 read one), nor where the product stands in the shadows' shade. Nor on ground
    read as banded with a darker material (the bands darken a base's side as a shadow does;
    sun_high 445, a soft key 156 degrees off), nor where the shadows are denser than a soft
    light's (SOFT_MAX_RATIO: a sun's, or a pool of light; sun_low 444 at lit/shadow 7.5, 139
    off). (Nor, in ``read_light``, where a lamp's pool was refused as too low a lamp: its
    shadows lean from the lamp's foot, not one side.)"""
    return (key.measured and not (key.hard or night or ceiling or key.product_in_shadow or key.unread_bands or key.banded)
            and key.ratio <= SOFT_MAX_RATIO and _canopy(key) is None)


SOFT_MAX_RATIO = 3.0
"""The densest shadows (lit/shadow) a soft light's side is read off (``soft_side_readable``):
hazy and interior soft shadows read 1.4-2.6; hazy 496's 3.2 read its side 48 degrees off."""


def soft_window(key: KeyEstimate, direction: np.ndarray | list[float], why: str) -> Window:
    """A soft key UNSTEADY_KEY_ANGLE_DEG wide towards ``direction``, at the lit/shadow ratio
    ``key``'s shadow edges read, over their shade (``soft_side_key``, ``unsteady_soft_key``)."""
    lit, shade = np.asarray(key.lit_rgb, np.float64), np.maximum(np.asarray(key.shadow_rgb, np.float64), 1e-4)
    return Window(np.asarray(direction, np.float64), lit / shade, shade, why, UNSTEADY_KEY_ANGLE_DEG)


def unsteady_soft_key(key: KeyEstimate) -> Window:
    """What an unsteady hard key leaves where nothing else (a window, a lamp) lights the shot: a
    soft key from its side, UNSTEADY_KEY_ANGLE_DEG wide, at its lit/shadow ratio, over the shade
    its shadows read. The plate's shadows do lean that way; only their hard edges and their
    exact direction are in doubt. Environment alone left the real apple-countertop clip's duck,
    beside an apple casting a soft shadow down and right, with a contact shadow only."""
    why = (f"a soft key {UNSTEADY_KEY_ANGLE_DEG:.0f} deg wide from the unsteady shadows' side, {key.elevation_deg or DEFAULT_ELEVATION_DEG:.0f} deg "
           f"up ({key.elevation_source}), lit/shadow {key.ratio:.2f}")
    return soft_window(key, np.asarray(key.direction, np.float64), why)


IN_SHADE_NOTE = "no soft key either: the product stands in the shadows' shade (sky and bounce light only)"
"""Where an unsteady key is dropped (``unsteady_soft_key``) and the product stands in its shadow,
no soft key is placed: the shade does not lean. Held-out sun_high seed 232 (the duck in a pillar's
shadow): its soft key lit the duck at 2.6x the truth's brightness, -3.34 / -8.38 dB against the
paste (classical -3.40 / -8.46); without it +0.85 / -3.26 (classical). Held-out ceiling seed 237:
classical +2.76 / +2.95 -> +5.24 / +4.51. Reading the unseen sky off the shade as well (not the
ground round it, most of it sunlit) helped 232 by 0.4 dB and cost the ceiling 1.6."""


def scaled_views(views: list[tuple[np.ndarray, FrameCamera]], foot: np.ndarray, s: float) -> list[tuple[np.ndarray, FrameCamera]]:
    """The same frames with their cameras moved s times as far from ``foot``: the world scaled
    about it, every picture unchanged."""
    out = []
    for img, cam in views:
        c2w = np.array(cam.c2w, np.float64)
        c2w[:3, 3] = foot + s * (c2w[:3, 3] - foot)
        out.append((img, replace(cam, c2w=c2w.tolist())))
    return out


def read_light(images: Iterable[tuple[np.ndarray, FrameCamera]], product_point: np.ndarray, ground_point: np.ndarray, ground_normal: np.ndarray,
               given_direction: list[float] | None = None, drop_key: str = "", feet_turn: bool = True) -> tuple[np.ndarray, KeyEstimate, Lighting]:
    """One reading of ``estimate_light`` at the cameras' own scale. ``drop_key``: a reason the
    plate's hard key is not kept (``unsteady_key``): the shot then reads as soft-lit.
    ``feet_turn``: a key read off the shadows' shapes may turn to the feet's shadows
    (``turn_to_feet_shadows``); not in the readings at other scales, which check the shapes'
    reading alone (``unsteady_key``)."""
    n, p, foot = foot_on_ground(product_point, ground_point, ground_normal)
    env = EnvAccumulator(centre=foot + n * CENTRE_HEIGHT_M, ground_point=foot, ground_normal=n)
    grid = GroundGrid(centre=foot, normal=n)
    far = FarView(foot=foot, normal=n)
    views: list[elevation.View] = []
    for img, cam in images:
        scale = img.shape[1] / max(2 * cam.cx, 1.0) if cam.cx > 0 else 1.0
        env.add(img, cam, scale)
        grid.add(img, cam, scale)
        far.add(img, cam, scale)
        views.append((img, cam, scale))
    horizon = env.horizon_luminance()  # what the frames saw above the horizon (None: nothing)
    above_rgb = env.seen_sky_rgb()  # and its colour (None: too little of it)
    key = estimate_key(grid, horizon_lum=horizon, sky_rgb=above_rgb)
    night_low = night_below(horizon, far, key)  # a night in the far view of cameras that see no sky
    by_night = night_seen(horizon, key) or night_low
    pooled = daylight_beside_pool(grid, key, foot, horizon, above_rgb, by_night)
    beside_sun: local_source.LampBesideKey | None
    if pooled is not None:  # the sun's key, read off the ground with a lamp's pool taken out: on from that ground
        grid, key, beside_sun = pooled
    else:
        beside_sun = sun_without_lamp_shadows(grid, key, foot, by_night)
    key.lamp_beside = pooled is not None or (beside_sun is not None and beside_sun.weight > 0.0)
    if key.shapeless or (key.hard and key.side_source == "assumed" and key.direction is not None):  # shadows beyond the near grid
        wide = GroundGrid(centre=foot, normal=n, half_m=WIDE_GRID_M, lens=False)  # its shadows' shapes only
        for img, cam, scale in views:
            wide.add(img, cam, scale)
        if not direction_from_wider_ground(wide, grid, key):
            side_from_wider_ground(wide, key)
    sun, not_sun = sun_in_view(views, n, key, horizon, above_rgb)
    if sun is not None:  # the sun itself is in frame: its direction is measured, not assumed
        take_given_direction(grid, key, sun, source="sun in view")
    if given_direction is not None:
        take_given_direction(grid, key, np.asarray(given_direction, np.float64))
    elif elevation_readable(horizon, key) and not night_low:  # lamps' shadows measure no sun
        measure_elevation(views, grid, key, turn=one_sun_seen(horizon, far, key))
    if given_direction is None and sun is None and banded_unconfirmed(key) and one_sun_seen(horizon, far, key) and not night_low:
        found = direction_from_occluders(views, grid, key) or direction_from_feet_shadows(grid, key)
        if found is not None:  # a key along it, its elevation measured or dropped below as any banded key's
            take_occluders_direction(grid, key, *found)
            read = measure_elevation(views, grid, key)
            if key.elevation_source == "assumed":
                elevation_at_least(grid, key, read)
    confirm_banded(key, bound_holds=not drop_key)  # an unsteady key a bound kept is dropped, as before the bound
    if feet_turn and given_direction is None and sun is None and not night_low and one_sun_seen(horizon, far, key):
        turn_to_feet_shadows(views, grid, key)
    raise_assumed_elevation(grid, key)
    if given_direction is None and sun is None and not night_low and high_sun_unread(horizon, key):
        take_overhead_sun(grid, key)
    soft_key = None
    kept_beside = None  # a lamp beside a key dropped below: its pool stands whatever the sun's shadows say
    pool_out = pooled is not None  # the key's readings are the daylight's alone (read off the pool-free ground)
    if drop_key and key.hard:
        key.hard = False  # as the room's rules below: soft-lit from here on
        key.why += "; " + drop_key
        if beside_sun is not None and beside_sun.weight > 0.0:
            kept_beside = beside_sun
            if not pool_out:  # its pool out of the readings the soft key and the sky are made of
                leave_out_pool(key, beside_sun)
                pool_out = True
        if unsteady_sun_unread(horizon, key, night_low):
            key.direction, key.shapeless = None, True  # its shadows hold no direction: as if none were elongated
            take_overhead_sun(grid, key)
        else:
            soft_key = None if key.far or key.product_in_shadow else unsteady_soft_key(key)  # far shadows that do not hold lean nowhere near
            if key.product_in_shadow:
                key.why += "; " + IN_SHADE_NOTE
    low_walls = ceiling_walls_below(horizon, far, key)  # a ceiling's room seen by cameras looking down
    ceiling = ceiling_lit(horizon, key) or low_walls is not None  # the walls and the floor it reads do not change below
    if key.hard and ((ceiling and key.elevation_source == "assumed") or low_walls is not None):  # walls for a hard key: a low one's
        key.hard = False  # the ground and the room read as soft-lit from here on (the unseen light, no key)
        key.why += "; " + (CEILING_NOTE if key.elevation_source == "assumed" else LOW_KEY_UNDER_CEILING.format(deg=key.elevation_deg))
    if key.hard and key.elevation_source == "assumed" and one_shadow_in_a_room(horizon, key, above_rgb):
        key.hard = False  # the room's window or lamps, soft: find_window below may place one
        key.why += "; " + ROOM_NOTE
    night = night_seen(horizon, key) or night_low
    if not lamp_beside_readable(key, night):
        beside = kept_beside
    else:  # the lit ground it is fitted on is as it was: the fit made for the sun's shadows stands
        beside = beside_sun if beside_sun is not None else local_source.fit_beside_key(grid, key.classes, foot)
    placed_beside = beside if beside is not None and beside.weight > 0.0 else None
    if placed_beside is not None and not pool_out:
        leave_out_pool(key, placed_beside)
    source = None if key.hard or key.classes is None or kept_beside is not None else local_source.fit_from_grid(grid, key.classes, foot)
    lamp = None
    min_r2 = local_source.CEILING_MIN_R2 if ceiling else local_source.MIN_R2  # a ceiling's panels overlap: one lamp fits them partly
    if source is not None and local_source.accepted(source, min_r2):  # the lamp is the source at its weight: refusals below note on it
        lamp = source = local_source.weighted(source, np.asarray(key.ground_rgb), min_r2)
    elif source is not None and local_source.accepted(source):
        source.why = (f"no local lamp under a room's ceiling lights from a pool it fits at R2 {source.r2:.2f} (under "
                      f"{local_source.CEILING_MIN_R2:g}): the panels' overlapping pools, their light gathered overhead")
    ground_lum = float(np.asarray(key.ground_rgb) @ LUMA)
    if lamp is not None and open_sky(horizon, ground_lum):  # a canopy's texture fits a pool as well
        lamp.why = (f"no local lamp under an open sky {(horizon or 0.0) / ground_lum:.0f}x the ground "
                    f"(a pool fitted, R2 {lamp.r2:.2f}: the canopy's texture)")  # lamp is source: its note changes
        lamp = None
    if lamp is not None and _canopy(key) is not None:  # a canopy looks brighter towards grazing views
        lamp.why = (f"no local lamp over a canopy of blades (a pool fitted, R2 {lamp.r2:.2f}: blades seen "
                    "edge-on far off read brighter, as under a lamp)")
        lamp = None
    if lamp is not None and night:  # a street's lamps, each from its own side: their pools fit one lamp only in part
        lamp.why = NIGHT_LAMP_NOTE.format(r2=lamp.r2)  # lamp is source: its note changes
        lamp = None
    refused_low = False  # a pool refused in a window's room as too low a lamp is no window's slope either
    room = LOW_LAMP_UNDER_CEILING if ceiling else LOW_LAMP_IN_WINDOW_ROOM if window_room(horizon, key, above_rgb) else ""
    if lamp is not None and room and (seen_at := elevation_of_deg(lamp.position - foot, n)) < CEILING_LAMP_MIN_DEG:
        lamp.why = f"no local lamp {seen_at:.0f} deg up from the product " + room.format(r2=lamp.r2)
        lamp, refused_low = None, not ceiling
    partial = lamp is not None and local_source.weight(lamp, min_r2) < 1.0
    walls = walls_seen(horizon, far, key)
    window = find_window(grid, key, walls, foot, above_rgb, walls_below=horizon is None) if (lamp is None or partial) and not refused_low else None
    if window is None and lamp is None and soft_key is None and not refused_low and soft_side_readable(key, night, ceiling):
        side = soft_side(grid, key)  # a large source's soft shadows still lean away from it
        soft_key = None if side is None else soft_side_key(key, side)
    if window is None and lamp is None and soft_key is not None:  # nothing else lights it: the shadows' side, softly
        window = soft_key
    if window is not None and horizon is None:
        window.why = window.why.replace(WALLS_LIT, "the walls (below the horizon, beyond the floor) are lit like it")
    if window is not None and lamp is not None:  # under MIN_R2 a window read off the floor stands, as before the ramp
        lamp.why += f"; not placed: under R2 {local_source.MIN_R2:g} the window the floor points to stands"
        lamp = None
    prior: np.ndarray | None = None
    zenith_sky: np.ndarray | None = None  # the sky overhead, where the frames saw only its lower part
    banded_sky: tuple[np.ndarray, str] | None = None  # on banded ground: the capped sky and its note, kept or not below
    clear_fill = False  # the unseen sky filled as a clear one, falling off towards the zenith (envmap.clear_fall)
    daylight_note = ""
    if window is not None:  # the unseen room from the ground the window does not light
        prior = sky_from_ground(window.unlit_rgb)
    elif key.hard and dark_above(horizon, key):
        prior = sky_from_ground(np.asarray(key.shadow_rgb))
    elif key.hard:
        prior = sky_from_shadow(np.asarray(key.shadow_rgb), np.asarray(key.lit_rgb))
        if key.clear_sky and horizon is not None:  # a clear sky in view: the unseen sky a clear one's, darkest overhead
            capped, clear_fill = clear_sky_horizon(prior, horizon), True
            daylight_note = clear_sky_note(prior, capped)
        else:
            capped = daylight_ceiling(prior, horizon, float(np.asarray(key.lit_rgb) @ LUMA))
            daylight_note = dimmed_note(prior, capped, "shadow's", "daylight")
        prior = zenith_sky = capped  # the shadows' sky overhead too, above the rows the frames saw (envmap._row_fill)
    elif lamp is not None:  # the unseen sky from the ground the pool's source does not light
        prior = sky_from_ground(lamp.ambient_rgb)
    elif any(key.ground_rgb):
        canopy = _canopy(key)
        prior = sky_from_ground(np.asarray(key.ground_rgb), canopy)
        key.canopy = canopy is not None
        if canopy is not None:
            daylight_note = (f"unseen sky read at a canopy's albedo {canopy:g}: the ground's shade is less blue than its lit "
                             "blades (light through leaves)")
            capped = daylight_ceiling(prior, horizon, ground_lum)
            if float(capped.sum()) < 0.99 * float(prior.sum()):  # see CANOPY_UNDER_SEEN_SKY
                daylight_note += f"; {CANOPY_UNDER_SEEN_SKY.format(k=float(prior.sum()) / float(capped.sum()))}"
                prior = capped
    by_day = lamp_by_day(lamp, window, key)  # the sky a lamp's pool leaves is bounded by the clear one in view
    if prior is not None and not key.hard and (lamp is None or by_day) and daylight_seen(horizon, key):
        prior = sky_with_seen_tint(prior, above_rgb)
        if window is None and key.clear_sky:  # the ground read as if soft-lit, though a sun lights it
            capped = daylight_ceiling(prior, horizon, ground_lum, clear=True)
            if banded_ground(key):  # kept only where the sun overhead then takes what it leaves (capped_on_banded_ground)
                banded_sky = (capped, dimmed_note(prior, capped, "ground's", "clear sky") or daylight_note)
            else:
                daylight_note = dimmed_note(prior, capped, "ground's", "clear sky") or daylight_note
                prior = capped
        elif soft_key is not None and window is soft_key:
            prior, daylight_note = soft_key_sky(prior, horizon, key, daylight_note)
        # read off the ground near the product, a canopy of blades reads too dark; a canopy is
        # green: night-street's wet asphalt under lit facades, tea-table's wood under bright
        # windows read 8-25x darker than what the frames show above, and no sky is behind that
        if window is None and lamp is None and is_vegetation(np.asarray(key.ground_rgb)):
            raised = sky_over_canopy(prior, horizon, ground_lum)
            if float(raised.sum()) > 1.05 * float(prior.sum()):
                daylight_note = (f"unseen sky raised {float(raised.sum()) / float(prior.sum()):.1f}x to the daylight the frames show "
                                 "above the horizon: the ground is a canopy, darker than a lawn's albedo")
            prior = raised
    key_note = key.why.replace(ENV_ONLY, "") if window is not None else key.why
    notes = [f"environment coverage {env.coverage():.0%}", key_note, not_sun, daylight_note]
    env_map = env.result(sky_prior=prior, sun=sun, zenith_sky=zenith_sky, clear=clear_fill)  # round a sun in view: a clear sky (clear_sky.py)
    ambient = upper_irradiance(env_map, n)
    if banded_sky is not None:
        capped_env = env.result(sky_prior=banded_sky[0], sun=sun, zenith_sky=zenith_sky)
        if capped_on_banded_ground(capped_env, key, n):
            env_map, ambient, notes[3] = capped_env, upper_irradiance(capped_env, n), banded_sky[1]
    light, shadow_ratio, note = key_light(key, ambient, night) if window is None else window_light(window, ambient, n)
    if note == NIGHT_NOTE and horizon is None:
        note = note.replace(NIGHT_SEEN, "the frames show a night beyond the ground (nothing above the horizon in view)")
    lights = [light] if light is not None else []
    notes.append(note)
    if light is None and window is None and lamp is None and ceiling:
        overhead = overhead_cap(env_map, env.count > 0, env.below, n, walls_rgb=low_walls)
        if overhead is not None:  # the floor's irradiance is kept: ``ambient`` stands
            env_map = overhead
            walls_lum = horizon if horizon is not None else float(np.asarray(low_walls) @ LUMA)
            notes.append(f"a ceiling's light: walls {walls_lum / floor_luminance(key.classes):.2f}x the floor"
                         f"{'' if horizon is not None else ' (below the horizon, beyond the floor)'}, the unseen "
                         f"light gathered within {CEILING_CAP_DEG:g} deg of the zenith")
    seen_ground = window.unlit_rgb if window is not None else np.asarray(key.shadow_rgb if key.hard else key.ground_rgb)  # ground the key does not reach
    if source is not None:
        notes.append(source.why)
    if beside is not None and (placed_beside is not None or beside.source.contrast >= local_source.BESIDE_MIN_CONTRAST):
        notes.append(beside.source.why)
    if placed_beside is not None:
        lamp_light = local_source.as_light(placed_beside.source, foot, n, local_source.BULB_SIZE_M)
        lamp_light.intensity *= placed_beside.weight
        lights.append(lamp_light)
    if lamp is not None:
        size = local_source.size_for_soft_edges(lamp, foot, soft_edges(key))  # no lamp by night (NIGHT_LAMP_NOTE)
        if size > local_source.SOFT_SIZE_M:
            notes.append(f"the lamp {size:.1f} m across ({local_source.SOFT_EDGES_ANGLE_DEG:g} deg from the product): "
                         "the plate's shadow edges are soft")
        lights.append(local_source.as_light(lamp, foot, n, size))
        seen_ground = lamp.ambient_rgb
    k = exposure_from_ground(seen_ground, ambient)
    placed = lights[:-1] if lamp is not None else lights  # the lamp's light, appended last, is no sun's
    if k > 1.0 and sun_unseen_under_clear_sky(horizon, key, placed, window):
        lights.append(overhead_sun_for(k, ambient, n, key))
        notes.append(OVERHEAD_FOR_RAISE_NOTE.format(strength=lights[-1].intensity, albedo=implied_albedo(seen_ground, ambient)))
        shadow_ratio = shadow_density(np.full(3, k))
        k = 1.0
    if k > 1.0:  # the seen sky cannot light the ground as bright as the plate shows it
        implied = implied_albedo(seen_ground, ambient)
        notes.append(f"light raised {k:.1f}x: the sky the frames show would light the ground they show only at an albedo of "
                     f"{implied:.2f} (over {GROUND_ALBEDO_MAX:g}, fresh snow's); it now reads at "
                     f"{implied / k:.2f} (its albedo prior {albedo_prior(seen_ground):g} from "
                     f"{ALBEDO_FULL_DOUBT * GROUND_ALBEDO_MAX:g} on)")
        env_map, ambient = (env_map * k).astype(np.float32), ambient * k
        for lt in lights:
            lt.intensity *= k
    lighting = Lighting(world_color=env_map.reshape(-1, 3).mean(axis=0).tolist(), world_strength=1.0, lights=lights, estimated=True,
                        method="plate", notes="; ".join(n for n in notes if n), shadow_ratio=shadow_ratio if lights else [],
                        ground_albedo=ground_albedo(seen_ground, ambient), unplaced_key=unplaced_key(key, ambient, lights))
    return env_map, key, lighting


POOL_TAKEN_OUT_NOTE = "the key read with the lamp's pool taken out of the ground's light (with it in, {why})"


def daylight_beside_pool(grid: GroundGrid, key: KeyEstimate, foot: np.ndarray, horizon: float | None, above_rgb: np.ndarray | None,
                         night: bool) -> tuple[GroundGrid, KeyEstimate, local_source.LampBesideKey] | None:
    """A sun's hard key where a lamp's pool beside it made the ground read as soft-lit: (the ground
    with the pool taken out, ``local_source.without_pool``; the key read off it; the lamp), or None.

    The pool lights both sides of the sun's shadow edges by it, and its falloff makes edges of its
    own across the sunlit sand, so the edges' lit/shadow ratio came out just under a hard key's
    (HARD_RATIO): 11 of the 75 cached mixed sets at 1.42-1.49 for the sun's 1.6-1.7, lit by the
    environment and the lamp alone (learned composite -0.1 to +1.7 dB over the paste on 300, 373,
    391 and 409). Read only by day, where the frames show a clear sky above the horizon or nothing
    above it (cameras looking down at the sand: mixed 300 and 409), the ground read soft by its
    ratio, and a lamp's pool fits on it (``local_source.fit_beside_key``, placed at its weight).
    The pool-free ground keeps its soft reading where it still reads soft (wide edges: a window's
    pool, not a lamp's). Ground soft for another reason is left so: read without the pool, unread
    bands (mixed 316 and 341, lit/shadow 1.8-1.9) gave the sun 157 and 52 degrees off."""
    if key.hard or not key.measured or key.ratio >= HARD_RATIO or night or key.classes is None or not (horizon is None or key.clear_sky):
        return None
    beside = local_source.fit_beside_key(grid, key.classes, foot)
    if beside is None or beside.weight <= 0.0:
        return None
    free = local_source.without_pool(grid, beside)
    again = estimate_key(free, horizon_lum=horizon, sky_rgb=above_rgb)
    if not again.hard or again.direction is None:
        return None
    without_lamp_shadows(free, again, np.asarray(beside.source.position, np.float64))
    again.why += "; " + POOL_TAKEN_OUT_NOTE.format(why=key.why)
    return free, again, beside


def sun_without_lamp_shadows(grid: GroundGrid, key: KeyEstimate, foot: np.ndarray, night: bool) -> local_source.LampBesideKey | None:
    """The sun's direction re-read without the shadows of a lamp fitted beside it (a practical
    in daylight: ``local_source.fit_beside_key``, ``key.without_lamp_shadows``), before anything
    else builds on that direction. Returns the lamp it fitted (None where it fitted none)."""
    if not lamp_beside_readable(key, night) or key.banded:
        return None
    beside = local_source.fit_beside_key(grid, key.classes, foot)
    if beside is not None and beside.weight > 0.0:
        without_lamp_shadows(grid, key, np.asarray(beside.source.position, np.float64), local_source.pool_on_grid(grid, beside), beside.lit_free)
    return beside


def lamp_beside_readable(key: KeyEstimate, night: bool) -> bool:
    """Whether a lamp beside the key may be read off its lit ground (local_source.fit_beside_key):
    a hard key that ``key_light`` places, by day. By night the key's "lit" ground is the lamps' own
    pools; a key refused because the product stands in its shadow leaves "lit" ground that may
    be a room's floor between shadows (ceiling seed 167 fitted a lamp there)."""
    return not night and key_refused(key) is None and key.classes is not None


BESIDE_KEPT = 0.4
"""Least part of the key's readings left when a lamp's pool is taken out of them."""


def leave_out_pool(key: KeyEstimate, beside: local_source.LampBesideKey) -> None:
    """Take a lamp's pool out of the key's lit and shadowed readings (at the lamp's weight), so
    the sun and the sky read off them are the daylight's alone: the lamp, placed as a light of
    its own, would otherwise be counted twice. Both are scaled by the part of the lit ground's
    light the pool is by the shadows' edges, the lit/shadow ratio kept: a shadow there may be
    the sun's (the lamp lights it) or the lamp's own (it does not), and taking the pool out of
    the shadows as well made a lamp's shadow on sunlit sand a sky 13 times darker than its sun
    (mixed seed 183: a dark glass duck)."""
    lit, sh = np.asarray(key.lit_rgb, np.float64), np.asarray(key.shadow_rgb, np.float64)
    kept = np.clip(1.0 - beside.weight * beside.on_lit_rgb / np.maximum(lit, 1e-6), BESIDE_KEPT, 1.0)
    key.lit_rgb, key.shadow_rgb = (lit * kept).tolist(), (sh * kept).tolist()


CANOPY_UNDER_SEEN_SKY = "dimmed {k:.1f}x to the daylight the frames show above the horizon"
"""A canopy's albedo (envmap.CANOPY_ALBEDO) reads the unseen sky off blades that catch little of
it; where the frames show the sky itself, it is no brighter than that (``daylight_ceiling``, as
under a sun). Held-out overcast_grass seed 244: an overcast lawn's shade read less blue than its
blades, the sky off them came out several times the white sky in view, and the duck burnt out:
-4.61 / -5.31 dB against the paste."""


def _canopy(key: KeyEstimate) -> float | None:
    """The canopy's albedo where the soft-lit ground is a canopy of blades (envmap.canopy_albedo:
    green, its shade less blue than its lit blades), else None."""
    if not key.measured:
        return None
    return canopy_albedo(np.asarray(key.ground_rgb), np.asarray(key.lit_rgb), np.asarray(key.shadow_rgb))


GREY_SKY_NOTE = "no sun in view under a grey sky: its clipped patch is bright cloud"


def sun_in_view(views: list[elevation.View], n: np.ndarray, key: KeyEstimate, horizon: float | None,
                above_rgb: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """(the sun the frames show, or None; why a candidate is not it). The sun in frame - small,
    in its own glare (sun_disc.py), along the shadows - directs a hard key, or makes one of
    shadows measured too faint or soft by daylight (a backlit low sun). Not under walls lit like
    the floor (a window or a lamp), nor under a grey sky (``key.is_grey_sky``: an overcast sky
    exposed near clipping clips in bright patches of cloud; held-out overcast_meadow seed 179 of
    stop 54 cast the duck's long shadow from one at 4 degrees, -2.95 dB against the paste), nor
    off the shadows' axis (``key.sun_disagrees``)."""
    if not (key.hard or (key.measured and daylight_seen(horizon, key))):
        return None, ""
    sun, why = sun_disc.find_sun(views, n)
    if sun is None:
        return None, why
    if not key.hard and walls_above(horizon, key.classes):
        return None, (f"no sun in view under walls lit like the floor ({(horizon or 0.0) / floor_luminance(key.classes):.1f}x it): "
                      "the clipped patch is a window or a lamp")
    if is_grey_sky(above_rgb):
        return None, GREY_SKY_NOTE
    why = sun_disagrees(key, sun, n)
    return (None, why) if why else (sun, "")


def elevation_readable(horizon: float | None, key: KeyEstimate) -> bool:
    """Whether the occluders may measure the key's elevation (``measure_elevation``): a hard key
    of assumed elevation, under a daylight sky the frames saw (a lamp's direction differs from
    occluder to product), or, where the frames saw nothing above the horizon, one whose azimuth
    came from elongated shadows. A camera looking down at a lawn shows no sky, and its sun's long
    shadows bounded the elevation to within 12 degrees of the truth (eval insert sun_low_grass
    seed 21: +1.8 dB); a night street's lamp, voted an azimuth by the sides of short shadows
    alone, was bounded to 15 degrees and lit the product from the horizon (night seed 22: -0.8)."""
    if not key.hard or key.elevation_source != "assumed":
        return False
    return daylight_seen(horizon, key) or (horizon is None and key.elongated > 0)


def standing_objects(grid: GroundGrid, objects: np.ndarray) -> list[elevation.Standing]:
    """Each object standing on the rectified ground (``occluder_feet``) as the elevation reader
    takes it: its foot, its own footprint and the ground any object hides."""
    return [elevation.Standing(foot, own=partial(on_cells, grid, band), hidden=partial(on_cells, grid, objects))
            for foot, band in occluder_feet(grid, objects)]


def measure_elevation(views: list[elevation.View], grid: GroundGrid, key: KeyEstimate, turn: bool = True) -> list[elevation.Occluder]:
    """The key's elevation from its occluders' heights over their shadows' lengths
    (elevation.py), kept at its azimuth, when an occluder shows both; else it stays assumed.
    ``turn``: the key may be turned round where its occluders' shadows say so (REVERSED_NOTE):
    where one sun casts every shadow (``one_sun_seen``). Returns what the occluders said along
    the key's final azimuth (``elevation_at_least`` reads on from it)."""
    assert key.classes is not None and key.direction is not None
    objects = key.classes.objects
    standing = standing_objects(grid, objects)
    occluders, bound, found = _read_elevation(views, standing, grid, key, key.direction)
    if found is None and key.banded_alternative is not None:
        other = _read_elevation(views, standing, grid, key, key.banded_alternative)
        if other[2] is not None:  # the reading a shadow's length confirms
            key.direction, (occluders, bound, found) = key.banded_alternative, other
            key.why += "; the direction below the bands' level taken: a shadow's length confirms it"
    flipped = _reversed_azimuth(key.direction, grid.n)
    other = _read_elevation(views, standing, grid, key, flipped) if turn else ([], None, None)
    if _shadows_read(other[0]) > (ours := _shadows_read(occluders)):
        key.why += f"; {REVERSED_NOTE.format(them=_shadows_read(other[0]), ours=ours)}"
        key.direction, key.side_source, (occluders, bound, found) = flipped, "shadow length", other
        judge_in_shadow(grid, key)
    if bound is not None and bound[0] < BOUND_SLACK * (least := least_elevation_deg(key.ratio)):
        key.why += f"; {bound[1]}, not used: lit/shadow {key.ratio:.2f} needs a sun at least {least:.0f} deg up ({BOUND_NOTE})"
        bound = None
        found = elevation.combine(occluders, None)
    source = "shadow length"
    unbounded = found is None and bound is None
    readable = found is None and short_shadows_readable(key)
    low = elevation.lower_bound(occluders) if unbounded and not key.lamp_beside else None  # only where nothing bounds it from above
    feet = foot_shadows(grid, key.classes, np.asarray(key.lit_rgb)) if readable or low is not None else []
    short = elevation.short_shadows_elevation(views, feet, grid.n, np.asarray(key.direction), grid.metres_per_px) if readable else None
    if short is not None and bound is not None:  # the short shadows may only put the sun at the bound from above
        short_over_bound(key, short, bound)
    elif short is not None and short[2] and short[0] > float(key.elevation_deg or DEFAULT_ELEVATION_DEG):
        found, source = short[:2], "short shadows"
    elif short is not None and not short[2]:
        key.least_elevation = short[:2]
    if found is None:
        if low is not None and (key.least_elevation is None or low[0] > key.least_elevation[0]) \
                and not elevation.long_shadow_at_feet(feet, grid.n, np.asarray(key.direction)):
            key.least_elevation = low
        if bound is not None and (over := elevation.over_bound(occluders, bound)):
            key.why += f"; {elevation.dropped_note(over, bound)}"
        if bound is not None and bound[0] < float(key.elevation_deg or DEFAULT_ELEVATION_DEG):
            move_assumed_elevation(grid, key, bound[0])
            key.why += f"; {bound[1]}"
        return occluders
    take_given_direction(grid, key, at_elevation(np.asarray(key.direction), grid.n, found[0]), source=source)
    key.why += f"; {found[1]}"
    return occluders


def short_over_bound(key: KeyEstimate, short: tuple[float, str, bool], bound: tuple[float, str]) -> None:
    """Where an occluder's shadow running out of view bounds the key from above (``bound``) and
    the short shadows at the occluders' feet read it higher still (``short``, from
    ``elevation.short_shadows_elevation``),
    the sun stands at least at that bound (``key.least_elevation``): both say it is that high, and
    the bound is the nearer. Fresh sun_high 454 of stop 79: at most 70, the short shadows 76, the
    truth 64; its banded key, dropped at the assumed 30, stands at 70 (classical +5.5 -> +12.4 dB
    over the paste). Before, a bound from above kept the short shadows unread."""
    if short[2] and short[0] > bound[0]:
        key.least_elevation = (bound[0], f"elevation at least {bound[0]:.0f} deg: the short shadows at the occluders' feet read "
                                         f"{short[0]:.0f}, over the bound from above")


REVERSED_NOTE = ("the key turned round: {them} occluder(s) show a shadow away from it that way, {ours} the way the "
                 "shadows' sides said")
"""A shadow runs from its occluder's foot away from the light: where more occluders show one
(elevation.MIN_SHADOW_M long or more) on the far side of the light's reverse than on its own,
the side the shadows' shapes gave is the wrong one. Over the cached held-out sets of 214-239 it
turned sun_low_concrete 216 (172 degrees off, its side assumed: +4.4 / +5.4 dB insert / product),
sun_high 226 (170, from one base: +8.2 / +10.6) and mixed 228 (168, from the lamp's own shadow:
-0.2 / -0.4, a glass duck) round, and no key that was right."""


def _reversed_azimuth(direction: list[float], n: np.ndarray) -> list[float]:
    """The same elevation from the opposite azimuth."""
    d = np.asarray(direction, np.float64)
    up = (d @ n) * n
    return (up - (d - up)).tolist()


def _shadows_read(occluders: list[elevation.Occluder]) -> int:
    """How many occluders show a shadow long enough to measure (elevation.MIN_SHADOW_M)."""
    return sum(1 for o in occluders if o.length >= elevation.MIN_SHADOW_M)


def _read_elevation(views: list[elevation.View], standing: list[elevation.Standing], grid: GroundGrid, key: KeyEstimate,
                    direction: list[float]) -> tuple[list[elevation.Occluder], tuple[float, str] | None, tuple[float, str] | None]:
    """(occluders, their upper bound, the elevation they measure under it) along ``direction``."""
    occluders = elevation.read_occluders(views, standing, grid.n, np.asarray(direction), np.asarray(key.shadow_rgb), np.asarray(key.lit_rgb))
    bound = elevation.upper_bound(occluders)
    return occluders, bound, elevation.combine(occluders, bound)


def soft_key_sky(prior: np.ndarray, horizon: float | None, key: KeyEstimate, note: str) -> tuple[np.ndarray, str]:
    """The unseen sky under a soft key read off the shadows' side (``soft_side_key``,
    ``unsteady_soft_key``), and its note: read off their shade over the albedo prior, then
    bounded by the daylight the frames show above the horizon, as a sun's shadows' sky is
    (``daylight_ceiling``). The prior's 0.35 reads a pale ground's shade (hazy concrete at
    0.45) as a sky up to 1.4x too bright, and the soft key, its lit/shadow ratio over that sky,
    then lit the duck as much too bright: the product 1.1-1.3x the truth's on hazy 509-517."""
    capped = daylight_ceiling(prior, horizon, float(np.asarray(key.lit_rgb) @ LUMA))
    return capped, dimmed_note(prior, capped, "shade's", "daylight") or note


def dimmed_note(prior: np.ndarray, capped: np.ndarray, reading: str, seen: str) -> str:
    """What ``daylight_ceiling`` did to the unseen sky ``prior`` read off the ``reading`` ground,
    bounded by the ``seen`` sky: "" where it left it (within 1 %)."""
    total = float(np.asarray(prior).sum())
    share = float(np.asarray(capped).sum()) / total if total > 0 else 1.0
    if share >= 0.99:
        return ""
    return f"unseen sky dimmed to {share:.0%} of the {reading} reading: no brighter than the {seen} the frames show above the horizon"


def clear_sky_note(prior: np.ndarray, horizon_rgb: np.ndarray) -> str:
    """What ``clear_sky_horizon`` did to the unseen sky ``prior`` read off the shadows: its
    irradiance overhead, as a share of the shadows' reading."""
    total = float(np.asarray(prior).sum())
    share = CLEAR_SKY_MEAN * float(np.asarray(horizon_rgb).sum()) / total if total > 0 else 1.0
    note = (f"unseen sky a clear one's: no brighter than the horizon the frames show, {ZENITH_OVER_HORIZON:g} of it at the "
            "zenith")
    return note if share >= 0.99 else f"{note} ({share:.0%} of the shadow's reading overhead)"


def high_sun_unread(horizon: float | None, key: KeyEstimate) -> bool:
    """Whether the plate shows a sun whose direction nothing read (key.take_overhead_sun): its
    lit/shadow and edges measured under a clear daylight sky the frames see, and none of its
    shadows elongated, near or further out (``shapeless``). Not on ground banded with a darker
    material (``banded_ground``): there the levels mix its shadows with the bands, and a key
    from them read the sun and its sky too dim (held-out sun_high 233, 245, 249: -1 to -7 dB)."""
    return key.shapeless and not key.hard and key.direction is None and measured_under_clear_sky(horizon, key)


def unsteady_sun_unread(horizon: float | None, key: KeyEstimate, night: bool) -> bool:
    """Whether a hard key dropped as unsteady (``unsteady_key``) leaves a sun whose direction
    nothing read: under a clear daylight sky, its side only assumed (no occluder's foot, behind
    the camera), on unbanded near ground. Its soft key (``unsteady_soft_key``) then came from a
    guessed side at the assumed 30 degrees, twice as strong as overhead for the same lit/shadow:
    held-out sun_high 260, the truth's sun 62 degrees up on the far side, lit the duck flat and
    2.5x too bright (-9.3 dB on the product against the paste); overhead -2.6 (classical)."""
    return key.side_source == "assumed" and not key.far and not night and measured_under_clear_sky(horizon, key)


def measured_under_clear_sky(horizon: float | None, key: KeyEstimate) -> bool:
    """Whether the plate's shadows were measured (lit/shadow, edges) on unbanded ground under a
    clear daylight sky the frames see: a sun's, whatever their shapes say of its direction."""
    return key.measured and key.classes is not None and key.clear_sky and daylight_seen(horizon, key) and not banded_ground(key)


def banded_ground(key: KeyEstimate) -> bool:
    """Whether the ground was read as banded with a darker material (key._banded_direction and
    what follows it): its levels mix the sun's shadows with the bands."""
    return key.sky_shade or key.unread_bands or key.from_occluders or key.banded


def banded_unconfirmed(key: KeyEstimate) -> bool:
    """Whether a key on ground banded with a darker material has no direction a shadow's length
    confirms yet: none read off its shadows' shapes (``unread_bands``), or one read there whose
    elevation stayed assumed (``confirm_banded`` would drop it)."""
    return key.unread_bands or (key.hard and key.banded and key.elevation_source == "assumed")


SCAN_STEP_DEG = 15.0
"""The azimuths ``direction_from_occluders`` reads every occluder's shadow along, this far apart."""
SCAN_MIN_SHADOW_M = 0.3
"""The least shadow ``direction_from_occluders`` takes a direction from: twice elevation.MIN_SHADOW_M
(a high sun's 0.8 m box throws 0.4-0.5 m)."""


def direction_from_occluders(views: list[elevation.View], grid: GroundGrid, key: KeyEstimate) -> tuple[np.ndarray, str] | None:
    """(direction towards the light, note): on banded ground whose shadows' shapes gave no
    direction (``key.unread_bands``), the azimuth along which an occluder throws its longest
    shadow (SCAN_MIN_SHADOW_M or more, read every SCAN_STEP_DEG), held by a shadow read at a
    neighbouring azimuth too (elevation.MIN_SHADOW_M: a box's shadow is as wide as the box; a
    darker band crossing the line reads at one azimuth only). A shadow runs away from the light.
    On the held-out sun_high sets banded that way (seeds 215-237), six of twelve gave one, 2-26
    degrees off the truth's sun (seed 237: 9), and no other set read off its shadows; under no
    single sun (a room's lamps, a night street) every shadow has its own light, and this is not
    asked. None where no occluder throws such a shadow."""
    assert key.classes is not None
    standing = standing_objects(grid, key.classes.objects)
    steps = round(360.0 / SCAN_STEP_DEG)
    e1, e2 = grid.e1, grid.e2
    towards = [math.cos(a) * e1 + math.sin(a) * e2 for a in np.radians(np.arange(steps) * SCAN_STEP_DEG)]
    shadow, lit = np.asarray(key.shadow_rgb, np.float64), np.asarray(key.lit_rgb, np.float64)
    lengths = np.zeros((len(standing), steps))
    for i, obj in enumerate(standing):
        if elevation.occluder_height(views, obj.foot, grid.n) is None:
            continue  # as elevation.read_occluders: an occluder of unread height says nothing (its height read once)
        for j, d in enumerate(towards):
            found = elevation.shadow_length(views, obj, -d, shadow, lit)  # a shadow runs away from the light
            lengths[i, j] = found[0] if found else 0.0
    best: tuple[float, int] | None = None
    for i, j in zip(*np.nonzero(lengths >= SCAN_MIN_SHADOW_M)):
        held = max(lengths[i, j - 1], lengths[i, (j + 1) % steps]) >= elevation.MIN_SHADOW_M
        if held and (best is None or lengths[i, j] > best[0]):
            best = (float(lengths[i, j]), int(j))
    if best is None:
        return None
    return towards[best[1]], (f"{AZIMUTH_FROM} an occluder's shadow runs longest ({best[0]:.2f} m, "
                              f"read every {SCAN_STEP_DEG:g} deg)")


FEET_MIN_CELLS = 30
"""The least sky-lit shadow, in near-grid cells (3.1 cm square), at the occluders' feet that directs
a key (``feet_shadow_direction``): fewer is a dark seam at a base, or the tip of a shadow hidden
behind its occluder. Of the 15 sun_high, sun_low and mixed truth sets (seeds 300-436) whose feet
held fewer, 11 read 26-168 degrees off the truth's sun."""
FEET_MIN_AGREEMENT = 0.9
"""How alike the feet's shadows must lie (``FeetShadows.agreement``): under it, shadows thrown
every way (a lamp's beside the sun's, bands taken for shadows) read 93-146 degrees off on three of
the six truth sets that fell under it (sun_high 423, sun_low 302, mixed 312), 1-25 on the others."""
FEET_HIGH_DEG = 45.0
"""A key this high or higher has short shadows: the feet's blobs are what its shadows' shapes were
read from (``turn_to_feet_shadows``)."""
FEET_TURN_DEG = 30.0
"""A key read off the shadows' shapes turns to the feet's shadows (``turn_to_feet_shadows``) where
they disagree by more than this."""


def feet_direction(grid: GroundGrid, key: KeyEstimate) -> FeetShadows | None:
    """The feet's shadows' reading (``key.feet_shadow_direction``) where it is large and alike enough
    to direct a key (FEET_MIN_CELLS, FEET_MIN_AGREEMENT); None elsewhere."""
    if key.classes is None or not key.measured:
        return None
    feet = feet_shadow_direction(grid, key.classes, np.asarray(key.lit_rgb, np.float64), np.asarray(key.shadow_rgb, np.float64))
    return feet if feet is not None and feet.cells >= FEET_MIN_CELLS and feet.agreement >= FEET_MIN_AGREEMENT else None


def direction_from_feet_shadows(grid: GroundGrid, key: KeyEstimate) -> tuple[np.ndarray, str] | None:
    """(direction towards the light, note) on banded ground where no occluder's shadow runs long
    enough to scan (``direction_from_occluders``): against the way the sky-lit shadows at the
    occluders' feet lie. As any banded key, it stays only where a shadow's length then measures
    its elevation (``confirm_banded``)."""
    feet = feet_direction(grid, key)
    if feet is None:
        return None
    return feet.towards, f"{AZIMUTH_FROM} the sky-lit shadows at the occluders' feet lie ({feet.cells} cells)"


def turn_to_feet_shadows(views: list[elevation.View], grid: GroundGrid, key: KeyEstimate) -> None:
    """Turn a hard key read off the plate's shadows to the feet's shadows' azimuth
    (``feet_direction``) where they disagree by more than FEET_TURN_DEG, its elevation kept. The
    shadows' shapes give an axis that a band's edge, a second shadow or a long blob's own sides can
    tilt, and a side one base can flip; the sky-lit blob an occluder throws lies away from the sun
    whatever its shape. Not a sun straight overhead (no azimuth), nor one seen or given, nor a low
    key (under FEET_HIGH_DEG, measured or bounded from below by its short shadows:
    ``key.least_elevation``) that several elongated shadows on unbanded ground agree on: a low
    sun's long shadows give their axis well, and one crossing another occluder's foot is the blob
    that disagrees (cached sun_low 316: three shadows 3 degrees off the truth, the feet's blob 61).
    A high sun's short ones are the feet's blobs themselves, and a band's edge beside them reads
    as elongated too (fresh sun_high 427: two "elongated" shadows 72 degrees off, the feet's 7).
    Such a low key is turned round along its axis, though, where the feet's shadows lie on its
    own side (within FEET_TURN_DEG of its reverse) and its side rests on one occluder's base or
    none: the long shadows give the axis, that base the side, and that is what they misread
    (fresh sun_low_concrete 417 of stop 78: 170 degrees off, the feet's 10); its elevation is
    kept as it was read. Two bases that agree stand: another occluder's long shadow touching a
    foot turned cached sun_low_concrete 310 from 1 degree off to 179."""
    elev = float(key.elevation_deg or DEFAULT_ELEVATION_DEG)
    if not key.hard or key.direction is None or key.elevation_source in ("sun in view", "given") or elev >= 89.0:
        return
    long_axis = key.elongated >= 2 and not banded_ground(key) and max(elev, key.least_elevation[0] if key.least_elevation else 0.0) < FEET_HIGH_DEG
    feet = feet_direction(grid, key)
    if feet is None or (off := azimuth_between_deg(key.direction, feet.towards, grid.n)) <= FEET_TURN_DEG:
        return
    if long_axis and (off < 180.0 - FEET_TURN_DEG or key.side_bases > 1):
        return  # the long shadows' axis stands; only a side one base read backwards turns (FEET_SIDE_NOTE)
    key.shapes_direction = key.direction
    if long_axis:
        key.direction = _reversed_azimuth(key.direction, grid.n)
        key.why += f"; {FEET_SIDE_NOTE.format(cells=feet.cells)}"
    else:
        key.direction = at_elevation(feet.towards, grid.n, elev).tolist()
        key.why += f"; {FEET_TURN_NOTE.format(off=off, cells=feet.cells)}"
    key.side_source = "occluder"
    judge_in_shadow(grid, key)
    if key.elevation_source == "assumed" and not long_axis:  # its occluders' shadows along the new azimuth may measure it
        measure_elevation(views, grid, key, turn=False)


FEET_TURN_NOTE = "the key turned {off:.0f} deg to face away from the sky-lit shadows at the occluders' feet ({cells} cells)"
FEET_SIDE_NOTE = ("the key turned round along its long shadows' axis: the sky-lit shadows at the occluders' feet ({cells} cells) "
                  "lie on its own side")


def elevation_at_least(grid: GroundGrid, key: KeyEstimate, occluders: list[elevation.Occluder]) -> None:
    """The elevation of a key along its occluders' longest shadows (``direction_from_occluders``)
    where no exact height measured it: the median of what each occluder's height, read or cut by
    the frame (then a lower bound), over its shadow's exact length allows. An elevation from the
    whole shadow, not a dark patch at the foot: it is the longest shadow read. Held-out sun_high
    seeds 216, 218, 221, 224, 236 read 63, 58, 53, 65, 60 deg against the truth's 65, 61, 64,
    65, 65. Unchanged where no occluder's shadow ends in view. ``occluders``: what they said
    along the key's azimuth (``measure_elevation``'s reading)."""
    assert key.direction is not None
    lows = [o.elevation_deg() for o in occluders if o.length_exact and o.length >= elevation.MIN_SHADOW_M]
    if not lows:
        return
    e = float(np.clip(np.median(lows), elevation.MIN_ELEVATION_DEG, elevation.MAX_ELEVATION_DEG))
    take_given_direction(grid, key, at_elevation(np.asarray(key.direction), grid.n, e), source="shadow length")
    key.why += f"; elevation {e:.0f} deg: {len(lows)} occluder(s)' height (or what the frames show of it) over shadow length"


def short_shadows_readable(key: KeyEstimate) -> bool:
    """Whether the short shadows at the occluders' feet may bound the key's elevation from below
    (``elevation.short_shadows_elevation``): under a clear sky, where they are sky-lit
    (``key.sky_shadow_cells``), and the key's shadows are the sky's (its shade sky-blue) or leave
    the product in the sun. Read off a darker material's bands, a key that put the product "in
    a cast shadow" kept it once its elevation was known, and the bands' shadow map darkened it."""
    return key.clear_sky and (key.shade_blue >= SKY_BLUE_MIN or not key.product_in_shadow)


BOUND_SLACK = 0.5
"""An occluder's bound on the elevation gives way to the ground's lit/shadow ratio
(``key.least_elevation_deg``) where it is under this share of what the ratio needs: sun_high
seed 148, a high sun's band from a tall occluder out of view ran past a 0.7 m object's foot and
out of the frames, bounding the sun to 7 degrees against the truth's 64 (its ratio, 4.28, needs
21); the product was lit 2.2x the truth from the side. The slack is for a dark material read as
shadow, which raises the ratio, and for skies bluer than MAX_SUN_SKY's."""
BOUND_NOTE = "the long shadow is an unseen occluder's, crossing a short one's foot"


def dark_above(horizon: float | None, key: KeyEstimate) -> bool:
    """Whether the frames saw above the horizon and it was no daylight sky (walls, a night sky):
    the unseen upper hemisphere is then a room's ceiling or a night, not a sky a sun shines
    through, so the shadows' lit/shadow ratio says nothing of its colour (``sky_from_shadow``
    reads a sun over a blue sky into it). Under a room's ceiling lights the tile mortar's
    ratio read that way made the ceiling a blue sky, and the duck under it green (eval insert
    ceiling sets). Nothing seen above the horizon says nothing either way."""
    seen = _sky_over_ground(horizon, key)
    return seen is not None and not is_daylight(*seen)


def ceiling_lit(horizon: float | None, key: KeyEstimate) -> bool:
    """Whether the frames show a room lit from its unseen ceiling: walls above the horizon darker
    than the floor they face (under WALLS_OVER_FLOOR of it: a window or lamps on the walls light
    them as the floor, 0.85-2.0 on the eval's window rooms; ceiling panels leave them at
    0.59-0.74), and no night sky (darker still). There the light the floor shows comes from
    overhead (``envmap.overhead_cap``). Not under a clear blue daylight sky (key.clear_sky): that
    is no room's wall, however bright the ground under it. Held-out mixed seed 227's sunlit sand,
    brightened further by a lamp's pool (0.73 against the sky's 0.61 at the horizon), read as a
    room's floor under darker walls: its sun was taken away as a ceiling's tiled bands, and the
    glass duck lost 1.6 dB on the product to the paste."""
    seen = _sky_over_ground(horizon, key)
    if seen is None or night_seen(horizon, key) or key.clear_sky:
        return False
    floor = floor_luminance(key.classes)
    return floor > 0 and seen[0] < WALLS_OVER_FLOOR * floor


def night_below(horizon: float | None, far: FarView, key: KeyEstimate) -> bool:
    """Whether frames that show nothing above the horizon show a night below it: their far view
    (walls.py) as dark against the lit ground as a night sky is (key.is_night). The night streets
    that see nothing above the horizon read 0.14-0.24x their floor there, the ceiling rooms
    0.62-0.71x and sunlit ground 0.86 and more. Night s155 of stop 51, a camera looking down on
    lamp-lit asphalt, got a sun of assumed elevation from its lamps' shadows (``key_light``
    places none under a night sky), nor is an elevation read off such shadows (``elevation_readable``)."""
    if horizon is not None or key.classes is None or not key.classes.ground.any():
        return False
    walls = far.luminance()
    return walls is not None and is_night(walls, key.classes)


def one_sun_seen(horizon: float | None, far: FarView, key: KeyEstimate) -> bool:
    """Whether one sun casts the plate's shadows as far as the frames tell: they saw a daylight
    sky above the horizon, or nothing above it and a far view no darker than a sunlit floor's
    (WALLS_OVER_FLOOR; a room lit from its ceiling reads 0.62-0.71x its floor there, sunlit
    ground 0.86x and more: ``ceiling_walls_below``). Under a ceiling's lamps each shadow has its
    own light: ceiling seed 237's key turned round by its occluders' shadows lit the duck from
    the wrong side, -3.7 dB."""
    if horizon is not None:
        return daylight_seen(horizon, key)
    walls = far.luminance()
    floor = floor_luminance(key.classes) if key.classes is not None else 0.0
    return walls is not None and floor > 0 and walls >= WALLS_OVER_FLOOR * floor


def ceiling_walls_below(horizon: float | None, far: FarView, key: KeyEstimate) -> np.ndarray | None:
    """The walls' colour where the frames show nothing above the horizon and their far view
    (walls.py) says a room lit from its ceiling: walls darker than the floor (under
    WALLS_OVER_FLOOR of it), and no night (key.is_night). None otherwise. Soft light only: the
    ceiling rooms made at stop 52 that see nothing above the horizon read 0.62-0.71x the floor
    there, while sunlit sand and tiles seen the same way read 0.86-1.13x, too near to let the
    far view take a hard key away; for soft light it only gathers the unseen light overhead
    (``envmap.overhead_cap``): +2.9 / +2.5 dB (insert / product) on those six rooms, every one
    up, where the uniform dome had lit the duck from every side at once. A hard key lower than a
    ceiling's lamps stand (``low_key``) is no such key, and the far view judges it too: where it
    says a ceiling's room the key is dropped (LOW_KEY_UNDER_CEILING). Only here, where the eval's
    sunlit ground reads 0.86x the floor and more: what the frames see above the horizon darker
    than a sunlit floor (``ceiling_lit``) is as often a street's buildings or trees under a low
    sun."""
    if horizon is not None or (key.hard and not low_key(key)) or key.classes is None or is_vegetation(np.asarray(key.ground_rgb)):
        return None
    walls, rgb = far.luminance(), far.rgb()
    floor = floor_luminance(key.classes)
    if walls is None or rgb is None or floor <= 0 or is_night(walls, key.classes) or walls >= WALLS_OVER_FLOOR * floor:
        return None
    return rgb


ROOM_SHADOWS_MAX = 1
"""Most elongated shadows a hard key may rest on in a room (``one_shadow_in_a_room``)."""
ROOM_NOTE = ("no hard key from one shadow in a room (walls lit like the floor, no sky's blue above the horizon): a sun through a "
             "window burns a patch far over the room's light and throws many edges; one darker strip is a window's or a "
             "lamp's soft shadow read narrow near its occluder (eval insert interior seed 144)")


LOW_LAMP_UNDER_CEILING = ("under a room's ceiling lights (walls darker than the floor: the light is overhead; a pool fitted, "
                          "R2 {r2:.2f}: the floor's pattern)")
LOW_LAMP_IN_WINDOW_ROOM = ("in a room whose walls are lit like its floor (a pool fitted, R2 {r2:.2f}, low and far: its height is "
                           "the fit's least certain; the same pool is no window's slope either)")
"""Why a lamp fitted under CEILING_LAMP_MIN_DEG from the product is refused, by room: lit from
its ceiling (``ceiling_lit``), or lit like a window's (``window_room``: interior seed 146 and
ceiling seed 134, a lamp 15-20 degrees up lit the duck from the side 2-5 dB under the paste; its
pool then makes no slope window either)."""


def one_shadow_in_a_room(horizon: float | None, key: KeyEstimate, above_rgb: np.ndarray | None) -> bool:
    """Whether a hard key rests on ROOM_SHADOWS_MAX elongated shadows or fewer where the frames
    show a room: what they see above the horizon is lit like the floor (window.walls_above) and
    has no open sky's blue (window.sky_above), by no night. Interior seed 144's window, an area
    light 2.6 m off, threw one shadow 12 cm wide at its occluder's foot (a sun's bound is 13):
    a sun from an assumed elevation, 117 degrees from the window, lit the duck 2.4x the truth.
    The real clips' suns rest on 3 and 7 shadows (lady, bear: trees and facades above)."""
    return key.elongated <= ROOM_SHADOWS_MAX and window_room(horizon, key, above_rgb)


def window_room(horizon: float | None, key: KeyEstimate, above_rgb: np.ndarray | None) -> bool:
    """Whether the frames show a room lit like a window's: what they see above the horizon is
    lit like the floor (window.walls_above), with no open sky's blue (window.sky_above), by no
    night."""
    if not walls_above(horizon, key.classes) or night_seen(horizon, key):
        return False
    return above_rgb is not None and not sky_above(above_rgb)


def daylight_seen(horizon: float | None, key: KeyEstimate) -> bool:
    """Whether the frames saw a daylight sky above the horizon (key.is_daylight); ``horizon``:
    its median luminance (EnvAccumulator.horizon_luminance)."""
    seen = _sky_over_ground(horizon, key)
    return seen is not None and is_daylight(*seen)


def night_seen(horizon: float | None, key: KeyEstimate) -> bool:
    """Whether the frames saw a night sky above the horizon (key.is_night)."""
    seen = _sky_over_ground(horizon, key)
    return seen is not None and is_night(*seen)


def _sky_over_ground(horizon: float | None, key: KeyEstimate) -> tuple[float, GroundClasses] | None:
    """(what the frames saw above the horizon, the flat ground to compare it with), or None
    when they showed no sky or no flat ground."""
    if horizon is None or key.classes is None or not key.classes.ground.any():
        return None
    return horizon, key.classes


NIGHT_SEEN = "above the horizon the frames show a night sky, or walls as dark (a few degrees of either look alike)"
NIGHT_NOTE = ("no key light: " + NIGHT_SEEN + ", so the hard shadows are local lamps', near and each from its own side, and a sun "
              "from an assumed elevation would cast the product's shadow where no lamp does (environment only; give --light-dir "
              "or Key From Shadow to place one)")
"""Found on the real judo clip, a gym lit from its ceiling: 7 degrees of dark walls and kit above
the horizon at 0.18 of the lit mat read as a night, and the note spoke of street lamps."""
NIGHT_LAMP_NOTE = ("no local lamp under a night sky (a pool fitted, R2 {r2:.2f}): a street at night is lit by several lamps, "
                   "each from its own side, and one lamp fitted to their pools lights the product from one side only "
                   "(environment only; give --light-dir or Key From Shadow to place one)")
"""Why no lamp is fitted to the ground's pools by night. On the night truth sets (three lamps 1.4-2.4 m
off, 2.2 m up) every lamp the pool fit placed lit the metal duck from one side, dark, with one hard
shadow, where the truth's is bright with a highlight from each lamp: seeds 156, 159 and 181 (R2
0.59-0.81) scored +1.40 dB on the product over the paste with the lamp and +4.22 without it (learned
composite; insert +1.48 and +4.20). Fitting on a ground smoothed over 25 cm (the asphalt's grain
out) placed a lamp on eight more night sets (R2 0.71-0.94), and on the four measured (seeds 190,
191, 208, 209) the product lost 1.3-3.5 dB to the environment alone: a better fit of one lamp is
not the cure; the environment (the lit ground round the product) is nearer the truth. The same
reason as NIGHT_NOTE's for a hard key.

Stop 65 measured what the lamps are worth and how exactly they must stand: the truth's three
lamps added to the estimate, its sky above the horizon at a tenth, lifted night seeds 245 and 247
from +3.35 / +4.78 dB (insert, learned composite) to +11.22 / +13.10; the same lamps turned 20
degrees round the product (about 0.6 m) scored +3.44 / +5.32, turned 60 degrees +0.13 / +0.90,
and 1.5x as high +4.50 / +5.07. Lamps must be placed within a few tenths of a metre, and nothing
read here does that (docs/NUMBERS.md, stop 65): the asphalt's look is the lamps' glossy lobes,
not their pools, and the cameras move too little to triangulate a highlight."""


def walls_seen(horizon: float | None, far: FarView, key: KeyEstimate) -> float | None:
    """Luminance of a room's walls as the frames show them, for ``find_window``: what they see
    above the horizon, else (a camera looking down) their far view (walls.py), but only where
    the plate's shadow edges read soft (key.soft_edges: a large source, as a window is). Sunlit
    tiles banded with a darker material read far ground 1.13x the floor, as a room's walls do,
    and brighten 1.11x a metre across the view (sun_high seed 150): a window there would light
    the duck from the side under a sun whose shadows are hard. Nor over vegetation: a lawn seen
    far off is its own blades edge-on, brighter (the real dog-lawn clip, looking down at grass
    under soft light: far grass 2.25x the near, and a window lit the dog's lawn)."""
    if horizon is not None:
        return horizon
    if not soft_edges(key) or is_vegetation(np.asarray(key.ground_rgb)):
        return None
    return far.luminance()


CEILING_LAMP_MIN_DEG = 30.0
"""Lowest a local source may be seen from the product in a room lit from its ceiling
(``ceiling_lit``): a ceiling light 2.4 m up or more and within 4 m is 31 degrees up or more. A
pool fitted lower and farther is the floor's pattern, and its lamp lit the product from the side,
bright and saturated (eval insert ceiling seed 111: 1.1 m up, 3.0 m off, 20 degrees, 64% of the
light; held-out s124 of stop 44: 1.5 m up, 3.6 m off, 23 degrees, 67%). A standing lamp beside
the product is seen high and stays."""


def low_key(key: KeyEstimate) -> bool:
    """Whether a hard key stands lower than CEILING_LAMP_MIN_DEG: no room's ceiling light."""
    return key.hard and key.elevation_deg is not None and key.elevation_deg < CEILING_LAMP_MIN_DEG


LOW_KEY_UNDER_CEILING = ("no hard key under a room's ceiling lights (walls beyond the floor darker than it): its shadows read a "
                         "light {deg:.0f} deg up, lower than a ceiling's lamps stand "
                         f"({CEILING_LAMP_MIN_DEG:g} deg)")
"""Found on held-out ceiling seed 229 (its cameras see nothing above the horizon; the far view
0.63x the floor, as the eval's ceiling rooms read 0.62-0.71x and sunlit ground 0.86-1.28x): one
occluder's "shadow" measured a sun 11 degrees up, strength 11 against an ambient of 2.7, and the
duck was lit flat and bright from the side: -2.80 / -4.02 dB against the paste."""


CEILING_NOTE = ("no hard key under a room's ceiling lights: its shadows' elevation was only assumed, and the \"shadows\" of "
                "such a room are mostly a tiled floor's bands; a sun there lit the product from the side and read the room's "
                "light off the darker bands (eval insert ceiling seed 111)")


def key_refused(key: KeyEstimate, night: bool = False) -> str | None:
    """Why ``key_light`` places no key ("" where there is none to place), or None where it places one."""
    if not key.hard or key.direction is None:
        return ""
    if night and key.elevation_source == "assumed":
        return NIGHT_NOTE
    if key.product_in_shadow and key.elevation_source == "assumed":
        return ("no key light: the product stands in the plate's cast shadow, and with the key's elevation assumed "
                "the shadows cannot say which parts of it the key still reaches (sky and bounce light only)")
    return None


def key_light(key: KeyEstimate, ambient: np.ndarray, night: bool = False) -> tuple[Light | None, list[float], str]:
    """The key as a Blender sun (None without a hard key), the plate's shadow/lit ratio per
    channel, and a note. Under a night sky (``night``) a hard key of assumed elevation is not
    placed: a lamp's light comes from a different side for every point of the street, and a
    sun from the shadows' mean azimuth at 45 degrees lit the product where the lamps did not
    (eval insert night seeds 15 and 16, classical: +0.1 and +1.3 dB on the insert without it;
    the night-street clip's lamps and shop fronts made a hard sun over a dark sky). Strength
    and colour: lit = ambient + key sin(elevation), shadow = ambient, per channel. A product
    standing in the plate's cast shadow keeps its key only when the elevation was measured: the
    shadow map (key_shadow.py) then says which parts of it the key still reaches, and the key
    casts no second shadow on ground already shadowed."""
    refused = key_refused(key, night)
    if refused is not None:
        return None, [], refused
    assert key.direction is not None  # key_refused refuses a key without one
    lit, sh = np.asarray(key.lit_rgb), np.maximum(np.asarray(key.shadow_rgb), 1e-4)
    light = sun_for_ratio(lit / sh, ambient, key.direction, math.sin(math.radians(key.elevation_deg or 40.0)), key.angle_deg,
                          shadow=not key.product_in_shadow)
    strength = light.intensity
    ratio = shadow_density(lit / sh)
    note = (f"key: elevation {key.elevation_deg:.0f} deg ({key.elevation_source}), lit/shadow {key.ratio:.2f}, strength {strength:.2f}, "
            f"angle {key.angle_deg:.1f} deg")
    if key.product_in_shadow:
        note = "the product stands in the plate's cast shadow: the key reaches it only where the plate's shadows let it; " + note
    return light, ratio, note


def window_light(window: Window, ambient: np.ndarray, normal: np.ndarray) -> tuple[Light, list[float], str]:
    """A window (window.py) as a wide, soft sun from its side (its ``angle_deg``), as strong as its
    lit/shadow ratio under the whole window says (then lit = ambient + key sin(elevation), as
    ``key_light``); it casts the product's shadow at that ratio's density."""
    light = sun_for_ratio(window.ratio, ambient, window.direction, float(window.direction @ np.asarray(normal, np.float64)), window.angle_deg)
    return light, shadow_density(window.ratio), f"{window.why}, strength {light.intensity:.2f}"


def unplaced_key(key: KeyEstimate, ambient: np.ndarray, lights: list[Light]) -> dict:
    """The key the plate measured but could not direct, for the panel's Key From Shadow to
    place (shotcache/key_strength.py): its lit/shadow ratio, the ambient it adds to and its
    size. Empty when a light was placed, or nothing was measured, or the product stands in
    the plate's shadow (a key there needs the shadow map, which a direction given before the
    estimate brings: --key-from-shadow)."""
    if lights or not key.measured or key.product_in_shadow:
        return {}
    ratio = np.asarray(key.lit_rgb) / np.maximum(np.asarray(key.shadow_rgb), 1e-4)
    return {"ratio": ratio.tolist(), "ambient": np.asarray(ambient, np.float64).tolist(), "angle_deg": measured_angle_deg(key)}


def uses_shadow_map(key: KeyEstimate, sun: Light) -> bool:
    """Whether the plate's shadows shade the product (key_shadow.py): when it stands in them
    under a measured key (its key casts no shadow), and when a shadow's edge crosses its body
    under a measured or given key (it casts its own shadow, faded where the plate's ground is
    already shadowed). Not for a product in the light: a darker band of ground the map reads as
    shadow (another material, a low occluder's shadow) darkened the product and faded its
    shadow, which measured worse (eval insert sun_high seed 0: -0.8 dB on the product); nor
    with the elevation assumed, where the map's projection lands in the wrong place; nor for a
    key the plate's shadows did not make on their own (the demo's checkered floor, read as a
    soft light's shadows, shaded its product)."""
    return not sun.shadow or (key.product_partly_in_shadow and key.elevation_source != "assumed" and not key.promoted)


GROUND_ALBEDO_MAX = 0.9
"""Most albedo a ground may be read at (fresh snow); beyond it the estimate's light, not the
ground, is wrong."""


def capped_on_banded_ground(capped_env: np.ndarray, key: KeyEstimate, n: np.ndarray) -> bool:
    """Whether the clear sky in view bounds the unseen sky (``capped_env``) on ground banded with a
    darker material, where the key waits for a direction: only where the ground then asks for
    more light than that sky gives, which the sun overhead takes (``sun_unseen_under_clear_sky``).
    Read off the sand over the albedo prior, mixed 316's sky lit its glass duck white (upper
    irradiance 6.2 where the truth's sky gives 1.3; capped: +2.76 / +6.58 dB, insert / product);
    where the capped sky explains the ground, held-out sun_high 335 lost 2.9 / 3.4 dB with it:
    the sun's light is then in the sky as read, and nowhere else."""
    return exposure_from_ground(np.asarray(key.ground_rgb), upper_irradiance(capped_env, n)) > 1.0


OVERHEAD_FOR_RAISE_NOTE = ("a sun overhead of {strength:.2f}: the clear sky the frames show lights the ground they show only at "
                           "an albedo of {albedo:.2f}; the rest is a sun's whose shadows gave no direction (straight up, assumed), "
                           "not a brighter sky")


def sun_unseen_under_clear_sky(horizon: float | None, key: KeyEstimate, lights: list[Light], window: Window | None) -> bool:
    """Whether the light the ground shows beyond what the sky gives (``exposure_from_ground``)
    is a sun's: read as soft light (no key or window placed; ``lights``: those placed other
    than a lamp whose pool lies on day-lit ground, ``lamp_by_day``) under a clear blue
    daylight sky the frames show, which bounds the unseen sky (``daylight_ceiling``). No sky
    is brighter than the one in view, and the ground is too bright for any albedo under it, so
    a sun lights it whose shadows were too faint for a key (a lamp's pool filling them: mixed
    light, lit/shadow 1.48-1.49). Raised as a whole instead, the sky came out twice the truth's,
    and a glass product, which shows the sky itself, refracted it white (eval insert
    mixed_sand_glass 302 and 311: product -4.7 and -6.7 dB against the naive paste)."""
    return not lights and window is None and not key.hard and key.clear_sky and daylight_seen(horizon, key)


def lamp_by_day(lamp: local_source.LocalSource | None, window: Window | None, key: KeyEstimate) -> bool:
    """Whether a lamp placed off its pool (no key, no window) lies on ground under the clear
    blue sky the frames show (``key.clear_sky``; daylight is the caller's to judge): the ground
    beyond its pool is lit by that sky and, unseen in its shadows, a sun. The unseen sky is then
    read as without a lamp: in the seen sky's blue, no brighter than it, and a sun overhead where
    the ground asks for more (``sun_unseen_under_clear_sky``). Read off that ground as if the
    sky alone lit it, the sky came out 2.3-2.9x the truth's and grey, and the glass duck
    refracted it white (eval insert mixed_sand_glass 374 and 392, product -2.5 and -5.8 dB
    against the naive paste)."""
    return lamp is not None and window is None and not key.hard and key.clear_sky


def overhead_sun_for(k: float, ambient: np.ndarray, n: np.ndarray, key: KeyEstimate) -> Light:
    """A sun straight up (``n``) adding (k - 1) x the sky's irradiance ``ambient`` on the ground,
    so sky and sun light it k times the sky alone: the raise ``exposure_from_ground`` asks for.
    Straight up because nothing gave its azimuth (as ``key.take_overhead_sun``); as wide as
    the plate's measured shadow edges say; white, as daylight's sun is near enough, where the
    sky's blue tint times k would make a blue sun."""
    strength = (k - 1.0) * float(np.asarray(ambient, np.float64) @ LUMA)
    angle = measured_angle_deg(key) if key.measured else OVERHEAD_ANGLE_DEG
    return Light(type="sun", direction=[float(v) for v in np.asarray(n, np.float64)], color=[1.0, 1.0, 1.0], intensity=strength,
                 angle_deg=float(angle), shadow=True)


OVERHEAD_ANGLE_DEG = 3.0
"""The overhead sun's size where no shadow edge was measured: a sun's with a little haze."""


def implied_albedo(radiance: np.ndarray, ambient: np.ndarray) -> float:
    """The albedo (luminance) a Lambertian ground lit by ``ambient`` alone must have to send the
    ``radiance`` the plate shows: pi L / E; 0 where either is empty."""
    r, e = float(np.asarray(radiance, np.float64) @ LUMA), float(np.asarray(ambient, np.float64) @ LUMA)
    return math.pi * r / e if r > 0 and e > 1e-6 else 0.0


def exposure_from_ground(radiance: np.ndarray, ambient: np.ndarray) -> float:
    """How many times the whole estimate (environment and lights) is raised so the ground the key
    does not reach (``radiance``) reads at its albedo prior (envmap.albedo_prior) under it; 1
    unless it would read over GROUND_ALBEDO_MAX as estimated. The frames' sky fixes the light's
    level only where it could light the ground they show: beach-sunset's backlit frames (the sun
    at 6 degrees, the clear sky's scale fitted to a sliver of dusk) lit its pebbles' shade as if
    they were albedo 1.9, and the duck came out a dark brown stone beside them. The truth sets
    read 0.2-0.69 (seeds 40-99) and the other real clips 0.07-0.49: untouched. Held-out room s105
    read 1.79 under a bright wall taken for the sun in view: raised 5.1x, +4.7 dB."""
    implied = implied_albedo(radiance, ambient)
    return implied / raised_albedo(implied, albedo_prior(np.asarray(radiance, np.float64))) if implied > GROUND_ALBEDO_MAX else 1.0


ALBEDO_FULL_DOUBT = 1.5
"""A ground read at this many times GROUND_ALBEDO_MAX (1.35) or more says the estimate's level is
wrong outright: the albedo prior then sets the exposure in full (held-out room s105's 1.79,
beach-sunset's 1.7-1.9)."""


def raised_albedo(implied: float, prior: float) -> float:
    """The albedo the raised estimate reads the ground at: GROUND_ALBEDO_MAX where it only just
    reads over it, the prior from ALBEDO_FULL_DOUBT times over on, geometrically between. Going
    straight to the prior, a ground at 0.91 raised the light 2.6 times and one at 0.89 not at all:
    the real hotel-corridor clip's dim room (1.03, its walls and window seen) was raised 2.9x
    and its duck glowed against the dim carpet."""
    doubt = min(1.0, math.log(implied / GROUND_ALBEDO_MAX) / math.log(ALBEDO_FULL_DOUBT))
    return GROUND_ALBEDO_MAX * (min(prior, GROUND_ALBEDO_MAX) / GROUND_ALBEDO_MAX) ** max(doubt, 0.0)


def ground_albedo(radiance: np.ndarray, ambient: np.ndarray) -> list[float]:
    """Albedo that makes a Lambertian ground lit by the environment alone (``ambient``, its
    irradiance) send the ``radiance`` the plate shows where only the environment lights it
    (the key's shadow, or all the ground under a soft light): albedo = pi L / E. Under the key
    too, the key's strength (lit/shadow - 1) x ambient brings it to the plate's lit level.
    Empty when the plate gave no ground."""
    r, e = np.asarray(radiance, np.float64), np.asarray(ambient, np.float64)
    if not (r > 0).any() or not (e > 1e-6).all():
        return []
    return np.clip(math.pi * r / e, 0.02, GROUND_ALBEDO_MAX).tolist()


def _reduced(path: Path) -> np.ndarray:
    img = read_linear(path)
    h, w = img.shape[:2]
    if w > WORK_WIDTH:
        img = cv2.resize(img, (WORK_WIDTH, round(h * WORK_WIDTH / w)), interpolation=cv2.INTER_AREA)
    return img


def estimate_shot(shot_dir: str | Path) -> dict:
    """Estimate the light of a set-up shot and record it (light/env.exr + shot.json)."""
    t0 = time.perf_counter()
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    frames = sample_frames(shot.frames)
    m = np.asarray(shot.product.matrix_world, np.float64)
    images = ((_reduced(paths.plate_frame(f)), shot.camera.frames[f]) for f in frames)
    given = shot.lighting.lights if not shot.lighting.estimated and shot.lighting.method != "plate" else []
    env_map, key, lighting = estimate_light(images, m[:3, 3], np.asarray(shot.ground.point), np.asarray(shot.ground.normal),
                                            given_direction=list(given[0].direction) if given else None)
    if given:  # a key direction the artist (--light-dir) or the track gave wins over ours
        if not key.hard:  # the plate showed no hard key: the given light is the key, as given
            lighting.lights = [given[0]]
        lighting.notes += "; key direction as given" + (f" ({shot.lighting.notes})" if shot.lighting.notes else "")
    write_rgb(paths.root / ENV_FILE, env_map)
    lighting.environment = ENV_FILE
    if key.shadow_map is not None and lighting.lights and lighting.lights[0].type == "sun" and uses_shadow_map(key, lighting.lights[0]):
        lighting.key_shadow = key_shadow.save(paths.root, key.shadow_map)
    shot.lighting = lighting
    paths.save_shot(shot)
    return {"seconds": time.perf_counter() - t0, "frames_used": len(frames), "hard_key": key.hard, "notes": lighting.notes,
            "lights": [l.__dict__ for l in lighting.lights], "canopy": key.canopy,
            "vegetation": is_vegetation(np.asarray(key.ground_rgb))}
