"""The stage/engine contract every inpaint, relight, composite and diffuse engine follows.

A frame flows through the stages as one ``FrameState``. Each stage reads what its engine
``needs`` and writes exactly one field, its ``produces``:

    inpaint   -> "plate"      (the clean plate replaces the plate)
    relight   -> "rgba"       (the re-shaded product replaces the render)
    composite -> "composite"  (plate + product + shadow)
    diffuse   -> "composite"  (refined composite)

Engines are registered by ``(stage, name)`` with ``@register``; the runner looks them up with
``create(stage, name)``. Engines keep no global state (one instance per GPU worker, so the
same classes can run as Ray actors later) and may keep streaming state between frames of
one sequence (DSTT memory, previous flow); ``reset()`` starts a new sequence.

Arrays: float32, HxWxC, *linear* RGB; ``rgba`` has straight alpha; ``mask`` is HxW float32
in [0, 1] with 1 = remove. ``passes`` holds the canonical render passes (shotcache.schema.PASSES)
other than rgba.
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from shotcache import engines as catalogue
from shotcache.errors import UserError

PRODUCES = {"inpaint": "plate", "relight": "rgba", "composite": "composite", "diffuse": "composite"}


class EngineError(UserError, RuntimeError):
    """An engine cannot run on this input; the message says what to do (a user error: the
    input, the checkpoint or the device is what needs changing)."""


class EngineUnavailable(EngineError):
    """The engine cannot be set up here (missing checkpoint, package or device).

    The runner falls back to the stage's classical engine only when the job allows it,
    and records the fallback per frame in the version's params.json.
    """


class MissingInput(EngineError):
    """A frame lacks something the engine needs (a pass, a mask); names it."""


@dataclass
class FrameState:
    index: int
    plate: np.ndarray
    rgba: np.ndarray | None = None
    passes: dict[str, np.ndarray] = field(default_factory=dict)
    mask: np.ndarray | None = None
    camera: Any = None  # shotcache.schema.FrameCamera
    lighting: Any = None  # shotcache.schema.Lighting
    composite: np.ndarray | None = None
    plate_blur: np.ndarray | None = None
    """2x2 covariance (px^2): how much softer this plate frame is where the product stands than
    the shot's sharpest frame (shot.json plate.blur, ml/camera/frame_blur.py); None: not measured."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What an engine measured on this frame, under its stage's name ({"composite": {"blur":
    ...}}): the runner adds it to the frame's record in params.json."""

    def get(self, name: str) -> Any:
        if name in ("plate", "rgba", "mask", "composite", "camera", "lighting", "plate_blur"):
            return getattr(self, name)
        return self.passes.get(name)


ProgressFn = Callable[[float], None]


class Engine:
    """Base class: subclasses set the ClassVars and implement ``process``."""

    stage: ClassVar[str] = ""
    name: ClassVar[str] = ""
    learned: ClassVar[bool] = False
    """Set by ``register`` from the catalogue (shotcache.engines), never by the class."""
    needs: ClassVar[tuple[str, ...]] = ("plate",)
    """FrameState fields or pass names this engine reads; missing ones raise MissingInput."""
    fallback: ClassVar[str | None] = None
    """Set by ``register`` from the catalogue: the stage's classical engine (None for it)."""
    Params: ClassVar[type | None] = None
    """A dataclass of the engine's own parameters (per-stage job params); None = not declared."""
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {}
    """Parameters that take one of a few values: checked with the names (``check_params``), before
    any work, not when the engine first runs after the render."""
    default_checkpoint: ClassVar[Path | None] = None
    """Where a learned engine finds its weights when none are configured (checkpoints/...)."""

    def __init__(self) -> None:
        self.device = "cpu"
        self.checkpoint: str | None = None

    def setup(self, device: str = "cpu", checkpoint: str | None = None) -> None:
        """Load weights / build models. Raise EngineUnavailable with what to put where."""
        self.device = device
        self.checkpoint = checkpoint

    def reset(self) -> None:
        """Start a new sequence: drop streaming state."""

    def check_inputs(self, frame: FrameState) -> None:
        for need in self.needs:
            if frame.get(need) is None:
                raise MissingInput(
                    f"{self.stage} engine '{self.name}' needs '{need}' for frame {frame.index}, "
                    f"but the shot has none (render the pass / give --mask)"
                )

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.process")

    def describe(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "name": self.name,
            "learned": self.learned,
            "needs": list(self.needs),
            "produces": PRODUCES[self.stage],
            "checkpoint": self.checkpoint,
        }


