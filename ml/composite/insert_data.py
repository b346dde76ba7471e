"""Truth sets of `vanelia eval insert` as training samples for the learned engines.

The sets are made by the Blender side (addon/truth_scenes.py through the ``insert-truth``
batch step, or ``vanelia eval insert``, which caches them); this module only reads them, so
training needs no Blender. Each sample is one frame: the plate without the product, the
path-traced truth with it, the product's alpha, its camera and placement, and the set's true
lights (what a relighter or a compositor should reproduce).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ml.io.images import read_linear
from shotcache.schema import FrameCamera, UserError


@dataclass
class InsertSample:
    set_name: str
    frame: int
    plate: np.ndarray  # HxWx3 linear, no product
    truth: np.ndarray  # HxWx3 linear, with the product (Cycles)
    alpha: np.ndarray  # HxW product coverage
    camera: FrameCamera
    product_matrix: list[list[float]]
    light: dict


def set_dirs(cache: str | Path) -> list[Path]:
    """Complete sets (those with a set.json) in a cache folder, sorted."""
    root = Path(cache)
    found = sorted(p.parent for p in root.glob("*/set.json"))
    if not found:
        raise UserError(f"{root}: no truth sets; make them with `vanelia eval insert --cache {root}`")
    return found


def iter_insert_samples(cache: str | Path, sets: list[str] | None = None) -> Iterator[InsertSample]:
    """Yield every frame of every (chosen) set in the cache."""
    from shotcache.tracks import load_transforms

    for sd in set_dirs(cache):
        if sets and not any(sd.name.startswith(s) for s in sets):
            continue
        meta = json.loads((sd / "set.json").read_text(encoding="utf-8"))
        cams = load_transforms(sd / "transforms.json").frames
        for f in sorted(cams):
            mask = cv2.imread(str(sd / "mask" / f"{f:06d}.png"), cv2.IMREAD_UNCHANGED)
            if mask is None:
                raise UserError(f"{sd / 'mask'}: frame {f} missing; delete {sd} and generate it again")
            yield InsertSample(sd.name, f, read_linear(sd / "plate" / f"{f:06d}.png"), read_linear(sd / "truth" / f"{f:06d}.png"),
                               mask[..., 3].astype(np.float32) / 255.0, cams[f], meta["product_matrix"], meta["light"])


# ---------------------------------------------------------------- compositor training pairs
PAIR_CONTEXT = 2.0
"""A stored pair is a square of this x the product's bounds: the sampler crops 1.1x up to it,
so the network sees the product with as much plate around it as the engine gives it."""


@dataclass
class InsertPair:
    """One frame of a set as the learned compositor sees it: Vanelia's composite (the base
    engine's output, what the network corrects), the product's mask and the path-traced truth,
    cropped round the product. uint8 sRGB, as the metrics of `vanelia eval insert` see them."""

    name: str  # SET/MODE/FRAME
    comp: np.ndarray  # hxwx3 uint8
    mask: np.ndarray  # hxw uint8 {0, 1}: the render's alpha > 0.5
    real: np.ndarray  # hxwx3 uint8


def composite_pairs(set_dir: Path, shot_dir: Path, base: str = "classical", context: float = PAIR_CONTEXT) -> list[InsertPair]:
    """The pairs of one set rendered by Vanelia in ``shot_dir`` (a `vanelia eval insert` shot),
    composited by the ``base`` engine as a run composites them (one engine per sequence: it
    keeps per-shot state)."""
    from ml.composite.data import square_box
    from ml.io.colour import linear_to_srgb
    from ml.io.images import read_rgb8
    from ml.pipeline.frames import load_frame
    from ml.stages.base import create
    from shotcache.layout import ShotPaths

    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    engine = create("composite", base)
    pairs = []
    for f in shot.frames:
        state = load_frame(paths, shot, f)
        assert state.rgba is not None  # load_frame raised FrameSkip otherwise
        mask = (state.rgba[..., 3] > 0.5).astype(np.uint8)
        out = engine.process(state, {})
        if mask.sum() < 16:  # the product is (nearly) out of view: nothing to learn here
            continue
        comp = np.round(np.clip(linear_to_srgb(out), 0, 1) * 255).astype(np.uint8)
        real = read_rgb8(Path(set_dir) / "truth" / f"{f:06d}.png")
        y0, y1, x0, x1 = square_box(mask.astype(np.float32), context)
        pairs.append(InsertPair(f"{Path(set_dir).name}/{Path(shot_dir).name}/{f}", comp[y0:y1, x0:x1], mask[y0:y1, x0:x1], real[y0:y1, x0:x1]))
    return pairs


PAIR_MODES = ("plate", "given-key", "truth-light")
"""The eval's light modes whose shots make training pairs: the plate's estimate, it with the
truth's key direction, and the truth's own light (a compositor that learns only the estimate's
errors corrects colours that are right: stop 31, seed 20, 3.4 dB under the classical engine
under the truth's light)."""


def save_pairs(path: str | Path, pairs: list[InsertPair]) -> Path:
    """One .npz of PNG-encoded crops (a tenth of the raw size; what travels to a GPU machine)."""
    from shotcache.layout import atomic_write

    if not pairs:
        raise UserError(f"{path}: no pairs to write; render the sets first (vanelia eval insert --work DIR)")
    arrays: dict[str, np.ndarray] = {"names": np.array([p.name for p in pairs])}
    for i, p in enumerate(pairs):
        for key, img in (("comp", p.comp[..., ::-1]), ("mask", p.mask * 255), ("real", p.real[..., ::-1])):
            ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
            assert ok, "PNG encoding of a uint8 array cannot fail"
            arrays[f"{key}{i}"] = buf
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


def load_pairs(paths: list[str | Path] | str | Path) -> list[InsertPair]:
    """Pairs from one or more files written by ``save_pairs``."""
    files = [paths] if isinstance(paths, (str, Path)) else list(paths)
    pairs = []
    for path in files:
        try:
            z = np.load(path)
            names = [str(n) for n in z["names"]]
            dec = lambda key, flag: cv2.imdecode(z[key], flag)  # noqa: E731
            for i, n in enumerate(names):
                pairs.append(InsertPair(n, dec(f"comp{i}", cv2.IMREAD_COLOR)[..., ::-1].copy(), (dec(f"mask{i}", cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8),
                                        dec(f"real{i}", cv2.IMREAD_COLOR)[..., ::-1].copy()))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise UserError(f"{path}: not a pair file of `vanelia eval insert --pairs-out` ({exc}); write it again") from exc
    return pairs


def crop_pair(pair: InsertPair, scale: float, size: int, shift: tuple[float, float] = (0.0, 0.0), flip: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(comp, mask, real) float32 at ``size``: a square of ``scale`` x the product's bounds,
    its centre moved by ``shift`` x its side (kept inside the stored crop)."""
    from ml.composite.data import square_box

    m = pair.mask.astype(np.float32)
    y0, y1, x0, x1 = square_box(m, scale, shift)
    side = y1 - y0
    sl = (slice(y0, y1), slice(x0, x1))
    comp, real = pair.comp[sl].astype(np.float32) / 255, pair.real[sl].astype(np.float32) / 255
    mask = m[sl]
    if flip:
        comp, mask, real = comp[:, ::-1], mask[:, ::-1], real[:, ::-1]
    rs = lambda a, interp: cv2.resize(np.ascontiguousarray(a), (size, size), interpolation=interp)  # noqa: E731
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return rs(comp, interp), (rs(mask, cv2.INTER_LINEAR) > 0.5).astype(np.float32), rs(real, interp)


def recolour(comp: np.ndarray, real: np.ndarray, order: np.ndarray, exposure: float) -> tuple[np.ndarray, np.ndarray]:
    """The same pair in another world: channels permuted and exposure scaled (in linear light),
    alike in the composite and the truth, product and plate. Why: the correction a pair asks
    for then still follows from the plate around the product (its light is permuted and scaled
    with it), but no longer from the product's own colour. The generated sets hold one product,
    a yellow duck; unaugmented, the network learnt "make yellow products brighter and more
    saturated", which it then did to every product of real clips."""
    from ml.io.colour import linear_to_srgb, srgb_to_linear

    def f(x: np.ndarray) -> np.ndarray:
        return np.clip(linear_to_srgb(srgb_to_linear(x[..., order]) * exposure), 0.0, 1.0).astype(np.float32)

    return f(comp), f(real)


class InsertPairSampler:
    """Random crops of insert pairs at the training size: 1.1x (what the engine crops) up to
    the stored context, centre jittered, mirrored half the time; with ``augment``, recoloured
    (``recolour``: any channel order, exposure 0.5-1.6x). Same ``batch`` as PairSampler."""

    def __init__(self, pairs: list[InsertPair], size: int = 128, context: float = PAIR_CONTEXT, augment: bool = False):
        if not pairs:
            raise UserError("no insert pairs to train on; write them with `vanelia eval insert --pairs-out FILE`")
        self.pairs, self.size, self.context, self.augment = pairs, size, context, augment

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pair = self.pairs[int(rng.integers(len(self.pairs)))]
        shift = (float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.08, 0.08)))
        comp, mask, real = crop_pair(pair, float(rng.uniform(1.1, self.context)), self.size, shift, bool(rng.random() < 0.5))
        if self.augment:
            comp, real = recolour(comp, real, rng.permutation(3), float(np.exp(rng.uniform(np.log(0.5), np.log(1.6)))))
        return comp, mask, real

    def batch(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = [self.sample(rng) for _ in range(n)]
        return tuple(np.stack(x) for x in zip(*items))  # type: ignore[return-value]

    def fixed(self, scale: float = 1.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair once, centred, at ``scale`` (the engine's crop): a validation batch."""
        items = [crop_pair(p, scale, self.size) for p in self.pairs]
        return tuple(np.stack(x) for x in zip(*items))  # type: ignore[return-value]
