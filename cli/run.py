"""`vanelia run`: plate + GLB -> final.mp4, the whole pipeline headless.

Steps: camera (given, or solved by `vanelia track`; refused when its QC says unusable,
unless --force) -> product placement (--place: on the solved ground, inside an area of the
frame) -> Blender render of the shot cache
(cli.render.run_batch, the same headless script Blender runs) -> stages (in-process
PipelineRunner, or a running sidecar with --server) -> H.264 MP4 at the plate's frame rate
+ a contact sheet PNG (plate | product render | composite) next to it.

Re-running with --keep SHOTDIR reuses the shot: the render skips unchanged frames, the
stages recompute only what a changed parameter touches and write a new version vNNN.
"""
from __future__ import annotations

import argparse
import inspect
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cli.main import CLIError
from shotcache.layout import ShotPaths, check_writable
from shotcache.schema import ENGINES, PLACEMENT_AREAS, STAGES, TRACKERS, JobSpec

COMPOSITOR_TYPES = ("photorealistic", "classical", "controlnet", "iclight")
CHECKPOINT_ENV = "VANELIA_CHECKPOINTS"
DEFAULT_PLACE = "bottom_right"
"""Where the product stands when we solved the camera ourselves and no --place was given."""


@dataclass
class RunOptions:
    input: Path
    model: Path
    output: Path
    camera: Path | None = None
    frames: str | None = None
    resolution: str | None = None
    samples: int | None = None
    stages: list[str] = field(default_factory=lambda: ["composite"])
    compositor_type: str | None = None
    engines: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    mask: Path | None = None
    holdout: Path | None = None
    """Folder of holdout mattes (white = in front of the product), matched by frame number."""
    seed: int = 12345
    keep: Path | None = None
    server: str | None = None
    token: str | None = None
    blender: str | None = None
    device: str = "auto"
    checkpoints: dict[str, str] = field(default_factory=dict)
    checkpoint_dir: Path | None = None
    allow_fallback: bool = True
    contact_frames: int = 4
    progress: bool = True
    render_extra: list[str] = field(default_factory=list)
    """Extra `vanelia render` options passed through (--product-size, --ground, --light-dir ...)."""
    tracker: str = "auto"
    focal_mm: float | None = None
    camera_height: float | None = None
    """Metres; None: a typical camera height (the run says which source it used)."""
    place: str | None = None
    force: bool = False
    place_prompt: str | None = None
    clipseg: Path | None = None
    """Use a camera track whose QC says it is unusable."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="the whole pipeline: plate + GLB -> final.mp4", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=main_args)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, type=Path, help="plate: video file or folder of frames")
    p.add_argument("--model", required=True, type=Path, help="product .glb")
    p.add_argument("--output", required=True, type=Path, help="final .mp4 to write (contact sheet goes next to it)")
    p.add_argument("--camera", type=Path, default=None, help="camera track: transforms.json, COLMAP text folder or .blend (solved from the plate when absent)")
    p.add_argument("--frames", default=None, help="A:B frame range (inclusive)")
    p.add_argument("--resolution", default=None, help="WxH (default: the plate's)")
    p.add_argument("--samples", type=int, default=None, help="Cycles samples per pixel")
    p.add_argument("--stages", default=None, help=f"comma list of {','.join(STAGES)} (default: composite; +inpaint with --mask)")
    p.add_argument("--compositor-type", choices=COMPOSITOR_TYPES, default=None,
                   help="composite engine (default: photorealistic when its checkpoint is configured, else classical)")
    p.add_argument("--engine", action="append", default=[], metavar="STAGE=NAME", help="engine of another stage, e.g. inpaint=telea")
    p.add_argument("--param", action="append", default=[], metavar="STAGE.KEY=VALUE", help="engine parameter, e.g. composite.grain=0.5")
    p.add_argument("--mask", type=Path, default=None, help="folder of removal masks (white = remove), one per frame")
    p.add_argument("--holdout", type=Path, default=None,
                   help="folder of holdout mattes (white = something in front of the product, which hides it), "
                        "matched to plate frames by frame number")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--keep", type=Path, default=None, help="keep the shot cache in this folder (re-runs reuse it)")
    p.add_argument("--server", default=None, help="run the stages on a running sidecar at this URL")
    p.add_argument("--token", default=os.environ.get("VANELIA_TOKEN"), help="sidecar token (or $VANELIA_TOKEN)")
    p.add_argument("--blender", default=None, help="blender binary to render with (default: the bpy module)")
    p.add_argument("--device", default="auto", help="cpu | cuda | auto")
    p.add_argument("--checkpoint", action="append", default=[], metavar="STAGE=PATH", help="checkpoint of a learned engine")
    p.add_argument("--checkpoints", type=Path, default=None, help=f"folder of checkpoints <stage>.safetensors (or ${CHECKPOINT_ENV})")
    p.add_argument("--no-fallback", action="store_true", help="fail instead of using a classical engine when a learned one is unavailable")
    p.add_argument("--contact-frames", type=int, default=4)
    p.add_argument("--product-size", type=float, default=None, help="largest product dimension in metres (render option)")
    p.add_argument("--ground", default=None, help="ground plane 'px,py,pz,nx,ny,nz' (render option)")
    p.add_argument("--light-dir", default=None, help="key light direction 'x,y,z' (render option; default estimated)")
    p.add_argument("--tracker", choices=TRACKERS, default="auto",
                   help="camera solver when no --camera is given (auto: Blender's tracker for clips, COLMAP for stills or when it fails)")
    p.add_argument("--focal-mm", type=float, default=None, help="known focal length in mm (36 mm sensor width) for the solve")
    p.add_argument("--camera-height", type=float, default=None,
                   help="camera height above the ground in metres: the scene's scale (default: a typical 1.5 m)")
    p.add_argument("--place", default=None, metavar="AREA",
                   help=f"stand the product on the solved ground inside this part of the frame: {'|'.join(PLACEMENT_AREAS)}, "
                        f"a pixel 'x,y' or a box 'x0,y0,x1,y1' (default {DEFAULT_PLACE} when the camera is solved here)")
    p.add_argument("--force", action="store_true", help="use a camera track even when its QC says it is unusable")
    p.add_argument("--place-prompt", default=None, metavar="TEXT",
                   help="text-guided placement: stand the product where CLIPSeg finds TEXT (e.g. 'grass') inside --place's area")
    p.add_argument("--clipseg", type=Path, default=None, help="local CLIPSeg model folder for --place-prompt (or $VANELIA_CLIPSEG_DIR)")


def _kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for it in items:
        if "=" not in it:
            raise CLIError(f"{what} {it!r}: expected KEY=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def options_from_args(args: argparse.Namespace) -> RunOptions:
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else ["composite"]
    params: dict[str, Any] = {}
    for key, val in _kv(args.param, "--param").items():
        stage, _, name = key.partition(".")
        if not name:
            params[stage] = _value(val)
        else:
            params.setdefault(stage, {})[name] = _value(val)
    return RunOptions(
        input=args.input, model=args.model, output=args.output, camera=args.camera, frames=args.frames,
        resolution=args.resolution, samples=args.samples, stages=stages, compositor_type=args.compositor_type,
        engines=_kv(args.engine, "--engine"), params=params, mask=args.mask, holdout=args.holdout, seed=args.seed, keep=args.keep,
        server=args.server, token=args.token, blender=args.blender, device=args.device,
        checkpoints=_kv(args.checkpoint, "--checkpoint"), checkpoint_dir=args.checkpoints,
        allow_fallback=not args.no_fallback, contact_frames=args.contact_frames,
        render_extra=_render_extra(args), tracker=args.tracker, focal_mm=args.focal_mm,
        camera_height=args.camera_height, place=args.place, force=args.force,
        place_prompt=args.place_prompt, clipseg=args.clipseg,
    )


def _render_extra(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for flag, key in (("--product-size", "product_size"), ("--ground", "ground"), ("--light-dir", "light_dir")):
        val = getattr(args, key, None)
        if val is not None:
            out.append(f"{flag}={val}")  # '=' form: values such as '-0.2,0.6,0.7' start with '-'
    return out


def main_args(args: argparse.Namespace) -> int:
    summary = run_pipeline(options_from_args(args))
    return 0 if summary["frames_written"] else 1


# ---------------------------------------------------------------------------
# checks and choices
# ---------------------------------------------------------------------------


def validate(opts: RunOptions) -> None:
    if not opts.input.exists():
        raise CLIError(f"--input {opts.input}: no such file or folder; give the plate video or a folder of frames")
    if not opts.model.is_file():
        raise CLIError(f"--model {opts.model}: no such file; give the product .glb")
    if opts.camera is not None and not opts.camera.exists():
        raise CLIError(f"--camera {opts.camera}: no such file or folder")
    if opts.output.suffix.lower() not in (".mp4", ".mov", ".m4v"):
        raise CLIError(f"--output {opts.output}: give a .mp4 file name")
    check_writable(opts.output.parent if str(opts.output.parent) else Path("."))
    bad = [s for s in opts.stages if s not in STAGES]
    if bad:
        raise CLIError(f"--stages: unknown stage(s) {bad}; choose from {', '.join(STAGES)}")
    if opts.mask is not None:
        if not opts.mask.is_dir():
            raise CLIError(f"--mask {opts.mask}: not a folder of mask images")
        if "inpaint" not in opts.stages:
            opts.stages = ["inpaint", *opts.stages]
    elif "inpaint" in opts.stages:
        raise CLIError("--stages inpaint needs masks of what to remove: give --mask DIR (white = remove)")
    if opts.holdout is not None and not (opts.holdout.is_dir() and any(opts.holdout.iterdir())):
        raise CLIError(f"--holdout {opts.holdout}: not a folder of matte images (white = in front of the product, "
                       "named by frame number)")
    for stage, name in opts.engines.items():
        if stage not in ENGINES or name not in ENGINES[stage]:
            raise CLIError(f"--engine {stage}={name}: unknown; engines are " + "; ".join(f"{s}: {', '.join(e)}" for s, e in ENGINES.items()))
    if opts.resolution:
        parse_resolution(opts.resolution)
    if opts.frames:
        parse_frames(opts.frames)
    if opts.tracker not in TRACKERS:
        raise CLIError(f"--tracker {opts.tracker!r}: choose {' or '.join(TRACKERS)}")
    if opts.focal_mm is not None and not opts.focal_mm > 0:
        raise CLIError(f"--focal-mm {opts.focal_mm}: must be a positive focal length in mm")
    if opts.camera_height is not None and not opts.camera_height > 0:
        raise CLIError(f"--camera-height {opts.camera_height}: must be a positive height in metres")
    if opts.place is not None:
        check_place(opts.place)
        if opts.camera is not None and transforms_file(opts.camera) is None:
            raise CLIError(f"--place needs a camera solved by `vanelia track` (a transforms.json) or no --camera; "
                           f"{opts.camera} is not a transforms.json")


def check_place(area: str) -> None:
    from ml.camera.placement import PlacementError, parse_area

    try:
        parse_area(area)
    except PlacementError as exc:
        raise CLIError(str(exc)) from None


def parse_resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        assert w > 0 and h > 0
        return w, h
    except (ValueError, AssertionError):
        raise CLIError(f"--resolution {text!r}: expected WxH, e.g. 1280x720") from None


def parse_frames(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(":"))
        assert a <= b
        return a, b
    except (ValueError, AssertionError):
        raise CLIError(f"--frames {text!r}: expected A:B with A <= B, e.g. 1:48") from None


def find_checkpoints(opts: RunOptions) -> dict[str, str]:
    """--checkpoint entries + files in the checkpoint folder named <stage>[_<engine>].safetensors."""
    found: dict[str, str] = {}
    folder = opts.checkpoint_dir or (Path(os.environ[CHECKPOINT_ENV]) if os.environ.get(CHECKPOINT_ENV) else None)
    if folder and folder.is_dir():
        for p in sorted(folder.iterdir()):
            stem = p.stem if p.is_file() else p.name
            stage, _, engine = stem.partition("_")
            if stage in STAGES:
                found[f"{stage}.{engine}" if engine else stage] = str(p)
    found.update(opts.checkpoints)
    for key, path in opts.checkpoints.items():
        if not Path(path).exists():
            raise CLIError(f"--checkpoint {key}={path}: no such file; put the checkpoint there or drop the option")
    return found


def choose_engines(opts: RunOptions, checkpoints: dict[str, str]) -> dict[str, str]:
    """Engines the user named. Unnamed stages are the runner's choice (PipelineRunner.
    default_engine): the learned engine when its checkpoint is configured or shipped in
    checkpoints/, else the classical one; the same rule applies on a sidecar."""
    engines = dict(opts.engines)
    if opts.compositor_type:
        engines.setdefault("composite", opts.compositor_type)
    return engines


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


# ---------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------


def track_camera(opts: RunOptions, shot_dir: Path, log: Callable[[str], None]) -> Path:
    """No --camera: solve one with `vanelia track` when it is installed.

    The placement is chosen afterwards (``place_product``), not by track_plate: a solve
    takes minutes, and an area where the product can't stand must not throw it away."""
    try:
        from cli.track import track_plate
    except ImportError:
        raise CLIError("no --camera given and camera solving (vanelia track) is not installed here; "
                       "give a camera track with --camera (transforms.json, COLMAP text model or .blend)") from None
    out = shot_dir / "transforms.json"
    log(f"[vanelia] run: no --camera: solving the camera of {opts.input}")
    kw: dict[str, Any] = {"tracker": opts.tracker, "focal_mm": opts.focal_mm, "camera_height": camera_height(opts)[0],
                          "masks": opts.mask}  # what is to be removed is no ground to track
    if opts.frames:
        kw["frames"] = parse_frames(opts.frames)
    if opts.resolution:
        kw["max_side"] = max(parse_resolution(opts.resolution))  # track at the working resolution
    track_plate(opts.input, out, log=log, **kw)
    return out


