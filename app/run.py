"""The whole run: plate + GLB -> final.mp4 + contact sheet, as one function every front end calls.

Steps: check every input (``check_inputs``, before anything expensive) -> camera (given, or
solved by app.track; refused when its QC says unusable, unless forced: app.qc) -> product
placement (app.place) -> Blender render of the shot cache (app.blender.run_batch, the same
headless script Blender runs) -> shot QC -> holdout mattes (the user's, + automatic ones of
what moves in front of the product: app.stages.auto_holdout) -> stages (app.stages: in
process, or on a sidecar) -> H.264 MP4 at the plate's frame rate (app.encode) + a contact sheet PNG next to it (app.contact_sheet).

Re-running with ``keep`` (a shot folder) reuses the shot: the render skips unchanged frames,
the stages recompute only what a changed parameter touches and write a new version vNNN.
Progress: ``log(line)`` for steps, ``on_progress(step, done, total)`` for frame counts.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from shotcache.areas import parse_area
from shotcache.camera_ground import TYPICAL_CAMERA_HEIGHT_M, check_scale_options, parse_known_size, scale_source
from shotcache.errors import Cancelled, InputError, UsageError
from shotcache.frames import VIDEO_OUTPUT_EXTS, check_resolution, parse_frame_range, parse_resolution
from shotcache.layout import ShotPaths, check_writable
from shotcache.schema import ENGINES, STAGES, TRACKERS, JobSpec, Shot, check_cover_m

from . import blender, encode, place, preflight, qc, stages
from .codec_match import match_version, parse_codec_match
from .light_render import parse_motion_blur, recorded_light, render_shot_lit
from .sequence import write_sequence

DEFAULT_PLACE = "bottom_right"
"""Where the product stands when no place was given and the camera is levelled on its ground (a
track solved here or by `vanelia track`); a camera without a ground puts it at the view's centre."""

Log = Callable[[str], None]
OnProgress = Callable[[str, int, int], None]
"""``on_progress(step, done, total)``: step is 'stages' (frames) for now."""


def _quiet(*_a: Any) -> None:
    pass


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
    auto_holdout: bool = True
    """Hide the product behind what moves in the plate and stands in front of it (app.stages.auto_holdout)."""
    auto_masks: bool = True
    """Mask what moves on its own in the plate for the tracker and the lock QC (ml.camera.motion)."""
    refine_contact: bool = True
    """Stand the product where the plate's ground texture at the spot triangulates (app.place.refine_on_plate)."""
    seed: int = 12345
    keep: Path | None = None
    server: str | None = None
    ray: str | None = None
    """Render chunks and stages on a Ray cluster: 'local' or HOST:PORT (farm/ray)."""
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
    known_size: str | None = None
    """'X1,Y1,X2,Y2=METRES[@FRAME]': the scale of a camera solved here from two ground points of a plate
    frame and their distance (shotcache.camera_ground.parse_known_size); not with camera_height or camera."""
    place: str | None = None
    force: bool = False
    """Use a camera track whose QC says it is unusable."""
    place_prompt: str | None = None
    clipseg: Path | None = None
    light: str = "plate"
    """plate: light estimated from the footage (ml/light); legacy: plate mean + brightest block;
    shot: the light the ``keep`` folder records (an artist's edit)."""
    product_matrix: str | None = None
    """The product's matrix_world (16 numbers or a .json), as `vanelia render --product-matrix`; overrides place."""
    output_format: str | None = None
    """png | exr for an image-sequence output (default: from the pattern's extension, else png)."""
    sequence: bool = False
    """``output`` is an image sequence (a folder or a #-pattern), not a video (app.sequence)."""
    motion_blur: str | float = "auto"
    """Camera motion blur: 'auto' (the shutter measured from the plate's own motion blur,
    ml.camera.shutter), 'off', or a shutter in frames (0.5 = 180 degrees)."""
    ground_cover: float | None = None
    """Height (metres) of the grass round the product, which hides its base (shot.json
    ground.cover_m, ml/pipeline/ground_cover.py); None keeps what a kept shot folder records."""
    codec_match: str | float = "auto"
    """The product through the plate's codec (app.codec_match): 'auto' (the quality measured
    from a video plate's rate; nothing for an image-sequence plate), 'off', or an x264 CRF.
    Never for an EXR sequence, which is delivered clean for compositing."""


# ---------------------------------------------------------------------------
# checks and choices
# ---------------------------------------------------------------------------


