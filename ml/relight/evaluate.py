"""`vanelia eval relight`: PSNR/SSIM of relight engines against the path-traced target.

Runs on generated scenes the network never saw (a folder made with another ``--seed`` of
scripts/make_relight_data.py) and scores every engine in one run: ``lambert`` (the classical
baseline) and ``unet``. Each engine gets the same FrameState: the G-buffer passes, the sample's
lighting, and an RGBA whose colour is the *unlit* albedo (so no engine can copy the target) and
whose alpha is the render's.

Metrics are on display-referred images (sRGB, clipped to [0, 1]) over black:
* ``psnr_object``: PSNR over the product's pixels (alpha > 0.5) - what relighting changes;
* ``psnr``: PSNR over the whole frame; ``ssim``: mean SSIM (11x11 Gaussian, sigma 1.5) over it.

``analytic`` is reported beside them: the unet engine's own formula with the learned part
removed (irradiance x albedo x max(n.l, 0) + albedo x world), so the gain of learning is visible
apart from the gain of a different ambient model.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.io.colour import linear_to_srgb, linear_to_uint8
from ml.relight import data as rdata
from ml.stages.base import EngineError, FrameState, create
from shotcache.layout import atomic_write_json
from shotcache.schema import FrameCamera, Light, Lighting


def lighting_from(meta: dict) -> Lighting:
    lit = dict(meta["lighting"])
    lights = [Light(**{k: v for k, v in l.items() if k in Light.__dataclass_fields__}) for l in lit.pop("lights", [])]
    return Lighting(lights=lights, **{k: v for k, v in lit.items() if k in Lighting.__dataclass_fields__ and k != "lights"})


def frame_for(sample: rdata.Sample, index: int = 0) -> FrameState:
    p = sample.passes
    alpha = sample.rgba[..., 3:4]
    cam = sample.meta.get("camera")
    return FrameState(
        index=index,
        plate=np.zeros_like(p["albedo"]),
        rgba=np.concatenate([p["albedo"], alpha], axis=-1),
        passes={k: v for k, v in p.items() if k != "rgba"},
        camera=FrameCamera(**cam) if cam else None,
        lighting=lighting_from(sample.meta),
    )


def _display(rgba: np.ndarray) -> np.ndarray:
    return np.clip(linear_to_srgb(rgba[..., :3] * np.clip(rgba[..., 3:4], 0, 1)), 0, 1)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    diff = (a - b) ** 2
    mse = float(diff[mask].mean()) if mask is not None else float(diff.mean())
    return 100.0 if mse <= 1e-12 else 10.0 * math.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two HxWx3 images in [0, 1] (per channel, Gaussian window)."""
    from ml.losses import _gauss_window, _ssim_parts

    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None].float()
    return float(_ssim_parts(ta, tb, _gauss_window(11, 1.5, 3, ta.device, ta.dtype))[0].mean())


def score(pred_rgba: np.ndarray, target_rgba: np.ndarray) -> dict[str, float]:
    a, b = _display(pred_rgba), _display(target_rgba)
    obj = target_rgba[..., 3] > 0.5
    return {"psnr_object": psnr(a, b, obj) if obj.any() else float("nan"), "psnr": psnr(a, b), "ssim": ssim(a, b)}


def analytic_rgba(sample: rdata.Sample) -> np.ndarray:
    """irradiance x albedo x max(n.l, 0) + albedo x world: what unet computes before training."""
    from ml.relight.train import lambert_image

    return np.concatenate([lambert_image(sample), sample.rgba[..., 3:4]], axis=-1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="vanelia eval relight", description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="held-out samples (make_relight_data.py with a seed not used for training)")
    ap.add_argument("--checkpoint", default=None, help="unet checkpoint (default checkpoints/relight/unet.safetensors)")
    ap.add_argument("--engines", default="lambert,unet")
    ap.add_argument("--out", default="eval_relight.json", help="JSON report")
    ap.add_argument("--images", default=None, help="folder for comparison PNGs (engines in order | target)")
    ap.add_argument("--n-images", type=int, default=8)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    paths = rdata.list_samples(args.data)
    if args.limit:
        paths = paths[: args.limit]
    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    engines: dict[str, Any] = {}
    report: dict[str, Any] = {"data": str(args.data), "samples": len(paths), "engines": {}, "metric_space": "sRGB [0,1] over black"}
    for name in names:
        eng = create("relight", name)
        try:
            eng.setup(args.device, args.checkpoint if eng.learned else None)
        except EngineError as exc:
            report["engines"][name] = {"unavailable": str(exc)}
            continue
        engines[name] = eng
    per: dict[str, list[dict[str, Any]]] = {n: [] for n in engines}
    per["analytic"] = []  # reference: the unet engine's formula with no learned part (its starting point)
    rows = []
    for i, path in enumerate(paths):
        sample = rdata.load_sample(path)
        frame = frame_for(sample, i)
        outs = []
        for name, eng in engines.items():
            pred = eng.process(frame, {})
            per[name].append({"sample": sample.name, **score(pred, sample.rgba)})
            outs.append(pred)
        per["analytic"].append({"sample": sample.name, **score(analytic_rgba(sample), sample.rgba)})
        if args.images and i < args.n_images:
            rows.append(np.concatenate([linear_to_uint8(o[..., :3] * o[..., 3:4]) for o in outs + [sample.rgba]], axis=1))
    for name, vals in per.items():
        summary = {k: float(np.nanmean([v[k] for v in vals])) for k in ("psnr_object", "psnr", "ssim")}
        ckpt = engines[name].checkpoint if name in engines else None
        report["engines"][name] = {**summary, "per_sample": vals, "checkpoint": ckpt}
    if "lambert" in per and "unet" in per:
        wins = sum(u["psnr_object"] > l["psnr_object"] for u, l in zip(per["unet"], per["lambert"]))
        report["unet_beats_lambert_on"] = f"{wins}/{len(per['unet'])} samples (object PSNR)"
    if args.images and rows:
        from ml.io.images import write_rgb8

        Path(args.images).mkdir(parents=True, exist_ok=True)
        write_rgb8(Path(args.images) / "relight_compare.png", np.concatenate(rows, axis=0))
        report["images"] = str(Path(args.images) / "relight_compare.png") + f" (columns: {' | '.join(list(engines) + ['target'])})"
    atomic_write_json(args.out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    report = run(args)
    for name, r in report["engines"].items():
        if "unavailable" in r:
            print(f"{name:8s} unavailable: {r['unavailable']}")
        else:
            print(f"{name:8s} PSNR(object) {r['psnr_object']:.2f} dB  PSNR(frame) {r['psnr']:.2f} dB  SSIM {r['ssim']:.4f}")
    if "unet_beats_lambert_on" in report:
        print(f"unet beats lambert on {report['unet_beats_lambert_on']}")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
