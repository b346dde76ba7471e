"""Benchmark: the codec match (ml/composite/codec_match.py) per frame, at 720p and 1080p.

A panning textured plate filmed through x264 at CRF 26 (decoded back, as a run holds it) and a
300 px product pasted on every frame; the measurement of the plate's equivalent CRF (four probe
encodes of PROBE_FRAMES frames, once per shot) and the match itself (the whole sequence encoded
once and decoded, the changed pixels blended) are timed apart, CPU and wall. Prints a table and
writes JSON.

    python scripts/bench_codec_match.py [--frames 48] [--json out/bench/codec_match.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.preflight import probe_plate  # noqa: E402
from ml.composite.codec_match import equivalent_crf, match_sequence  # noqa: E402
from ml.io.video import iter_frames, write_mp4  # noqa: E402


def _plate(w: int, h: int, n: int, folder: Path) -> tuple[list[np.ndarray], float, str]:
    rng = np.random.default_rng(0)
    import cv2

    tex = cv2.GaussianBlur(rng.uniform(40, 210, (h, w + 4 * n, 3)).astype(np.float32), (0, 0), 1.2).astype(np.uint8)
    video = write_mp4(folder / f"plate{w}.mp4", (tex[:, 4 * i : 4 * i + w] for i in range(n)), 30, crf=26)
    facts = probe_plate(video)
    assert facts.bits_per_pixel and facts.codec
    return list(iter_frames(video)), facts.bits_per_pixel * w * h, facts.codec


def _timed(fn) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def bench(w: int, h: int, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        plate, bits, codec = _plate(w, h, n, Path(tmp))
    comps = []
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (xx - w // 2) ** 2 + ((yy - h // 2) * 0.75) ** 2 < 150**2
    for p in plate:
        c = p.copy()
        c[disc] = (230, 200, 30)
        comps.append(c)
    mw, mc, q = _timed(lambda: equivalent_crf(plate, bits, codec))
    crf = q.crf  # type: ignore[attr-defined]
    assert crf is not None
    sw, sc, _ = _timed(lambda: list(match_sequence(lambda: iter(comps), lambda: iter(plate), crf, 30)))
    return {"width": w, "height": h, "frames": n, "crf_measured": round(crf, 2), "measure_wall_s": round(mw, 2),
            "measure_cpu_s": round(mc, 2), "match_wall_ms_per_frame": round(1000 * sw / n, 1), "match_cpu_ms_per_frame": round(1000 * sc / n, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "codec_match.json")
    a = ap.parse_args(argv)
    rows = [bench(1280, 720, a.frames), bench(1920, 1080, a.frames)]
    print(f"{'size':>10s} {'CRF':>5s} {'measure (once)':>16s} {'match per frame':>18s}")
    for r in rows:
        print(f"{r['width']}x{r['height']:<5d} {r['crf_measured']:5.1f} {r['measure_wall_s']:6.2f} s wall {r['measure_cpu_s']:5.2f} cpu "
              f"{r['match_wall_ms_per_frame']:7.1f} ms wall {r['match_cpu_ms_per_frame']:6.1f} cpu")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"rows": rows, "note": "plate filmed at x264 CRF 26; preset medium"}, indent=1), encoding="utf-8")
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