def check_inputs(opts: RunOptions) -> preflight.RunInputs:
    """Every check, before the first expensive step; the one place a front end's request is
    validated: the options here, then what is inside the files (a valid GLB, a whole plate,
    masks by frame number, writable outputs: app.preflight). Returns what the files are."""
    if not opts.input.exists():
        raise InputError(f"--input {opts.input}: no such file or folder; give the plate video or a folder of frames")
    if not opts.model.is_file():
        raise InputError(f"--model {opts.model}: no such file; give the product .glb")
    if opts.camera is not None and not opts.camera.exists():
        raise InputError(f"--camera {opts.camera}: no such file or folder")
    parse_motion_blur(opts.motion_blur)
    if opts.ground_cover is not None:
        opts.ground_cover = check_cover_m(opts.ground_cover, f"--ground-cover {opts.ground_cover}")
    opts.codec_match = parse_codec_match(opts.codec_match)
    if opts.light == "shot":
        if opts.keep is None:
            raise UsageError("--light shot renders with the light a shot folder records: give that folder with --keep")
        recorded_light(opts.keep)
    if opts.sequence:
        from .sequence import sequence_format

        opts.output_format = sequence_format(opts.output, opts.output_format)
        check_writable(opts.output if "#" not in opts.output.name else opts.output.parent)
    else:
        if opts.output.suffix.lower() not in VIDEO_OUTPUT_EXTS:
            raise UsageError(f"--output {opts.output}: give a .mp4 file name, a folder DIR/ or a pattern DIR/name.####.png|exr")
        check_writable(opts.output.parent if str(opts.output.parent) else Path("."))
    if opts.product_matrix is not None and opts.product_matrix.lower().endswith(".json") and not Path(opts.product_matrix).is_file():
        raise InputError(f"--product-matrix {opts.product_matrix}: no such file; give 16 numbers or a .json holding a 4x4 list")
    bad = [s for s in opts.stages if s not in STAGES]
    if bad:
        raise UsageError(f"--stages: unknown stage(s) {bad}; choose from {', '.join(STAGES)}")
    if opts.mask is not None:
        if not opts.mask.is_dir():
            raise InputError(f"--mask {opts.mask}: not a folder of mask images")
        if "inpaint" not in opts.stages:
            opts.stages = ["inpaint", *opts.stages]
    elif "inpaint" in opts.stages:
        raise UsageError("--stages inpaint needs masks of what to remove: give --mask DIR (white = remove)")
    for stage, name in opts.engines.items():
        if stage not in ENGINES or name not in ENGINES[stage]:
            raise UsageError(f"--engine {stage}={name}: unknown; engines are " + "; ".join(f"{s}: {', '.join(e)}" for s, e in ENGINES.items()))
    _check_params(opts)
    if opts.ray is not None:
        _check_ray(opts)
    parse_resolution(opts.resolution)
    parse_frame_range(opts.frames)
    if opts.tracker not in TRACKERS:
        raise UsageError(f"--tracker {opts.tracker!r}: choose {' or '.join(TRACKERS)}")
    if opts.focal_mm is not None and not opts.focal_mm > 0:
        raise UsageError(f"--focal-mm {opts.focal_mm}: must be a positive focal length in mm")
    if opts.holdout is not None and not (opts.holdout.is_dir() and any(opts.holdout.iterdir())):
        raise InputError(f"--holdout {opts.holdout}: not a folder of matte images (white = in front of the product, "
                         "named by frame number)")
    known = check_scale_options(opts.camera_height, opts.known_size)
    if known is not None and opts.camera is not None:
        raise UsageError(f"--known-size {known.text} scales a camera this run solves; with --camera the track's own "
                         "scale is used (scale it with `vanelia track --known-size`, or leave out --camera)")
    if opts.place is not None:
        parse_area(opts.place)
        if opts.camera is not None and qc.transforms_file(opts.camera) is None:
            raise UsageError(f"--place needs a camera solved by `vanelia track` (a transforms.json) or no --camera; "
                             f"{opts.camera} is not a transforms.json")
    inputs = preflight.check_run(plate=opts.input, model=opts.model, output=opts.output, camera=opts.camera, masks=opts.mask,
                                 frame_range=parse_frame_range(opts.frames), keep=opts.keep)
    if inputs.plate.size is not None:  # before the solve, not at the render after it
        check_resolution(inputs.plate.size, parse_resolution(opts.resolution), f"--input {opts.input}")
    if known is not None and inputs.plate.size is not None:
        known.check_frame(inputs.plate.size[0], inputs.plate.size[1], inputs.frames)
    extra = dict(a.split("=", 1) for a in opts.render_extra if a.startswith("--") and "=" in a)
    preflight.check_key_options(extra.get("--light-dir"), extra.get("--key-from-shadow"), inputs.plate, inputs.frames, light=opts.light)
    return inputs