_REGISTRY: dict[tuple[str, str], type[Engine]] = {}


def register(cls: type[Engine]) -> type[Engine]:
    """Class decorator: make an engine available by (stage, name).

    The registry reads the catalogue (shotcache/engines.py), never the other way round: an
    engine missing there is refused, and its ``learned`` flag and fallback come from there."""
    if cls.stage not in PRODUCES:
        raise ValueError(f"{cls.__name__}: unknown stage {cls.stage!r}")
    if not cls.name:
        raise ValueError(f"{cls.__name__}: engine needs a name")
    row = catalogue.entry(cls.stage, cls.name)
    if row is None:
        raise ValueError(f"{cls.__name__}: {cls.stage} engine {cls.name!r} is not in the catalogue "
                         "(shotcache/engines.py); add its row there first")
    cls.learned = row.learned
    cls.fallback = catalogue.fallback(cls.stage, cls.name)
    _REGISTRY[(cls.stage, cls.name)] = cls
    return cls


def param_names(cls: type[Engine]) -> list[str] | None:
    """Names of the engine's declared parameters (None when it declares none)."""
    if cls.Params is None:
        return None
    return [f.name for f in dataclasses.fields(cls.Params)]


def check_params(stage: str, names: str | list[str], params: dict[str, Any]) -> None:
    """Refuse a per-stage parameter that none of the engines ``names`` (the one a job runs,
    or the candidates when the default is not decided yet) declares, listing the known ones.
    An engine that declares no ``Params`` accepts anything."""
    known: set[str] = set(GLOBAL_PARAMS)
    found: dict[str, type[Engine]] = {}
    for name in [names] if isinstance(names, str) else names:
        cls = engines(stage).get((stage, name))
        keys = param_names(cls) if cls is not None else None
        if cls is None or keys is None:
            return
        known.update(keys)
        found[name] = cls
    unknown = sorted(k for k in params if k not in known)
    if unknown:
        raise EngineError(f"{stage} engine {' / '.join(repr(n) for n in found)} has no parameter(s) {', '.join(unknown)}; "
                          f"known parameters: {', '.join(sorted(known))}")
    for name, cls in found.items():
        for key, allowed in cls.choices.items():
            if key in params and params[key] not in allowed:
                raise EngineError(f"{stage} engine '{name}': {key}={params[key]!r} is not one of {', '.join(map(str, allowed))}")


def declare_params(name: str, defaults: dict[str, Any]) -> type:
    """An engine's ``Params`` dataclass from its defaults dict (one source for both)."""
    return dataclasses.make_dataclass(name, [(k, Any, dataclasses.field(default=v)) for k, v in defaults.items()])


GLOBAL_PARAMS = ("seed", "strength", "cache", "device")
"""Keys every stage may see (the job's seed, an overall strength, the cache switch)."""


def engines(stage: str | None = None) -> dict[tuple[str, str], type[Engine]]:
    _load_builtin_engines()
    return {k: v for k, v in _REGISTRY.items() if stage is None or k[0] == stage}


def create(stage: str, name: str) -> Engine:
    _load_builtin_engines()
    cls = _REGISTRY.get((stage, name))
    if cls is None:
        known = sorted(n for s, n in _REGISTRY if s == stage)
        raise EngineError(f"unknown {stage} engine {name!r}; available: {', '.join(known) or 'none'}")
    return cls()


_BUILTIN_MODULES = tuple(f"ml.{stage}.engines" for stage in catalogue.STAGES)
"""One layout per stage: ``ml/<stage>/engines.py`` registers the stage's engines on import."""
_loaded = False
_load_lock = threading.Lock()


def _load_builtin_engines() -> None:
    """Import the engine modules lazily so importing ml.stages costs nothing.

    Under a lock, and marked loaded only once every import finished: a second thread (the
    server's worker vs. its /capabilities handler) must never see a half-filled registry.
    """
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        import importlib

        for mod in _BUILTIN_MODULES:
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as exc:
                # a stage package not built yet, or an optional dependency missing: its engines
                # are simply not registered (capabilities say so)
                if exc.name and (exc.name == mod or mod.startswith(exc.name + ".")):
                    continue
                raise
        _loaded = True


def replace(frame: FrameState, **changes: Any) -> FrameState:
    return dataclasses.replace(frame, **changes)
