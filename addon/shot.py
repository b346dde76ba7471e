"""Shot orchestration: inputs -> shot cache (shot.json + plate/) -> scene -> render/ EXRs.

``setup_shot`` validates every input *before* writing anything (a bad GLB, track or plate
leaves an existing shot untouched), decodes the plate, bakes the camera, places the
product, estimates lighting, builds the scene and writes ``shot.json``. Each shot has its
own scene (addon/shot_scene.py), built aside and swapped in on success, so the user's
scene is never touched and a failure leaves nothing half-built. The scene is a pure
function of shot.json (``build_scene``), so ``render_shot`` on a fresh Blender rebuilds it.
``ShotRenderer`` renders frame by frame (the UI calls one frame per timer tick);
``render_shot`` is the blocking loop for headless runs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, cast

import bpy
import numpy as np

from ..shotcache.camera_ground import ground_from_cameras, world_ground_plausible
from ..shotcache.layout import ShotPaths, check_writable, file_sha256, image_sha256
from ..shotcache.schema import (
    CameraTrack,
    FrameCamera,
    Ground,
    MOTION_BLUR_EDITED,
    Lighting,
    Plate,
    Product,
    RenderSettings,
    SchemaError,
    Shot,
    check_cover_m,
)
from . import camera as cam_mod
from ..shotcache import tracks
from ..shotcache.areas import parse_area
from ..shotcache.errors import InputError
from ..shotcache.frames import check_resolution, parse_frame_range, parse_resolution as _parse_resolution
from ..shotcache.ground import ground_from_points
from ..shotcache.key_pick import OPTION as KEY_PICK_OPTION, KeyFromShadow, ShadowPick, measure_in_track
from ..shotcache.key_strength import shadow_ratio, sun_for_ratio
from . import lighting, plate, product, render, render_region, shot_scene
from .shot_scene import SHOT_PROP

Progress = Callable[[str], None]
SETUP_PROP = "vanelia_setup_hash"


def _noop(_msg: str) -> None:
    pass


def parse_frames(value: Any) -> tuple[int, int] | None:
    """'A:B' / (A, B) / None -> inclusive frame range (shotcache.frames' rule)."""
    return parse_frame_range(value, "frames")


def parse_resolution(value: Any) -> tuple[int, int] | None:
    """'WxH' / (W, H) / None; Blender renders at least 8x8."""
    return _parse_resolution(value, "resolution", minimum=8)


def check_shot_writable(folder: str | os.PathLike[str]) -> None:
    """Refuse a read-only output folder up front, by its permission bits too.

    ``os.access`` says yes to root for any folder; a folder the user marked read-only is
    still a "don't write here" we respect, before anything is decoded or rendered.
    """
    folder = Path(folder)
    check_writable(folder)
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    for target in (probe, folder / "render", folder / "plate"):
        if target.is_dir() and not target.stat().st_mode & 0o200:
            raise PermissionError(f"{target}: folder is read-only; make it writable (chmod u+w) or choose another shot folder")
    if (folder / "shot.json").is_file() and not (folder / "shot.json").stat().st_mode & 0o200:
        raise PermissionError(f"{folder / 'shot.json'}: file is read-only; make it writable or choose another shot folder")


# ---------------------------------------------------------------------------
# camera
# ---------------------------------------------------------------------------


def _camera_track(scene: Any, camera: Any, info: plate.PlateInfo) -> tuple[CameraTrack, tracks.TrackData | None]:
    """The track for the plate's frames: from a file, or baked from a camera in the .blend."""
    if camera is None or (isinstance(camera, str) and camera.startswith("blend")):
        name = camera.split(":", 1)[1] if isinstance(camera, str) and ":" in camera else None
        obj = bpy.data.objects.get(name) if name else scene.camera
        if obj is None:
            raise InputError(f"no camera {'named ' + repr(name) if name else 'in the scene'}; give a camera track file (--camera transforms.json or a COLMAP model)")
        camera = obj
    if not isinstance(camera, (str, os.PathLike)):
        frames = _bake_in_own_scene(scene, camera, info)
        return CameraTrack(source=f"blend:{camera.name}", kind="blend", frames=frames), None
    data = tracks.scale_to(tracks.load_track(camera), info.width, info.height)
    missing = [f for f in info.frames if f not in data.frames]
    if missing:
        have = len(info.frames) - len(missing)
        raise InputError(
            f"{camera}: the track has poses for {have} of the plate's {len(info.frames)} frames "
            f"(missing {missing[:8]}{' ...' if len(missing) > 8 else ''}); give a track covering the plate "
            "or restrict the frames (--frames A:B)"
        )
    frames = {f: data.frames[f] for f in info.frames}
    return CameraTrack(source=str(camera), kind=data.kind, distortion=data.distortion, frames=frames, qc=dict(data.qc or {})), data


def _bake_in_own_scene(scene: Any, obj: Any, info: plate.PlateInfo) -> dict[int, FrameCamera]:
    """Bake a .blend camera in the scene it lives in (its animation and constraints are
    evaluated there) at the plate's resolution; that scene's settings are restored."""
    home = scene if obj.name in scene.objects else next((s for s in bpy.data.scenes if obj.name in s.objects), scene)
    r = home.render
    saved = (r.resolution_x, r.resolution_y)
    r.resolution_x, r.resolution_y = info.width, info.height
    try:
        return cam_mod.bake_camera(home, obj, info.frames)
    finally:
        r.resolution_x, r.resolution_y = saved


# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------


def setup_shot(
    shot_dir: str | os.PathLike[str],
    plate_source: str | os.PathLike[str],
    model: str | os.PathLike[str],
    camera: Any = None,
    frames: Any = None,
    resolution: Any = None,
    samples: int = 32,
    *,
    source_scene: Any = None,
    passes: list[str] | None = None,
    product_matrix: list[list[float]] | None = None,
    ground: Ground | dict | None = None,
    product_scale: float = 1.0,
    product_size_m: float | None = None,
    product_yaw_deg: float = 0.0,
    place_area: str | None = None,
    light_direction: list[float] | None = None,
    key_pick: ShadowPick | None = None,
    light_intensity: float = 3.0,
    camera_height_m: float | None = None,
    undistort: bool = False,
    fps: float | None = None,
    device: str = "AUTO",
    motion_blur: float = 0.0,
    ground_cover_m: float = 0.0,
    progress: Progress = _noop,
) -> Shot:
    """Build (or update) the shot folder and the shot's own scene; returns the saved Shot.

    ``source_scene`` (default: the context's) is where a .blend camera is looked up and
    whose Vanelia settings the shot's scene gets; it is never modified. The shot's scene is
    ``shot_scene.scene_of(shot_dir)`` afterwards. ``ground_cover_m``: the grass round the
    product (shot.json ground.cover_m), which the stages hide its base in.
    """
    source = source_scene or bpy.context.scene
    with shot_scene.building(os.path.abspath(shot_dir), settings_from=source) as scene:
        return _setup_into(scene, source, shot_dir, plate_source, model, camera, frames, resolution, samples, passes,
                           product_matrix, ground, product_scale, product_size_m, product_yaw_deg, light_direction,
                           light_intensity, undistort, fps, device, progress, place_area=place_area, motion_blur=motion_blur,
                           camera_height_m=camera_height_m, key_pick=key_pick, ground_cover_m=ground_cover_m)


def _setup_into(scene: Any, source: Any, shot_dir: Any, plate_source: Any, model: Any, camera: Any, frames: Any,
                resolution: Any, samples: int, passes: list[str] | None, product_matrix: Any, ground: Any,
                product_scale: float, product_size_m: float | None, product_yaw_deg: float, light_direction: Any,
                light_intensity: float, undistort: bool, fps: float | None, device: str, progress: Progress,
                *, place_area: str | None = None, motion_blur: float = 0.0, camera_height_m: float | None = None,
                key_pick: ShadowPick | None = None, ground_cover_m: float = 0.0) -> Shot:
    """setup_shot's work, into the fresh ``scene``."""
    paths = ShotPaths(os.path.abspath(shot_dir))
    # 1. validate every input before touching the shot folder
    check_shot_writable(paths.root)
    cover = check_cover_m(ground_cover_m, "ground cover")
    passes = render.check_passes(list(passes) if passes is not None else list(render.PASSES))
    glb = product.check_glb(model)
    frame_range = parse_frames(frames)
    res = parse_resolution(resolution)
    area = parse_area(place_area, "placement area") if place_area else None  # a bad area fails before any work
    info = plate.probe(plate_source)
    info.frames = plate._select(info.frames, frame_range, str(plate_source))
    native = [int(info.width), int(info.height)]  # the footage's own size, before --resolution
    width, height = check_resolution((info.width, info.height), res, str(plate_source))
    info.width, info.height = width, height
    scene.render.resolution_x, scene.render.resolution_y = width, height
    track, data = _camera_track(source, str(camera) if isinstance(camera, os.PathLike) else camera, info)
    points = data.points if data is not None else None
    if key_pick is not None and light_direction is not None:
        raise InputError(f"{KEY_PICK_OPTION} and a light direction both give the key's direction; give one")
    if light_direction is None and key_pick is None and data is not None and data.light_direction is not None:
        light_direction = data.light_direction
    size_given = isinstance(ground, Ground) or (isinstance(ground, dict) and "size_m" in ground)
    if isinstance(ground, dict):
        ground = Ground(**ground)
    first_cam = track.frames[info.frames[0]]
    levelled = data.qc.get("ground") if data is not None else None
    unit = 1.0  # metres per scene unit
    if ground is None and isinstance(levelled, dict) and "normal" in levelled:
        # `vanelia track` levelled the world on the ground it chose (with the plate's verticals,
        # below the cameras): its record wins over a fresh fit of the points it also carries
        ground = Ground(point=[float(v) for v in levelled.get("point", [0.0, 0.0, 0.0])],
                        normal=[float(v) for v in levelled["normal"]])
    elif ground is None and points is not None and len(points) >= 3:
        ground = ground_from_points(points)
    elif ground is None and data is not None and not data.qc.get("ground") and \
            not world_ground_plausible([c.c2w for c in data.frames.values()]):
        # an imported track without points: its z = 0 may be anywhere (above every camera)
        ground, unit = _ground_from_cameras(track, data, camera_height_m, progress)
        product_scale /= unit
        product_size_m = product_size_m / unit if product_size_m else None
    elif ground is None:
        ground = Ground()
    pick_note = ""
    if key_pick is not None:  # the artist's shadow, measured with this frame's solved camera on this ground
        picked = measure_in_track(key_pick, track.frames, info.frames, ground.point, ground.normal, native, width, track.distortion)
        light_direction, pick_note = picked.direction, picked.note(key_pick)
        progress(pick_note)
    # 2. the product (a GLB Blender can't import fails here, before any file is written)
    sha = file_sha256(glb)
    root = product.import_glb(scene, glb)
    root[SETUP_PROP + "_glb"] = sha
    if product_matrix is not None:
        mat = product.place_explicit(root, product_matrix, size_m=product_size_m)
        placement = "explicit"
        scale = float(np.linalg.norm(np.asarray(mat, dtype=float)[:3, 0])) if product_size_m else float(product_scale)
    else:
        area_pixel = None
        if area is not None:  # stand it where the area's centre meets the ground
            x0, y0, x1, y1 = area.fraction_box(width, height)
            area_pixel = ((x0 + x1) / 2, (y0 + y1) / 2)
        point = product.view_ground_point(first_cam, ground, width, height, pixel=area_pixel)
        mat, scale = product.place_on_ground(root, ground, point, product_scale, product_size_m, product_yaw_deg)
        placement = "ground"
    ground = _centre_catcher(root, ground, size_given)
    ground.cover_m = cover
    # 3. write: plate frames (once), then the scene, then shot.json
    paths.root.mkdir(parents=True, exist_ok=True)
    undistorted = bool(undistort and not track.distortion.is_zero())
    if _plate_is_current(paths, plate_source, info.frames, (width, height), undistorted):
        progress("plate frames already decoded, reused")
        decoded = plate.PlateInfo(info.source, info.kind, width, height, info.fps, list(info.frames))
    else:
        progress(f"decoding plate {plate_source}")
        decoded = plate.decode(plate_source, paths.root, frame_range, (width, height), progress)
        if undistorted:
            progress("undistorting plate frames")
            plate.undistort(str(paths.root), info.frames, first_cam, track.distortion)
    light = lighting.estimate(str(paths.root), info.frames, track.frames, ground.normal, light_direction, light_intensity)
    if pick_note:
        light.notes = pick_note
    shot = Shot(
        name=paths.root.name,
        resolution=[width, height],
        fps=float(fps or decoded.fps),
        frames=list(info.frames),
        plate=Plate(source=str(Path(plate_source).resolve()), kind=decoded.kind, frames_dir="plate", undistorted=undistorted,
                    native_size=native),
        camera=track,
        product=Product(source=str(glb.resolve()), sha256=sha, matrix_world=np.array(mat, dtype=float).tolist(), placement=placement, scale_m=scale),
        ground=ground,
        lighting=light,
        render=RenderSettings(samples=int(samples), device=device, passes=passes, blender_version=bpy.app.version_string,
                              motion_blur=float(motion_blur)),
    )
    shot.validate(str(paths.shot_json))
    if paths.shot_json.is_file():  # keep the render cache of an earlier setup: unchanged frames are skipped
        try:
            shot.render.frame_hashes = paths.load_shot().render.frame_hashes
        except SchemaError:
            pass
    build_scene(scene, shot, str(paths.root))
    paths.save_shot(shot)
    dims = " x ".join(f"{v:.2f}" for v in product.dimensions(root) * unit)
    sized = f"--product-size {product_size_m * unit:g} m" if product_size_m else "as modelled (glTF units are metres; --product-size scales it)"
    progress(f"shot ready: {len(shot.frames)} frames {width}x{height} in {paths.root}; the product is {dims} m, {sized}")
    return shot


def _ground_from_cameras(track: CameraTrack, data: tracks.TrackData, camera_height_m: float | None,
                         progress: Progress) -> tuple[Ground, float]:
    """Ground, up and scale inferred from the poses alone (shotcache.camera_ground), from
    every camera of the track (not only the plate's frames); the product's size in metres
    becomes track units. Recorded in the shot's track qc['scale']."""
    found = ground_from_cameras([c.c2w for c in data.frames.values()], camera_height_m)
    unit = float(found["metres_per_unit"])
    track.qc["scale"] = {"source": found["source"], "metres_per_unit": unit, "ground": found["how"]}
    progress(f"the track has no points: {found['how']}; scale from {found['source']} ({unit:.3g} m per track unit)")
    return Ground(point=found["point"], normal=found["normal"]), unit


def _centre_catcher(root: Any, ground: Ground, size_given: bool) -> Ground:
    """Centre the shadow catcher under the product and, unless sized by the user, make it just
    big enough for the product's shadow (lights are >= 25 deg high: shadows < 2.2x its height).
    A small catcher keeps Cycles from path-tracing ground over the whole frame."""
    lo, hi = product.mesh_bounds(root)
    n = np.asarray(ground.normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    foot = (lo + hi) / 2.0
    foot = foot - n * ((foot - np.asarray(ground.point, dtype=np.float64)) @ n)
    size = ground.size_m if size_given else max(1.0, 6.0 * float(max(hi - lo)))
    return Ground(point=foot.tolist(), normal=n.tolist(), size_m=float(size), cover_m=ground.cover_m)


def _plate_is_current(paths: ShotPaths, source: Any, frames: list[int], size: tuple[int, int], undistorted: bool) -> bool:
    """The shot already holds these plate frames, decoded from this unchanged source."""
    if not paths.shot_json.is_file():
        return False
    try:
        old = paths.load_shot()
    except SchemaError:
        return False
    src = Path(source).resolve()
    if old.plate.source != str(src) or old.plate.undistorted != undistorted or tuple(old.resolution) != tuple(size):
        return False
    if not set(frames) <= set(old.frames) or not all(paths.plate_frame(f).is_file() for f in frames):
        return False
    newest = max((p.stat().st_mtime for p in ([src] + list(src.iterdir()) if src.is_dir() else [src])), default=0.0)
    return newest < paths.shot_json.stat().st_mtime


def environment_sha256(shot: Shot, shot_dir: str | os.PathLike[str]) -> str:
    """The content hash of the shot's environment map ("" without one). shot.json names the map
    by path only; a light estimated again rewrites it in place."""
    if not shot.lighting.environment:
        return ""
    env = Path(shot_dir) / shot.lighting.environment
    return file_sha256(env) if env.is_file() else ""


def _setup_key(shot: Shot, shot_dir: str) -> str:
    """What the built scene shows: the shot's record and the environment map's content (a map
    rewritten in place is loaded again)."""
    d = shot.to_dict()
    d.pop("render")
    d["samples"] = shot.render.samples
    d["motion_blur"] = shot.render.motion_blur
    d["passes"] = shot.render.passes
    d["dir"] = shot_dir
    d["environment_sha256"] = environment_sha256(shot, shot_dir)
    from ..shotcache.layout import stable_hash

    return stable_hash(d)


def build_scene(scene: Any, shot: Shot, shot_dir: str) -> None:
    """Make ``scene`` render ``shot``: resolution, frames, camera, product, ground, lights, passes."""
    r = scene.render
    r.resolution_x, r.resolution_y = shot.resolution
    r.resolution_percentage = 100
    r.fps = max(1, round(shot.fps))
    r.fps_base = r.fps / shot.fps
    scene.frame_start, scene.frame_end = shot.frames[0], shot.frames[-1]
    cam_obj = cam_mod.build_camera(scene, shot.camera.frames)
    paths = ShotPaths(shot_dir)
    has_plate = any(paths.plate_frame(f).is_file() for f in shot.frames)  # a farm chunk's folder holds its own frames
    if has_plate:
        plate.set_camera_background(cam_obj, shot_dir, shot.frames)
    root = shot_scene.find(scene, product.PRODUCT_ROOT)
    if root is None or root.get(SETUP_PROP + "_glb") != shot.product.sha256:
        root = product.import_glb(scene, shot.product.source)
        root[SETUP_PROP + "_glb"] = shot.product.sha256
    product.place_explicit(root, shot.product.matrix_world)
    catcher = product.make_shadow_catcher(scene, shot.ground, shot.lighting.ground_albedo)
    if has_plate:
        product.reflect_plate(catcher, plate.plate_sequence(shot_dir, shot.frames), shot.frames,
                              lighting.ground_irradiance(shot.lighting, shot_dir, shot.ground.normal,
                                                       at=shot.ground.point))  # the catcher is centred under the product
    lighting.apply(scene, shot.lighting, shot_dir)
    render.configure(scene, shot.render.samples, shot.render.passes, shot.render.device, motion_blur=shot.render.motion_blur,
                     refraction=product.refracts(root))
    scene[SHOT_PROP] = shot_dir
    scene[SETUP_PROP] = _setup_key(shot, shot_dir)


# ---------------------------------------------------------------------------
# render
# ---------------------------------------------------------------------------


class ShotRenderer:
    """Render a shot's frames one call at a time; skips frames whose inputs did not change."""

    def __init__(self, shot_dir: str | os.PathLike[str], scene: Any = None, force: bool = False, frames: list[int] | None = None):
        self.paths = ShotPaths(os.path.abspath(shot_dir))
        self.shot = self.paths.load_shot()
        # the shot's own scene; a fresh one (built from shot.json below) on a Blender that has none
        self.scene: Any = cast(Any, scene or shot_scene.scene_of(self.paths.root) or _new_shot_scene(self.paths.root))
        _show_headless(self.scene)
        check_shot_writable(self.paths.root)
        src = Path(self.shot.product.source)
        if not src.is_file():
            raise InputError(f"{src}: the shot's product model is gone; set the shot up again with the model")
        self.glb_sha = file_sha256(src)
        if self.glb_sha != self.shot.product.sha256:
            self.shot.product.sha256 = self.glb_sha
        key = _setup_key(self.shot, str(self.paths.root))
        if self.scene.get(SHOT_PROP) != str(self.paths.root) or self.scene.get(SETUP_PROP) != key:
            build_scene(self.scene, self.shot, str(self.paths.root))
        wanted = frames if frames is not None else self.shot.frames
        bad = [f for f in wanted if f not in self.shot.camera.frames]
        if bad:
            raise InputError(f"{self.paths.shot_json}: frames {bad[:8]} are not in this shot")
        plate_sha = {f: image_sha256(self.paths.plate_frame(f)) if self.paths.plate_frame(f).is_file() else "" for f in wanted}
        env_sha = environment_sha256(self.shot, self.paths.root)
        self.hashes = {f: render.frame_hash(self.shot, f, self.glb_sha, plate_sha[f], env_sha) for f in wanted}
        self.pending = [f for f in wanted if force or not self.is_current(f)]
        self.skipped = [f for f in wanted if f not in self.pending]
        self.timings: list[dict[str, float]] = []
        self.regions = render_region.RegionPlanner(self.scene, self.shot, self.paths.root) if self.pending else None

    def is_current(self, frame: int) -> bool:
        return self.shot.render.frame_hashes.get(frame) == self.hashes[frame] and self.paths.render_frame(frame).is_file()

    def render_next(self) -> int | None:
        """Render the next pending frame; returns its number, None when all are done."""
        if not self.pending:
            return None
        frame = self.pending.pop(0)
        border = self.regions.region(frame) if self.regions is not None else None
        t = render.render_frame(self.scene, frame, self.paths.render_frame(frame), border=border)
        t["share"] = render_region.share(border)
        self.timings.append(t)
        self.shot.render.frame_hashes[frame] = self.hashes[frame]
        self.paths.save_shot(self.shot)
        return frame


def _new_shot_scene(shot_dir: Path) -> Any:
    scene = bpy.data.scenes.new(shot_scene.scene_name(shot_dir))
    scene[SHOT_PROP] = str(shot_dir)
    return scene


def _show_headless(scene: Any) -> None:
    """Headless, make ``scene`` the one the (hidden) window shows: frame_set does not evaluate
    the animation of a scene no window shows, so every frame would render with the first
    frame's camera (the shot's scene is built aside, and render-shot starts a fresh one)."""
    wm = bpy.context.window_manager
    if bpy.app.background and wm is not None:
        for window in wm.windows:
            window.scene = scene


def render_shot(
    shot_dir: str | os.PathLike[str],
    progress: Progress = _noop,
    should_cancel: Callable[[], bool] | None = None,
    *,
    scene: Any = None,
    force: bool = False,
    frames: list[int] | None = None,
) -> list[int]:
    """Render every frame that needs it (blocking); returns the frames rendered."""
    job = ShotRenderer(shot_dir, scene, force, frames)
    total = len(job.pending) + len(job.skipped)
    if job.skipped:
        progress(f"{len(job.skipped)} of {total} frames unchanged, skipped")
    done: list[int] = []
    while job.pending:
        if should_cancel is not None and should_cancel():
            progress(f"cancelled after {len(done)} frames")
            break
        frame = job.render_next()
        assert frame is not None
        done.append(frame)
        t = job.timings[-1]
        region = f" ({t['share']:.0%} of the frame: the product and its shadows)" if t["share"] < 1 else ""
        progress(f"frame {len(done) + len(job.skipped)}/{total} (#{frame}) rendered in {t['render_s']:.2f}s{region}")
    return done


def sync_lighting(scene: Any, shot_dir: str | os.PathLike[str], note: str = "edited in Blender") -> bool:
    """Keep the artist's light: when the Vanelia lights or the world strength in the shot's
    scene differ from shot.json's record, write them there as method ``user`` (the panel's
    Light box edits them). True when it changed; the next render redoes the frames whose
    hash changed (all of them). ``vanelia run/render --light shot`` renders with it too."""
    paths = ShotPaths(os.path.abspath(shot_dir))
    if not paths.shot_json.is_file():
        return False
    shot = paths.load_shot()
    now = lighting.capture(scene, shot.lighting)
    if not now.lights or not lighting.edited(shot.lighting, now):
        return False
    now.method = "user"
    now.notes = (shot.lighting.notes + "; " if shot.lighting.notes else "") + note
    shot.lighting = now
    paths.save_shot(shot)
    scene[SETUP_PROP] = _setup_key(shot, str(paths.root))  # the scene already shows it: no rebuild
    return True


def key_from_shadow(scene: Any, shot_dir: str | os.PathLike[str], pick: ShadowPick) -> KeyFromShadow:
    """Point the shot's key where a shadow picked in one of its frames says (the panel's Key
    From Shadow; shotcache/key_pick.py measures it with that frame's solved camera) and keep it
    in shot.json as the artist's light, as a viewport edit is kept. The key's strength was read
    off the plate's lit/shadow ratio at its old elevation (lit = ambient + key sin(elevation)),
    so it is rescaled to give the plate's lit ground at the new one. ``pick`` is in the pixels
    of the plate as it is on disk. A shot whose light placed no key but measured one (the
    plate's shadows gave no direction: shot.json ``lighting.unplaced_key``) gets that key at
    the picked direction. InputError for a pick that cannot be measured, or a shot with no key
    and none measured."""
    paths = ShotPaths(os.path.abspath(shot_dir))
    shot = paths.load_shot()
    lens = None if shot.plate.undistorted else shot.camera.distortion  # the viewport shows the shot's plate
    picked = measure_in_track(pick, shot.camera.frames, shot.frames, shot.ground.point, shot.ground.normal,
                              shot.plate.native_size or shot.resolution, shot.resolution[0], lens)
    n = np.asarray(shot.ground.normal, np.float64)
    n /= np.linalg.norm(n)
    sin_new = max(float(np.dot(np.asarray(picked.direction), n)), 0.05)
    key = next((o for o in scene.objects if o.name == lighting.SUN_NAME and o.type == "LIGHT"), None)
    if key is None and shot.lighting.unplaced_key:
        return _place_measured_key(scene, paths, shot, picked, pick, sin_new)
    if key is None:
        raise InputError(f"{paths.root}: the shot's light has no key light and none measured to place (no shadow edges in the "
                         "plate, or the product stands in its shadow: see the Light box's notes), so a shadow's direction has no key "
                         "to point here; give the same pick to `vanelia render --key-from-shadow FRAME:FOOTX,FOOTY:TOPX,TOPY:TIPX,TIPY` "
                         "(it is measured before the light is estimated, which then makes the key), or --light-dir")
    sin_old = max(float(np.dot(lighting.shining_from(key), n)), 0.05)
    data: Any = key.data
    data.energy = float(data.energy) * sin_old / sin_new
    lighting.point_at(key, picked.direction)
    sync_lighting(scene, paths.root, note="edited in Blender; " + picked.note(pick))
    return picked


def _place_measured_key(scene: Any, paths: ShotPaths, shot: Shot, picked: KeyFromShadow, pick: ShadowPick,
                        sin_elevation: float) -> KeyFromShadow:
    """The key the plate measured but could not direct (shot.json ``lighting.unplaced_key``),
    placed at the picked direction with the strength that gives the plate's lit/shadow ratio
    there (shotcache/key_strength.py), and kept as the artist's light."""
    rec = shot.lighting.unplaced_key
    sun = sun_for_ratio(rec["ratio"], rec["ambient"], picked.direction, sin_elevation, float(rec["angle_deg"]))
    shot.lighting.lights = [sun]
    shot.lighting.shadow_ratio = shadow_ratio(rec["ratio"])
    shot.lighting.method = "user"
    shot.lighting.notes = (shot.lighting.notes + "; " if shot.lighting.notes else "") + "key placed in Blender; " + picked.note(pick)
    paths.save_shot(shot)
    lighting.apply(scene, shot.lighting, str(paths.root))
    scene[SETUP_PROP] = _setup_key(shot, str(paths.root))
    return picked


def sync_motion_blur(scene: Any, shot_dir: str | os.PathLike[str]) -> bool:
    """Keep the artist's motion blur: when the shot's scene's camera motion blur (on/off, the
    shutter; the panel's Render box) differs from shot.json's, write it there, noted as
    edited. True when it changed; the scene is then set up again from shot.json before the
    render, so the camera's keys interpolate as motion blur needs (addon/render.py)."""
    paths = ShotPaths(os.path.abspath(shot_dir))
    if not paths.shot_json.is_file():
        return False
    shot = paths.load_shot()
    now = float(scene.render.motion_blur_shutter) if scene.render.use_motion_blur else 0.0
    if abs(now - shot.render.motion_blur) < 1e-4:
        return False
    shot.render.motion_blur = now
    shot.render.motion_blur_note = f"{MOTION_BLUR_EDITED}: shutter {now:g}" if now > 0 else f"{MOTION_BLUR_EDITED}: off"
    paths.save_shot(shot)
    return True


def sync_placement(scene: Any, shot_dir: str | os.PathLike[str]) -> bool:
    """Keep where the artist moved the product with the gizmos: write the product root's
    matrix in the shot's scene into shot.json (placement ``explicit``). True when it changed,
    so the next render redoes exactly the frames whose hash changed (all of them here)."""
    paths = ShotPaths(os.path.abspath(shot_dir))
    root = shot_scene.find(scene, product.PRODUCT_ROOT)
    if root is None or not paths.shot_json.is_file():
        return False
    shot = paths.load_shot()
    now = np.array(root.matrix_world, dtype=float)
    if np.allclose(now, np.asarray(shot.product.matrix_world, dtype=float), atol=1e-6):
        return False
    shot.product.matrix_world = now.tolist()
    shot.product.placement = "explicit"
    paths.save_shot(shot)
    scene[SETUP_PROP] = _setup_key(shot, str(paths.root))  # the scene already shows it: no rebuild
    return True