def _check_ray(opts: RunOptions) -> None:
    if opts.server:
        raise UsageError("--ray and --server both say where the stages run; give one")
    try:
        from farm.ray.cluster import check_address, check_reachable
    except ImportError:
        raise UsageError("--ray: the farm package (Ray) is not installed here; install requirements/sidecar.lock") from None
    check_reachable(check_address(str(opts.ray)))


def _check_params(opts: RunOptions) -> None:
    """--param STAGE.KEY=V: the key must be a parameter of the engine that will run (or of
    one of the stage's default candidates when none is named)."""
    from ml.stages.base import check_params
    from shotcache.engines import CLASSICAL, LEARNED_DEFAULT

    named = choose_engines(opts)
    for stage, own in opts.params.items():
        if stage in STAGES and isinstance(own, dict):
            check_params(stage, named.get(stage) or [n for n in (CLASSICAL[stage], LEARNED_DEFAULT.get(stage)) if n], own)


def choose_engines(opts: RunOptions) -> dict[str, str]:
    """Engines the user named. Unnamed stages are the runner's choice (the catalogue's default
    rule, the same on a sidecar)."""
    engines = dict(opts.engines)
    if opts.compositor_type:
        engines.setdefault("composite", opts.compositor_type)
    return engines


def render_args(opts: RunOptions, camera: Path, shot_dir: Path, product_matrix: list[list[float]] | None = None) -> list[str]:
    """The `render` batch step's arguments for this run."""
    args = ["--plate", str(opts.input), "--model", str(opts.model), "--camera", str(camera), "--shot", str(shot_dir)]
    if opts.frames:
        args += ["--frames", opts.frames]
    if opts.resolution:
        args += ["--resolution", opts.resolution]
    if opts.samples:
        args += ["--samples", str(opts.samples)]
    if opts.camera_height is not None:
        args.append(f"--camera-height={opts.camera_height}")
    if opts.product_matrix is not None:
        args.append(f"--product-matrix={opts.product_matrix}")
    elif product_matrix is not None:
        args.append("--product-matrix=" + ",".join(repr(float(v)) for row in product_matrix for v in row))
    return args + list(opts.render_extra)


def track_camera(opts: RunOptions, shot_dir: Path, log: Log, should_stop: Callable[[], bool] | None = None) -> Path:
    """No camera given: solve one into the shot folder (app.track).

    The placement is chosen afterwards (``place.place_product``), not by the tracker: a solve
    takes minutes, and an area where the product can't stand must not throw it away."""
    from .track import track_plate

    out = shot_dir / "transforms.json"
    log(f"[vanelia] run: no --camera: solving the camera of {opts.input}")
    res = parse_resolution(opts.resolution)
    log(f"[vanelia] run: scale from {camera_height(opts)[1]}")
    track_plate(opts.input, out, tracker=opts.tracker, focal_mm=opts.focal_mm, camera_height=opts.camera_height,
                masks=opts.mask,  # what is to be removed is no ground to track
                frames=parse_frame_range(opts.frames), max_side=max(res) if res else 0,  # the working resolution
                log=log, known_size=opts.known_size, auto_masks=opts.auto_masks, should_stop=should_stop)
    return out


def _lens_note(paths: ShotPaths, shot: Shot, log: Log) -> None:
    """A solve with lens distortion: say that the render goes into the plate's lens, and
    leave the ST-map in the shot for compositors outside Vanelia."""
    from ml.pipeline.lens import needs_lens, write_stmap

    d = shot.camera.distortion
    if not shot.frames or not needs_lens(d, shot.plate.undistorted):
        return
    cam = shot.camera.frames[shot.frames[0]]
    stmap = write_stmap(str(paths.root), cam, d, (int(shot.resolution[0]), int(shot.resolution[1])))
    log(f"[vanelia] run: the solve has lens distortion (k1 {d.k1:.3g}, k2 {d.k2:.3g}): the render is resampled into the "
        f"plate's lens; ST-map {stmap}")


def contact_sheet_path(opts: RunOptions) -> Path:
    """Beside the MP4 (final_contact.png), or inside the sequence's folder (contact.png)."""
    if opts.sequence:
        return (opts.output.parent if "#" in opts.output.name else opts.output) / "contact.png"
    return opts.output.with_name(opts.output.stem + "_contact.png")


