"""Render a shot lit by the light estimated from its own plate.

Three steps, because the estimate (ml/light: numpy + OpenCV) runs outside Blender: the
Blender ``render`` step sets the shot up without rendering (plate decoded, camera baked,
product placed, shot.json written), ml.light.shot records the light in shot.json (with its
environment map), and ``render-shot`` renders with it. ``light="legacy"`` is the single
Blender step of before (plate mean + a sun through the brightest block), kept for comparison.
``light="shot"`` renders with the light the shot folder already records (an artist's edit in
the panel's Light box, method ``user``): the set-up step's own estimate is replaced by it.

The camera's motion blur goes the same way: a shutter the artist gives (``--motion-blur``) is
passed to the set-up step; by default ("auto") it is measured from the plate's own motion blur
(ml.camera.shutter) between the set-up and the render, and recorded in shot.json. So is how
much softer each plate frame is than the sharpest where the product stands (a handheld
camera's blur comes and goes: ml.camera.frame_blur), which the compositor adds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from shotcache.errors import UsageError

from shotcache.layout import ShotPaths
from shotcache.schema import MOTION_BLUR_EDITED, Lighting, SchemaError

from .blender import PREFIX, run_batch

MOTION_BLUR_AUTO = "auto"
MAX_SHUTTER = 2.0
"""A longer shutter than two frames is no video camera's: a typo, refused."""

LIGHT_CHOICES = ("plate", "legacy", "shot")
"""--light of `vanelia run` / `vanelia render`: estimated from the plate, the legacy sun, or
the shot folder's recorded light (the artist's)."""


def parse_motion_blur(value: str | float | None) -> float | None:
    """--motion-blur: 'auto' or None -> None (measured from the plate), 'off' -> 0, else a
    shutter in frames (0.5 = 180 degrees) between 0 and MAX_SHUTTER."""
    if value is None or (isinstance(value, str) and value.strip().lower() == MOTION_BLUR_AUTO):
        return None
    if isinstance(value, str) and value.strip().lower() == "off":
        return 0.0
    try:
        shutter = float(value)
    except ValueError:
        raise UsageError(f"--motion-blur {value!r}: give auto (measured from the plate), off, or a shutter in frames "
                         "such as 0.5 (a 180-degree shutter)") from None
    if not 0.0 <= shutter <= MAX_SHUTTER:
        raise UsageError(f"--motion-blur {value!r}: a shutter is 0 to {MAX_SHUTTER:g} frames (0.5 = 180 degrees)")
    return shutter


def render_shot_lit(render_args: list[str], shot_dir: Path, light: str = "plate", blender: str | None = None,
                    log: Callable[[str], None] = print, ray: str | None = None, motion_blur: float | None = None,
                    should_stop: Callable[[], bool] | None = None, before_render: Callable[[], None] | None = None,
                    ground_cover: float | None = None) -> dict | None:
    """Run the Blender render of ``render_args`` (the `render` step's) with the chosen light;
    with ``ray`` the frames render as Blender tasks on that Ray cluster (farm.ray).
    ``motion_blur``: the shutter in frames, None to measure it from the plate (not with the
    legacy light, which renders in one step: off unless given). ``should_stop``: a cancelled
    job's test, handed to each Blender step (app.blender.run_batch). ``before_render``: called
    once the shot is set up and lit, before the frames render (the lock QC, which needs no
    render: app.qc.lock_gate); not with the legacy light, set up and rendered in one step.
    ``ground_cover``: the grass's height round the product (metres, shot.json ground.cover_m);
    None keeps what the shot folder records (an earlier run's, the panel's), else bare ground."""
    if light not in LIGHT_CHOICES:
        raise UsageError(f"--light {light!r}: choose {' or '.join(LIGHT_CHOICES)}")
    if motion_blur is not None:
        render_args = [*render_args, f"--motion-blur={motion_blur!r}"]
    cover = recorded_cover(shot_dir) if ground_cover is None else ground_cover
    if cover > 0:
        render_args = [*render_args, f"--ground-cover={cover!r}"]
        log(f"{PREFIX} ground cover {cover:g} m: the product's base is hidden in it up to about that height")
    if light == "legacy" and not ray:
        run_batch("render", render_args, blender=blender, should_stop=should_stop)
        return None
    kept = recorded_light(shot_dir) if light == "shot" else None
    edited = edited_motion_blur(shot_dir) if motion_blur is None else None
    run_batch("render", [*render_args, "--setup-only"], blender=blender, should_stop=should_stop)
    info = None
    if kept is not None:
        paths = ShotPaths(shot_dir)
        shot = paths.load_shot()
        shot.lighting = kept
        paths.save_shot(shot)
        log(f"{PREFIX} light as recorded in {paths.shot_json} (method {kept.method}): {len(kept.lights)} light(s)")
    if light == "plate":
        from ml.light.shot import estimate_shot

        info = estimate_shot(shot_dir)
        log(f"{PREFIX} light from the plate in {info['seconds']:.1f}s: {info['notes']}")
        if hint := ground_cover_hint(bool(info.get("canopy")), cover, vegetation=bool(info.get("vegetation"))):
            log(f"{PREFIX} {hint}")
    if edited is not None and light != "legacy":
        _set_motion_blur(shot_dir, *edited)
        log(f"{PREFIX} motion blur as recorded in the shot folder ({edited[1]}); --motion-blur auto measures it again only "
            "in a fresh shot folder, give --motion-blur to change it")
    elif motion_blur is None and light != "legacy":
        from ml.camera.shutter import estimate_shot as estimate_shutter

        shutter = estimate_shutter(shot_dir)
        log(f"{PREFIX} motion blur from the plate in {shutter['seconds']:.1f}s: {shutter['why']}")
    elif motion_blur is not None:
        _note_given_shutter(shot_dir, motion_blur)
    if light != "legacy":
        from ml.camera.frame_blur import estimate_shot as estimate_frame_blur

        fb = estimate_frame_blur(shot_dir)
        log(f"{PREFIX} per-frame blur at the product in {fb['seconds']:.1f}s: {fb['note']}")
    if before_render is not None:
        before_render()
    if ray:
        from farm.ray.runner import render_shot

        render_shot(ray, shot_dir, blender=blender, should_stop=should_stop)
    else:
        args = ["--shot", str(shot_dir)] + (["--force"] if "--force" in render_args else [])
        run_batch("render-shot", args, blender=blender, should_stop=should_stop)
    return info


