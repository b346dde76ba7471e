"""`vanelia eval insert`: Vanelia's insert of a product scored against path-traced truth.

1. Truth sets (addon/truth_scenes.py, Cycles through the ``insert-truth`` batch step, cached
   in ``--cache``): each set's plate without the product, the truth with it, the product's
   alpha (seen whole: no prop stands between a camera and it), the exact camera and the
   product's placement. ``--film-crf`` films plate and truth through H.264 4:2:0 first, as a
   camera records them (``filmed_set``), for the match to compressed footage.
2. Vanelia renders the product from the plate-without-product, the camera and the placement,
   once per light mode the variants need: the legacy light (plate mean + a sun through the
   brightest block), the light estimated from the plate (ml/light), and that estimate given
   the truth's key direction as an artist gives one (``--light-dir``): what a right
   direction alone is worth; and the truth's own light (``truth_lighting``: the set's lights
   and sky over the estimate's ground), the bound on what a better estimate is worth.
3. Every variant is composited from the same inputs and scored in the truth's insert, product
   and shadow regions (ml/composite/insert_score.py): the naive alpha-over paste, the current
   classical composite, the relight engines before it, and the plate-lit variants.

Writes a JSON report and prints a table; a contact PNG per set (middle frame: plate | truth |
variants) goes beside the report.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.blender import run_batch
from shotcache.errors import UsageError as CLIError
from shotcache.layout import ShotPaths, atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
DUCK = ROOT.parent / "shared" / "data" / "models" / "Duck.glb"
LIGHT_MODES = ("legacy", "plate", "plate-cover", "given-key", "truth-light")
"""How Vanelia's render is lit: "given-key" is the plate's estimate with the truth's key direction
given (``--light-dir``; sets whose truth has no sun are lit as "plate"); "truth-light" the
truth's lights and sky over the plate estimate's ground (``truth_lighting``); "plate-cover" the
plate's estimate with the set's ground cover given (``set_cover``; sets without grass: "plate")."""

# name -> (light mode of the render, stages before composite, composite engine params)
VARIANTS: dict[str, tuple[str, tuple[str, ...], dict[str, Any] | None]] = {
    "paste": ("legacy", (), None),
    "classical": ("legacy", (), {}),
    "lambert+classical": ("legacy", ("lambert",), {}),
    "unet+classical": ("legacy", ("unet",), {}),
    "paste|plate-light": ("plate", (), None),
    "classical|plate-light": ("plate", (), {}),
    "classical|plate-light|harmonize=0.5": ("plate", (), {"harmonize": 0.5}),
    "classical|plate-light|harmonize=0": ("plate", (), {"harmonize": 0.0}),
    "classical|plate-light|light_wrap=0": ("plate", (), {"light_wrap": 0.0}),
    "classical|plate-light|grain=0": ("plate", (), {"grain": 0.0}),
    "classical|plate-light|chroma=off": ("plate", (), {"chroma": "off"}),
    "classical|given-key": ("given-key", (), {}),
    "learned|plate-light": ("plate", (), {}),
    "learned|given-key": ("given-key", (), {}),
    "classical|truth-light": ("truth-light", (), {}),
    "learned|truth-light": ("truth-light", (), {}),
    "classical|plate-light|codec-match": ("plate", (), {}),
    "learned|plate-light|codec-match": ("plate", (), {}),
    "classical|plate-light|cover": ("plate-cover", (), {}),
    "learned|plate-light|cover": ("plate-cover", (), {}),
}
"""paste = alpha-over of Vanelia's render, no shadow; {} = the engine's defaults. "learned"
variants composite with the learned compositor (``--composite-checkpoint``); the others with
the classical engine. "|codec-match" variants put the composite sequence through the plate's
codec, at the quality measured from the filmed plate's rate (app.codec_match, as `vanelia run`
does): they differ from their base only on sets filmed with ``--film-crf``. "|cover" variants are
rendered and composited with the set's ground cover (the "plate-cover" light mode): the same as
their base on sets without grass."""
CODEC_MATCH = "|codec-match"


def set_cover(meta: dict[str, Any]) -> float:
    """The height of the grass the set's truth grew round the product (0: none; ``meta``: its
    set.json): what the "plate-cover" renders are given, as `vanelia run --ground-cover` (the
    artist's knowledge, as the camera and the placement are given)."""
    return float(meta.get("recipe", {}).get("cover_m", 0.0))


def variant_engine(name: str) -> str:
    """The composite engine of a variant."""
    return "photorealistic" if name.startswith("learned") else "classical"


def default_variants(checkpoint: Path | None) -> list[str]:
    """Every variant; the learned ones only when their checkpoint is there (given, or shipped)."""
    from ml.composite.photorealistic_engine import resolve_checkpoint

    learned = resolve_checkpoint(checkpoint).is_file()
    return [v for v in VARIANTS if learned or variant_engine(v) == "classical"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vanelia eval insert", description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=Path("out/insert_sets"), help="truth sets are generated here once and reused")
    p.add_argument("--work", type=Path, default=None, help="Vanelia's shots (default: CACHE/../insert_work)")
    p.add_argument("--sets", default=None, help="comma-separated set recipes (default: all of addon/truth_scenes.RECIPES)")
    p.add_argument("--seed", type=int, default=1, help="set variant (colours, camera, light azimuth); tune on 0, report on others")
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--resolution", default="320x180")
    p.add_argument("--samples", type=int, default=24, help="Cycles samples of the truth renders")
    p.add_argument("--render-samples", type=int, default=16, help="Cycles samples of Vanelia's renders")
    p.add_argument("--model", type=Path, default=DUCK, help="the Duck GLB (products of duck shape)")
    p.add_argument("--variants", default=None,
                   help="comma-separated variants to score (default: all; the learned ones only where a compositor checkpoint is)")
    p.add_argument("--json", type=Path, default=Path("out/eval_insert.json"))
    p.add_argument("--blender", default=None, help="Blender binary (default: the bpy module)")
    p.add_argument("--motion-blur", default="auto", metavar="auto|off|SHUTTER",
                   help="Vanelia's camera motion blur, as `vanelia run --motion-blur` (default auto: measured from the plate); "
                        "off or a shutter to score without the measurement")
    p.add_argument("--film-crf", type=int, default=None, metavar="CRF",
                   help="film every set through H.264 4:2:0 at this CRF first (plate and truth, as a camera records them): "
                        "scores the match to a compressed plate; the sets are kept beside the originals")
    p.add_argument("--film-soft", type=float, default=None, metavar="SIGMA",
                   help="film every set through a lens this soft first (a Gaussian of SIGMA px at the set's size, in linear "
                        "light, on plate and truth alike, before --film-crf): scores how the product is matched to a soft plate")
    p.add_argument("--film-shake", type=float, default=None, metavar="SIGMA",
                   help="film every set as a handheld camera: every other frame blurred by its own kernel (a streak or a round "
                        "blur up to SIGMA px, drawn per frame from the seed), plate and truth alike, after --film-soft: scores "
                        "how the product follows a blur that comes and goes")
    p.add_argument("--composite-checkpoint", type=Path, default=None,
                   help="the learned compositor of the 'learned' variants (default: the repository's checkpoints/composite)")
    p.add_argument("--pairs-out", type=Path, default=None,
                   help="also write every set's (classical composite, mask, truth) crops here: training pairs of `vanelia train composite --insert-pairs`")
    p.add_argument("--baseline", type=Path, default=None,
                   help="an earlier report of the same protocol: print each set's change against it (and keep it in the report)")
    return p.parse_args(argv)


def recipe_names() -> list[str]:
    """Set names without importing bpy (the CLI never does): the literal RECIPES of the generator."""
    import ast

    src = (ROOT / "addon" / "truth_scenes.py").read_text(encoding="utf-8")
    tree = ast.parse(src)
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "RECIPES" and node.value is not None:
            return list(ast.literal_eval(node.value).keys())
    raise CLIError("addon/truth_scenes.py has no RECIPES")


def validate(a: argparse.Namespace) -> list[str]:
    names = recipe_names()
    sets = [s.strip() for s in a.sets.split(",") if s.strip()] if a.sets else names
    bad = [s for s in sets if s not in names]
    if bad:
        raise CLIError(f"--sets: unknown set(s) {bad}; sets are {', '.join(names)}")
    if a.variants is None:
        a.variants = ",".join(default_variants(a.composite_checkpoint))
    bad = [v for v in a.variants.split(",") if v not in VARIANTS]
    if bad:
        raise CLIError(f"--variants: unknown {bad}; variants are {', '.join(VARIANTS)}")
    if any(variant_engine(v) != "classical" for v in a.variants.split(",")):
        from ml.composite.photorealistic_engine import resolve_checkpoint

        ckpt = resolve_checkpoint(a.composite_checkpoint)
        if not ckpt.is_file():
            raise CLIError(f"the learned variants need a compositor checkpoint: {ckpt} is missing; give --composite-checkpoint "
                           "PATH (vanelia train composite --insert-pairs ...)")
    if not a.model.is_file():
        raise CLIError(f"--model {a.model}: the Duck GLB is missing; give its path (glTF sample model Duck.glb)")
    try:
        w, h = (int(v) for v in a.resolution.lower().split("x"))
        assert w >= 16 and h >= 16
    except (ValueError, AssertionError):
        raise CLIError(f"--resolution {a.resolution!r}: expected WxH, e.g. 320x180") from None
    if a.frames < 1 or a.samples < 1 or a.render_samples < 1:
        raise CLIError("--frames, --samples and --render-samples must be >= 1")
    from app.light_render import parse_motion_blur

    parse_motion_blur(a.motion_blur)
    if a.film_crf is not None and not 0 <= a.film_crf <= 51:
        raise CLIError(f"--film-crf {a.film_crf}: H.264's CRF runs from 0 (lossless) to 51; cameras record at about 18-28")
    if a.film_soft is not None and not 0 < a.film_soft <= 8:
        raise CLIError(f"--film-soft {a.film_soft}: a lens softness is a Gaussian of 0-8 px (soft phone footage: about 0.7-2)")
    if a.film_shake is not None and not 0 < a.film_shake <= 6:
        raise CLIError(f"--film-shake {a.film_shake}: a handheld frame's blur is 0-6 px (a phone walking: about 1-3)")
    if a.baseline is not None:
        load_baseline(a)
    return sets


PROTOCOL = ("seed", "frames", "resolution", "truth_samples", "render_samples", "film_crf", "film_soft", "film_shake")
"""What two reports must share for their numbers to be compared set by set."""


def load_baseline(a: argparse.Namespace) -> dict[str, Any]:
    """The ``--baseline`` report, checked before anything is rendered: a report of another
    seed, size or sample count scores other pictures, and its differences would mean nothing."""
    try:
        base = json.loads(a.baseline.read_text(encoding="utf-8"))
        assert isinstance(base, dict) and isinstance(base.get("sets"), dict)
    except (OSError, ValueError, AssertionError):
        raise CLIError(f"--baseline {a.baseline}: not a readable `vanelia eval insert` report (its --json output)") from None
    ours = {"seed": a.seed, "frames": a.frames, "resolution": a.resolution, "truth_samples": a.samples, "render_samples": a.render_samples,
            "film_crf": a.film_crf, "film_soft": a.film_soft, "film_shake": a.film_shake}
    differ = [f"{k} {base.get(k)!r} here {ours[k]!r}" for k in PROTOCOL if base.get(k) != ours[k]]
    if differ:
        raise CLIError(f"--baseline {a.baseline}: another protocol ({'; '.join(differ)}); compare reports of the same seed, size and samples")
    return base


def compare(report: dict[str, Any], base: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Per set and variant present in both reports: this run's PSNR minus the baseline's, dB,
    in the insert, product and shadow regions."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, entry in report["sets"].items():
        old = base["sets"].get(name, {}).get("scores", {})
        rows = {v: {k: float(r[f"psnr_{k}"] - old[v][f"psnr_{k}"]) for k in ("insert", "product", "shadow")}
                for v, r in entry["scores"].items() if v in old}
        if rows:
            out[name] = rows
    return out


def compare_table(delta: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [f"{'set':28s} {'variant':24s} {'d ins':>7s} {'d prod':>7s} {'d shad':>7s}  (dB against --baseline)"]
    for name, rows in delta.items():
        for v, d in rows.items():
            lines.append(f"{name:28s} {v:24s} {d['insert']:+7.2f} {d['product']:+7.2f} {d['shadow']:+7.2f}")
    return "\n".join(lines)


def generate(a: argparse.Namespace, sets: list[str], log: Callable[[str], None]) -> list[Path]:
    """Render missing truth sets (the batch step skips complete, unchanged ones)."""
    a.cache.mkdir(parents=True, exist_ok=True)
    run_batch("insert-truth", ["--output", str(a.cache), "--sets", ",".join(sets), "--model", str(a.model), "--frames", str(a.frames),
                               "--resolution", a.resolution, "--samples", str(a.samples), "--seed", str(a.seed)], blender=a.blender)
    return [a.cache / f"{s}-s{a.seed}" for s in sets]


def _lens(rgb8: np.ndarray, soft: float | None) -> np.ndarray:
    """A frame through a lens ``soft`` px soft: a Gaussian in linear light (None: as it is)."""
    if not soft:
        return rgb8
    import cv2

    from ml.io.colour import linear_to_uint8, uint8_to_linear

    return linear_to_uint8(cv2.GaussianBlur(uint8_to_linear(rgb8), (0, 0), soft))


def shake_kernel(frame: int, sigma: float) -> np.ndarray | None:
    """A handheld frame's blur (2x2 covariance, px^2), drawn from the frame number: even frames
    sharp, odd ones a streak (major SIGMA/2..SIGMA, minor a fifth of it, any direction) or, one
    in three, a round blur; None for a sharp frame."""
    if frame % 2 == 0:
        return None
    rng = np.random.default_rng([7, int(frame)])
    major = float(rng.uniform(0.5, 1.0)) * sigma
    minor = major if rng.random() < 1 / 3 else major / 5
    t = float(rng.uniform(0.0, math.pi))
    v = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return v @ np.diag([major**2, minor**2]) @ v.T


def _shake(rgb8: np.ndarray, frame: int, sigma: float | None) -> np.ndarray:
    """A frame blurred by its ``shake_kernel`` in linear light (as it is for a sharp one)."""
    cov = shake_kernel(frame, sigma) if sigma else None
    if cov is None:
        return rgb8
    import cv2

    from ml.composite.blur_match import kernel
    from ml.io.colour import linear_to_uint8, uint8_to_linear

    return linear_to_uint8(cv2.filter2D(uint8_to_linear(rgb8), -1, kernel(cov), borderType=cv2.BORDER_REFLECT))


def _film_codec(tmp: Path, part: str, frames: dict[str, np.ndarray], crf: int | None) -> dict[str, Any] | None:
    """Write ``frames`` (by file name) into ``tmp/part``, through H.264 4:2:0 at ``crf`` first
    when one is given; the plate's codec facts a run would probe (None without a codec)."""
    from ml.io.images import write_rgb8
    from ml.io.video import iter_frames, write_mp4

    facts = None
    if crf is not None:
        from app.preflight import probe_plate

        video = tmp / f"{part}.mp4"
        write_mp4(video, iter(frames.values()), 24, crf=crf)
        probed = probe_plate(video)
        facts = {"codec": probed.codec, "bits_per_pixel": probed.bits_per_pixel}
        decoded = list(iter_frames(video))
        video.unlink()
        if len(decoded) != len(frames):
            raise CLIError(f"{video}: {len(decoded)} frames decoded of {len(frames)} encoded")
        frames = dict(zip(frames, decoded))
    (tmp / part).mkdir()
    for name, img in frames.items():
        write_rgb8(tmp / part / name, img)
    return facts


FILMED_FILE = "filmed.json"
"""In a filmed set: the source set.json's hash and the CRF, so a changed source is filmed again."""


def filmed_set(set_dir: Path, crf: int | None, soft: float | None = None, shake: float | None = None) -> Path:
    """The set filmed as a camera records it: through a lens ``soft`` px soft (a Gaussian in
    linear light), shaken by hand (``shake``: each odd frame's own blur, shake_kernel) and then
    H.264 4:2:0 at ``crf``, any of them; its plate and its truth alike,
    each encoded as a video and decoded back as `vanelia run` decodes a plate (ml.io.video),
    beside the original (``<set>-softS``, ``<set>-h264crfN``, ``<set>-softS-h264crfN``); the mask,
    camera and product are the original's. Made once per source."""
    import hashlib
    import shutil
    import tempfile

    from ml.io.images import read_rgb8

    suffix = (f"-soft{soft:g}" if soft else "") + (f"-shake{shake:g}" if shake else "") + (f"-h264crf{crf}" if crf is not None else "")
    out = set_dir.with_name(f"{set_dir.name}{suffix}")
    stamp: dict[str, Any] = {"source": hashlib.sha256((set_dir / "set.json").read_bytes()).hexdigest()[:16], "crf": crf, "soft": soft,
                             "from": set_dir.name}
    if shake:
        stamp["shake"] = shake
    try:
        rec = json.loads((out / FILMED_FILE).read_text(encoding="utf-8"))
        if all(rec.get(k) == v for k, v in stamp.items()) and ("plate_codec" in rec or crf is None):
            return out
    except (OSError, ValueError):
        pass
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=set_dir.parent))
    try:
        for name in ("set.json", "transforms.json", "product.glb"):
            shutil.copy2(set_dir / name, tmp / name)
        shutil.copytree(set_dir / "mask", tmp / "mask")
        for part in ("plate", "truth"):
            names = sorted(p.name for p in (set_dir / part).glob("*.png"))
            frames = [_shake(_lens(read_rgb8(set_dir / part / n), soft), int(Path(n).stem), shake) for n in names]
            codec = _film_codec(tmp, part, dict(zip(names, frames)), crf)
            if part == "plate" and codec is not None:  # what a run learns of a video plate without decoding it
                stamp["plate_codec"] = codec
        (tmp / FILMED_FILE).write_text(json.dumps(stamp), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _render_args(set_dir: Path, meta: dict[str, Any], shot_dir: Path, samples: int) -> list[str]:
    """The `render` step's arguments for the set's product, plate, camera and placement (``meta``: its set.json)."""
    m, g = meta["product_matrix"], meta["ground"]
    return ["--plate", str(set_dir / "plate"), "--model", str(set_dir / "product.glb"), "--camera", str(set_dir / "transforms.json"),
            "--shot", str(shot_dir), f"--samples={samples}", "--product-matrix=" + ",".join(repr(float(v)) for row in m for v in row),
            "--ground=" + ",".join(str(float(v)) for v in [*g["point"], *g["normal"]])]


def render_vanelia(set_dir: Path, meta: dict[str, Any], shot_dir: Path, mode: str, samples: int, blender: str | None,
                   motion_blur: float | None = None) -> None:
    """Vanelia's render of the set's product from its plate, camera and placement (``meta``: its
    set.json; ``motion_blur`` None: the shutter measured from the plate, as `vanelia run` does)."""
    from app.light_render import render_shot_lit

    args = _render_args(set_dir, meta, shot_dir, samples)
    sun = true_key_direction(meta["light"]) if mode == "given-key" else None
    if sun is not None:
        args.append("--light-dir=" + ",".join(repr(float(v)) for v in sun))
    cover = set_cover(meta) if mode == "plate-cover" else 0.0
    render_shot_lit(args, shot_dir, light="legacy" if mode == "legacy" else "plate", blender=blender, motion_blur=motion_blur,
                    ground_cover=cover)


def truth_lighting(estimated: Any, truth: dict[str, Any], env: np.ndarray) -> tuple[Any, np.ndarray]:
    """(Lighting, environment map) of the truth's own light for a shot the plate's estimate set
    up: the set's lights as they were rendered, and above the horizon the set's sky gradient
    (``gradient_world``: horizon to zenith linearly in the view direction's z); below it, the
    ground and everything else the estimate read off the plate (its albedo, the shadows'
    density for the composite) stays. The plate's shadow map is dropped: the truth's lights
    cast their own shadows - but only the product's, since the set's props are not in Vanelia's
    scene: where the product stands partly in a prop's shadow (sun_low_grass seed 19) the
    truth's sun lights all of it, and this is no upper bound there."""
    from dataclasses import replace

    from shotcache.latlong import directions
    from shotcache.schema import Light

    world = truth["world"]
    h, w = env.shape[:2]
    z = np.clip(directions(w, h)[..., 2], 0.0, 1.0)[..., None]
    sky = (np.asarray(world["horizon"]) * (1.0 - z) + np.asarray(world["zenith"]) * z) * float(world["strength"])
    out = np.where(z > 0, sky, env).astype(np.float32)
    lights = [Light(type=l["type"], direction=list(l["direction"] or [0.0, 0.0, 1.0]), position=list(l["position"]), color=list(l["color"]),
                    intensity=float(l["energy"]), angle_deg=float(l["angle_deg"] if l["type"] == "sun" else l["size"]), shadow=True)
              for l in truth["lights"]]
    notes = f"the truth's light: {len(lights)} light(s) and its sky over the plate estimate's ground"
    return replace(estimated, lights=lights, key_shadow={}, unplaced_key={}, notes=notes), out


def render_truth_lit(set_dir: Path, meta: dict[str, Any], plate_shot: Path, shot_dir: Path, samples: int, blender: str | None) -> None:
    """Vanelia's render lit by the truth's own light (``truth_lighting``; ``meta``: the set's
    set.json): the plate-lit shot's record and environment, edited, rendered again as a recorded
    light (`--light shot`)."""
    import shutil

    from app.light_render import render_shot_lit
    from ml.io.exr import read_rgb, write_rgb

    shot_dir.mkdir(parents=True, exist_ok=True)
    (shot_dir / "light").mkdir(exist_ok=True)
    shutil.copy2(plate_shot / "shot.json", shot_dir / "shot.json")
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    env = read_rgb(plate_shot / shot.lighting.environment)
    shot.lighting, env = truth_lighting(shot.lighting, meta["light"], env)
    write_rgb(shot_dir / shot.lighting.environment, env)
    paths.save_shot(shot)
    render_shot_lit(_render_args(set_dir, meta, shot_dir, samples), shot_dir, light="shot", blender=blender,
                    motion_blur=float(shot.render.motion_blur))


def check_truth_world(set_dirs: list[Path]) -> None:
    """The truth-light variants need each set's sky, recorded by the generator since stop 31;
    refuse before any render when a cached set predates it."""
    old = [sd.name for sd in set_dirs if "world" not in json.loads((sd / "set.json").read_text(encoding="utf-8"))["light"]]
    if old:
        raise CLIError(f"the truth-light variants need the truth's sky, which set(s) {', '.join(old)} do not record (generated "
                       "before it was); delete their folders in --cache to generate them again, or leave the truth-light variants out")


def true_key_direction(light: dict[str, Any]) -> list[float] | None:
    """The truth's sun direction (towards the light), or None where its key is not a sun (soft
    light, lamps): only a sun has one direction an artist could give."""
    suns = [l for l in light.get("lights", []) if l.get("type") == "sun"]
    return list(suns[0]["direction"]) if suns else None


def composite_variant(state: Any, name: str, runner: Any, compositor: Any = None) -> np.ndarray:
    """Linear HxWx3 result of one variant on a loaded frame (a fresh copy of its inputs).
    ``compositor``: this variant's own classical engine over the set's frames (it keeps
    per-sequence state, the matched blur); default the runner's."""
    from dataclasses import replace

    _mode, relights, params = VARIANTS[name]
    st = replace(state, rgba=None if state.rgba is None else state.rgba.copy(), passes=dict(state.passes))
    if params is None:
        a = np.clip(st.rgba[..., 3:4], 0, 1)
        return st.rgba[..., :3] * a + st.plate * (1 - a)
    for engine in relights:
        st.rgba = runner.engine("relight", engine).process(st, {})
    return (compositor or runner.engine("composite", "classical")).process(st, dict(params))


def score_set(set_dir: Path, shots: dict[str, Path], variants: list[str], runner: Any, checkpoint: Path | None = None) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    from ml.composite import insert_score as sc
    from ml.composite.codec_match import match_sequence
    from ml.io.colour import linear_to_srgb
    from ml.io.images import read_rgb8
    from ml.pipeline.frames import load_frame
    from ml.stages.base import create

    per: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    loaded = {mode: (ShotPaths(d), ShotPaths(d).load_shot()) for mode, d in shots.items()}
    frames = loaded[next(iter(loaded))][1].frames
    mid = frames[len(frames) // 2]
    pictures: dict[str, np.ndarray] = {}
    compositors = {v: create("composite", variant_engine(v)) for v in variants}  # one sequence each, as a run has
    for v, eng in compositors.items():
        if eng.learned:
            eng.setup("cpu", None if checkpoint is None else str(checkpoint))
    source = region_source(set_dir)
    plates8: list[np.ndarray] = []
    outs: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    for f in frames:
        plates8.append(read_rgb8(set_dir / "plate" / f"{f:06d}.png"))
        states = {mode: load_frame(p, s, f) for mode, (p, s) in loaded.items()}
        for v in variants:
            out = np.clip(linear_to_srgb(composite_variant(states[VARIANTS[v][0]], v, runner, compositors[v])), 0, 1)
            outs[v].append(np.round(out * 255).astype(np.uint8))  # what a PNG of it holds
    codec_crf = set_codec_crf(set_dir, plates8) if any(v.endswith(CODEC_MATCH) for v in variants) else None
    for v in variants:
        if v.endswith(CODEC_MATCH) and codec_crf is not None:
            seq = outs[v]
            outs[v] = list(match_sequence(lambda: iter(seq), lambda: iter(plates8), codec_crf, 24))
    for i, f in enumerate(frames):
        plate = plates8[i].astype(np.float32) / 255
        truth = read_rgb8(set_dir / "truth" / f"{f:06d}.png").astype(np.float32) / 255
        alpha = read_rgb8_alpha(set_dir / "mask" / f"{f:06d}.png")
        if source == set_dir:
            reg = sc.regions(plate, truth, alpha)
        else:
            reg = sc.regions(*(read_rgb8(source / part / f"{f:06d}.png").astype(np.float32) / 255 for part in ("plate", "truth")), alpha)
        for v in variants:
            out = outs[v][i].astype(np.float32) / 255
            per[v].append(sc.score(out, truth, reg))
            if f == mid:
                pictures[v] = out
        if f == mid:
            pictures = {"plate": plate, "truth": truth, "regions": _region_picture(reg), **pictures}
    return {v: sc.mean_scores(rows) for v, rows in per.items()}, pictures


def set_codec_crf(set_dir: Path, plates8: list[np.ndarray]) -> float | None:
    """The quality a run would match on this set's plate: measured from the filmed plate's rate
    (``--film-crf``), as `vanelia run --codec-match auto` does; None for an unfilmed set."""
    from ml.composite.codec_match import equivalent_crf

    try:
        rec = json.loads((set_dir / FILMED_FILE).read_text(encoding="utf-8")).get("plate_codec") or {}
    except (OSError, ValueError):
        rec = {}
    h, w = plates8[0].shape[:2]
    bits = rec.get("bits_per_pixel")
    return equivalent_crf(plates8, bits * w * h if bits else None, rec.get("codec")).crf


def set_pairs(set_dir: Path, shots: dict[str, Path]) -> list[Any]:
    """The set's training pairs from each shot the variants rendered of ``insert_data.PAIR_MODES``:
    the plate's estimate, where the truth has a sun the one with its direction given (without a
    sun that is the same shot), and the truth's own light."""
    from ml.composite.insert_data import PAIR_MODES, composite_pairs

    modes = [m for m in PAIR_MODES if m in shots]
    unique = [m for m in modes if m == "plate" or shots[m] != shots.get("plate")]
    return [p for m in unique for p in composite_pairs(set_dir, shots[m])]


def region_source(set_dir: Path) -> Path:
    """The set whose plate and truth say where the product changed the picture: a filmed set's
    source (plate and truth are filmed apart, and their codec noise differs everywhere)."""
    try:
        src = set_dir.with_name(json.loads((set_dir / FILMED_FILE).read_text(encoding="utf-8"))["from"])
    except (OSError, ValueError, KeyError):
        return set_dir
    return src if (src / "truth").is_dir() else set_dir


def read_rgb8_alpha(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise CLIError(f"{path}: product mask missing or unreadable; delete the set folder to regenerate it")
    return (img[..., 3] if img.ndim == 3 and img.shape[2] == 4 else img).astype(np.float32) / 255


def _region_picture(reg: Any) -> np.ndarray:
    pic = np.zeros((*reg.insert.shape, 3), np.float32)
    pic[reg.shadow] = (0.2, 0.4, 1.0)
    pic[reg.product] = (1.0, 0.6, 0.1)
    return pic


def write_contact(path: Path, pictures: dict[str, np.ndarray]) -> None:
    import cv2

    from ml.io.images import write_rgb8

    tiles = []
    for name, img in pictures.items():
        t = (np.clip(img, 0, 1) * 255).astype(np.uint8).copy()
        cv2.putText(t, name, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(t)
    while len(tiles) % 3:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + 3], axis=1) for i in range(0, len(tiles), 3)]
    write_rgb8(path, np.concatenate(rows, axis=0))


def table(report: dict[str, Any]) -> str:
    """The report's mean scores, a row per variant; "vs paste" is n/a when the naive paste was not
    among the variants scored (a +0.00 there read as a tie)."""
    lines = [f"{'variant':24s} {'PSNR ins':>8s} {'prod':>6s} {'shad':>6s} {'SSIM ins':>8s} {'prod':>6s} {'shad':>6s} {'vs paste':>8s}"]
    for v, r in report["mean"].items():
        gain = f"{r['gain_insert_db']:+8.2f}" if "gain_insert_db" in r else f"{'n/a':>8s}"
        lines.append(f"{v:24s} {r['psnr_insert']:8.2f} {r['psnr_product']:6.2f} {r['psnr_shadow']:6.2f} "
                     f"{r['ssim_insert']:8.4f} {r['ssim_product']:6.4f} {r['ssim_shadow']:6.4f} {gain}")
    return "\n".join(lines)


def run(a: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    from app.light_render import parse_motion_blur
    from ml.composite.insert_data import save_pairs
    from ml.pipeline.runner import PipelineRunner

    sets = validate(a)
    shutter = parse_motion_blur(a.motion_blur)
    variants = a.variants.split(",")
    needed = {VARIANTS[v][0] for v in variants}
    needed |= {"plate"} if "truth-light" in needed else set()  # the truth's light goes over the plate estimate's shot
    modes = sorted(needed, key=LIGHT_MODES.index)  # "plate" before "given-key" and "truth-light"
    t0 = time.perf_counter()
    set_dirs = generate(a, sets, log)
    if a.film_crf is not None or a.film_soft or a.film_shake:
        log(f"[vanelia] eval insert: filming the sets through a lens {a.film_soft or 0:g} px soft, "
            + (f"shaken by hand up to {a.film_shake:g} px, " if a.film_shake else "")
            + (f"H.264 4:2:0 at CRF {a.film_crf}" if a.film_crf is not None else "no codec"))
        set_dirs = [filmed_set(sd, a.film_crf, a.film_soft, a.film_shake) for sd in set_dirs]
    t_gen = time.perf_counter() - t0
    if "truth-light" in modes:
        check_truth_world(set_dirs)
    work = a.work or a.cache.parent / "insert_work"
    runner = PipelineRunner(device="cpu")
    per_set: dict[str, Any] = {}
    pairs: list[Any] = []
    t_render = t_score = 0.0
    for sd in set_dirs:
        shots = {}
        truth = json.loads((sd / "set.json").read_text(encoding="utf-8"))
        sun = true_key_direction(truth["light"])
        for mode in modes:
            if mode == "given-key" and sun is None and "plate" in shots:
                shots[mode] = shots["plate"]  # no sun to give: the plate's own estimate, rendered once
                continue
            if mode == "plate-cover" and set_cover(truth) <= 0 and "plate" in shots:
                shots[mode] = shots["plate"]  # no grass: the plate's own estimate, rendered once
                continue
            t1 = time.perf_counter()
            shots[mode] = work / sd.name / mode
            log(f"[vanelia] eval insert: {sd.name}: Vanelia render ({mode} light)")
            if mode == "truth-light":
                render_truth_lit(sd, truth, shots["plate"], shots[mode], a.render_samples, a.blender)
            else:
                render_vanelia(sd, truth, shots[mode], mode, a.render_samples, a.blender, shutter)
            t_render += time.perf_counter() - t1
        t1 = time.perf_counter()
        scores, pictures = score_set(sd, shots, variants, runner, a.composite_checkpoint)
        if a.pairs_out is not None:
            pairs += set_pairs(sd, shots)
        t_score += time.perf_counter() - t1
        write_contact(a.json.with_name(f"{a.json.stem}_{sd.name}.png"), pictures)
        shot_doc = json.loads((shots["plate" if "plate" in shots else modes[0]] / "shot.json").read_text())
        light = shot_doc["lighting"] if "plate" in shots else None
        rendered = shot_doc["render"]
        per_set[sd.name] = {"scores": scores, "estimated_light": light, "true_light": truth["light"],
                            "motion_blur": {"used": rendered.get("motion_blur", 0.0), "note": rendered.get("motion_blur_note", ""),
                                            "true": float(truth["recipe"].get("shutter", 0.0))}}
    mean = {v: {k: float(np.nanmean([per_set[s]["scores"][v][k] for s in per_set])) for k in per_set[next(iter(per_set))]["scores"][v]} for v in variants}
    base = mean.get("paste")
    if base:
        for v, r in mean.items():
            r["gain_insert_db"] = r["psnr_insert"] - base["psnr_insert"]
            r["gain_product_db"] = r["psnr_product"] - base["psnr_product"]
    report: dict[str, Any] = {"sets": per_set, "mean": mean, "seed": a.seed, "frames": a.frames, "resolution": a.resolution,
              "truth_samples": a.samples, "render_samples": a.render_samples, "motion_blur": a.motion_blur, "film_crf": a.film_crf, "film_soft": a.film_soft, "film_shake": a.film_shake,
              "timings_s": {"generate": t_gen, "vanelia_render": t_render, "composite_and_score": t_score},
              "perceptual_metric": "skipped: no local weights for a learned perceptual metric (LPIPS/DISTS)"}
    if a.baseline is not None:
        report["against_baseline"] = {"report": str(a.baseline), "psnr_db": compare(report, load_baseline(a))}
    if a.pairs_out is not None:
        save_pairs(a.pairs_out, pairs)
        log(f"[vanelia] eval insert: {len(pairs)} training pairs -> {a.pairs_out}")
    atomic_write_json(a.json, report)
    return report


def main(argv: list[str] | None = None) -> int:
    a = parse_args(list(sys.argv[1:] if argv is None else argv))
    report = run(a)
    print(table(report))
    if "against_baseline" in report:
        print(compare_table(report["against_baseline"]["psnr_db"]))
    print(f"report: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