def transforms_file(camera: Path) -> Path | None:
    """The transforms.json a --camera names (the file, or one inside the folder), else None."""
    path = camera / "transforms.json" if camera.is_dir() else camera
    return path if path.suffix.lower() == ".json" and path.is_file() else None


def read_qc(camera: Path) -> dict[str, Any]:
    """The `qc` of a transforms.json camera ({} for other tracks or a track without one)."""
    import json

    path = transforms_file(camera)
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(f"--camera {path}: not a readable transforms.json ({exc})") from None
    qc = doc.get("qc") if isinstance(doc, dict) else None
    return qc if isinstance(qc, dict) else {}


def check_qc(camera: Path, qc: dict[str, Any], force: bool, log: Callable[[str], None]) -> None:
    """Refuse a track its QC calls unusable (a composite can't hide that), unless --force."""
    if not qc or qc.get("usable", True) is not False:
        return
    bad = list(qc.get("unreliable_frames") or [])
    frames = ", ".join(map(str, bad[:10])) + (f" ... ({len(bad)} in all)" if len(bad) > 10 else "")
    what = (f"the camera track {camera} is not usable: {qc.get('reason') or 'its QC says so'}; "
            f"unreliable frames: {frames or 'none listed'}")
    if not force:
        raise CLIError(f"{what}. Re-shoot or re-track (another --tracker, a known --focal-mm, a shorter --frames range), "
                       "or give --force to use it anyway")
    log(f"[vanelia] run: WARNING: {what}; going on because of --force")


