"""Checkpoints of every learned engine: safetensors weights + the architecture and its config.

One format and one set of checks for all stages (inpaint DSTT, relight U-Net, composite
photorealistic net), so a checkpoint for another network, another width or another resolution
fails with one kind of error (``CheckpointError``, a user error the runner treats as "engine
unavailable") whose message names the file and what differs, instead of a shape error deep
inside torch. Writes are atomic (temp file + rename): a crash mid-save never leaves half a file.

Metadata (all strings): ``arch`` (which network), ``config`` (its JSON config) and whatever
the stage adds. Files from before this module name the architecture ``kind`` (relight) or
``format`` (composite); they are read the same way.

A stage's own module keeps only what is specific to it: how to build its model from the
config and which config fields must match (ml/<stage>/... ``save_checkpoint``/``load_checkpoint``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from ml.stages.base import EngineError
from shotcache.layout import atomic_write

ARCH_KEYS = ("arch", "kind", "format")
"""Where the architecture name is stored (current name first, then the older ones)."""

M = TypeVar("M", bound=torch.nn.Module)


class CheckpointError(EngineError, ValueError):
    """A checkpoint that cannot be used here; the message names the file and the reason."""


def save(path: str | os.PathLike[str], model: torch.nn.Module, arch: str, config_json: str,
         metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights with ``arch``, ``config`` and string ``metadata`` (atomic)."""
    from safetensors.torch import save_file

    meta = {**{k: str(v) for k, v in (metadata or {}).items()}, "arch": arch, "config": config_json}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta), suffix=".safetensors")


def read_metadata(path: str | os.PathLike[str], what: str = "checkpoint") -> dict[str, str]:
    """The file's metadata; FileNotFoundError when absent, CheckpointError when not safetensors."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: {what} not found")
    try:
        with safe_open(str(p), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types on foreign/corrupt files
        raise CheckpointError(f"{p}: not a readable safetensors {what} ({exc})") from exc


def arch_of(meta: dict[str, str]) -> str | None:
    return next((meta[k] for k in ARCH_KEYS if k in meta), None)


def check_arch(path: str | os.PathLike[str], meta: dict[str, str], arch: str, what: str, hint: str,
               allow_missing: bool = False) -> None:
    """Refuse a file made for another network (``hint`` says how to get a right one)."""
    found = arch_of(meta)
    if found == arch or (found is None and allow_missing):
        return
    raise CheckpointError(f"{path}: architecture {found!r} is not {arch!r}; this file is not a {what} ({hint})")


def load_weights(path: str | os.PathLike[str], model: M, what: str, map_location: str = "cpu") -> M:
    """Load the file's tensors into ``model`` after checking names, shapes and finiteness."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device=map_location)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable safetensors {what} ({exc})") from exc
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or bad:
        raise CheckpointError(f"{path}: weights do not match the {what} architecture in its own config "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {bad[:3]})")
    nonfinite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:
        raise CheckpointError(f"{path}: weights contain NaN/Inf ({nonfinite[:3]}); use an earlier checkpoint")
    model.load_state_dict(state)
    return model


def config_of(path: str | os.PathLike[str], meta: dict[str, str], parse: Callable[[str], Any], what: str) -> Any:
    """The architecture config stored in the file, parsed; CheckpointError when unreadable."""
    if "config" not in meta:
        raise CheckpointError(f"{path}: no architecture config in this {what}; re-train or re-export it")
    try:
        return parse(meta["config"])
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable {what} config ({exc})") from exc
