"""Resumable-to-the-step training state, for any stage's trainer.

One file holds everything a run needs to continue as if it had never stopped: the model
weights, the optimizer, the LR scheduler, the AMP grad scaler, every random generator
(Python, NumPy's global one, torch CPU and CUDA), the step (which is the data position when
the data stream is a pure function of the step, as ml.inpaint.data's is), the history for
the curves, and the config the run was started with.

Why one file, written atomically (temp + rename): GPU time comes in short windows that can
end mid-step (a kill at the time limit). Weights in one file and optimizer state in another
can be caught half-updated; one ``torch.save`` renamed into place is either the old state or
the new one. The weights a user loads (safetensors) are written next to it as a separate,
derived file.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shotcache.layout import atomic_write

FORMAT = "vanelia.train_state.v1"


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_train_state(path: str | os.PathLike[str], *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     step: int, scheduler: Any = None, scaler: Any = None, config: dict[str, Any] | None = None,
                     history: Any = None) -> Path:
    """Write the whole state atomically (see the module docstring)."""
    raw = getattr(model, "_orig_mod", model)  # a torch.compile wrapper saves as its module
    state = {
        "format": FORMAT,
        "step": int(step),
        "model": {k: v.detach().cpu() for k, v in raw.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state(),
        "config": config or {},
        "history": history,
    }
    return atomic_write(path, lambda tmp: torch.save(state, tmp), suffix=".pt")


def load_train_state(path: str | os.PathLike[str], *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any = None, scaler: Any = None, restore_rng: bool = True) -> dict[str, Any]:
    """Restore everything into the given objects; returns the state (step, config, history).

    A file that is not a train state, or whose weights do not fit the model, is an error that
    names the file (a ValueError), never a half-restored run."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable training state ({exc}); start again without --resume") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a Vanelia training state ({FORMAT})")
    raw = getattr(model, "_orig_mod", model)
    own = raw.state_dict()
    bad = sorted(k for k in own if k not in state["model"] or state["model"][k].shape != own[k].shape)
    if bad or set(state["model"]) - set(own):
        raise ValueError(f"{path}: saved weights do not fit this model (first differences: {bad[:3]}); "
                         "resume with the same architecture, or start a new run")
    raw.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        set_rng_state(state["rng"])
    return state
