"""`vanelia run` with the Duck on every real clip of ../shared/data/video; lock, scale, verdict.

One clip after another (never in parallel: the machine has 2 cores), each with a few
frames, low samples and at most 720p, exactly as a user would run it. Per clip: the run's
exit code, QC verdict and reasons, slide (mean / max px at the render resolution), scale
source, the tracker's own error, wall time. Writes JSON after every clip and a markdown table.

    python scripts/lock_real_footage.py --out out/lock_real [--frames 30] [--clips a,b]
    python scripts/lock_real_footage.py --rejudge OUT1 OUT2 ... --out out/lock_rejudge

``--rejudge`` re-runs today's shot QC on shots earlier runs kept (OUT/<clip>/shot), without
rendering again: the lock judged at the clip's resolution, the automatic moving-object
masks, the rendered-foot check; and it reports what triangulating the spot on the plate
(ml.camera.contact) would do to the slide (an estimate: the product is not re-rendered).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def clip_input(folder: Path) -> Path:
    if (folder / "frames").is_dir():
        return folder / "frames"
    vids = sorted(folder.glob("*.mp4"))
    if not vids:
        raise FileNotFoundError(f"{folder}: no frames/ folder or .mp4")
    return vids[0]


def first_frame_and_size(inp: Path) -> tuple[int, int, int]:
    import cv2

    from ml.io.images import frame_number, list_frames

    if inp.is_dir():
        files = list_frames(inp)
        img = cv2.imread(str(files[0]))
        return frame_number(files[0], 1), img.shape[1], img.shape[0]
    cap = cv2.VideoCapture(str(inp))
    ok, img = cap.read()
    cap.release()
    return 1, img.shape[1], img.shape[0]


def render_size(w: int, h: int, max_h: int) -> str | None:
    """At most ``max_h`` lines, same aspect (to within a pixel), whole pixels."""
    if h <= max_h:
        return None
    for div in (1.5, 2.0, 2.25, 2.5, 3.0, 4.0):
        nw, nh = w / div, h / div
        if abs(nw - round(nw)) < 1e-6 and abs(nh - round(nh)) < 1e-6 and nh <= max_h:
            return f"{int(nw)}x{int(nh)}"
    return f"{w // 2}x{h // 2}"


def run_clip(name: str, out: Path, frames: int, samples: int, max_h: int, timeout_s: int = 0,
             tracker: str = "auto") -> dict:
    out_root = out
    inp = clip_input(DATA / "video" / name)
    first, w, h = first_frame_and_size(inp)
    res = render_size(w, h, max_h)
    shot = out / name / "shot"
    mp4 = out / name / f"{name}.mp4"
    cmd = [sys.executable, "-m", "cli.main", "run", "--input", str(inp), "--model", str(DATA / "models" / "Duck.glb"),
           "--output", str(mp4), "--frames", f"{first}:{first + frames - 1}", "--samples", str(samples),
           "--keep", str(shot), "--product-size", "0.35", "--contact-frames", "4", "--tracker", tracker]
    if res:
        cmd += ["--resolution", res]
    (out / name).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              timeout=timeout_s or None)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        (out_dir := out_root / name).mkdir(parents=True, exist_ok=True)
        (out_dir / "run.log").write_text(out)
        return {"clip": name, "input": str(inp), "size": f"{w}x{h}", "render": res or f"{w}x{h}", "frames": frames, "rc": None,
                "wall_s": round(time.perf_counter() - t0, 1), "verdict": f"not finished (stopped after {timeout_s} s)",
                "reasons": [f"the run did not finish within {timeout_s} s on the shared 2-core machine"]}
    wall = time.perf_counter() - t0
    (out / name / "run.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    row = {"clip": name, "input": str(inp), "size": f"{w}x{h}", "render": res or f"{w}x{h}", "frames": frames,
           "rc": proc.returncode, "wall_s": round(wall, 1), "contact_sheet": str(mp4.with_name(mp4.stem + "_contact.png"))}
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("vanelia: error")]
    row["error"] = err[-1] if err else ""
    try:
        doc = json.loads((shot / "shot.json").read_text())
        qc, cam = doc.get("qc") or {}, (doc.get("camera") or {}).get("qc") or {}
        row.update(verdict=qc.get("verdict", ""), reasons=qc.get("reasons", []), slide_mean_px=qc.get("slide_mean_px"),
                   slide_max_px=qc.get("slide_max_px"), lock_coverage=(qc.get("lock") or {}).get("coverage"),
                   scale_source=qc.get("scale_source", ""), render_h=doc["resolution"][1], tracker=cam.get("tracker", ""),
                   track_median_px=cam.get("median_error_px"), checks={k: v.get("ok") for k, v in (qc.get("checks") or {}).items()},
                   shutter=(doc.get("render") or {}).get("motion_blur", 0.0))
        row["chroma"] = chroma_matched(shot)
        # the targets are at the clip's resolution up to 720p; the QC judges there already
        # when its lock reports a measured_size (shot.json with the plate's native size)
        judged = "measured_size" in (qc.get("lock") or {})
        k = 1.0 if judged else min(h, 720) / doc["resolution"][1]
        if row["slide_mean_px"] is not None:
            row["slide_mean_px_720"], row["slide_max_px_720"] = row["slide_mean_px"] * k, row["slide_max_px"] * k
    except (OSError, ValueError):
        row.update(verdict="no shot (failed before the render)", reasons=[row["error"]])
    return row


def chroma_matched(shot: Path) -> str:
    """How many of the composite's frames took the plate's 4:2:0 chroma (ml/composite/chroma.py):
    it acts only at the decoded size, so a run scaled by --max-height shows 0."""
    try:
        frames = json.loads((shot / "v001" / "params.json").read_text()).get("frames", {})
    except (OSError, ValueError):
        return "–"
    said = [str((f.get("composite") or {}).get("chroma", "")) for f in frames.values()]
    return f"{sum(c.startswith('4:2:0') for c in said)}/{len(said)}" if said else "–"


def table(rows: list[dict]) -> str:
    head = ("| clip | size (render) | exit | verdict | slide mean / max px at render size (at clip size ≤ 720p) | coverage | scale source | "
            "tracker (median px) | shutter | 4:2:0 frames | wall s | reason |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        slide = (f"{r['slide_mean_px']:.2f} / {r['slide_max_px']:.2f} ({r['slide_mean_px_720']:.2f} / {r['slide_max_px_720']:.2f})"
                 if r.get("slide_mean_px") is not None else "–")
        med = r.get("track_median_px")
        trk = f"{r.get('tracker', '')} ({med:.2f})" if isinstance(med, (int, float)) else r.get("tracker", "")
        why = "; ".join(r.get("reasons") or []) or ""
        lines.append(f"| {r['clip']} | {r['size']} ({r['render']}) | {r['rc']} | {r.get('verdict', '')} | {slide} | "
                     f"{r.get('lock_coverage', '–')} | {r.get('scale_source', '')} | {trk} | {r.get('shutter', '–')} | {r.get('chroma', '–')} | {r['wall_s']} | {why[:300]} |")
    return head + "\n".join(lines) + "\n"


def rejudge_shot(name: str, shot_dir: Path) -> dict:
    """Today's QC on a kept shot (the shot.json gains the plate's native size it lacked)."""
    import numpy as np

    from app.qc import lock_masks
    from ml.camera.contact import refine_contact
    from ml.camera.shotqc import check_shot, contact_point, shot_solve
    from ml.camera.solve import STATIONARY_TRACKERS
    from shotcache.layout import ShotPaths

    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    if len(shot.plate.native_size) != 2:
        _, w, h = first_frame_and_size(clip_input(DATA / "video" / name))
        shot.plate.native_size = [w, h]
        paths.save_shot(shot)
    masks = lock_masks(shot_dir, shot.frames, None, lambda m: None)
    qc = check_shot(shot_dir, masks=masks)
    row = {"clip": name, "shot": str(shot_dir), "render": "x".join(map(str, shot.resolution)),
           "native": "x".join(map(str, shot.plate.native_size)), "verdict": qc.verdict, "reasons": qc.reasons,
           "slide_mean_px": qc.slide_mean_px, "slide_max_px": qc.slide_max_px, "judged_at": qc.lock.get("size"),
           "checks": {k: v.get("ok") for k, v in qc.checks.items()}, "tracker": shot.camera.kind}
    solve = shot_solve(shot)
    plates = {f: paths.plate_frame(f) for f in shot.frames if paths.plate_frame(f).is_file()}
    if shot.camera.qc.get("tracker") not in STATIONARY_TRACKERS and plates:
        found = refine_contact(plates, solve, contact_point(shot), shot.frames[len(shot.frames) // 2],
                               np.asarray(shot.ground.normal, dtype=np.float64))
        k = qc.lock.get("size", [0, 1])[1] / max(shot.resolution[1], 1)
        after = found.get("after") or {}
        row["contact_refine"] = {"used": found["used"], "why": found["why"], "height_m": found["height_m"],
                                 "slide_mean_after_px": after.get("mean", 0) * k if after else None,
                                 "slide_max_after_px": after.get("max", 0) * k if after else None}
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "lock_real")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--clips", default=None, help="comma list (default: every clip)")
    ap.add_argument("--max-height", type=int, default=480, help="render at most this many lines (speed on 2 cores)")
    ap.add_argument("--timeout", type=int, default=0, help="seconds per clip (0: none)")
    ap.add_argument("--tracker", default="auto", help="as `vanelia run --tracker` (default auto)")
    ap.add_argument("--rejudge", type=Path, nargs="*", default=None,
                    help="earlier --out folders: re-judge their kept shots with today's QC (the newest folder wins)")
    a = ap.parse_args()
    if a.rejudge:
        shots: dict[str, Path] = {}
        for folder in a.rejudge:  # later folders override earlier ones
            for shot in sorted(folder.glob("*/shot/shot.json")):
                shots[shot.parent.parent.name] = shot.parent
        a.out.mkdir(parents=True, exist_ok=True)
        rows = []
        for name, shot_dir in sorted(shots.items()):
            rows.append(rejudge_shot(name, shot_dir))
            print(json.dumps(rows[-1]), flush=True)
            (a.out / "lock_rejudge.json").write_text(json.dumps(rows, indent=2))
        return 0
    clips = a.clips.split(",") if a.clips else sorted(p.name for p in (DATA / "video").iterdir() if p.is_dir())
    rows: list[dict] = []
    a.out.mkdir(parents=True, exist_ok=True)
    for name in clips:
        row = run_clip(name, a.out, a.frames, a.samples, a.max_height, a.timeout, a.tracker)
        rows.append(row)
        print(json.dumps(row), flush=True)
        (a.out / "lock_real.json").write_text(json.dumps(rows, indent=2))
        (a.out / "lock_real.md").write_text(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
