"""Structure-from-motion with pycolmap (COLMAP): for stills, hard shots, or a poor Blender solve."""
from __future__ import annotations

from shotcache.errors import UserError

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from shotcache.schema import Distortion, FrameCamera

from .solve import Solve


class SolveError(UserError, RuntimeError):
    """The footage could not be solved; the message says why and what to try."""


def solve_images(images: dict[int, Path], *args, **kwargs) -> Solve:
    """Solve one shared pinhole+radial camera for frames {number: image path} (see
    ``_solve_images_here``), in a child process: see ``_isolated``."""
    return _isolated(_solve_images_here, images, *args, **kwargs)


def solve_tracks(images: dict[int, Path], tracks, *args, **kwargs) -> Solve:
    """Solve a clip from its 2D feature tracks (see ``_solve_tracks_here``), in a child process."""
    return _isolated(_solve_tracks_here, images, tracks, *args, **kwargs)


def _isolated(fn, *args, attempts: int = 2, **kwargs):
    """Run a COLMAP solve in a fresh child process.

    COLMAP aborts the whole process on an internal check (and can crash outright on odd
    input); inside the sidecar, the CLI or a test runner that would take everything down with
    it. In a child, a crash is a clear error the caller can fall back from.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    for attempt in range(attempts):  # a crash seen once did not repeat on the same input: try again
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            try:
                return pool.submit(fn, *args, **kwargs).result()
            except BrokenProcessPool as exc:
                if attempt + 1 == attempts:
                    raise SolveError("COLMAP stopped abnormally (its process crashed) while solving this footage; run "
                                     "it again, try --tracker blender, or give --focal-mm") from exc


@contextmanager
def _workspace(images: dict[int, Path], workdir: Path | None):
    """The folder a solve works in (a temporary one, removed after, unless given)."""
    if len(images) < 3:
        raise SolveError(f"only {len(images)} frame(s): a camera solve needs at least 3 frames with parallax")
    own_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="vanelia-colmap-")) if workdir is None else Path(workdir)
    try:
        yield work
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)


def _import_pycolmap():
    try:
        import pycolmap
    except ImportError as exc:  # pragma: no cover - pycolmap is in the lock file
        raise SolveError("the colmap tracker needs pycolmap (pip install pycolmap)") from exc
    # COLMAP logs every registration and bundle adjustment at INFO: thousands of lines that
    # bury the run's own log. Warnings and errors still come through.
    pycolmap.logging.minloglevel = max(int(pycolmap.logging.minloglevel), 1)
    return pycolmap


def _solve_images_here(
    images: dict[int, Path],
    workdir: Path | None = None,
    focal_px: float | None = None,
    max_image_size: int = 1024,
    max_features: int = 4096,
    sequential: bool = False,
    threads: int = -1,
    seed: int = 0,
    masks: dict[int, Path] | None = None,
    max_runtime_s: int = 1800,
) -> Solve:
    """Solve one shared pinhole+radial camera for frames {number: image path}.

    One camera for all frames (a plate is one lens); focal length refined unless given;
    distortion k1 (and k2 with OPENCV) kept in the result. SIFT runs on images downscaled to
    ``max_image_size`` but keypoints come back in full-resolution pixels. ``masks`` (white =
    moving object) keep features off things that move on their own, such as people.
    """
    pycolmap = _import_pycolmap()
    with _workspace(images, workdir) as work:
        return _solve(pycolmap, images, work, focal_px, max_image_size, max_features, sequential, threads, seed, masks, max_runtime_s)


def _solve_tracks_here(
    images: dict[int, Path],
    tracks,
    workdir: Path | None = None,
    focal_px: float | None = None,
    threads: int = -1,
    seed: int = 0,
    max_runtime_s: int = 1800,
    low_parallax: bool = False,
) -> Solve:
    """Solve a clip from its 2D feature tracks (ml.camera.klt) with COLMAP's mapper.

    Each frame's keypoints are its track observations; frame pairs at growing gaps (1, 2,
    3, 5, 8 ... frames) are matched by track id, so short baselines link the sequence and
    long ones give the parallax the solve needs. COLMAP verifies the pairs geometrically
    and runs its incremental mapper and bundle adjustment (focal refined unless given).
    ``low_parallax`` lets the mapper start from and keep points seen under smaller angles,
    for pans and follow shots (best with the focal length given, e.g. from a nodal solve).
    """
    pycolmap = _import_pycolmap()
    with _workspace(images, workdir) as work:
        img_dir, names = _link_images(images, work)
        db_path = work / "database.db"
        if db_path.exists():
            db_path.unlink()
        pycolmap.Database.open(db_path).close()
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "SIMPLE_RADIAL"
        if focal_px:
            reader.camera_params = f"{focal_px},{tracks.width / 2},{tracks.height / 2},0"
        pycolmap.import_images(db_path, img_dir, camera_mode=pycolmap.CameraMode.SINGLE, options=reader)
        pairs = _write_track_matches(pycolmap, db_path, names, tracks)
        if not pairs:
            raise SolveError("no frame pair shares enough feature tracks; the footage cannot be solved "
                             "(too little texture, or everything moves)")
        pairs_txt = work / "pairs.txt"
        pairs_txt.write_text("".join(f"{a} {b}\n" for a, b in pairs))
        verify = pycolmap.TwoViewGeometryOptions()
        verify.ransac.max_error = 1.0
        pycolmap.verify_matches(db_path, pairs_txt, options=verify)
        opts = _mapper_options(pycolmap, threads, seed, max_runtime_s, focal_px, video=True, low_parallax=low_parallax,
                               n_frames=len(images))
        solve = _map(pycolmap, db_path, img_dir, work, opts, names,
                     "COLMAP found no reconstruction from the feature tracks: no parallax (a camera that only "
                     "pans or stands still) or too few tracks; give --focal-mm for a fixed camera")
        solve.tracker = "colmap-klt"
        return solve


def _map(pycolmap, db_path: Path, img_dir: Path, work: Path, opts, names: dict[str, int], none_found: str) -> Solve:
    """Incremental mapping; the model with the most registered frames is the solve."""
    out = work / "sparse"
    out.mkdir(exist_ok=True)
    models = pycolmap.incremental_mapping(db_path, img_dir, out, options=opts)
    if not models:
        raise SolveError(none_found)
    return _to_solve(max(models.values(), key=lambda r: r.num_reg_images()), names)


TRACK_GAPS = (1, 2, 3, 5, 8, 12, 18, 27, 40)
"""Frame gaps matched by shared track ids: short ones link the sequence, long ones give parallax."""
LONG_CLIP_GAPS = (1, 3, 8, 20, 40)
"""... for a long clip (LONG_CLIP frames or more), where pair verification costs: on 100
frames of 720p 7 s instead of 13, with the same solve (median 0.48 px, focal 1011 px)."""
LONG_CLIP = 40
"""From this many frames the mapper takes the long-clip settings (sparser pairs, a lighter
global bundle-adjustment schedule): they save tens of seconds there and cost accuracy
nowhere measured, but a short clip solves in seconds either way and keeps COLMAP's own
careful schedule (on bmx-trees' 14 frames the light schedule gave a tilted ground)."""


def _link_images(images: dict[int, Path], work: Path) -> tuple[Path, dict[str, int]]:
    img_dir = work / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    names: dict[str, int] = {}
    for frame, src in sorted(images.items()):
        name = f"{frame:06d}{Path(src).suffix.lower()}"
        dst = img_dir / name
        if not dst.exists():
            try:
                dst.symlink_to(Path(src).resolve())
            except OSError:
                shutil.copy2(src, dst)
        names[name] = frame
    return img_dir, names


def _write_track_matches(pycolmap, db_path: Path, names: dict[str, int], tracks, min_shared: int = 30) -> list[tuple[str, str]]:
    """Keypoints = track observations; matches = shared track ids; returns the pairs written."""
    db = pycolmap.Database.open(db_path)
    try:
        by_frame = {names[im.name]: (im.image_id, im.name) for im in db.read_all_images()}
        order = sorted(f for f in by_frame if f in tracks.obs)
        index: dict[int, dict[int, int]] = {}
        for f in order:
            o = tracks.obs[f]
            db.write_keypoints(by_frame[f][0], np.ascontiguousarray(o[:, 1:3], dtype=np.float32))
            index[f] = {int(t): k for k, t in enumerate(o[:, 0])}
        pairs = []
        for i, fa in enumerate(order):
            for gap in (LONG_CLIP_GAPS if len(order) >= LONG_CLIP else TRACK_GAPS):
                if i + gap >= len(order):
                    break
                fb = order[i + gap]
                shared = index[fa].keys() & index[fb].keys()
                if len(shared) < min_shared:
                    continue
                m = np.array([[index[fa][t], index[fb][t]] for t in sorted(shared)], dtype=np.uint32)
                db.write_matches(by_frame[fa][0], by_frame[fb][0], m)
                pairs.append((by_frame[fa][1], by_frame[fb][1]))
        return pairs
    finally:
        db.close()


def _mapper_options(pycolmap, threads: int, seed: int, max_runtime_s: int, focal_px: float | None,
                    video: bool, low_parallax: bool = False, n_frames: int = 0):
    """Mapper settings. Stills: one model. A video's neighbouring frames have little
    parallax: start from a smaller angle and let the mapper begin again if the first model
    stalls (the largest model is kept)."""
    opts = pycolmap.IncrementalPipelineOptions()
    opts.num_threads = threads
    opts.random_seed = seed
    opts.max_runtime_seconds = max_runtime_s
    if focal_px:
        opts.ba_refine_focal_length = False
    if not video:
        opts.multiple_models = False
        return opts
    opts.mapper.init_min_tri_angle = 4.0
    opts.mapper.init_min_num_inliers = 50
    opts.mapper.abs_pose_min_num_inliers = 15
    opts.triangulation.min_angle = 1.0
    opts.mapper.filter_min_tri_angle = 1.0
    opts.max_num_models = 3
    if n_frames >= LONG_CLIP:
        # a long clip's frames arrive in order and each adds a little: a global bundle
        # adjustment after every 30 % growth (not 10 %) and two refinements (not five) keep
        # the same solve (dog-lawn, 100 frames of 720p: median 0.483 vs 0.484 px, focal
        # 1011 px) in 18 s of mapping instead of 28; the final global adjustment still runs
        opts.ba_global_frames_ratio = 1.3
        opts.ba_global_points_ratio = 1.3
        opts.ba_global_max_refinements = 2
    if low_parallax:
        # keep the points a slow pan does triangulate, and the two-view ones that link
        # new scenery to the model; lens distortion stays fixed (it drifts without parallax)
        opts.triangulation.min_angle = 0.5
        opts.mapper.filter_min_tri_angle = 0.5
        opts.mapper.abs_pose_min_num_inliers = 12
        opts.triangulation.ignore_two_view_tracks = False
        opts.ba_refine_extra_params = False
    return opts


def _write_colmap_masks(masks: dict[int, Path], names: dict[str, int], mask_dir: Path) -> None:
    """COLMAP extracts no features where its mask is black: invert ours (white = remove)."""
    import cv2

    mask_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in names.items():
        if frame in masks:
            m = cv2.imread(str(masks[frame]), cv2.IMREAD_GRAYSCALE)
            if m is None:
                raise SolveError(f"{masks[frame]}: cannot read this mask")
            keep = np.where(cv2.dilate((m > 127).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0, 0, 255).astype(np.uint8)
            cv2.imwrite(str(mask_dir / f"{name}.png"), keep)


def _solve(pycolmap, images, work, focal_px, max_image_size, max_features, sequential, threads, seed, masks=None,
           max_runtime_s=1800) -> Solve:
    img_dir, names = _link_images(images, work)
    db = work / "database.db"
    if db.exists():
        db.unlink()
    reader = pycolmap.ImageReaderOptions()
    # video: consecutive frames, small baselines, often low resolution -> a simpler lens
    # model that the solve can pin down; stills keep the full OpenCV model.
    reader.camera_model = "SIMPLE_RADIAL" if sequential else "OPENCV"
    if masks:
        _write_colmap_masks(masks, names, work / "masks")
        reader.mask_path = work / "masks"
    if focal_px:
        import cv2

        first = cv2.imread(str(next(iter(images.values()))))
        h, w = first.shape[:2]
        reader.camera_params = (f"{focal_px},{w / 2},{h / 2},0" if sequential
                                else f"{focal_px},{focal_px},{w / 2},{h / 2},0,0,0,0")
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.max_image_size = max_image_size
    extraction.num_threads = threads
    extraction.sift.max_num_features = max_features
    pycolmap.extract_features(db, img_dir, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                              extraction_options=extraction, device=pycolmap.Device.cpu)
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = threads
    if sequential:
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = 20
        pycolmap.match_sequential(db, matching_options=matching, pairing_options=pairing, device=pycolmap.Device.cpu)
    else:
        pycolmap.match_exhaustive(db, matching_options=matching, device=pycolmap.Device.cpu)
    opts = _mapper_options(pycolmap, threads, seed, max_runtime_s, focal_px, video=sequential)
    return _map(pycolmap, db, img_dir, work, opts, names,
                "COLMAP found no reconstruction: too few features or no parallax (a blank wall or a static camera); "
                "try the blender tracker, more frames, or give --focal-mm for a fixed camera")


def _to_solve(rec, names: dict[str, int]) -> Solve:
    cams: dict[int, FrameCamera] = {}
    frame_error: dict[int, float] = {}
    frame_tracks: dict[int, int] = {}
    cam = next(iter(rec.cameras.values()))
    p = list(cam.params)
    # OPENCV: fx, fy, cx, cy, k1, k2, p1, p2 ; SIMPLE_RADIAL: f, cx, cy, k
    if cam.model_name == "OPENCV":
        fx, fy, cx, cy = p[:4]
        dist = Distortion(k1=p[4], k2=p[5], p1=p[6], p2=p[7])
    else:
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        dist = Distortion(k1=p[3] if len(p) > 3 else 0.0)
    xyz = {pid: np.asarray(pt.xyz) for pid, pt in rec.points3D.items()}
    for image in rec.images.values():
        if not image.has_pose:
            continue
        frame = names.get(image.name)
        if frame is None:
            continue
        w2c = np.eye(4)
        w2c[:3, :] = image.cam_from_world().matrix()
        c2w = np.linalg.inv(w2c)
        cams[frame] = FrameCamera(fx=fx, fy=fy, cx=cx, cy=cy, c2w=c2w.tolist())
        errs = []
        for p2d in image.points2D:
            if p2d.has_point3D():
                proj = image.project_point(xyz[p2d.point3D_id])
                if proj is not None:
                    errs.append(float(np.linalg.norm(np.asarray(proj) - np.asarray(p2d.xy))))
        frame_error[frame] = float(np.mean(errs)) if errs else float("inf")
        frame_tracks[frame] = len(errs)
    pts = np.array([xyz[k] for k in sorted(xyz)]) if xyz else np.zeros((0, 3))
    perr = np.array([rec.points3D[k].error for k in sorted(xyz)]) if xyz else np.zeros((0,))
    return Solve(width=cam.width, height=cam.height, cameras=cams, distortion=dist, points=pts, point_error=perr,
                 frame_error=frame_error, frame_tracks=frame_tracks, tracker="colmap")