def ground_cover_hint(canopy: bool, cover_m: float, vegetation: bool = False) -> str:
    """What to tell the artist when the plate's ground reads as a canopy of grass (the light
    estimate's ``canopy``) and no ground cover was given: a product stood on the blades' tips
    reads as set on top of them, and the cover, which hides its base among them, was worth 3-5
    dB on the eval insert meadows. Any other green ground (``vegetation``: a lawn, clover) gets
    the milder hint: on dog-lawn the duck sat on the clover, not in it. Its height is the
    artist's (ml/pipeline/ground_cover.py); empty otherwise."""
    if cover_m > 0 or not (canopy or vegetation):
        return ""
    if canopy:
        return ("the ground reads as a canopy of grass blades: give --ground-cover HEIGHT (metres, the blades' height, "
                "e.g. 0.05) so they hide the product's base, as they would hide a real one's")
    return ("the ground is green vegetation (grass, clover): a real product's base would sit among its leaves, not on "
            "them; give --ground-cover HEIGHT (metres, e.g. 0.02-0.03 for a mown lawn) to hide it among them")


def recorded_cover(shot_dir: Path) -> float:
    """The ground cover a shot folder records (0 when there is no readable shot yet): the
    `render` step sets the ground up again from the track, so it is handed on to it."""
    paths = ShotPaths(shot_dir)
    if not paths.shot_json.is_file():
        return 0.0
    try:
        return paths.load_shot().ground.cover_m
    except SchemaError:
        return 0.0


def recorded_light(shot_dir: Path) -> Lighting:
    """The light a shot folder records, for ``--light shot``; checked before any Blender work."""
    paths = ShotPaths(shot_dir)
    if not paths.shot_json.is_file():
        raise UsageError(f"--light shot: {paths.shot_json} does not exist; --light shot re-renders a shot folder "
                         "set up before (give it with --keep / --shot), whose light was edited in the panel")
    try:
        lighting = paths.load_shot().lighting
    except SchemaError as exc:
        raise UsageError(f"--light shot: {paths.shot_json} is not a readable shot ({exc})") from None
    if lighting.environment and not (paths.root / lighting.environment).is_file():
        raise UsageError(f"--light shot: the environment map {paths.root / lighting.environment} recorded in "
                         f"{paths.shot_json} is missing; use --light plate to estimate the light again")
    return lighting


def edited_motion_blur(shot_dir: Path) -> tuple[float, str] | None:
    """The motion blur an artist set in the panel for this shot folder (shutter, note), which a
    re-run with ``--motion-blur auto`` keeps as ``--light shot`` keeps an edited light; None
    when there is none (no shot yet, or a measured or given one)."""
    paths = ShotPaths(shot_dir)
    if not paths.shot_json.is_file():
        return None
    try:
        render = paths.load_shot().render
    except SchemaError:
        return None
    return (render.motion_blur, render.motion_blur_note) if render.motion_blur_note.startswith(MOTION_BLUR_EDITED) else None


def _set_motion_blur(shot_dir: Path, shutter: float, note: str) -> None:
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    shot.render.motion_blur, shot.render.motion_blur_note = float(shutter), note
    paths.save_shot(shot)


def _note_given_shutter(shot_dir: Path, motion_blur: float) -> None:
    _set_motion_blur(shot_dir, motion_blur, f"given: --motion-blur {motion_blur:g}" if motion_blur > 0 else "given: --motion-blur off")
