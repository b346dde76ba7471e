"""Render a shot lit by the light estimated from its own plate.

Three steps, because the estimate (ml/light: numpy + OpenCV) runs outside Blender: the
Blender ``render`` step sets the shot up without rendering (plate decoded, camera baked,
product placed, shot.json written), ml.light.shot records the light in shot.json (with its
environment map), and ``render-shot`` renders with it. ``light="legacy"`` is the single
Blender step of before (plate mean + a sun through the brightest block), kept for comparison.
``light="shot"`` renders with the light the shot folder already records (an artist's edit in
the panel's Light box, method ``user``): the set-up step's own estimate is replaced by it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from shotcache.errors import UsageError

from shotcache.layout import ShotPaths
from shotcache.schema import Lighting, SchemaError

from .blender import PREFIX, run_batch

LIGHT_CHOICES = ("plate", "legacy", "shot")
"""--light of `vanelia run` / `vanelia render`: estimated from the plate, the legacy sun, or
the shot folder's recorded light (the artist's)."""


def render_shot_lit(render_args: list[str], shot_dir: Path, light: str = "plate", blender: str | None = None,
                    log: Callable[[str], None] = print, ray: str | None = None) -> dict | None:
    """Run the Blender render of ``render_args`` (the `render` step's) with the chosen light;
    with ``ray`` the frames render as Blender tasks on that Ray cluster (farm.ray)."""
    if light not in LIGHT_CHOICES:
        raise UsageError(f"--light {light!r}: choose {' or '.join(LIGHT_CHOICES)}")
    if light == "legacy" and not ray:
        run_batch("render", render_args, blender=blender)
        return None
    kept = recorded_light(shot_dir) if light == "shot" else None
    run_batch("render", [*render_args, "--setup-only"], blender=blender)
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
    if ray:
        from farm.ray.runner import render_shot

        render_shot(ray, shot_dir, blender=blender)
    else:
        args = ["--shot", str(shot_dir)] + (["--force"] if "--force" in render_args else [])
        run_batch("render-shot", args, blender=blender)
    return info


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
