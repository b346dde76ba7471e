"""DSTT checkpoints: safetensors weights + the architecture config in the metadata.

Loading checks the architecture name, the config and every tensor shape before touching the
model, so a checkpoint for another resolution or another network fails with a message that
names the file and what differs (instead of a shape error deep inside torch).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from shotcache.layout import atomic_write

from .dstt import ARCH, DSTT, DSTTConfig

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "checkpoints" / "inpaint"
DEFAULT_NAME = "dstt.safetensors"


class CheckpointError(ValueError):
    """The checkpoint file cannot be used here; the message names the file and the reason."""


def default_checkpoint() -> Path:
    return DEFAULT_DIR / DEFAULT_NAME


def save_checkpoint(path: str | os.PathLike[str], model: DSTT, extra: dict[str, Any] | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Atomic write: a crash mid-save never leaves a truncated checkpoint behind. ``dtype``
    (e.g. float16) halves the file; loading converts back to the model's float32."""
    meta = {"arch": ARCH, "config": model.cfg.to_json(), "extra": json.dumps(extra or {})}
    tensors = {k: v.detach().to("cpu", dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta), suffix=".safetensors")


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: DSTT checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a safetensors file ({exc})") from exc


def read_config(path: str | os.PathLike[str]) -> DSTTConfig:
    meta = read_metadata(path)
    if meta.get("arch") != ARCH or "config" not in meta:
        raise CheckpointError(
            f"{path}: architecture {meta.get('arch')!r} is not {ARCH!r}; this file is not a Vanelia DSTT "
            f"checkpoint (train one with `vanelia train inpaint`)"
        )
    try:
        return DSTTConfig.from_json(meta["config"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: unreadable DSTT config ({exc})") from exc


def load_checkpoint(
    path: str | os.PathLike[str],
    expect: DSTTConfig | None = None,
    resolution: tuple[int, int] | None = None,
    map_location: str = "cpu",
) -> tuple[DSTT, dict[str, Any]]:
    """Model + the checkpoint's ``extra`` dict; clear errors for any mismatch."""
    cfg = read_config(path)
    if resolution is not None and (cfg.height, cfg.width) != tuple(resolution):
        raise CheckpointError(
            f"{path}: checkpoint is for {cfg.height}x{cfg.width} frames, this engine runs at "
            f"{resolution[0]}x{resolution[1]}; use a checkpoint trained at that size"
        )
    if expect is not None and cfg != expect:
        diff = {
            k: (getattr(cfg, k), getattr(expect, k))
            for k in DSTTConfig.__dataclass_fields__
            if getattr(cfg, k) != getattr(expect, k)
        }
        raise CheckpointError(f"{path}: architecture differs from the requested one (checkpoint, requested): {diff}")
    model = DSTT(cfg)
    state = load_file(str(path), device=map_location)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or bad:
        raise CheckpointError(
            f"{path}: weights do not match the DSTT architecture in its own config "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {bad[:3]})"
        )
    model.load_state_dict(state)
    meta = read_metadata(path)
    extra = json.loads(meta.get("extra", "{}") or "{}")
    return model, extra


def load_into(model: torch.nn.Module, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Resume: load weights into an existing model after checking its config matches."""
    loaded, extra = load_checkpoint(path, expect=model.cfg)  # type: ignore[attr-defined]
    model.load_state_dict(loaded.state_dict())
    return extra
