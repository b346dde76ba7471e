"""`vanelia eval inpaint`: the video-completion protocol, every engine in one run.

Holes are placed over content whose true pixels are known (the frames themselves are the
ground truth): seeded masks from ml.inpaint.masks (one static, one moving per seed) or the
user's ``--masks``. Hole pixels are zeroed before any engine sees them. Reported per engine
and for the unfilled input:
  * PSNR in the hole (all hole pixels of the clip pooled) and mean per-frame PSNR,
  * SSIM in the hole (the SSIM map averaged over hole pixels),
  * temporal warping error: mean squared difference between frame t+1 and frame t warped by
    the ground-truth flow, over hole pixels that the flow check says are not occluded
    (the ground truth's own value is the floor that flow errors alone give).
Values are on display-referred sRGB in [0, 1].
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.io.colour import linear_to_srgb, srgb_to_linear
from ml.io.images import list_frames, read_mask, read_rgb8
from ml.io.video import iter_frames
from ml.stages.base import EngineError, EngineUnavailable, FrameState, create
from shotcache.layout import atomic_write_json

from .flow import FlowEstimator, consistency, to_gray8, warp
from .masks import sequence_masks


def load_clip(path: str | Path, max_frames: int | None = None, width: int | None = None) -> list[np.ndarray]:
    """uint8 RGB frames from a folder or a video (optionally resized to ``width``)."""
    path = Path(path)
    it = (read_rgb8(p) for p in list_frames(path)) if path.is_dir() else iter_frames(path)
    out = []
    for img in it:
        if width and img.shape[1] != width:
            h = int(round(img.shape[0] * width / img.shape[1] / 2)) * 2
            img = cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA)
        out.append(img)
        if max_frames and len(out) >= max_frames:
            break
    if len(out) < 2:
        raise ValueError(f"{path}: need at least 2 frames for video completion, found {len(out)}")
    return out


# ----------------------------------------------------------------------------- metrics
def psnr_hole(out: list[np.ndarray], gt: list[np.ndarray], holes: list[np.ndarray]) -> tuple[float, float]:
    """(pooled PSNR over every hole pixel of the clip, mean per-frame PSNR)."""
    se, n, per = 0.0, 0, []
    for o, g, m in zip(out, gt, holes):
        if not m.any():
            continue
        d = (o[m] - g[m]).astype(np.float64) ** 2
        se += d.sum()
        n += d.size
        per.append(10 * np.log10(1.0 / max(d.mean(), 1e-12)))
    return float(10 * np.log10(1.0 / max(se / max(n, 1), 1e-12))), float(np.mean(per)) if per else float("nan")


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Gaussian window sigma 1.5, as Wang et al.), averaged over channels."""
    c1, c2 = 0.01**2, 0.03**2
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    saa = blur(a * a) - mu_a**2
    sbb = blur(b * b) - mu_b**2
    sab = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return s.mean(axis=-1) if s.ndim == 3 else s


def ssim_hole(out: list[np.ndarray], gt: list[np.ndarray], holes: list[np.ndarray]) -> float:
    vals = [ssim_map(o, g)[m] for o, g, m in zip(out, gt, holes) if m.any()]
    return float(np.concatenate(vals).mean()) if vals else float("nan")


class WarpReference:
    """Ground-truth flow t+1 -> t and its non-occlusion mask, computed once per clip."""

    def __init__(self, gt: list[np.ndarray]):
        est = FlowEstimator()
        grays = [to_gray8(g) for g in gt]
        self.flow, self.valid = [], []
        for t in range(len(gt) - 1):
            back = est(grays[t + 1], grays[t])
            fwd = est(grays[t], grays[t + 1])
            self.flow.append(back)
            self.valid.append(consistency(back, fwd))

    def error(self, out: list[np.ndarray], holes: list[np.ndarray]) -> float:
        se, n = 0.0, 0
        for t in range(len(out) - 1):
            sel = holes[t + 1] & self.valid[t]
            if not sel.any():
                continue
            prev = warp(out[t].astype(np.float32), self.flow[t])
            d = ((out[t + 1][sel] - prev[sel]).astype(np.float64) ** 2).sum(-1)
            se += d.sum()
            n += d.size
        return float(se / max(n, 1))


def metrics(out: list[np.ndarray], gt: list[np.ndarray], holes: list[np.ndarray], ref: WarpReference) -> dict[str, float]:
    p, pf = psnr_hole(out, gt, holes)
    return {
        "psnr_hole": round(p, 3),
        "psnr_hole_frame_mean": round(pf, 3),
        "ssim_hole": round(ssim_hole(out, gt, holes), 4),
        "warp_error_x1e3": round(1e3 * ref.error(out, holes), 4),
    }


# ----------------------------------------------------------------------------- engines
def run_engine(name: str, inputs: list[np.ndarray], holes: list[np.ndarray], checkpoint: str | None,
               device: str, params: dict[str, Any]) -> tuple[list[np.ndarray], float]:
    """sRGB float frames with zeroed holes -> sRGB float outputs (engines work in linear)."""
    causal = name.endswith("-causal")
    eng = create("inpaint", name.removesuffix("-causal"))
    eng.setup(device, checkpoint)
    eng.reset()
    states = [FrameState(index=i, plate=srgb_to_linear(f), mask=h.astype(np.float32)) for i, (f, h) in enumerate(zip(inputs, holes))]
    t0 = time.perf_counter()
    if hasattr(eng, "process_sequence") and not causal:
        res = list(eng.process_sequence(iter(states), params))
    else:
        res = [eng.process(s, params) for s in states]
    dt = time.perf_counter() - t0
    return [linear_to_srgb(r) for r in res], dt