def text_guided_pixel(opts: RunOptions, camera: Path, area: str, log: Callable[[str], None]) -> str:
    """The pixel 'x,y' of the track's reference frame where CLIPSeg finds --place-prompt
    inside ``area`` (ml.diffuse.placement); the ground under it is where the product stands."""
    from ml.camera.transforms import read_transforms
    from ml.diffuse.placement import text_guided_placement
    from ml.diffuse.segment import Segmenter
    from ml.io.images import list_frames, read_rgb8
    from ml.io.video import iter_frames
    from ml.stages.base import EngineError

    path = transforms_file(camera)
    if path is None:
        raise CLIError(f"--place-prompt needs a camera solved by `vanelia track` (a transforms.json); {camera} is not one")
    frames = sorted(read_transforms(path).cameras)
    ref = frames[len(frames) // 2]
    if opts.input.is_dir():
        from ml.io.images import frame_number

        files = list_frames(opts.input)
        by_num = {frame_number(f, i + 1): f for i, f in enumerate(files)}
        image = read_rgb8(by_num.get(ref, files[min(len(files) - 1, frames.index(ref))]))
    else:
        image = next(img for i, img in enumerate(iter_frames(opts.input), start=1) if i == ref)
    try:
        seg = Segmenter(opts.clipseg, resolve_device(opts.device))
        found = text_guided_placement(seg, image, opts.place_prompt, area if area in PLACEMENT_AREAS else "full")
    except EngineError as exc:
        raise CLIError(f"--place-prompt {opts.place_prompt!r}: {exc}") from None
    log(f"[vanelia] run: '{opts.place_prompt}' found at pixel ({found.x}, {found.y}) of frame {ref} (score {found.score:.2f})")
    return f"{found.x + 0.5},{found.y + 0.5}"  # pixel index -> corner-convention centre


def place_product(camera: Path, qc: dict[str, Any], area: str | None, required: bool, log: Callable[[str], None]) -> list[list[float]] | None:
    """The product's matrix_world on the solved ground inside ``area`` of the frame, or None.

    Uses the placement already in the track's QC (chosen by `vanelia track --place`) when
    no other area is asked for, else chooses one on the track (the world must be levelled,
    ground z = 0, as `vanelia track` leaves it). ``required`` (the user asked with --place):
    a placement that can't be made is an error; otherwise the render's default placement
    (on the ground at the view centre) is used with a warning.
    """
    from ml.camera.placement import PlacementError, choose_placement
    from ml.camera.transforms import read_transforms

    given = qc.get("placement") if isinstance(qc.get("placement"), dict) else None
    if given and "matrix_world" in given and (area is None or given.get("area") == area):
        log(f"[vanelia] run: product placed at {_fmt(given.get('point'))} (placement from {camera.name})")
        return given["matrix_world"]
    if area is None:
        return None
    path = transforms_file(camera)
    assert path is not None  # validate() refuses --place with other tracks
    levelled = "ground" in qc or qc.get("tracker") == "static"  # a static camera is set up over z = 0
    if not levelled:
        if not required:
            log("[vanelia] run: the solved world has no ground plane; the product stands at the centre of the view")
            return None
        log(f"[vanelia] run: note: {path} was not levelled by `vanelia track`; --place assumes its ground is the plane z = 0")
    try:
        chosen = choose_placement(read_transforms(path), area)
    except PlacementError as exc:
        if required:
            raise CLIError(f"{exc} (camera {path})") from None
        log(f"[vanelia] run: WARNING: {exc}; the product stands at the centre of the view instead")
        return None
    log(f"[vanelia] run: product placed at {_fmt(chosen['point'])} on the ground, pixel {_fmt(chosen['pixel'])} "
        f"of frame {chosen['ref_frame']} ({area})")
    if chosen.get("warning"):
        log(f"[vanelia] run: WARNING: {chosen['warning']}")
    return [list(map(float, row)) for row in chosen["matrix_world"]]


def _fmt(vals: Any) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in vals) + ")" if vals else "?"


