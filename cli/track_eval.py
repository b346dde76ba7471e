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
from ml.camera.transforms import read_transforms

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "tracked" / "fox"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="vanelia eval track")
    ap.add_argument("--data", type=Path, default=DEFAULT, help="folder with transforms.json + images")
    ap.add_argument("--clip", type=Path, default=None,
                    help="instead: a continuous clip (folder of frames) to solve; reports reprojection error and "
                         "the drift of a product placed on the solved ground")
    ap.add_argument("--masks", type=Path, default=None, help="with --clip: masks of moving objects (white)")
    ap.add_argument("--resize", default=None, help="with --clip: WxH to resize frames to first (timing at a size)")
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
    gt = {}
    images = {}
    for fr in doc["frames"]:
        img = args.data / fr["file_path"]
        if not img.exists():
            continue  # transforms.json lists more frames than there are images
        num = int("".join(ch for ch in Path(fr["file_path"]).stem if ch.isdigit()) or 0)
        images[num] = img
    if args.limit:
        images = dict(sorted(images.items())[: args.limit])
    truth = read_transforms(tf)
    # read_transforms numbers frames by position; rebuild the map by file name
    order = [int("".join(ch for ch in Path(fr["file_path"]).stem if ch.isdigit())) for fr in doc["frames"]]
    by_num = {n: truth.cameras[i + 1] for i, n in enumerate(order)}
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
    """Solve a real clip, level it, place a product on the ground, measure drift and time."""
    import tempfile

    import cv2

    from ml.camera.drift import placement_drift
    from ml.camera.ground import fit_ground, level_world
    from ml.camera.placement import choose_placement
    from ml.camera.qc import track_qc
    from ml.io.images import list_frames

    files = list_frames(args.clip)
    masks = {}
    if args.masks:
        mfiles = {p.stem: p for p in list_frames(args.masks)}
    with tempfile.TemporaryDirectory(prefix="vanelia-clip-") as tmp:
        frames = {}
        for i, f in enumerate(files):
            img = cv2.imread(str(f))
            if args.resize:
                w, h = (int(v) for v in args.resize.lower().split("x"))
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
            out = Path(tmp) / f"{i + 1:06d}.png"
            cv2.imwrite(str(out), img)
            frames[i + 1] = out
            if args.masks and f.stem in mfiles:
                m = cv2.imread(str(mfiles[f.stem]), cv2.IMREAD_GRAYSCALE)
                mp = Path(tmp) / f"mask_{i + 1:06d}.png"
                cv2.imwrite(str(mp), cv2.resize(m, img.shape[1::-1], interpolation=cv2.INTER_NEAREST))
                masks[i + 1] = mp
        t0 = time.perf_counter()
        solve = solve_images(frames, workdir=Path(tmp) / "colmap", sequential=True, masks=masks or None,
                             max_image_size=max(cv2.imread(str(frames[1])).shape[:2]))
        solve_s = time.perf_counter() - t0
        qc = track_qc(solve, sorted(frames))
        p, n, inl = fit_ground(solve)
        level_world(solve, p, n, 1.5)
        results = {}
        for area in ("bottom_left", "bottom_right", "center"):
            try:
                place = choose_placement(solve, area, radius=0.1, height=0.2)
            except Exception as exc:  # an area may have no visible ground
                results[area] = {"error": str(exc)}
                continue
            drift = placement_drift(frames, solve, np.array(place["point"]), place["ref_frame"])
            drift.pop("per_frame")
            results[area] = {"pixel": place["pixel"], **drift}
    h, w = cv2.imread(str(files[0])).shape[:2]
    size = args.resize or f"{w}x{h}"
    report = {
        "clip": str(args.clip), "size": size, "frames": len(frames), "solved": len(solve.cameras),
        "solve_seconds": round(solve_s, 1), "seconds_per_100_frames": round(solve_s * 100 / len(frames), 1),
        "median_reprojection_error_px": qc["median_error_px"], "mean_reprojection_error_px": qc["mean_error_px"],
        "unreliable_frames": len(qc["unreliable_frames"]), "ground_inliers": int(inl.sum()),
        "placements": results, "target_drift_px": 1.0,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0