def mask_sets(n: int, h: int, w: int, seed: int, count: int) -> list[tuple[str, list[np.ndarray]]]:
    """``count`` seeded sets alternating static and moving masks, rectangles and strokes."""
    out = []
    for k in range(count):
        rng = np.random.default_rng(seed + k)
        kind = "rect" if k % 4 in (0, 3) else "stroke"
        static = k % 2 == 0
        masks = sequence_masks(n, h, w, rng, p_same=1.0 if static else 0.0, kind=kind, area=(0.05, 0.15))
        out.append((f"{'static' if static else 'moving'}-{kind}-seed{seed + k}", masks))
    return out


def evaluate(frames: str, masks: str | None = None, engines: list[str] | None = None, seed: int = 0,
             sets: int = 4, max_frames: int | None = None, width: int | None = None,
             checkpoint: str | None = None, device: str = "cpu", params: dict[str, Any] | None = None,
             previews: str | None = None) -> dict[str, Any]:
    clip = load_clip(frames, max_frames, width)
    gt = [c.astype(np.float32) / 255.0 for c in clip]
    n, (h, w) = len(gt), gt[0].shape[:2]
    if masks:
        files = list_frames(masks)
        ms = [read_mask(f) > 0.5 for f in files[:n]]
        if len(ms) == 1:
            ms = ms * n
        if len(ms) != n or ms[0].shape != (h, w):
            raise ValueError(f"{masks}: need {n} masks of {w}x{h} (or one), found {len(ms)} of {ms[0].shape[::-1]}")
        msets = [("user-masks", ms)]
    else:
        msets = mask_sets(n, h, w, seed, sets)
    engines = engines or ["telea", "propagate", "propagate-causal", "dstt", "propagate+dstt"]
    ref = WarpReference(gt)
    report: dict[str, Any] = {
        "protocol": "video completion: holes over known content, zeroed before filling; sRGB [0,1]",
        "frames": str(frames), "n_frames": n, "size": [w, h], "seed": seed,
        "mask_sets": [{"name": nm, "coverage": round(float(np.mean([m.mean() for m in ms])), 4)} for nm, ms in msets],
        "engines": {}, "skipped": {},
    }
    totals: dict[str, dict[str, list[float]]] = {}
    per_set: dict[str, dict[str, Any]] = {}
    for set_name, holes in msets:
        inputs = [np.where(m[..., None], 0.0, g).astype(np.float32) for g, m in zip(gt, holes)]
        rows = {"input (unfilled)": (inputs, 0.0), "ground truth": (gt, 0.0)}
        for name in engines:
            if name in report["skipped"]:
                continue
            try:
                rows[name] = run_engine(name, inputs, holes, checkpoint, device, params or {})
            except (EngineUnavailable, EngineError) as exc:
                report["skipped"][name] = str(exc)
        if previews:
            save_preview(Path(previews) / f"{set_name}.png", rows, n // 2)
        per_set[set_name] = {}
        for name, (outs, dt) in rows.items():
            m = metrics(outs, gt, holes, ref)
            if dt:
                m["seconds"], m["fps"] = round(dt, 2), round(n / dt, 2)
            per_set[set_name][name] = m
            for k, v in m.items():
                totals.setdefault(name, {}).setdefault(k, []).append(v)
    report["engines"] = {name: {k: round(float(np.mean(v)), 4) for k, v in ks.items()} for name, ks in totals.items()}
    report["per_mask_set"] = per_set
    return report


def save_preview(path: Path, rows: dict[str, tuple[list[np.ndarray], float]], t: int) -> None:
    """One frame from every row stacked top to bottom, each labelled (to look at)."""
    from ml.io.images import write_rgb8

    tiles = []
    for name, (outs, _) in rows.items():
        tile = (np.clip(outs[t], 0, 1) * 255 + 0.5).astype(np.uint8).copy()
        cv2.putText(tile, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    write_rgb8(path, np.concatenate(tiles, axis=0))


def print_table(report: dict[str, Any]) -> None:
    print(f"video completion on {report['frames']} ({report['n_frames']} frames {report['size'][0]}x{report['size'][1]}, "
          f"{len(report['mask_sets'])} mask sets, seed {report['seed']}) -- means over mask sets")
    print(f"{'engine':20s} {'PSNR hole':>10s} {'SSIM hole':>10s} {'warp err e-3':>13s} {'fps':>7s}")
    for name, m in report["engines"].items():
        print(f"{name:20s} {m['psnr_hole']:10.2f} {m['ssim_hole']:10.4f} {m['warp_error_x1e3']:13.4f} {m.get('fps', float('nan')):7.2f}")
    for name, why in report["skipped"].items():
        print(f"{name:20s} skipped: {why}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanelia eval inpaint", description=__doc__.splitlines()[0])
    p.add_argument("--frames", required=True, help="folder of frames or a video (the ground truth)")
    p.add_argument("--masks", help="hole masks to use (default: seeded static + moving masks)")
    p.add_argument("--json", required=True, help="write the report here")
    p.add_argument("--engines", help="comma list (default telea,propagate,propagate-causal,dstt,propagate+dstt)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sets", type=int, default=4, help="number of seeded mask sets")
    p.add_argument("--max-frames", type=int)
    p.add_argument("--width", type=int, help="resize frames to this width first")
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--previews", help="folder for one PNG per mask set: the middle frame from every engine")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = evaluate(
        args.frames, args.masks, args.engines.split(",") if args.engines else None, args.seed, args.sets,
        args.max_frames, args.width, args.checkpoint, args.device, previews=args.previews,
    )
    atomic_write_json(args.json, report)
    print_table(report)
    print(f"report: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
