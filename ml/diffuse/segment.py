"""Text-prompted masks with CLIPSeg (transformers), and background removal of an object image.

The CLIPSeg folder is a transformers save (config.json, weights, preprocessor_config.json,
tokenizer files), e.g. a local copy of CIDAS/clipseg-rd64-refined. It is found from the
argument, ``$VANELIA_CLIPSEG_DIR`` or ``<model dir>/clipseg``; nothing is downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ml.io.colour import linear_to_uint8
from ml.stages.base import EngineError, EngineUnavailable

from .models import ENV_MODEL_DIR, offline, pick_device

ENV_CLIPSEG_DIR = "VANELIA_CLIPSEG_DIR"
_NEEDED = ("config.json", ("preprocessor_config.json", "processor_config.json"))


def resolve_clipseg_dir(model_dir: str | os.PathLike[str] | None = None) -> Path:
    cands = [model_dir, os.environ.get(ENV_CLIPSEG_DIR)]
    if os.environ.get(ENV_MODEL_DIR):
        cands.append(str(Path(os.environ[ENV_MODEL_DIR]) / "clipseg"))
    for c in cands:
        if not c:
            continue
        p = Path(c).expanduser()
        if (p / "clipseg").is_dir() and not (p / "config.json").is_file():
            p = p / "clipseg"
        missing = [" or ".join(f) if isinstance(f, tuple) else f for f in _NEEDED if not any((p / g).is_file() for g in (f if isinstance(f, tuple) else (f,)))]
        if missing:
            raise EngineUnavailable(
                f"CLIPSeg folder {p} is missing {', '.join(missing)}: place a transformers CLIPSeg model "
                f"(e.g. a local copy of CIDAS/clipseg-rd64-refined: config.json, model.safetensors, "
                f"preprocessor_config.json, tokenizer files) there"
            )
        return p
    raise EngineUnavailable(
        f"text-prompted masks need a local CLIPSeg model folder: give --model-dir, set ${ENV_CLIPSEG_DIR}, "
        f"or put it in $VANELIA_MODEL_DIR/clipseg. Nothing is downloaded."
    )


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """uint8 RGB as is; float arrays are taken as linear RGB(A) and converted to sRGB 8-bit."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] < 3:
        raise EngineError(f"expected an HxWx3 image, got shape {img.shape}")
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img[..., :3])
    return linear_to_uint8(img[..., :3].astype(np.float32))


class Segmenter:
    """CLIPSeg on one device; ``heatmap`` gives probabilities at the image's size."""

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, device: str | None = None) -> None:
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        offline()
        self.folder = resolve_clipseg_dir(model_dir)
        self.device = pick_device(device)
        try:
            self.processor = CLIPSegProcessor.from_pretrained(str(self.folder), local_files_only=True)
            self.model = CLIPSegForImageSegmentation.from_pretrained(str(self.folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EngineUnavailable(f"cannot load CLIPSeg from {self.folder}: {exc}") from exc
        self.model.to(self.device).eval()

    @torch.no_grad()
    def heatmaps(self, image: np.ndarray, texts: list[str]) -> np.ndarray:
        """(len(texts), H, W) float32 probabilities for each prompt."""
        texts = [str(t) for t in texts]
        if not texts or any(not t.strip() for t in texts):
            raise EngineError("CLIPSeg needs a non-empty text prompt (e.g. \"dog\", \"grass\")")
        rgb = to_rgb8(image)
        h, w = rgb.shape[:2]
        inputs = self.processor(text=texts, images=[rgb] * len(texts), padding=True, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        logits = self.model(**inputs).logits
        logits = logits.reshape(-1, *logits.shape[-2:]).float().cpu().numpy()
        probs = 1.0 / (1.0 + np.exp(-logits))
        return np.stack([cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) for p in probs]).astype(np.float32)

    def heatmap(self, image: np.ndarray, text: str) -> np.ndarray:
        return self.heatmaps(image, [text])[0]

    def segment(self, image: np.ndarray, text: str, threshold: float = 0.4) -> np.ndarray:
        """HxW float32 binary mask (1 = the thing the text names)."""
        return (self.heatmap(image, text) > float(threshold)).astype(np.float32)


def segment(image: np.ndarray, text: str, model_dir: str | None = None, threshold: float = 0.4, segmenter: Segmenter | None = None) -> np.ndarray:
    """``segment(image, "dog")`` -> binary HxW mask."""
    return (segmenter or Segmenter(model_dir)).segment(image, text, threshold)


def remove_background(
    image: np.ndarray,
    text: str,
    segmenter: Segmenter,
    threshold: float = 0.4,
    feather_px: int = 2,
    crop: bool = True,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Object image -> (RGBA uint8 with alpha from the text mask, (x0, y0, x1, y1) box in the input).

    Keeps the largest connected component (a stray patch elsewhere is not the object);
    ``crop`` trims to its box. An empty mask is an error naming the prompt.
    """
    rgb = to_rgb8(image)
    m = segmenter.segment(rgb, text, threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        raise EngineError(f"CLIPSeg found nothing matching {text!r} (threshold {threshold}); try another prompt or a lower threshold")
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    keep = (labels == best).astype(np.float32)
    if feather_px > 0:
        keep = np.clip(cv2.GaussianBlur(keep, (0, 0), feather_px) * 2.0, 0.0, 1.0)  # solid core, soft rim
    alpha = (np.clip(keep, 0, 1) * 255 + 0.5).astype(np.uint8)
    x, y, bw, bh = (int(v) for v in stats[best, :4])
    box = (x, y, x + bw, y + bh) if crop else (0, 0, rgb.shape[1], rgb.shape[0])
    rgba = np.concatenate([rgb, alpha[..., None]], axis=2)[box[1] : box[3], box[0] : box[2]]
    return np.ascontiguousarray(rgba), box
