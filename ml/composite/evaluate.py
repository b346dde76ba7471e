"""`vanelia eval composite` (alias `eval harmonize`): MSE / fMSE / PSNR, iHarmony4 protocol, three methods in one run.

Methods: ``unharmonized`` (the composite as given), ``classical`` (H4's engine, harmonization
settings: light wrap and grain off, since they are compositing effects, not colour
correction), ``photorealistic`` (this package's network, from ``--checkpoint`` or the
repository's default checkpoint).

Data sets:
* real iHarmony4 triplets: every folder under ``--triplets`` holding composite.*, mask.*,
  real.* (../shared/data/harmonization/a0002);
* perturbation sets built from real frames: the *held-out* part of every clip under
  ``--video`` (ml.composite.data.split_frames, the frames training never sees), a region
  (object mask or random shape) recoloured like a badly lit insert, fixed seed.

Protocol: at 256x256 every image is resized to 256x256 (mask by threshold), the methods
run there and the metrics are computed there; at full resolution the methods run on the
original image. Images are quantised to 8 bits before scoring (what a saved result is).
MSE over all pixels and channels on 0-255 values, fMSE over the mask's pixels, PSNR from MSE.
Published scale anchors (iHarmony4 test set): input fMSE 1387 / MSE 172, DoveNet 550 / 52.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from shotcache.frames import RGB8_EXTS
from shotcache.layout import atomic_write_json

from .data import PairSampler, load_frames

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
CLASSICAL_PARAMS = {"light_wrap": 0.0, "grain": 0.0}
Method = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(composite sRGB float32 HxWx3, mask HxW) -> harmonized sRGB float32 HxWx3."""


