"""DSTT checkpoints through ml.checkpoint (the one checkpoint format of all stages): what is
DSTT-specific here is the config, the resolution check and the ``extra`` training record."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ml.checkpoint import CheckpointError, check_arch, config_of, load_weights, read_metadata as _read_metadata, save

from .dstt import ARCH, DSTT, DSTTConfig

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "checkpoints" / "inpaint"
DEFAULT_NAME = "dstt.safetensors"
WHAT = "Vanelia DSTT checkpoint"
HINT = "train one with `vanelia train inpaint`"

__all__ = ["CheckpointError", "default_checkpoint", "load_checkpoint", "load_into", "read_config", "save_checkpoint"]


def default_checkpoint() -> Path:
    return DEFAULT_DIR / DEFAULT_NAME


def save_checkpoint(path: str | os.PathLike[str], model: DSTT, extra: dict[str, Any] | None = None) -> Path:
    """Atomic write (ml.checkpoint): weights, the DSTT config and ``extra`` as JSON."""
    return save(path, model, ARCH, model.cfg.to_json(), {"extra": json.dumps(extra or {})})


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    return _read_metadata(path, "DSTT checkpoint")


def read_config(path: str | os.PathLike[str]) -> DSTTConfig:
    meta = read_metadata(path)
    check_arch(path, meta, ARCH, WHAT, HINT)
    return config_of(path, meta, DSTTConfig.from_json, "DSTT")


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
    model = load_weights(path, DSTT(cfg), "DSTT", map_location)
    extra = json.loads(read_metadata(path).get("extra", "{}") or "{}")
    return model, extra


def load_into(model: torch.nn.Module, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Resume: load weights into an existing model after checking its config matches."""
    cfg: DSTTConfig = model.cfg  # type: ignore[assignment]  # a DSTT: nn.Module types its attributes loosely
    loaded, extra = load_checkpoint(path, expect=cfg)
    model.load_state_dict(loaded.state_dict())
    return extra
