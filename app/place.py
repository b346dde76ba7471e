"""Placement: where the product stands, on the solved ground inside an area of the frame,
optionally where CLIPSeg finds a text prompt ("grass") inside that area.

Areas are ``shotcache.areas`` (one notation for the CLI, the panel and the sidecar); the
geometry is ml/camera/placement.py, the text-guided pixel ml/camera/text_placement.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from shotcache.areas import PLACEMENT_AREAS
from shotcache.errors import PlacementError, UsageError

from .qc import transforms_file
from .stages import resolve_device

Log = Callable[[str], None]


def _frame_image(plate: Path, frames: list[int], ref: int) -> Any:
    from ml.io.images import frame_number, list_frames, read_rgb8
    from ml.io.video import iter_frames

    if plate.is_dir():
        files = list_frames(plate)
        by_num = {frame_number(f, i + 1): f for i, f in enumerate(files)}
        return read_rgb8(by_num.get(ref, files[min(len(files) - 1, frames.index(ref))]))
    return next(img for i, img in enumerate(iter_frames(plate), start=1) if i == ref)


def text_guided_pixel(plate: Path, camera: Path, prompt: str, area: str, clipseg: Path | None, device: str,
                      log: Log) -> str:
    """The pixel 'x,y' of the track's reference frame where CLIPSeg finds ``prompt`` inside
    ``area``; the ground under it is where the product stands."""
    from ml.camera.solve import read_solve
    from ml.camera.text_placement import text_guided_placement
    from ml.diffuse.segment import Segmenter
    from ml.stages.base import EngineError

    path = transforms_file(camera)
    if path is None:
        raise UsageError(f"--place-prompt needs a camera solved by `vanelia track` (a transforms.json); {camera} is not one")
    frames = sorted(read_solve(path).cameras)
    ref = frames[len(frames) // 2]
    image = _frame_image(plate, frames, ref)
    try:
        seg = Segmenter(clipseg, resolve_device(device))
        found = text_guided_placement(seg, image, prompt, area if area in PLACEMENT_AREAS else "full")
    except EngineError as exc:
        raise UsageError(f"--place-prompt {prompt!r}: {exc}") from None
    log(f"[vanelia] run: '{prompt}' found at pixel ({found.x}, {found.y}) of frame {ref} (score {found.score:.2f})")
    return f"{found.x + 0.5},{found.y + 0.5}"  # pixel index -> corner-convention centre


def place_product(camera: Path, qc: dict[str, Any], area: str | None, required: bool, log: Log,
                  footprint: tuple[float, float] | None = None) -> list[list[float]] | None:
    """The product's matrix_world on the solved ground inside ``area`` of the frame, or None.

    Uses the placement already in the track's QC (chosen by `vanelia track --place`) when
    no other area is asked for, else chooses one on the track (the world must be levelled,
    ground z = 0, as `vanelia track` leaves it). ``footprint``: the product's (radius, height)
    in metres (``product_footprint``); without it a 0.3 m product's. ``required`` (the user
    asked with --place): a placement that can't be made is an error; otherwise the best spot
    anywhere in view is taken with a warning, and where there is none the product is too big
    for the shot: an error naming --product-size. A camera without a levelled ground gets the
    render's default placement (on the ground at the view centre, blind to what stands there).
    """
    from ml.camera.placement import DEFAULT_HEIGHT_M, DEFAULT_RADIUS_M, choose_placement
    from ml.camera.solve import read_solve

    given = qc.get("placement") if isinstance(qc.get("placement"), dict) else None
    if given and "matrix_world" in given and (area is None or given.get("area") == area):
        log(f"[vanelia] run: product placed at {_fmt(given.get('point'))} (placement from {camera.name})")
        return given["matrix_world"]
    if area is None:
        return None
    path = transforms_file(camera)
    if path is None:
        raise UsageError(f"--place needs a camera solved by `vanelia track` (a transforms.json); {camera} is not one")
    levelled = "ground" in qc or qc.get("tracker") == "static"  # a static camera is set up over z = 0
    if not levelled:
        if not required:
            log("[vanelia] run: the solved world has no ground plane; the product stands at the centre of the view")
            return None
        log(f"[vanelia] run: note: {path} was not levelled by `vanelia track`; --place assumes its ground is the plane z = 0")
    moving = qc.get("moving_masks", {}).get("coverage") if isinstance(qc.get("moving_masks"), dict) else None
    radius, height = footprint or (DEFAULT_RADIUS_M, DEFAULT_HEIGHT_M)
    solve = read_solve(path)
    try:
        chosen = choose_placement(solve, area, radius=radius, height=height, moving=moving)
    except PlacementError as exc:
        if required:
            raise PlacementError(f"{exc} (camera {path})") from None
        try:
            chosen = choose_placement(solve, "full", radius=radius, height=height, moving=moving)
        except PlacementError:
            # nowhere in view keeps it in frame: not a spot to fall back to, a product too big for
            # the shot (a model in other units, a life-size one): the centre of the view cut it
            # off in every frame of dog-lawn (a 1.65 m duck, exit 0)
            raise PlacementError(
                f"{exc}; no spot anywhere in the view keeps the product ({2 * radius:.2g} m across, {height:.2g} m tall as "
                "it will be rendered) wholly in frame for a quarter of the shot: it is too big for this shot (glTF units "
                "are metres: a model made in other units?) or the camera turns too far. Give --product-size (its largest "
                "side in metres, e.g. 0.3), --frames for a shorter part, or --product-matrix to stand it by hand") from None
        log(f"[vanelia] run: WARNING: {exc}; the product stands at the best spot in the whole view instead")
        area = "full"
    log(f"[vanelia] run: product placed at {_fmt(chosen['point'])} on the ground, pixel {_fmt(chosen['pixel'])} "
        f"of frame {chosen['ref_frame']} ({area})")
    if chosen.get("warning"):
        log(f"[vanelia] run: WARNING: {chosen['warning']}")
    return [list(map(float, row)) for row in chosen["matrix_world"]]


def _fmt(vals: Any) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in vals) + ")" if vals else "?"


def refine_on_plate(plate: Path, camera: Path, matrix: list[list[float]], frame_range: tuple[int, int] | None,
                    max_side: int, log: Log) -> tuple[list[list[float]], str | None]:
    """Check the placement on the plate and stand the product where the plate's own ground
    texture at the spot triangulates, when that is plausible and locks better
    (ml.camera.contact). Returns the matrix and a `--ground` render option for a plane
    through the new spot (so its shadow catcher meets the product), or None when kept."""
    import tempfile

    import numpy as np

    from ml.camera import footage
    from ml.camera.contact import refine_contact
    from ml.camera.solve import STATIONARY_TRACKERS, read_solve

    path = transforms_file(camera)
    if path is None:
        return matrix, None
    solve = read_solve(path)
    if solve.tracker in STATIONARY_TRACKERS:
        return matrix, None  # a camera that does not travel sees no depth: nothing to triangulate
    M = np.asarray(matrix, dtype=np.float64)
    point = np.array([M[0, 3], M[1, 3], 0.0])  # the levelled ground is z = 0
    frames = sorted(solve.cameras)
    with tempfile.TemporaryDirectory(prefix="vanelia-contact-") as tmp:
        imgs = footage.extract_frames(plate, Path(tmp) / "frames", frame_range, max_side=max_side)
        imgs = {f: p for f, p in imgs.items() if f in solve.cameras}
        found = refine_contact(imgs, solve, point, frames[len(frames) // 2])
    log(f"[vanelia] run: contact check on the plate: {found['why']}")
    if not found["used"]:
        return matrix, None
    M[:3, 3] = found["point"]
    ground = ",".join(f"{v:.6g}" for v in [*found["point"], 0.0, 0.0, 1.0])
    return M.tolist(), f"--ground={ground}"


def product_footprint(model: Path, render_extra: list[str], log: Log) -> tuple[float, float] | None:
    """The product's (radius, height) on the ground in metres, for choosing its spot: the
    model's own box (shotcache.gltf_extent), its largest dimension scaled to ``--product-size``
    where the render options give one. None (a 0.3 m product's default) where the model gives
    no box. Why: the spot was chosen for a 0.3 m product whatever the product, and an 8 cm duck
    on a countertop 0.4 m under the camera "left the frame" from every spot of the default
    area and fell back to the view's centre, inside the apple standing there."""
    from shotcache.gltf_extent import footprint

    size = None
    for arg in reversed(render_extra):
        if arg.startswith("--product-size="):
            try:
                size = float(arg.split("=", 1)[1])
            except ValueError:
                return None  # the render step refuses it, before any render
            break
    found = footprint(model, size if size and size > 0 else None)
    if found is not None:
        log(f"[vanelia] run: the product stands {found[1]:.3g} m tall within {found[0]:.3g} m of its spot")
    return found