def camera_height(opts: RunOptions) -> tuple[float, str]:
    """The scene's scale as the options give it: the camera height in metres (the typical one
    with a known size: the solve measures the real one, recorded in its qc['scale']) and
    where it comes from (shotcache.camera_ground.scale_source, one wording everywhere)."""
    known = parse_known_size(opts.known_size)
    height = opts.camera_height if opts.camera_height is not None else TYPICAL_CAMERA_HEIGHT_M
    return height, scale_source(opts.camera_height, known)


def _scale_source(opts: RunOptions, camera: Path) -> str:
    """shot.json's qc.scale_source: what the solve recorded (with the camera height a known
    size gave), else the options' source for a camera solved here, else '' (the shot QC
    then takes the track's own qc['scale'], if any)."""
    if opts.camera is not None:
        return ""
    recorded = qc.read_qc(camera).get("scale")
    if isinstance(recorded, dict) and recorded.get("source"):
        measured = recorded.get("known_size") and recorded.get("camera_height_m")  # the other sources state the height
        return str(recorded["source"]) + (f", camera height {float(measured):.3g} m" if measured else "")
    return camera_height(opts)[1]


def _product_matrix(opts: RunOptions, camera: Path, log: Log) -> list[list[float]] | None:
    track_qc = qc.read_qc(camera)
    qc.check_qc(camera, track_qc, opts.force, log)
    # a track `vanelia track` levelled gets the same default spot as one solved here (off people,
    # on ground the solve shows), unless it carries its own placement (`vanelia track --place`)
    area = opts.place or (None if opts.camera is not None and isinstance(track_qc.get("placement"), dict) else DEFAULT_PLACE)
    if opts.place_prompt:
        area = place.text_guided_pixel(opts.input, camera, opts.place_prompt, area or "full", opts.clipseg, opts.device, log)
    return place.place_product(camera, track_qc, area, required=opts.place is not None or bool(opts.place_prompt), log=log,
                               footprint=place.product_footprint(opts.model, opts.render_extra, log))


# ---------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------


def _stop_if(should_stop: Callable[[], bool] | None, where: str) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled(f"the run was stopped {where}: the job was cancelled")