def camera_height(opts: RunOptions) -> tuple[float, str]:
    """The scene's scale: the camera height in metres and where it came from."""
    from shotcache.camera_ground import TYPICAL_CAMERA_HEIGHT_M

    if opts.camera_height is not None:
        return opts.camera_height, f"--camera-height {opts.camera_height:g} m"
    return TYPICAL_CAMERA_HEIGHT_M, f"typical camera height {TYPICAL_CAMERA_HEIGHT_M:g} m (give --camera-height)"


def physical_qc(opts: RunOptions, shot_dir: Path, scale_source: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Lock + plausibility of the rendered shot (ml.camera.shotqc), before any stage runs.

    A refused shot stops the run (exit 2) with its reasons and a contact sheet of plate and
    render, unless --force; a product missing from every frame stops it even then."""
    import dataclasses

    from ml.camera.footage import match_masks
    from ml.camera.shotqc import check_shot, mark_forced, summary

    shot = ShotPaths(shot_dir).load_shot()
    # what the user masked (removal masks, occluders) is not ground to measure the lock on
    ignore = opts.holdout or opts.mask
    masks = match_masks(ignore, {f: Path() for f in shot.frames}) if ignore is not None else None
    qc = check_shot(shot_dir, masks=masks, scale_source=scale_source)
    log(f"[vanelia] run: QC {summary(qc)}")
    for name, check in qc.checks.items():
        log(f"[vanelia] run: QC {name}: {'ok' if check['ok'] else ('FAILED' if check['ok'] is False else 'n/a')} - {check['detail']}")
    if qc.verdict == "refused":
        from cli.contact_sheet import make_contact_sheet

        sheet = make_contact_sheet(shot_dir, None, opts.output.with_name(opts.output.stem + "_contact.png"), n=opts.contact_frames)
        what = "; ".join(qc.reasons)
        rendered = qc.checks["product_rendered"]
        never = rendered.get("frames_with_product", 0) == 0  # --force cannot make a video without the product
        if not opts.force or never:
            raise CLIError(f"refused by the QC: {what}. Contact sheet: {sheet}. "
                           + ("The product would be missing from the video, so --force cannot override this."
                              if opts.force else "Fix the camera or placement (another --tracker, --focal-mm, --place, "
                                                 "--camera-height) or give --force to composite anyway"))
        mark_forced(shot_dir)
        log(f"[vanelia] run: WARNING: QC refused this shot ({what}); going on because of --force")
    return dataclasses.asdict(qc)


def render_args(opts: RunOptions, camera: Path, shot_dir: Path, product_matrix: list[list[float]] | None = None) -> list[str]:
    args = ["--plate", str(opts.input), "--model", str(opts.model), "--camera", str(camera), "--shot", str(shot_dir)]
    if opts.frames:
        args += ["--frames", opts.frames]
    if opts.resolution:
        args += ["--resolution", opts.resolution]
    if opts.samples:
        args += ["--samples", str(opts.samples)]
    if opts.camera_height is not None:
        args.append(f"--camera-height={opts.camera_height}")
    if product_matrix is not None:
        args.append("--product-matrix=" + ",".join(repr(float(v)) for row in product_matrix for v in row))
    return args + list(opts.render_extra)


def run_batch(step: str, args: list[str], blender: str | None = None) -> None:
    """Run a headless batch step through cli.render (Blender side); raise CLIError on failure."""
    try:
        from cli import render
    except ImportError:
        raise CLIError("rendering is not installed here (cli/render.py missing); build the shot with Blender "
                       "and point --keep at it") from None
    kw: dict[str, Any] = {}
    params = inspect.signature(render.run_batch).parameters
    if blender and "blender" in params:
        kw["blender"] = blender
    rc = render.run_batch(step, args, **kw)
    if isinstance(rc, int) and rc != 0:
        raise CLIError(f"the Blender step '{step}' failed (exit code {rc}); see its messages above")


def copy_masks(mask_dir: Path, shot: ShotPaths, frames: list[int]) -> None:
    """Masks named by frame number go to that frame; otherwise the n-th mask to the n-th frame."""
    from ml.io.images import frame_number, list_frames, read_mask, write_mask

    files = list_frames(mask_dir)
    if not files:
        raise CLIError(f"--mask {mask_dir}: no mask images in this folder")
    by_num = {frame_number(p, -1): p for p in files}
    numbered = all(f in by_num for f in frames)
    for i, f in enumerate(frames):
        src = by_num[f] if numbered else (files[i] if i < len(files) else None)
        if src is None:
            raise CLIError(f"--mask {mask_dir}: {len(files)} masks for {len(frames)} frames; give one mask per frame")
        write_mask(shot.mask_frame(f), read_mask(src))


def write_holdout(folder: Path, shot: ShotPaths, frames: list[int], size: tuple[int, int], log: Callable[[str], None]) -> None:
    """Holdout mattes into the shot (by frame number, resized to the shot), replacing old ones."""
    import cv2

    from ml.io.images import frame_number, list_frames
    from shotcache.layout import atomic_write

    files = list_frames(folder)
    by_num = {frame_number(p, -1): p for p in files}
    hit = [f for f in frames if f in by_num]
    if not hit:
        raise CLIError(f"--holdout {folder}: no matte is named by one of the shot's frame numbers "
                       f"({frames[0]}..{frames[-1]}); name them like 000012.png")
    shutil.rmtree(shot.holdout_dir, ignore_errors=True)
    shot.holdout_dir.mkdir(parents=True)
    for f in hit:
        img = cv2.imread(str(by_num[f]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise CLIError(f"--holdout {by_num[f]}: cannot read this matte image")
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA) if img.shape[::-1] != size else img
        atomic_write(shot.holdout_frame(f), lambda tmp, im=img: cv2.imwrite(str(tmp), im), suffix=".png")
    log(f"[vanelia] run: holdout mattes for {len(hit)}/{len(frames)} frames from {folder}")


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def run_stages_local(spec: JobSpec, shot_dir: Path, device: str, checkpoints: dict[str, str], progress: bool) -> tuple[str, Any]:
    from ml.pipeline.runner import PipelineRunner

    runner = PipelineRunner(device=device, checkpoints=checkpoints)
    version = runner.prepare(spec, shot_dir)
    total = len(spec.frames or ShotPaths(shot_dir).load_shot().frames)
    with _bar(total, f"stages {'+'.join(spec.stages)} -> {version}", progress) as bar:
        def on_frame(frame: int, done: int, tot: int) -> None:
            bar.n = done
            bar.refresh()

        result = runner.run(spec, shot_dir, version=version, on_frame=on_frame)
    return version, result


def run_stages_server(spec: JobSpec, shot_dir: Path, url: str, token: str | None, progress: bool) -> tuple[str, dict]:
    """Submit to a sidecar: by path when it can see our shot folder, else upload + download."""
    from shotcache.client import SidecarClient, SidecarError

    client = SidecarClient(url, token=token)
    client.health()
    body = spec.to_dict()
    body["shot"] = str(shot_dir.resolve())
    remote = False
    try:
        job_id = client.submit(body)
    except SidecarError as exc:
        if exc.kind != "bad_request":
            raise
        body["shot"] = client.upload_shot(shot_dir)  # not inside the sidecar's shot roots
        job_id = client.submit(body)
        remote = True
    total = len(spec.frames or [])
    with _bar(total or 1, f"sidecar job {job_id}", progress) as bar:
        def on_progress(job: dict) -> None:
            bar.total = job.get("frames_total") or bar.total
            bar.n = job.get("frames_done", 0)
            bar.refresh()

        job = client.wait(job_id, progress=on_progress)
    if job.get("state") != "done":
        raise CLIError(f"sidecar job {job_id} ended {job.get('state')}: {job.get('error') or ''}")
    paths = ShotPaths(shot_dir)
    if remote:
        version = paths.new_version()
        client.download_results(job_id, paths.version_dir(version))
    else:
        version = str(job["version"])
    return version, job


def encode(shot: ShotPaths, version: str, frames: list[int], output: Path, fps: float) -> tuple[int, list[int]]:
    """MP4 of the version's frames; a skipped frame shows the plate so timing stays right."""
    from ml.io.images import read_rgb8
    from ml.io.video import write_mp4

    missing: list[int] = []

    def gen():
        for f in frames:
            p = shot.version_frame(version, f)
            if p.is_file():
                yield read_rgb8(p)
            else:
                missing.append(f)
                yield read_rgb8(shot.plate_frame(f))

    write_mp4(output, gen(), fps)
    return len(frames) - len(missing), missing


# ---------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------


def run_pipeline(opts: RunOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run everything; returns a summary (paths, version, engines, timings, skipped frames)."""
    validate(opts)
    checkpoints = find_checkpoints(opts)
    engines = choose_engines(opts, checkpoints)
    device = resolve_device(opts.device)
    timings: dict[str, float] = {}
    tmp = None
    if opts.keep:
        shot_dir = opts.keep
        shot_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="vanelia-shot-")
        shot_dir = Path(tmp.name)
    shot_dir = shot_dir.resolve()
    try:
        t0 = time.perf_counter()
        camera = opts.camera or track_camera(opts, shot_dir, log)
        timings["track_s"] = time.perf_counter() - t0
        qc = read_qc(camera)
        check_qc(camera, qc, opts.force, log)
        area = opts.place or (DEFAULT_PLACE if opts.camera is None else None)
        if opts.place_prompt:
            area = text_guided_pixel(opts, camera, area or "full", log)
        matrix = place_product(camera, qc, area, required=opts.place is not None or bool(opts.place_prompt), log=log)
        t0 = time.perf_counter()
        log(f"[vanelia] run: rendering {opts.model.name} into {shot_dir}")
        run_batch("render", render_args(opts, camera, shot_dir, matrix), opts.blender)
        timings["render_s"] = time.perf_counter() - t0
        paths = ShotPaths(shot_dir)
        t0 = time.perf_counter()
        shot_verdict = physical_qc(opts, shot_dir, camera_height(opts)[1] if opts.camera is None else "", log)
        timings["qc_s"] = time.perf_counter() - t0
        shot = paths.load_shot()
        if opts.mask is not None:
            copy_masks(opts.mask, paths, shot.frames)
        if opts.holdout is not None:
            write_holdout(opts.holdout, paths, shot.frames, tuple(shot.resolution), log)
        spec = JobSpec(shot=str(shot_dir), stages=list(opts.stages), engines=engines, params=opts.params,
                       frames=list(shot.frames), allow_fallback=opts.allow_fallback, seed=opts.seed, checkpoints=checkpoints)
        spec.validate()
        t0 = time.perf_counter()
        if opts.server:
            version, info = run_stages_server(spec, shot_dir, opts.server, opts.token, opts.progress)
            skipped = {int(k): v for k, v in (info.get("skipped") or {}).items()} if isinstance(info, dict) else {}
            used = engines
        else:
            version, result = run_stages_local(spec, shot_dir, device, checkpoints, opts.progress)
            skipped, used = result.skipped, result.engines
        timings["stages_s"] = time.perf_counter() - t0
        for f, why in sorted(skipped.items()):
            log(f"[vanelia] run: skipped frame {f}: {why}")
        t0 = time.perf_counter()
        written, missing = encode(paths, version, shot.frames, opts.output, shot.fps)
        from cli.contact_sheet import make_contact_sheet

        sheet = make_contact_sheet(shot_dir, version, opts.output.with_name(opts.output.stem + "_contact.png"), n=opts.contact_frames)
        timings["encode_s"] = time.perf_counter() - t0
        if missing:
            log(f"[vanelia] run: {len(missing)} frame(s) had no composite and show the plate: {missing[:10]}")
        log(f"[vanelia] run: wrote {opts.output} ({written} frames at {shot.fps:g} fps, version {version}, "
            f"engines {', '.join(f'{k}={v}' for k, v in used.items())})")
        log(f"[vanelia] run: contact sheet {sheet}")
        return {
            "output": str(opts.output), "contact_sheet": str(sheet), "shot": str(shot_dir) if opts.keep else None,
            "version": version, "engines": used, "frames": shot.frames, "frames_written": written,
            "skipped": skipped, "timings": timings, "device": device, "qc": shot_verdict,
        }
    finally:
        if tmp is not None:
            # the shot folder is gone afterwards: keep it with --keep
            shutil.rmtree(tmp.name, ignore_errors=True)
