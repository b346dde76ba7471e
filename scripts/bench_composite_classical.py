"""Benchmark: the classical compositor per frame, with each optional measure on and off.

A 1920x1080 plate (smoothed noise: edges everywhere) and a 300 px product; the default
parameters against the same with the matched blur off (``defocus: 0``), so the cost of
measuring the plate's blur (ml/composite/blur_match.py) is printed on its own; and the default
on the same plate as decoded from 4:2:0 video, where the composite's colour is averaged over
the codec's blocks (ml/composite/chroma.py), against that with ``chroma: off``. And the default
composite engine when the repository ships a compositor checkpoint (the learned one: classical
first, then the network on the product's crop), as the stage runs it, against classical run the
same way: what the learned default adds to a frame. CPU and wall time, median of ``--repeat``
runs after one warm-up. Prints a table and writes JSON.

    python scripts/bench_composite_classical.py [--json out/bench/composite_classical.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml.composite import chroma  # noqa: E402
from ml.composite.classical import composite_classical  # noqa: E402
from shotcache.layout import atomic_write_json  # noqa: E402

CASES = {"default (matched blur)": ({}, False), "matched blur off": ({"defocus": 0.0}, False),
         "default, 4:2:0 plate": ({}, True), "4:2:0 plate, chroma off": ({"chroma": "off"}, True)}


def frame(w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    plate = cv2.GaussianBlur(rng.uniform(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 3)
    rgba = np.zeros((h, w, 4), np.float32)
    cv2.circle(rgba, (w // 2, h * 5 // 9), h // 7, (0.6, 0.5, 0.2, 1.0), -1)
    return plate, rgba, np.ones((h, w, 3), np.float32)


def learned_rows(plate: np.ndarray, rgba: np.ndarray, shadow: np.ndarray, repeat: int) -> dict[str, dict[str, float]]:
    """Both engines through the stage interface, alternating frame by frame (a machine busy
    with something else slows both alike); nothing when no checkpoint ships."""
    from ml.composite.photorealistic_engine import DEFAULT_CHECKPOINT
    from ml.stages.base import FrameState, create
    from shotcache.engines import CLASSICAL, LEARNED_DEFAULT

    if not DEFAULT_CHECKPOINT.is_file():
        print(f"no learned compositor row: {DEFAULT_CHECKPOINT} is missing")
        return {}
    engines = {}
    for name in (CLASSICAL["composite"], LEARNED_DEFAULT["composite"]):
        engines[name] = create("composite", name)
        engines[name].setup("cpu")
    times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in engines}
    for i in range(repeat + 1):
        for name, eng in engines.items():
            frame = FrameState(index=i, plate=plate, rgba=rgba, passes={"shadow_catcher": shadow})
            c0, w0 = time.process_time(), time.perf_counter()
            eng.process(frame, {})
            if i:  # the first round warms up
                times[name][0].append(time.process_time() - c0)
                times[name][1].append(time.perf_counter() - w0)
    rows = {}
    for name, (cpu, wall) in times.items():
        rows[f"engine: {name}"] = {"cpu_ms": 1000 * statistics.median(cpu), "wall_ms": 1000 * statistics.median(wall)}
        print(f"{'engine: ' + name:24s} {rows[f'engine: {name}']['cpu_ms']:7.1f} ms CPU  {rows[f'engine: {name}']['wall_ms']:7.1f} ms wall")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "composite_classical.json")
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.split("x"))
    full, rgba, shadow = frame(w, h)
    grain = np.random.default_rng(1).normal(1.0, 0.15, full.shape).astype(np.float32)  # texture the chroma test can read
    coded = chroma.subsample_like_plate(full * grain, np.zeros_like(full))  # every block differs from black: all averaged
    assert chroma.is_subsampled(coded) and not chroma.is_subsampled(full * grain)
    rows = {}
    for name, (params, subsampled) in CASES.items():
        plate = coded if subsampled else full
        composite_classical(plate, rgba, shadow, params=params)
        cpu, wall = [], []
        for i in range(a.repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            composite_classical(plate, rgba, shadow, params=params, frame_index=i)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        rows[name] = {"cpu_ms": 1000 * statistics.median(cpu), "wall_ms": 1000 * statistics.median(wall)}
        print(f"{name:24s} {rows[name]['cpu_ms']:7.1f} ms CPU  {rows[name]['wall_ms']:7.1f} ms wall")
    learned = learned_rows(full, rgba, shadow, a.repeat)
    rows.update(learned)
    extra = rows["default (matched blur)"]["wall_ms"] - rows["matched blur off"]["wall_ms"]
    coding = rows["default, 4:2:0 plate"]["wall_ms"] - rows["4:2:0 plate, chroma off"]["wall_ms"]
    print(f"matched blur costs {extra:.1f} ms wall per {a.size} frame; the 4:2:0 chroma {coding:.1f} ms")
    doc = {"size": a.size, "repeat": a.repeat, "cases": rows, "blur_extra_wall_ms": extra, "chroma_extra_wall_ms": coding}
    if learned:
        cpu_classical, cpu_learned = (row["cpu_ms"] for row in learned.values())  # in catalogue order
        doc["learned_extra_cpu_ms"] = cpu_learned - cpu_classical
        print(f"the learned default adds {doc['learned_extra_cpu_ms']:.1f} ms CPU per {a.size} frame to classical")
    atomic_write_json(a.json, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
