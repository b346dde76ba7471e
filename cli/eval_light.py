"""`vanelia eval light`: the light estimate alone scored against the truth sets' own lights.

`vanelia eval insert` renders every set (minutes each) and scores pixels; where its plate-lit
variants fall short of its truth-lit ones, the estimate is what is wrong, not the renderer or
the compositor. This scores the estimate itself, in seconds a set, on the same cached truth
sets (``eval insert`` generates them): the plate frames, the exact cameras (transforms.json)
and the product's placement and ground (set.json) go through ``ml.light.shot.estimate_light``
as a shot's would, and what it says is compared with the light the set was rendered with:

* the key call: the truth has a sun or not (a window's or a ceiling's area lights, an
  overcast sky, a night's lamps); the estimate placed a hard sun (a window's wide soft sun,
  WINDOW_ANGLE_DEG, is not one) or not; ``missed`` (a sun the estimate dropped),
  ``spurious`` (a hard sun where the truth has none);
* the key's azimuth and elevation error, in degrees, against the truth's sun; also where the
  estimate read a direction and then dropped the key (``dropped_direction``: the product judged
  in a cast shadow), since a wrong direction there is a wrong call waiting;
* where the estimate placed a window's wide soft key, that key's azimuth error
  (``window_azimuth_error_deg``) against the truth's window (an area light from the side) or,
  where the truth has a sun (a hazy sun's soft shadows, a key read as unsteady), its sun;
* the estimate's own reason (its notes), so a wrong call can be read without rerunning it.

No Blender, no rendering: a regression in the estimate shows here before a 16-minute eval.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cli.eval_insert import true_key_direction
from ml.light.key import azimuth_between_deg, elevation_of_deg
from ml.light.shot import estimate_light, sample_frames
from ml.light.window import WINDOW_ANGLE_DEG
from ml.pipeline.fastio import read_linear
from shotcache.errors import UsageError as CLIError
from shotcache.layout import atomic_write_json
from shotcache.tracks import load_transforms

SET_DIR = re.compile(r"^(?P<recipe>[a-z_]+)-s(?P<seed>\d+)$")
"""A cached truth set's folder name (``eval insert``): recipe and seed."""
RIGHT_AZIMUTH_DEG = 30.0
"""A key within this of the truth sun's azimuth counts as right in the summary: its shadow falls
on the truth's side of the product."""
REVERSED_AZIMUTH_DEG = 90.0
"""A placed key more than this from the truth sun's azimuth is reversed in the summary: the
product's shadow falls on the side the plate's shadows point away from, the most visible way a
light can be wrong (held-out sun_low_concrete s141 of stop 45: 175 degrees, its call "right")."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vanelia eval light", description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=Path("out/insert_sets"), help="the truth sets `vanelia eval insert` generated")
    p.add_argument("--seeds", default=None, help="seeds to score: 20,21 or 14-24 (default: every cached seed)")
    p.add_argument("--sets", default=None, help="comma-separated set recipes (default: every cached recipe)")
    p.add_argument("--json", type=Path, default=Path("out/eval_light.json"))
    return p.parse_args(argv)


def parse_seeds(text: str | None) -> set[int] | None:
    """``"14-18,20"`` -> {14, ..., 18, 20}; None -> None (all)."""
    if not text:
        return None
    seeds: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise CLIError(f"--seeds {text!r}: {part!r} is not a seed or a range; write e.g. 20,21 or 14-24")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise CLIError(f"--seeds {text!r}: the range {part} runs backwards; write {hi}-{lo}")
        seeds.update(range(lo, hi + 1))
    return seeds


def find_sets(cache: Path, seeds: set[int] | None, recipes: list[str] | None) -> list[Path]:
    """The cached sets to score, sorted by seed then recipe; refuses an empty selection."""
    if not cache.is_dir():
        raise CLIError(f"--cache {cache}: no such folder; generate truth sets first with `vanelia eval insert --cache {cache} --seed N`")
    found = []
    for d in cache.iterdir():
        m = SET_DIR.match(d.name)
        if not m or not (d / "set.json").is_file() or not (d / "transforms.json").is_file():
            continue
        if seeds is not None and int(m.group("seed")) not in seeds:
            continue
        if recipes is not None and m.group("recipe") not in recipes:
            continue
        found.append((int(m.group("seed")), m.group("recipe"), d))
    if not found:
        what = f" for seeds {sorted(seeds)}" if seeds else ""
        what += f" of recipes {recipes}" if recipes else ""
        raise CLIError(f"--cache {cache}: no truth sets{what}; generate them with `vanelia eval insert --cache {cache} --seed N`")
    return [d for _s, _r, d in sorted(found)]


WINDOW_MAX_ELEVATION_DEG = 80.0
"""An area light higher than this over the ground is a ceiling's panel, straight above: it has no side."""


