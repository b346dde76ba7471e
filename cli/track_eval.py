"""`vanelia eval track`: solve real photos with known poses and report pose errors.

Default data: ../shared/data/tracked/fox (50 photos, COLMAP-derived poses in a NeRF
transforms.json). The solve's camera centres are aligned to the given ones with a
similarity transform; rotation error (degrees) and centre error (fraction of the scene
extent) are printed and written as JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ml.camera.align import pose_errors
from ml.camera.colmap import solve_images
from ml.camera.solve import read_solve
from shotcache.tracks import load_track

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "tracked" / "fox"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="vanelia eval track")
    ap.add_argument("--data", type=Path, default=DEFAULT, help="folder with transforms.json + images")
    ap.add_argument("--clip", type=Path, default=None,
                    help="instead: a continuous clip (folder of frames) to solve; reports reprojection error and "
                         "the lock (slide over the plate's ground) of a product placed on the solved ground")
    ap.add_argument("--masks", type=Path, default=None, help="with --clip: masks of moving objects (white)")
    ap.add_argument("--resize", default=None, help="with --clip: WxH to resize frames to first (timing at a size)")
    ap.add_argument("--focal-mm", type=float, default=None, help="with --clip: known focal length (36 mm sensor width)")
    ap.add_argument("--truth", type=Path, default=None, help="with --clip: transforms.json of the true cameras (e.g. the demo's)")
    ap.add_argument("--json", type=Path, default=Path("out/eval_track.json"))
    ap.add_argument("--max-image-size", type=int, default=1024)
    ap.add_argument("--max-features", type=int, default=4096)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0 = all)")
    args = ap.parse_args(argv)
    if args.clip:
        return clip_eval(args)
    tf = args.data / "transforms.json"
    if not tf.is_file():
        print(f"vanelia eval track: {tf} not found; give --data with a transforms.json and its images")
        return 2
    doc = json.loads(tf.read_text())
    images = {}
    truth = load_track(tf)  # frames with their images beside the file, numbered by image name
    images = {n: args.data / truth.files[n] for n in truth.frames}
    if args.limit:
        images = dict(sorted(images.items())[: args.limit])
    by_num = truth.frames
    t0 = time.perf_counter()
    solve = solve_images(images, max_image_size=args.max_image_size, max_features=args.max_features)
    elapsed = time.perf_counter() - t0
    common = sorted(set(solve.cameras) & set(by_num))
    est = [np.asarray(solve.cameras[f].c2w) for f in common]
    ref = [np.asarray(by_num[f].c2w) for f in common]
    report = {
        "data": str(args.data),
        "images": len(images),
        "registered": len(solve.cameras),
        "solve_seconds": round(elapsed, 1),
        "focal_px": [solve.cameras[common[0]].fx, solve.cameras[common[0]].fy],
        "focal_px_truth": [doc["fl_x"], doc.get("fl_y", doc["fl_x"])],
        "mean_reprojection_error_px": float(np.mean([solve.frame_error[f] for f in common])),
        **pose_errors(est, ref),
        "targets": {"rotation_error_deg": 1.0, "centre_error_frac": 0.02},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


def clip_eval(args) -> int:
    """Solve a clip as `vanelia track` does, place a product on the ground, measure its lock
    (ml.camera.lock: slide against the plate's ground texture) and time."""
    import tempfile

    import cv2

    from app.track import level_and_qc, solve_footage
    from ml.camera import footage
    from ml.camera.lock import measure_lock
    from ml.camera.placement import PlacementError, choose_placement

    with tempfile.TemporaryDirectory(prefix="vanelia-clip-") as tmp:
        frames = footage.extract_frames(args.clip, Path(tmp) / "frames")
        if args.resize:
            w, h = (int(v) for v in args.resize.lower().split("x"))
            for f in frames.values():
                img = cv2.imread(str(f))
                cv2.imwrite(str(f), cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_CUBIC),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
        masks = footage.match_masks(args.masks, frames) if args.masks else None
        t0 = time.perf_counter()
        solve = solve_footage(frames, masks, args.focal_mm, 1.5, args.max_image_size, Path(tmp), lambda s: None)
        solve_s = time.perf_counter() - t0
        qc = level_and_qc(solve, sorted(frames), 1.5)
        results = {}
        for area in ("bottom_left", "bottom_right", "center"):
            try:
                place = choose_placement(solve, area, radius=0.1, height=0.2)
            except PlacementError as exc:
                results[area] = {"error": str(exc)}
                continue
            lock = measure_lock(frames, solve, np.array(place["point"]), place["ref_frame"], masks=masks)
            results[area] = {"pixel": place["pixel"], "in_frame_fraction": place["in_frame_fraction"], **lock}
        truth = {}
        if args.truth:
            ref = read_solve(args.truth)
            common = sorted(set(solve.cameras) & set(ref.cameras))
            truth = pose_errors([np.asarray(solve.cameras[f].c2w) for f in common], [np.asarray(ref.cameras[f].c2w) for f in common])
            truth["focal_px"], truth["focal_px_truth"] = solve.cameras[common[0]].fx, ref.cameras[common[0]].fx
            # the metric's own floor: the same spots measured with the true camera
            for area, res in results.items():
                if "pixel" in res:
                    spot = choose_placement(ref, f"{res['pixel'][0]},{res['pixel'][1]}", radius=0.1, height=0.2,
                                            ref_frame=res["ref_frame"])
                    res["slide_px_true_camera"] = measure_lock(frames, ref, np.array(spot["point"]), res["ref_frame"])["slide_px"]
        w, h = footage.frame_size(next(iter(frames.values())))
    report = {
        "clip": str(args.clip), "size": f"{w}x{h}", "frames": len(frames), "solved": len(solve.cameras), "tracker": solve.tracker,
        "solve_seconds": round(solve_s, 1), "seconds_per_100_frames": round(solve_s * 100 / len(frames), 1),
        "median_reprojection_error_px": qc["median_error_px"], "mean_reprojection_error_px": qc["mean_error_px"],
        "unreliable_frames": len(qc["unreliable_frames"]), "ground": qc.get("ground", {}), "notes": solve.notes,
        "placements": results, "target_slide_px": {"mean": 1.0, "max": 3.0}, **({"truth": truth} if truth else {}),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=float))
    print(json.dumps(report, indent=2, default=float))
    return 0
