"""Gather what a GPU window needs into one ignored folder that the device tool's ``carry`` brings.

Run here (where PyAV, the shared data and pip's registry are), before the window:

    .venv/bin/python scripts/pack_gpu_window.py --out .carry        # data + manifest
    .venv/bin/python scripts/pack_gpu_window.py --out .carry --wheels av==18.1.0   # + wheels

What goes in (docs/TRAINING.md has the why):

* ``data/train/<clip>/NNNNNN.jpg``: training clips, decoded here (the machine there has no
  PyAV), scaled to ``--width`` and capped at ``--max-frames`` each;
* ``data/heldout/<clip>/``: clips the network never sees in training, for the evaluation
  against ``propagate``;
* ``data/stills/``: photos for camera-path video (ml.inpaint.synthetic);
* ``data/renders/<name>/``: the project's own renders (``--renders`` folders of frames,
  e.g. ``vanelia demo``'s ``frames/``), treated as training clips;
* ``whl/``: wheels from ``pip download`` for the machine's Python 3.12 / x86-64 (only for
  packages its image lacks; the inpaint trainer needs none);
* ``manifest.json``: what is where, and the total size, checked against ``--budget-mib``
  (the tool carries 64 MiB with the repository; keep room for it).

Frames are cut down (fewer per clip) until everything fits the budget.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ml.inpaint.data import find_clips, find_stills, fit_long_side  # noqa: E402
from ml.io.images import read_rgb8  # noqa: E402
from ml.io.video import iter_frames  # noqa: E402
from shotcache.layout import atomic_write_json  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DEFAULT_HELDOUT = ("bear-rocks", "hotel-corridor")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")


def clip_name(ref_name: str, root: Path) -> str:
    rel = Path(ref_name).relative_to(root) if Path(ref_name).is_relative_to(root) else Path(ref_name)
    parts = [p for p in rel.with_suffix("").parts if p not in ("frames",)]
    return "-".join(parts) or rel.stem


def write_clip(ref, dest: Path, width: int, max_frames: int, quality: int) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    frames = iter_frames(ref.video) if ref.video else (read_rgb8(p) for p in ref.files)
    n = 0
    for img in frames:
        if img.shape[1] > width:
            img = cv2.resize(img, (width, int(round(img.shape[0] * width / img.shape[1] / 2)) * 2), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(dest / f"{n:06d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        n += 1
        if n >= max_frames:
            break
    return n


def folder_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def pack_data(out: Path, video_root: Path, stills: list[Path], renders: list[Path], heldout: set[str], width: int,
              max_frames: int, heldout_frames: int, still_side: int, quality: int) -> dict:
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    manifest: dict = {"train": [], "heldout": [], "stills": [], "renders": []}
    for ref in find_clips(video_root):
        name = clip_name(ref.name, video_root)
        held = any(name == h or name.startswith(h + "-") for h in heldout)
        kind = "heldout" if held else "train"
        n = write_clip(ref, data / kind / name, width, heldout_frames if held else max_frames, quality)
        manifest[kind].append({"name": name, "frames": n, "source": ref.name})
    for r in renders:
        for ref in find_clips(r):
            name = "render-" + clip_name(ref.name, r)
            n = write_clip(ref, data / "renders" / name, width, max_frames, quality)
            manifest["renders"].append({"name": name, "frames": n, "source": ref.name})
    (data / "stills").mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(p for root in stills for p in find_stills(root)):
        img = fit_long_side(read_rgb8(p), still_side)
        dst = data / "stills" / f"{i:04d}_{p.stem}.jpg"
        cv2.imwrite(str(dst), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        manifest["stills"].append({"name": dst.name, "size": list(img.shape[:2][::-1]), "source": str(p)})
    manifest["bytes"] = folder_bytes(data)
    return manifest


def download_wheels(out: Path, specs: list[str]) -> list[str]:
    """``pip download`` for the machine there: CPython 3.12, manylinux x86-64, no dependencies
    (name every missing one), binary wheels only."""
    if not specs:
        return []
    whl = out / "whl"
    whl.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(whl)]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    subprocess.run(cmd + specs, check=True)
    return sorted(p.name for p in whl.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / ".carry"), help="folder to fill (must be git-ignored: .git/info/exclude)")
    p.add_argument("--videos", default=str(SHARED / "video"), help="clip folders / videos")
    p.add_argument("--stills", nargs="*", default=[str(SHARED / "tracked" / "fox" / "images"), str(SHARED / "harmonization" / "a0002" / "real.jpg"),
                                                    str(SHARED / "tracked" / "tum-office")])
    p.add_argument("--renders", nargs="*", default=[], help="folders of the project's own rendered frames")
    p.add_argument("--heldout", nargs="*", default=list(DEFAULT_HELDOUT), help="clip names kept for evaluation only")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--max-frames", type=int, default=60)
    p.add_argument("--heldout-frames", type=int, default=40)
    p.add_argument("--still-side", type=int, default=1280)
    p.add_argument("--quality", type=int, default=88)
    p.add_argument("--budget-mib", type=float, default=52.0, help="data + wheels; the repository travels too (64 MiB in all)")
    p.add_argument("--wheels", nargs="*", default=[], help="NAME==VERSION to pip download for the machine")
    a = p.parse_args(argv)
    out = Path(a.out)
    if not Path(a.videos).is_dir():
        print(f"pack: {a.videos}: no clip folder here (the shared data sits beside the checkout)", file=sys.stderr)
        return 2
    wheels = download_wheels(out, a.wheels)
    wheel_bytes = folder_bytes(out / "whl") if (out / "whl").is_dir() else 0
    max_frames = a.max_frames
    while True:
        manifest = pack_data(out, Path(a.videos), [Path(s) for s in a.stills if Path(s).exists()],
                             [Path(r) for r in a.renders], set(a.heldout), a.width, max_frames, a.heldout_frames,
                             a.still_side, a.quality)
        total = manifest["bytes"] + wheel_bytes
        if total <= a.budget_mib * 2**20 or max_frames <= 10:
            break
        max_frames = int(max_frames * 0.8)
        print(f"pack: {total / 2**20:.1f} MiB is over {a.budget_mib} MiB; {max_frames} frames per clip", flush=True)
    manifest.update({"wheels": wheels, "total_mib": round(total / 2**20, 2), "max_frames": max_frames, "width": a.width})
    atomic_write_json(out / "manifest.json", manifest)
    if total > a.budget_mib * 2**20:
        print(f"pack: {total / 2**20:.1f} MiB does not fit {a.budget_mib} MiB even at {max_frames} frames per clip", file=sys.stderr)
        return 2
    print(f"pack: {len(manifest['train'])} training clips, {len(manifest['renders'])} renders, "
          f"{len(manifest['heldout'])} held-out ({', '.join(c['name'] for c in manifest['heldout'])}), "
          f"{len(manifest['stills'])} stills, {len(wheels)} wheels: {total / 2**20:.1f} MiB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
