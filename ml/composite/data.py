"""Harmonization training pairs made from any frames (iHarmony4-style, built here).

A pair is (composite, mask, real): a region of a real frame gets the appearance of a badly
lit insert - colour statistics of another image, a different exposure, white balance, gamma,
contrast or saturation - and the network learns to restore the real frame. Regions come from
object masks next to the frames (a ``masks/`` folder with the same frame names, as in
../shared/data/video), from images with an alpha channel (rendered product silhouettes), or
from random shapes (ellipses, polygons, blobs).

Frames are split per clip, in order: the last ``holdout_fraction`` of each folder (after a
small gap, so neighbouring frames do not leak) is held out for evaluation; training and
evaluation use the same split function, so "frames it never saw" is checkable.

Arrays: float32 sRGB in [0, 1] (harmonization data sets and metrics are sRGB), HxWx3; mask HxW
in {0, 1}.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ml.io.colour import linear_to_srgb, srgb_to_linear
from ml.io.images import IMAGE_EXTS, MASK_DIR_NAMES, list_frames
from shotcache.frames import RGB8_EXTS


@dataclass
class Frame:
    path: Path
    rgb: np.ndarray  # float32 sRGB HxWx3
    masks: list[np.ndarray] = field(default_factory=list)  # object masks, HxW {0,1}


def find_frame_folders(root: str | os.PathLike[str]) -> list[Path]:
    """Folders under ``root`` (itself included) that hold image frames, skipping mask folders."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: training/evaluation data folder does not exist")
    if root.is_file():
        return [root.parent]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if Path(dirpath).name in MASK_DIR_NAMES:
            continue
        if any(Path(f).suffix.lower() in IMAGE_EXTS and Path(f).suffix.lower() != ".exr" for f in filenames):
            out.append(Path(dirpath))
    return out


def split_frames(files: list[Path], split: str, holdout_fraction: float = 0.2, gap: int = 3) -> list[Path]:
    """'train' = first part of the clip, 'holdout' = its last part, 'all' = everything."""
    if split == "all" or len(files) < 4:
        return list(files) if split != "holdout" or len(files) >= 4 else []
    n_hold = max(1, int(round(len(files) * holdout_fraction)))
    start = len(files) - n_hold
    if split == "holdout":
        return list(files[start:])
    if split == "train":
        return list(files[: max(1, start - gap)])
    raise ValueError(f"unknown split {split!r}; use train, holdout or all")


