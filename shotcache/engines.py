"""The engine catalogue: every engine name, which ones are learned, the defaults and the fallback.

Why a static table here and not only the registry in ``ml/stages``: the names cross the
boundary (a job names its engines, the Blender panel offers them, the schema validates them)
and ``shotcache`` must stay importable without torch, so it cannot import the engine modules.
The direction is therefore *registry reads catalogue*: ``ml.stages.base.register`` refuses an
engine that is not listed here and takes its ``learned`` flag and its fallback from here, and
tests/ml/stages/test_catalogue.py checks that every entry has a registered engine. Adding an
engine = one row here + its ``@register`` class; no other list of names exists.

Rules derived from the table (and nowhere else):

* ``CLASSICAL[stage]``: the engine that needs no weights; what runs when nothing is configured.
* ``LEARNED_DEFAULT[stage]``: what runs instead when the job names no engine and that engine's
  weights are present (configured, or shipped in checkpoints/). Diffusion is never on by default.
* ``default_engine``: the one rule both the job key and the runner's planning use.
* ``fallback``: an unavailable engine falls back to its stage's classical engine.

Stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

STAGES = ("inpaint", "relight", "composite", "diffuse")
"""Stage order in the pipeline. A job may run any subset, always in this order."""


@dataclass(frozen=True)
class EngineEntry:
    stage: str
    name: str
    learned: bool = False
    """Needs weights (a checkpoint or a diffusers model) in this process."""
    classical: bool = False
    """The stage's engine that needs nothing: the default and every other engine's fallback."""
    learned_default: bool = False
    """Runs by default instead of the classical engine when its weights are present."""


CATALOGUE: tuple[EngineEntry, ...] = (
    EngineEntry("inpaint", "propagate", classical=True),
    EngineEntry("inpaint", "telea"),
    EngineEntry("inpaint", "dstt", learned=True),
    EngineEntry("inpaint", "propagate+dstt", learned=True, learned_default=True),
    EngineEntry("relight", "lambert", classical=True),
    EngineEntry("relight", "none"),
    EngineEntry("relight", "unet", learned=True, learned_default=True),
    EngineEntry("composite", "classical", classical=True),
    EngineEntry("composite", "photorealistic", learned=True, learned_default=True),
    EngineEntry("composite", "controlnet", learned=True),
    EngineEntry("composite", "iclight", learned=True),
    EngineEntry("diffuse", "none", classical=True),
    EngineEntry("diffuse", "sdedit", learned=True),
    EngineEntry("diffuse", "inpaint", learned=True),
    EngineEntry("diffuse", "controlnet", learned=True),
    EngineEntry("diffuse", "iclight", learned=True),
    EngineEntry("diffuse", "a1111"),  # a remote backend: no weights here
    EngineEntry("diffuse", "comfyui"),
)

ENGINES: dict[str, tuple[str, ...]] = {s: tuple(e.name for e in CATALOGUE if e.stage == s) for s in STAGES}
"""Engine names a job may ask for, per stage. Which are *available* is a sidecar capability."""

CLASSICAL: dict[str, str] = {e.stage: e.name for e in CATALOGUE if e.classical}
LEARNED_DEFAULT: dict[str, str] = {e.stage: e.name for e in CATALOGUE if e.learned_default}


def entry(stage: str, name: str) -> EngineEntry | None:
    return next((e for e in CATALOGUE if e.stage == stage and e.name == name), None)


def describe() -> str:
    """'inpaint: propagate, telea, ...; relight: ...' for messages that list the choices."""
    return "; ".join(f"{s}: {', '.join(n)}" for s, n in ENGINES.items())


def fallback(stage: str, name: str) -> str | None:
    """The engine to run when ``name`` is unavailable: the stage's classical one (None for it)."""
    classical = CLASSICAL[stage]
    return classical if name != classical else None


def default_engine(stage: str, named: dict[str, str], weights_present: Callable[[str, str], bool] | None = None) -> str:
    """The engine a job runs for ``stage``: the one it names, else the learned default when
    ``weights_present(stage, name)`` says its weights are here, else the classical engine.

    Without ``weights_present`` (a client that can't see the sidecar's checkpoints) the
    answer is the classical engine, which is what the sidecar runs when no weights are there.
    """
    if stage in named:
        return named[stage]
    learned = LEARNED_DEFAULT.get(stage)
    if learned and weights_present is not None and weights_present(stage, learned):
        return learned
    return CLASSICAL[stage]