def truth_sun(meta: dict[str, Any]) -> np.ndarray | None:
    """The truth's sun direction (towards it, unit), or None where the set has no sun."""
    d = true_key_direction(meta.get("light", {}))
    return None if d is None else np.asarray(d, np.float64) / max(float(np.linalg.norm(d)), 1e-9)


def truth_window(meta: dict[str, Any], normal: np.ndarray) -> np.ndarray | None:
    """The direction of the truth's first area light that comes from a side (a window), where the
    set has no sun; None otherwise (a sun, a ceiling's panels, lamps, an overcast sky)."""
    if truth_sun(meta) is not None:
        return None
    for light in meta.get("light", {}).get("lights", []):
        if light.get("type") == "area" and light.get("direction") is not None:
            d = np.asarray(light["direction"], np.float64)
            if elevation_of_deg(d, normal) < WINDOW_MAX_ELEVATION_DEG:
                return d / max(float(np.linalg.norm(d)), 1e-9)
    return None


def score(key_dir: np.ndarray | None, placed: bool, sun: np.ndarray | None, normal: np.ndarray) -> dict[str, Any]:
    """The key call and the direction's errors, for one set (see the module docstring)."""
    call = ("right" if placed else "missed") if sun is not None else ("spurious" if placed else "right")
    out: dict[str, Any] = {"truth": "sun" if sun is not None else "none", "key": "placed" if placed else "none", "call": call}
    if key_dir is not None and sun is not None:
        out["azimuth_error_deg"] = round(azimuth_between_deg(key_dir, sun, normal), 1)
        out["elevation_error_deg"] = round(elevation_of_deg(key_dir, normal) - elevation_of_deg(sun, normal), 1)
        out["dropped_direction"] = not placed
    return out


def evaluate_set(set_dir: Path) -> dict[str, Any]:
    """The estimate of one cached set, scored against its truth."""
    meta = json.loads((set_dir / "set.json").read_text(encoding="utf-8"))
    track = load_transforms(set_dir / "transforms.json")
    frames = sample_frames(sorted(track.frames))
    images = ((read_linear(set_dir / track.files[f]), track.frames[f]) for f in frames)
    normal = np.asarray(meta["ground"]["normal"], np.float64)
    normal /= np.linalg.norm(normal)
    product = np.asarray(meta["product_matrix"], np.float64)[:3, 3]
    _env, key, lighting = estimate_light(images, product, np.asarray(meta["ground"]["point"], np.float64), normal)
    suns = [l for l in lighting.lights if l.type == "sun"]
    sun = next((l for l in suns if l.angle_deg < WINDOW_ANGLE_DEG), None)
    window = next((l for l in suns if l.angle_deg >= WINDOW_ANGLE_DEG), None)
    read = sun.direction if sun is not None else key.direction  # a dropped key's direction is scored too
    key_dir = None if read is None else np.asarray(read, np.float64)
    out = score(key_dir, sun is not None, truth_sun(meta), normal)
    truth_win = truth_window(meta, normal)
    if truth_win is None:  # a soft key where the truth has a sun (a hazy one, or a key read as unsteady): its side against the sun's
        truth_win = truth_sun(meta)
    if window is not None and truth_win is not None:
        out["window_azimuth_error_deg"] = round(azimuth_between_deg(window.direction, truth_win, normal), 1)
    if key_dir is not None:
        out["elevation_source"] = key.elevation_source
    out.update(kind=meta.get("light", {}).get("kind", "?"), seed=int(meta.get("seed", -1)), notes=lighting.notes)
    return out