def _resize_max(img: np.ndarray, max_side: int, interp: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = img.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def _object_mask_for(frame_path: Path) -> Path | None:
    for name in MASK_DIR_NAMES:
        folder = frame_path.parent.parent / name
        for ext in RGB8_EXTS:
            cand = folder / (frame_path.stem + ext)
            if cand.is_file():
                return cand
    return None


def load_frames(dirs: list[str | os.PathLike[str]], split: str = "train", max_side: int = 480, holdout_fraction: float = 0.2) -> tuple[list[Frame], list[np.ndarray]]:
    """Frames (with their object masks) and silhouettes (alpha of RGBA images) from ``dirs``."""
    frames: list[Frame] = []
    silhouettes: list[np.ndarray] = []
    for d in dirs:
        for folder in find_frame_folders(d):
            files = [p for p in list_frames(folder) if p.suffix.lower() != ".exr"]
            for path in split_frames(files, split, holdout_fraction):
                raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                if raw is None:
                    raise FileNotFoundError(f"{path}: cannot read this image (training data)")
                if raw.dtype == np.uint16:
                    raw = (raw / 257.0).astype(np.uint8)
                if raw.ndim == 2:
                    raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
                if raw.shape[2] == 4:  # a rendered silhouette: its alpha is a region shape
                    alpha = raw[..., 3]
                    if (alpha > 127).mean() > 0.01:
                        silhouettes.append(_resize_max((alpha > 127).astype(np.float32), max_side, cv2.INTER_NEAREST))
                    raw = raw[..., :3]
                rgb = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
                rgb = _resize_max(rgb, max_side)
                frame = Frame(path, rgb)
                mpath = _object_mask_for(path)
                if mpath is not None:
                    m = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE)
                    if m is not None:
                        m = cv2.resize((m > 0).astype(np.float32), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
                        if m.mean() > 0.005:
                            frame.masks.append(m)
                frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no image frames found in {', '.join(map(str, dirs))} (split {split!r})")
    return frames, silhouettes


# ---------------------------------------------------------------- region shapes

def random_shape(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Ellipse, polygon or smooth blob covering roughly 4-40 % of the frame."""
    m = np.zeros((h, w), np.uint8)
    kind = rng.integers(3)
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    ry, rx = rng.uniform(0.12, 0.35) * h, rng.uniform(0.12, 0.35) * w
    if kind == 0:
        cv2.ellipse(m, (int(cx), int(cy)), (int(rx), int(ry)), float(rng.uniform(0, 180)), 0, 360, (1,), -1)
    elif kind == 1:
        n = int(rng.integers(4, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.5, 1.0, n)
        pts = np.stack([cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(m, [pts], (1,))
    else:
        noise = rng.standard_normal((max(2, h // 16), max(2, w // 16))).astype(np.float32)
        noise = np.asarray(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        m = np.asarray((noise * 0.6 - d + 1.0) > 0, dtype=np.uint8)
    if m.sum() < 16:
        cv2.circle(m, (w // 2, h // 2), max(3, min(h, w) // 6), (1,), -1)
    return m.astype(np.float32)


def fit_shape(shape: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Place a silhouette at a random scale and position in an h x w frame."""
    ys, xs = np.nonzero(shape > 0.5)
    crop = shape[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    s = rng.uniform(0.25, 0.7) * min(h / crop.shape[0], w / crop.shape[1])
    ch, cw = max(2, int(crop.shape[0] * s)), max(2, int(crop.shape[1] * s))
    crop = cv2.resize(crop, (cw, ch), interpolation=cv2.INTER_NEAREST)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = np.zeros((h, w), np.float32)
    out[y0 : y0 + ch, x0 : x0 + cw] = crop
    return out


# ---------------------------------------------------------------- appearance perturbation

def _lab_stats(rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    px = lab[mask > 0.5] if mask is not None else lab.reshape(-1, 3)
    if len(px) < 4:
        px = lab.reshape(-1, 3)
    return px.mean(0), px.std(0) + 1e-3


def colour_transfer(rgb: np.ndarray, mask: np.ndarray, ref: np.ndarray, ref_mask: np.ndarray | None, amount: float) -> np.ndarray:
    """Reinhard Lab statistics transfer of the masked region towards ``ref`` (partial by ``amount``)."""
    mu_s, sd_s = _lab_stats(rgb, mask)
    mu_r, sd_r = _lab_stats(ref, ref_mask)
    lab = cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    mu_t = mu_s + amount * (mu_r - mu_s)
    sd_t = sd_s + amount * (sd_r - sd_s)
    out = (lab - mu_s) / sd_s * sd_t + mu_t
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1)


def perturb(rgb: np.ndarray, mask: np.ndarray, ref: np.ndarray, rng: np.random.Generator, min_change: float = 0.02) -> np.ndarray:
    """The region's appearance as a badly lit insert; retries until the change is visible."""
    for _ in range(6):
        out = rgb.copy()
        if rng.random() < 0.5:
            ref_mask = None if rng.random() < 0.5 else random_shape(ref.shape[0], ref.shape[1], rng)
            out = colour_transfer(out, mask, ref, ref_mask, float(rng.uniform(0.4, 1.0)))
        lin = srgb_to_linear(out)
        if rng.random() < 0.7:  # exposure
            lin = lin * np.float32(2.0 ** rng.uniform(-1.2, 1.0))
        if rng.random() < 0.7:  # white balance
            gains = np.exp(rng.uniform(-0.3, 0.3, 3)).astype(np.float32)
            lin = lin * gains / gains.mean()
        out = linear_to_srgb(np.clip(lin, 0, 1))
        if rng.random() < 0.5:  # gamma
            out = np.power(np.clip(out, 0, 1), np.float32(rng.uniform(0.7, 1.45)))
        if rng.random() < 0.5:  # contrast around the region's mean
            mu = out[mask > 0.5].mean(0) if mask.sum() > 0 else out.mean((0, 1))
            out = (out - mu) * np.float32(rng.uniform(0.65, 1.35)) + mu
        if rng.random() < 0.4:  # saturation
            grey = out.mean(-1, keepdims=True)
            out = grey + (out - grey) * np.float32(rng.uniform(0.5, 1.5))
        out = np.clip(out, 0, 1).astype(np.float32)
        comp = np.where(mask[..., None] > 0.5, out, rgb)
        if np.abs(comp - rgb)[mask > 0.5].mean() >= min_change:
            return comp
    return comp


# ---------------------------------------------------------------- pairs

def square_box(mask: np.ndarray, scale: float, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): a square of side scale x the mask bounds' longer side, its centre moved
    by ``shift`` x its side, kept in the frame."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask > 0.5)
    side = int(round(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * scale))
    side = max(8, min(side, h, w))
    cy = (ys.min() + ys.max() + 1) / 2 + shift[0] * side
    cx = (xs.min() + xs.max() + 1) / 2 + shift[1] * side
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    return y0, y0 + side, x0, x0 + side


class PairSampler:
    """Random harmonization pairs at a fixed training size."""

    def __init__(self, frames: list[Frame], silhouettes: list[np.ndarray] | None = None, size: int = 128):
        if not frames:
            raise ValueError("PairSampler needs at least one frame")
        self.frames = frames
        self.silhouettes = silhouettes or []
        self.size = size

    def region(self, frame: Frame, rng: np.random.Generator) -> np.ndarray:
        h, w = frame.rgb.shape[:2]
        r = rng.random()
        if frame.masks and r < 0.4:
            return frame.masks[int(rng.integers(len(frame.masks)))]
        if self.silhouettes and r < 0.65:
            return fit_shape(self.silhouettes[int(rng.integers(len(self.silhouettes)))], h, w, rng)
        return random_shape(h, w, rng)

    def full_pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(composite, mask, real) at the frame's own size."""
        frame = self.frames[int(rng.integers(len(self.frames)))]
        ref = self.frames[int(rng.integers(len(self.frames)))].rgb
        mask = self.region(frame, rng)
        comp = perturb(frame.rgb, mask, ref, rng)
        return comp, mask, frame.rgb

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(composite, mask, real) cropped around the region (1.1-3x its bounds, or the whole frame)."""
        comp, mask, real = self.full_pair(rng)
        if rng.random() < 0.75:
            y0, y1, x0, x1 = square_box(mask, float(rng.uniform(1.1, 3.0)))
            comp, mask, real = comp[y0:y1, x0:x1], mask[y0:y1, x0:x1], real[y0:y1, x0:x1]
        s = self.size
        if rng.random() < 0.5:
            comp, mask, real = comp[:, ::-1], mask[:, ::-1], real[:, ::-1]
        comp = cv2.resize(np.ascontiguousarray(comp), (s, s), interpolation=cv2.INTER_AREA)
        real = cv2.resize(np.ascontiguousarray(real), (s, s), interpolation=cv2.INTER_AREA)
        mask = (cv2.resize(np.ascontiguousarray(mask), (s, s), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)
        if mask.sum() < 4:  # region vanished in the resize: take the centre
            mask[s // 3 : 2 * s // 3, s // 3 : 2 * s // 3] = 1
        comp = np.where(mask[..., None] > 0.5, comp, real)
        return comp.astype(np.float32), mask, real.astype(np.float32)

    def batch(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stacked (N,H,W,3) composites, (N,H,W) masks, (N,H,W,3) reals."""
        items = [self.sample(rng) for _ in range(n)]
        return tuple(np.stack(x) for x in zip(*items))  # type: ignore[return-value]