def quantize(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def scores(pred: np.ndarray, real: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """MSE, fMSE, PSNR on 8-bit values (pred/real uint8 HxWx3, mask HxW in {0,1})."""
    d = (pred.astype(np.float64) - real.astype(np.float64)) ** 2
    mse = float(d.mean())
    fg = float((mask > 0.5).sum()) * 3
    fmse = float((d * (mask[..., None] > 0.5)).sum() / max(fg, 1.0))
    psnr = 100.0 if mse <= 1e-10 else 10.0 * math.log10(255.0**2 / mse)
    return {"mse": mse, "fmse": fmse, "psnr": psnr}


def read_triplet(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def find(stem: str) -> Path:
        for ext in RGB8_EXTS:
            p = folder / (stem + ext)
            if p.is_file():
                return p
        raise FileNotFoundError(f"{folder}: no {stem}.jpg/.png in this harmonization triplet folder")

    def rgb(p: Path) -> np.ndarray:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"{p}: cannot read this image")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0

    comp, real = rgb(find("composite")), rgb(find("real"))
    m = cv2.imread(str(find("mask")), cv2.IMREAD_GRAYSCALE)
    if comp.shape != real.shape or m is None or m.shape != comp.shape[:2]:
        raise ValueError(f"{folder}: composite, real and mask differ in size")
    return comp, (m > 127).astype(np.float32), real


def find_triplets(roots: list[str]) -> list[Path]:
    out = []
    for r in roots:
        root = Path(r)
        if not root.exists():
            raise FileNotFoundError(f"{root}: harmonization triplet folder does not exist")
        cands = [root] + sorted(p for p in root.rglob("*") if p.is_dir())
        out += [p for p in cands if any(p.glob("composite.*")) and any(p.glob("mask.*"))]
    return out


def perturbation_set(dirs: list[str], per_clip: int, seed: int, max_side: int) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, composite, mask, real) from the held-out frames of every clip, reproducibly."""
    items: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    for d in dirs:
        frames, silhouettes = load_frames([d], split="holdout", max_side=max_side)
        by_clip: dict[Path, list] = {}
        for f in frames:
            by_clip.setdefault(f.path.parent, []).append(f)
        for clip, fr in sorted(by_clip.items()):
            sampler = PairSampler(fr, silhouettes, size=256)
            rng = np.random.default_rng([seed, len(items)])
            for i in range(per_clip):
                comp, mask, real = sampler.full_pair(rng)
                items.append((f"{clip.parent.name}/{i}", comp, mask, real))
    return items


def resize_triplet(comp: np.ndarray, mask: np.ndarray, real: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = lambda x: cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA)  # noqa: E731
    m = (cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)
    c = r(comp)
    real_s = r(real)
    return np.where(m[..., None] > 0.5, c, real_s).astype(np.float32), m, real_s


def build_methods(checkpoint: str | None, device: str) -> tuple[dict[str, Method], dict[str, str]]:
    """The three methods; one that cannot be set up is reported (errors) instead of scored."""
    from ml.stages import base

    from .photorealistic_engine import harmonize_image

    methods: dict[str, Method] = {"unharmonized": lambda c, m: c}
    errors: dict[str, str] = {}
    try:
        classical = base.create("composite", "classical")
        classical.setup(device, None)
        methods["classical"] = lambda c, m: harmonize_image(classical, c, m, CLASSICAL_PARAMS)
    except base.EngineError as exc:
        errors["classical"] = str(exc)
    try:
        photo = base.create("composite", "photorealistic")
        photo.setup(device, checkpoint)
        methods["photorealistic"] = lambda c, m: harmonize_image(photo, c, m)
        errors["photorealistic_checkpoint"] = str(photo.checkpoint)
    except base.EngineError as exc:
        errors["photorealistic"] = str(exc)
    return methods, errors


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def evaluate(
    datasets: dict[str, list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]],
    methods: dict[str, Method],
    previews: Path | None = None,
    sizes: tuple[str, ...] = ("256", "full"),
) -> dict[str, Any]:
    """Per data set and resolution: mean scores per method, plus per-sample rows."""
    result: dict[str, Any] = {}
    for dname, items in datasets.items():
        per: dict[str, dict[str, list[dict[str, float]]]] = {s: {m: [] for m in methods} for s in sizes}
        timing: dict[str, float] = {m: 0.0 for m in methods}
        samples = []
        for k, (name, comp, mask, real) in enumerate(items):
            row: dict[str, Any] = {"name": name, "size": [int(comp.shape[1]), int(comp.shape[0])], "fg_fraction": float(mask.mean())}
            for s in sizes:
                c, m, r = (comp, mask, real) if s == "full" else resize_triplet(comp, mask, real, int(s))
                r8 = quantize(r)
                outs = {}
                for mname, fn in methods.items():
                    t0 = time.perf_counter()
                    outs[mname] = quantize(fn(c, m))
                    timing[mname] += time.perf_counter() - t0
                    sc = scores(outs[mname], r8, m)
                    per[s][mname].append(sc)
                    row[f"{s}/{mname}"] = sc
                if previews is not None and s == sizes[0] and k < 6:
                    save_preview(previews / f"{dname}_{k:02d}.png", c, m, outs, r8)
            samples.append(row)
        result[dname] = {
            "n": len(items),
            **{s: {mname: _mean(rows) for mname, rows in per[s].items()} for s in sizes},
            "seconds": timing,
            "samples": samples,
        }
    return result


def save_preview(path: Path, comp: np.ndarray, mask: np.ndarray, outs: dict[str, np.ndarray], real8: np.ndarray) -> None:
    """One row: mask | each method's output | real; labelled."""
    from ml.io.images import write_rgb8

    tiles = [np.repeat((mask[..., None] > 0.5).astype(np.uint8) * 255, 3, axis=2)]
    labels = ["mask"]
    for name, img in outs.items():
        tiles.append(img)
        labels.append(name)
    tiles.append(real8)
    labels.append("real")
    h = 256
    tiles = [cv2.resize(t, (max(1, int(t.shape[1] * h / t.shape[0])), h), interpolation=cv2.INTER_AREA) for t in tiles]
    for t, lab in zip(tiles, labels):
        cv2.putText(t, lab, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rgb8(path, np.concatenate(tiles, axis=1))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanelia eval harmonize", description="MSE/fMSE/PSNR of unharmonized, classical and photorealistic")
    p.add_argument("--checkpoint", default=None, help="photorealistic checkpoint (default: checkpoints/composite/photorealistic.safetensors)")
    p.add_argument("--triplets", nargs="*", default=None, help="folders with composite/mask/real (default ../shared/data/harmonization)")
    p.add_argument("--video", nargs="*", default=None, help="frame folders for perturbation sets, held-out split (default ../shared/data/video)")
    p.add_argument("--per-clip", type=int, default=12, help="perturbed samples per held-out clip")
    p.add_argument("--max-side", type=int, default=960, help="frames of the perturbation sets are downscaled to this longer side")
    p.add_argument("--sizes", default="256,full", help="comma list: 256 and/or full")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="out/eval_harmonize.json", help="JSON result path")
    p.add_argument("--previews", default=None, help="folder for side-by-side PNGs (first samples of each set)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    triplet_roots = args.triplets if args.triplets is not None else ([str(SHARED / "harmonization")] if (SHARED / "harmonization").is_dir() else [])
    video_roots = args.video if args.video is not None else ([str(SHARED / "video")] if (SHARED / "video").is_dir() else [])
    datasets: dict[str, list] = {}
    triplets = find_triplets(triplet_roots) if triplet_roots else []
    if triplets:
        datasets["iharmony_real"] = [(p.name, *read_triplet(p)) for p in triplets]
    if video_roots and args.per_clip > 0:
        datasets["perturbed_holdout"] = perturbation_set(video_roots, args.per_clip, args.seed, args.max_side)
    if not datasets:
        raise FileNotFoundError("no evaluation data: give --triplets and/or --video folders")
    methods, notes = build_methods(args.checkpoint, args.device)
    sizes = tuple(s.strip() for s in args.sizes.split(",") if s.strip())
    res = evaluate(datasets, methods, Path(args.previews) if args.previews else None, sizes)
    report = {
        "protocol": "iHarmony4: MSE/fMSE on 0-255 RGB, fMSE over mask pixels; 256 = inputs resized to 256x256; full = native size",
        "methods": list(methods),
        "notes": notes,
        "classical_params": CLASSICAL_PARAMS,
        "anchors_iharmony4": {"unharmonized": {"fmse": 1387, "mse": 172}, "DoveNet": {"fmse": 550, "mse": 52}, "PCT-Net": {"fmse": 237, "mse": 19}},
        "datasets": res,
    }
    atomic_write_json(args.out, report)
    for dname, r in res.items():
        for s in sizes:
            line = "  ".join(f"{m}: fMSE {v['fmse']:.1f} MSE {v['mse']:.1f} PSNR {v['psnr']:.2f}" for m, v in r[s].items() if v)
            print(f"{dname} [{s}] n={r['n']}  {line}")
    for k, v in notes.items():
        if k != "photorealistic_checkpoint":
            print(f"note: {k}: {v}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