def summarise(sets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per light kind and overall: sets, calls, sun sets whose placed key is within
    RIGHT_AZIMUTH_DEG or reversed (over REVERSED_AZIMUTH_DEG), and the median azimuth error of
    the placed keys."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in sets.values():
        groups.setdefault(r["kind"], []).append(r)
    groups["all"] = list(sets.values())
    out = {}
    for kind, rs in groups.items():
        az = [r["azimuth_error_deg"] for r in rs if "azimuth_error_deg" in r and r["key"] == "placed"]
        suns = [r for r in rs if r["truth"] == "sun"]
        win = [r["window_azimuth_error_deg"] for r in rs if "window_azimuth_error_deg" in r]
        out[kind] = {"sets": len(rs), "right_call": sum(r["call"] == "right" for r in rs), "missed": sum(r["call"] == "missed" for r in rs),
                     "spurious": sum(r["call"] == "spurious" for r in rs), "sun_sets": len(suns),
                     "sun_key_within_30deg": sum(r.get("azimuth_error_deg", 999.0) <= RIGHT_AZIMUTH_DEG and r["key"] == "placed" for r in suns),
                     "sun_key_reversed": sum(r.get("azimuth_error_deg", 0.0) > REVERSED_AZIMUTH_DEG and r["key"] == "placed" for r in suns),
                     "median_azimuth_error_deg": round(float(np.median(az)), 1) if az else None,
                     "windows_placed": len(win), "window_within_30deg": sum(e <= RIGHT_AZIMUTH_DEG for e in win),
                     "median_window_azimuth_error_deg": round(float(np.median(win)), 1) if win else None}
    return out


def table(report: dict[str, Any]) -> str:
    lines = [f"{'light':<10} {'sets':>4} {'right':>5} {'missed':>6} {'spur.':>5} {'sun<=30':>8} {'rev.':>4} {'med az':>7} {'win<=30':>8} {'win az':>7}"]
    for kind, s in report["summary"].items():
        med = "-" if s["median_azimuth_error_deg"] is None else f"{s['median_azimuth_error_deg']:.0f}"
        wmed = "-" if s["median_window_azimuth_error_deg"] is None else f"{s['median_window_azimuth_error_deg']:.0f}"
        lines.append(f"{kind:<10} {s['sets']:>4} {s['right_call']:>5} {s['missed']:>6} {s['spurious']:>5} "
                     f"{s['sun_key_within_30deg']:>4}/{s['sun_sets']:<3} {s['sun_key_reversed']:>4} {med:>7} {s['window_within_30deg']:>4}/{s['windows_placed']:<3} {wmed:>7}")
    return "\n".join(lines)


def run(a: argparse.Namespace) -> dict[str, Any]:
    recipes = [s.strip() for s in a.sets.split(",") if s.strip()] if a.sets else None
    set_dirs = find_sets(a.cache, parse_seeds(a.seeds), recipes)
    sets = {d.name: evaluate_set(d) for d in set_dirs}
    report = {"cache": str(a.cache), "right_azimuth_deg": RIGHT_AZIMUTH_DEG, "sets": sets, "summary": summarise(sets)}
    atomic_write_json(a.json, report)
    return report


def main(argv: list[str] | None = None) -> int:
    a = parse_args(list(sys.argv[1:] if argv is None else argv))
    report = run(a)
    for name, r in report["sets"].items():
        err = f"az {r['azimuth_error_deg']:5.1f} el {r['elevation_error_deg']:+5.1f}" if "azimuth_error_deg" in r else " " * 19
        if "window_azimuth_error_deg" in r:
            err = f"window az {r['window_azimuth_error_deg']:5.1f}".ljust(19)
        print(f"{name:<36} {r['call']:<8} {r['key']:<6} {err}  {r['notes'][:90]}")
    print(table(report))
    print(f"report: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
