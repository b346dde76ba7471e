"""Render a shot lit by the light estimated from its own plate.

Three steps, because the estimate (ml/light: numpy + OpenCV) runs outside Blender: the
Blender ``render`` step sets the shot up without rendering (plate decoded, camera baked,
product placed, shot.json written), ml.light.shot records the light in shot.json (with its
environment map), and ``render-shot`` renders with it. ``light="legacy"`` is the single
Blender step of before (plate mean + a sun through the brightest block), kept for comparison.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from shotcache.errors import UsageError

from .blender import PREFIX, run_batch

LIGHT_CHOICES = ("plate", "legacy")


def render_shot_lit(render_args: list[str], shot_dir: Path, light: str = "plate", blender: str | None = None,
                    log: Callable[[str], None] = print, ray: str | None = None) -> dict | None:
    """Run the Blender render of ``render_args`` (the `render` step's) with the chosen light;
    with ``ray`` the frames render as Blender tasks on that Ray cluster (farm.ray)."""
    if light not in LIGHT_CHOICES:
        raise UsageError(f"--light {light!r}: choose {' or '.join(LIGHT_CHOICES)}")
    if light == "legacy" and not ray:
        run_batch("render", render_args, blender=blender)
        return None
    run_batch("render", [*render_args, "--setup-only"], blender=blender)
    info = None
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