def run_pipeline(opts: RunOptions, log: Log = print, on_progress: OnProgress = _quiet,
                 should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run everything; returns a summary (paths, version, engines, timings, skipped frames).

    ``should_stop`` (a sidecar job's cancel): checked between steps and handed to the Blender
    steps and the stage runner, so a cancel stops the run within seconds, mid-render too."""
    inputs = check_inputs(opts)
    checkpoints = stages.find_checkpoints(opts.checkpoints, opts.checkpoint_dir)
    engines = choose_engines(opts)
    device = stages.resolve_device(opts.device)
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
        camera = opts.camera or track_camera(opts, shot_dir, log, should_stop)
        timings["track_s"] = time.perf_counter() - t0
        _stop_if(should_stop, "after the track")
        matrix = None if opts.product_matrix else _product_matrix(opts, camera, log)
        extra_ground = None
        if matrix is not None and opts.refine_contact and not any(a.startswith("--ground") for a in opts.render_extra):
            res = parse_resolution(opts.resolution)
            matrix, extra_ground = place.refine_on_plate(opts.input, camera, matrix, parse_frame_range(opts.frames),
                                                         max(res) if res else 0, log)
        qc.placement_gate(opts.input, camera, matrix, list(opts.render_extra) + ([extra_ground] if extra_ground else []),
                          opts.force, log, opts.holdout or opts.mask)
        t0 = time.perf_counter()
        log(f"[vanelia] run: rendering {opts.model.name} into {shot_dir} ({opts.light} light)" + (f" on Ray ({opts.ray})" if opts.ray else ""))
        paths = ShotPaths(shot_dir)
        sheet_path = contact_sheet_path(opts)
        before: dict[str, Any] = {}

        def lock_first() -> None:  # the shot is set up: a sliding camera is refused before the render
            t1 = time.perf_counter()
            frames = paths.load_shot().frames
            before["moving"] = stages.plate_motion(paths, frames, log) if opts.auto_masks or opts.auto_holdout else None
            before["qc"] = qc.lock_gate(shot_dir, sheet_path, opts.force, _scale_source(opts, camera), opts.holdout or opts.mask,
                                          opts.contact_frames, log, auto_masks=opts.auto_masks, moving=before["moving"])
            timings["qc_before_render_s"] = time.perf_counter() - t1

        render_shot_lit(render_args(opts, camera, shot_dir, matrix) + ([extra_ground] if extra_ground else []), shot_dir, light=opts.light, blender=opts.blender, log=log, ray=opts.ray,
                        motion_blur=parse_motion_blur(opts.motion_blur), should_stop=should_stop, before_render=lock_first,
                        ground_cover=opts.ground_cover)
        timings["render_s"] = time.perf_counter() - t0 - timings.get("qc_before_render_s", 0.0)
        _stop_if(should_stop, "after the render")
        rendered = paths.load_shot()
        _lens_note(paths, rendered, log)
        t0 = time.perf_counter()
        moving = before["moving"] if "moving" in before else (
            stages.plate_motion(paths, rendered.frames, log) if opts.auto_masks or opts.auto_holdout else None)
        verdict = qc.shot_gate(shot_dir, sheet_path, opts.force, _scale_source(opts, camera), opts.holdout or opts.mask,
                               opts.contact_frames, log, auto_masks=opts.auto_masks, moving=moving, before=before.get("qc"))
        timings["qc_s"] = time.perf_counter() - t0
        shot = paths.load_shot()
        if opts.mask is not None:
            stages.copy_masks(opts.mask, paths, shot.frames)
        if opts.holdout is not None:
            stages.write_holdout(opts.holdout, paths, shot.frames, (shot.resolution[0], shot.resolution[1]), log)
        holdout = None
        if opts.auto_holdout:
            t0 = time.perf_counter()
            holdout = stages.auto_holdout(paths, shot.frames, opts.holdout is not None, log, moving=moving)
            timings["holdout_s"] = time.perf_counter() - t0
        spec = JobSpec(shot=str(shot_dir), stages=list(opts.stages), engines=engines, params=opts.params,
                       frames=list(shot.frames), allow_fallback=opts.allow_fallback, seed=opts.seed, checkpoints=checkpoints)
        spec.validate()
        t0 = time.perf_counter()
        step_progress = (lambda done, total: on_progress("stages", done, total))
        if opts.server:
            version, info = stages.run_stages_server(spec, shot_dir, opts.server, opts.token, step_progress)
            skipped = {int(k): v for k, v in (info.get("skipped") or {}).items()}
            used = engines
        else:
            version, result = stages.run_stages_local(spec, shot_dir, device, checkpoints, step_progress, ray=opts.ray,
                                                      should_stop=should_stop)
            skipped, used = result.skipped, result.engines
        timings["stages_s"] = time.perf_counter() - t0
        for f, why in sorted(skipped.items()):
            log(f"[vanelia] run: skipped frame {f}: {why}")
        t0 = time.perf_counter()
        rate = inputs.plate.rate or shot.fps  # a video plate's exact rate, not Blender's float of it
        clean = opts.sequence and opts.output_format == "exr"
        if clean and opts.codec_match != "off":
            log("[vanelia] codec match: none (an EXR sequence is delivered clean, for compositing)")
        codec_crf = match_version(paths, version, shot.frames, "off" if clean else opts.codec_match, inputs.plate, rate,
                                  log=_quiet if clean else log)
        timings["codec_match_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if opts.sequence:
            assert opts.output_format is not None
            written, missing = write_sequence(shot_dir, version, shot.frames, opts.output, opts.output_format)
        else:
            written, missing = encode.encode(paths, version, shot.frames, opts.output, rate)
        from .contact_sheet import make_contact_sheet

        sheet = make_contact_sheet(shot_dir, version, sheet_path, n=opts.contact_frames)
        timings["encode_s"] = time.perf_counter() - t0
        if missing:
            log(f"[vanelia] run: {len(missing)} frame(s) had no composite and show the plate: {missing[:10]}")
        log(f"[vanelia] run: wrote {opts.output} ({written} frames at {float(rate):g} fps, version {version}, "
            f"engines {', '.join(f'{k}={v}' for k, v in used.items())})")
        log(f"[vanelia] run: contact sheet {sheet}")
        return {
            "output": str(opts.output), "contact_sheet": str(sheet), "shot": str(shot_dir) if opts.keep else None,
            "version": version, "engines": used, "frames": shot.frames, "frames_written": written, "codec_crf": codec_crf,
            "skipped": skipped, "timings": timings, "device": device, "qc": verdict, "holdout": holdout,
        }
    finally:
        if tmp is not None:
            # the shot folder is gone afterwards: keep it with keep=
            shutil.rmtree(tmp.name, ignore_errors=True)
