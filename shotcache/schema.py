"""The one source of truth for what a shot and a job are.

Stdlib only: this module is imported by Blender's Python (as part of the extension,
``from ..shotcache import schema``) and by the sidecar (``from shotcache import schema``).
Everything that crosses the Blender/sidecar boundary is described here, so the two
sides can never drift apart silently: a shot written by one version and read by another
is refused by ``Shot.from_dict`` with a message that says which versions disagree.

Conventions (fixed here so nobody has to guess):

* Colour: plate frames are stored as sRGB 8-bit PNG in ``plate/``; every array handed
  to an engine is float32 *linear* RGB. Renders are linear EXR with *straight* alpha.
* Pixel coordinates: (0, 0) is the top-left *corner* of the top-left pixel, x right,
  y down (the COLMAP / NeRF convention, so ``cx = W / 2`` is the image centre).
* Camera pose: ``c2w`` is the 4x4 camera-to-world matrix in the OpenCV camera convention
  (x right, y down, z forward), world units metres, world z up.
* Render passes: one multilayer EXR per frame with the canonical layer names in
  ``PASSES`` below, whatever Blender version wrote it.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from .areas import PLACEMENT_AREAS  # noqa: F401  (re-exported: the panel and CLI list them)
from .engines import default_engine
from .errors import SchemaError, UserError  # noqa: F401  (re-exported)

PROTOCOL_VERSION = 1
"""Bumped when the HTTP API or the shot layout changes incompatibly."""

SHOT_SCHEMA = "vanelia.shot"
SHOT_SCHEMA_VERSION = 1

from .engines import CLASSICAL, ENGINES, LEARNED_DEFAULT, STAGES  # noqa: E402,F401  (the catalogue: shotcache/engines.py)

DEFAULT_ENGINES = CLASSICAL
"""Engines that need no weights: what runs when nothing else is configured (catalogue-derived)."""
LEARNED_DEFAULTS = LEARNED_DEFAULT

# Canonical render passes: layer name -> channel names, in the order arrays are stacked.
PASSES: dict[str, tuple[str, ...]] = {
    "rgba": ("R", "G", "B", "A"),
    "normal": ("X", "Y", "Z"),
    "albedo": ("R", "G", "B"),
    "depth": ("Z",),
    "position": ("X", "Y", "Z"),
    "shadow_catcher": ("R", "G", "B"),
    "key": ("R", "G", "B"),
}
"""Semantics: rgba = Combined, linear, straight alpha, shadow excluded.
normal, position = world space. albedo = Diffuse Color. depth = planar camera-axis depth in
metres (background >= 1e9). shadow_catcher = multiplier for the plate, 1 = unshadowed.
A frame rendered in its region only (shotcache/render_region.py) is zero outside it in every
pass, depth past 1e9; the reader (ml/io/exr.py) reads the shadow catcher there as 1.
key = the key light's share of rgba (Cycles light group "key"), linear, premultiplied by
alpha as Blender writes it: what the plate's own cast shadows take off the product."""

BLENDER_PASS_ALIASES: dict[str, str] = {
    "Combined": "rgba",
    "Image": "rgba",
    "Normal": "normal",
    "DiffCol": "albedo",
    "Diffuse Color": "albedo",
    "Depth": "depth",
    "Z": "depth",
    "Position": "position",
    "Shadow Catcher": "shadow_catcher",
    "Shadow_Catcher": "shadow_catcher",
    "Combined_key": "key",
}
"""Blender's own pass names across 4.2 / 4.5 / 5.0, mapped to ours (readers accept both)."""


MAX_PIXELS = 8192 * 4608
"""Largest frame (width x height) anything decodes: 8K with headroom. A bigger image is
refused from its header, before decoding (a 36 KB PNG can claim 12000x12000 = 2.4 GB)."""


TRACKERS = ("auto", "blender", "colmap")
"""Camera solvers of `vanelia track` / `vanelia run`: auto = video tracks + COLMAP's mapper
for a clip, Blender's tracker when that solve is weak or upside down, COLMAP for stills
(app.track.SOLVER_ORDER)."""

def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise SchemaError(msg)


def _matrix(value: Any, rows: int, cols: int, what: str) -> list[list[float]]:
    _check(isinstance(value, (list, tuple)) and len(value) == rows, f"{what}: expected {rows}x{cols} matrix")
    out = []
    for row in value:
        _check(isinstance(row, (list, tuple)) and len(row) == cols, f"{what}: expected {rows}x{cols} matrix")
        vals = [float(v) for v in row]
        _check(all(math.isfinite(v) for v in vals), f"{what}: contains NaN or Inf")
        out.append(vals)
    return out


def _from_fields(cls: type, data: dict[str, Any], what: str) -> dict[str, Any]:
    """Keep only known keys, so newer writers with extra fields stay readable."""
    _check(isinstance(data, dict), f"{what}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class Distortion:
    """OpenCV radial-tangential coefficients (shotcache/lens.py): the render is resampled into
    this lens before the stages (ml/pipeline/lens.py), or the plate undistorted (--undistort)."""

    k1: float = 0.0
    k2: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    k3: float = 0.0

    def is_zero(self) -> bool:
        return not any((self.k1, self.k2, self.p1, self.p2, self.k3))


@dataclass
class FrameCamera:
    """One frame's pinhole camera: pixel intrinsics and OpenCV camera-to-world."""

    fx: float
    fy: float
    cx: float
    cy: float
    c2w: list[list[float]]

    def validate(self, what: str) -> None:
        self.c2w = _matrix(self.c2w, 4, 4, f"{what}.c2w")
        for name in ("fx", "fy", "cx", "cy"):
            v = float(getattr(self, name))
            _check(math.isfinite(v), f"{what}.{name} is not finite")
            setattr(self, name, v)
        _check(self.fx > 0 and self.fy > 0, f"{what}: focal lengths must be positive")


@dataclass
class CameraTrack:
    """Where the camera came from and its per-frame solution, keyed by frame number."""

    source: str = ""
    kind: str = "blend"  # blend | transforms | colmap | auto | static
    distortion: Distortion = field(default_factory=Distortion)
    frames: dict[int, FrameCamera] = field(default_factory=dict)
    sensor_width_mm: float = 36.0
    qc: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plate:
    source: str = ""
    kind: str = "video"  # video | images
    frames_dir: str = "plate"
    undistorted: bool = False
    native_size: list[int] = field(default_factory=list)
    """(w, h) of the source footage before any --resolution: the QC judges the lock at this
    resolution (up to 720p), the one an artist watches, not at a smaller working size."""
    blur: dict[int, list[float]] = field(default_factory=dict)
    """Per frame, how much softer the plate is where the product stands than in the shot's
    sharpest frame: [a, b, c] of the covariance [[a, b], [b, c]] in px^2 (ml/camera/frame_blur.py).
    The compositor blurs the product and its shadow by it; frames not listed get nothing extra."""
    blur_note: str = ""
    """How ``blur`` was measured, or why not."""


def _blur_entry(value: Any, what: str) -> list[float]:
    """[a, b, c] of a blur covariance: three finite numbers, a and c not negative."""
    _check(isinstance(value, (list, tuple)) and len(value) == 3, f"{what}: give [a, b, c], the blur's covariance in px^2")
    a, b, c = (float(v) for v in value)
    _check(all(math.isfinite(v) for v in (a, b, c)) and a >= 0 and c >= 0, f"{what}: {list(value)} is no blur covariance")
    return [a, b, c]


@dataclass
class Product:
    source: str = ""
    sha256: str = ""
    matrix_world: list[list[float]] = field(default_factory=lambda: [[1.0 if i == j else 0.0 for j in range(4)] for i in range(4)])
    placement: str = "explicit"  # explicit | ground | auto
    scale_m: float = 1.0


@dataclass
class Ground:
    point: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    normal: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0])
    size_m: float = 20.0
    cover_m: float = 0.0
    """Height of what grows on the ground round the product (grass, leaves, gravel): its base is
    hidden up to about it (ml/pipeline/ground_cover.py, applied to the passes after the render),
    and the shadow catcher stands on the grass (``cover_floor_m``); 0 = bare ground."""


GROUND_COVER_HELP = ("height in metres of the grass (leaves, gravel) round the product: its base is hidden in it, "
                     "with a ragged edge, e.g. 0.04 for a lawn, 0.3 for a meadow; 0 = bare ground")
MAX_COVER_M = 1.0
"""Tallest ground cover taken (a meadow's grass): more hides anything a product shot shows."""
COVER_FLOOR = 0.4
"""Share of a ground cover's height that hides everything (its shortest blades stand that
tall: ml/pipeline/ground_cover.py). The render's shadow catcher stands there, on the grass the
camera sees, not on the soil under it, where the product would take most of the sky from the
contact shadow (addon/product.py); the product below it, cut off by the catcher, is hidden anyway."""


def cover_floor_m(cover_m: float) -> float:
    """Height over the ground plane below which a ground cover of ``cover_m`` hides everything."""
    return COVER_FLOOR * float(cover_m)


def check_cover_m(value: Any, where: str) -> float:
    """A ground cover's height in metres, 0 to MAX_COVER_M; SchemaError naming ``where`` else."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value)) and 0.0 <= float(value) <= MAX_COVER_M
    _check(ok, f"{where}: the ground cover's height must be 0 to {MAX_COVER_M:g} m (grass round the product's base), got {value!r}")
    return float(value)


@dataclass
class Light:
    """A light of the lighting estimate; direction points *from* the scene *towards* the light."""

    type: str = "sun"  # sun | point | area
    direction: list[float] = field(default_factory=lambda: [0.3, -0.4, 0.866])
    position: list[float] = field(default_factory=lambda: [0.0, 0.0, 5.0])
    color: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    intensity: float = 3.0
    angle_deg: float = 3.0
    """Angular diameter of a sun (its penumbra); the size in metres of an area light; the
    radius in metres of a point light."""
    shadow: bool = True
    """Whether it casts shadows. Off for a key that the plate's own shadows already block at the
    product: the ground there is in shadow in the plate, and a second shadow would double it."""


@dataclass
class Lighting:
    """The shot's light record: what the product is lit with, and how it was found.

    ``environment`` (a lat-long EXR relative to the shot folder, Blender's layout, linear)
    replaces the uniform ``world_color`` when set; ``method`` says where the record came
    from: "plate" (ml/light, from the footage), "legacy" (plate mean + brightest block) or
    "user" (edited by the artist); ``notes`` is the estimator's own account."""

    world_color: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    world_strength: float = 1.0
    lights: list[Light] = field(default_factory=lambda: [Light()])
    estimated: bool = False
    environment: str = ""
    method: str = "legacy"
    notes: str = ""
    shadow_ratio: list[float] = field(default_factory=list)
    """The plate's own shadowed/lit ground ratio per channel (hard key only): how dark and
    how blue a cast shadow is in this footage; the composite matches the product's to it."""
    ground_albedo: list[float] = field(default_factory=list)
    """Diffuse albedo (linear RGB) of the ground under this light, such that the shadow catcher
    lit by it looks like the plate's ground: what a glossy, metal or glass product reflects,
    refracts and gets bounce light from. Empty: the catcher's default grey."""
    key_shadow: dict[str, Any] = field(default_factory=dict)
    """The plate's cast shadows on the ground round the product, as the key's visibility
    (ml/light/key_shadow.py): {"path": the map (16-bit PNG, relative to the shot folder), "centre",
    "e1", "e2", "normal" (the patch's frame, world), "half_m"}. Empty: no hard key."""
    unplaced_key: dict[str, Any] = field(default_factory=dict)
    """A key the plate's shadows measured but could not direct (banded ground, no elongated
    shadow, edges too wide for a sun): {"ratio": lit/shadow per channel, "ambient": the
    environment's irradiance on the ground per channel, "angle_deg"}. The panel's Key From
    Shadow places it at the picked direction (shotcache/key_strength.py). Empty: none."""


MOTION_BLUR_EDITED = "edited in Blender"
"""How ``RenderSettings.motion_blur_note`` starts when the artist set the motion blur in the
panel: a re-run of the shot folder with ``--motion-blur auto`` keeps it (app/light_render.py)."""


@dataclass
class RenderSettings:
    samples: int = 32
    engine: str = "CYCLES"
    device: str = "CPU"
    passes: list[str] = field(default_factory=lambda: list(PASSES))
    blender_version: str = ""
    frame_hashes: dict[int, str] = field(default_factory=dict)
    """Hash of every input of a frame's render; a re-run skips frames whose hash is unchanged."""
    motion_blur: float = 0.0
    """Shutter in frames (0.5 = a 180 degree shutter) for camera motion blur; 0 = off."""
    motion_blur_note: str = ""
    """Where ``motion_blur`` comes from: given by the artist, or measured from the plate's own
    motion blur (ml/camera/shutter.py) and why; empty: set up without either."""


@dataclass
class ShotQC:
    """The physical QC of a rendered shot (`vanelia run`): does the product stay locked to the
    plate's ground, and is the placement physically plausible? Shown in the Blender panel.

    ``slide_*``: distance (px, at the clip's own resolution up to 720p: ``lock["size"]``) between the product's contact point
    and the plate's own ground texture around it, per frame (keys are frame numbers);
    ``checks``: name -> {"ok": true | false | null, "detail": text}; ``verdict``: accepted |
    refused | forced (refused but run with --force) | "" (not checked)."""

    verdict: str = ""
    reasons: list[str] = field(default_factory=list)
    slide_mean_px: float | None = None
    slide_max_px: float | None = None
    slide_per_frame: dict[str, float] = field(default_factory=dict)
    lock: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    scale_source: str = ""


@dataclass
class Shot:
    """``shot.json``: everything needed to render and process a shot, nothing derived."""

    name: str = "shot"
    resolution: list[int] = field(default_factory=lambda: [1280, 720])
    fps: float = 24.0
    frames: list[int] = field(default_factory=list)
    plate: Plate = field(default_factory=Plate)
    camera: CameraTrack = field(default_factory=CameraTrack)
    product: Product = field(default_factory=Product)
    ground: Ground = field(default_factory=Ground)
    lighting: Lighting = field(default_factory=Lighting)
    render: RenderSettings = field(default_factory=RenderSettings)
    stage_params: dict[str, Any] = field(default_factory=dict)
    qc: ShotQC = field(default_factory=ShotQC)
    schema: str = SHOT_SCHEMA
    version: int = SHOT_SCHEMA_VERSION

    # ---- serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        # JSON object keys are strings; frame numbers go back to int in from_dict.
        d["camera"]["frames"] = {str(k): v for k, v in d["camera"]["frames"].items()}
        d["render"]["frame_hashes"] = {str(k): v for k, v in d["render"]["frame_hashes"].items()}
        d["plate"]["blur"] = {str(k): v for k, v in d["plate"]["blur"].items()}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "shot.json") -> "Shot":
        """Parse and validate; any malformed value is a SchemaError naming the file, never a
        TypeError from deep inside (a shot.json may come from an upload)."""
        try:
            return cls._from_dict(data, where)
        except SchemaError:
            raise
        except (TypeError, ValueError, AttributeError, OverflowError, KeyError) as exc:
            raise SchemaError(f"{where}: a value has the wrong type or form ({exc}); fix the file or re-render the shot") from exc

    @classmethod
    def _from_dict(cls, data: dict[str, Any], where: str) -> "Shot":
        _check(isinstance(data, dict), f"{where}: not a JSON object")
        _check(data.get("schema", SHOT_SCHEMA) == SHOT_SCHEMA, f"{where}: not a Vanelia shot (schema={data.get('schema')!r})")
        ver = data.get("version", SHOT_SCHEMA_VERSION)
        _check(
            ver == SHOT_SCHEMA_VERSION,
            f"{where}: shot format version {ver}, this Vanelia reads version {SHOT_SCHEMA_VERSION}; "
            "re-render the shot with this version (vanelia render ... --shot DIR)",
        )
        kw = _from_fields(cls, data, where)
        cam = _from_fields(CameraTrack, data.get("camera", {}), f"{where}: camera")
        cam["distortion"] = Distortion(**_from_fields(Distortion, cam.get("distortion", {}), f"{where}: camera.distortion"))
        frames = {}
        for key, fc in (cam.get("frames") or {}).items():
            _check(str(key).lstrip("-").isdigit(), f"{where}: camera.frames key {key!r} is not a frame number")
            given = _from_fields(FrameCamera, fc, f"{where}: camera.frames[{key}]")
            lacking = [n for n in ("fx", "fy", "cx", "cy", "c2w") if n not in given]
            _check(not lacking, f"{where}: camera.frames[{key}] lacks {', '.join(lacking)}")
            f = FrameCamera(**given)
            f.validate(f"{where}: camera.frames[{key}]")
            frames[int(key)] = f
        cam["frames"] = frames
        kw["camera"] = CameraTrack(**cam)
        plate = _from_fields(Plate, data.get("plate", {}), f"{where}: plate")
        plate["blur"] = {int(k): _blur_entry(v, f"{where}: plate.blur[{k}]") for k, v in (plate.get("blur") or {}).items()}
        kw["plate"] = Plate(**plate)
        prod = _from_fields(Product, data.get("product", {}), f"{where}: product")
        if "matrix_world" in prod:
            prod["matrix_world"] = _matrix(prod["matrix_world"], 4, 4, f"{where}: product.matrix_world")
        kw["product"] = Product(**prod)
        kw["ground"] = Ground(**_from_fields(Ground, data.get("ground", {}), f"{where}: ground"))
        lit = _from_fields(Lighting, data.get("lighting", {}), f"{where}: lighting")
        lit["lights"] = [Light(**_from_fields(Light, l, f"{where}: lighting.lights")) for l in lit.get("lights", [])]
        kw["lighting"] = Lighting(**lit)
        rs = _from_fields(RenderSettings, data.get("render", {}), f"{where}: render")
        rs["frame_hashes"] = {int(k): str(v) for k, v in (rs.get("frame_hashes") or {}).items()}
        unknown = [p for p in rs.get("passes", []) if p not in PASSES]
        _check(not unknown, f"{where}: unknown render pass(es) {unknown}; known passes: {', '.join(PASSES)}")
        kw["render"] = RenderSettings(**rs)
        kw["qc"] = ShotQC(**_from_fields(ShotQC, data.get("qc") or {}, f"{where}: qc"))
        shot = cls(**kw)
        shot.validate(where)
        return shot

    def validate(self, where: str = "shot.json") -> None:
        _check(
            isinstance(self.resolution, (list, tuple)) and len(self.resolution) == 2 and all(int(v) > 0 for v in self.resolution),
            f"{where}: resolution must be [width, height] > 0, got {self.resolution!r}",
        )
        self.resolution = [int(v) for v in self.resolution]
        _check(isinstance(self.fps, numbers.Real) and not isinstance(self.fps, bool) and math.isfinite(self.fps)
               and self.fps > 0, f"{where}: fps must be a number > 0, got {self.fps!r}")
        _check(self.resolution[0] * self.resolution[1] <= MAX_PIXELS,
               f"{where}: resolution {self.resolution[0]}x{self.resolution[1]} is over the limit of {MAX_PIXELS} pixels per frame")
        _check(isinstance(self.frames, (list, tuple)) and all(isinstance(f, numbers.Integral) and not isinstance(f, bool) for f in self.frames),
               f"{where}: frames must be a list of frame numbers (integers), got {str(self.frames)[:80]}")
        self.frames = [int(f) for f in self.frames]
        self.ground.cover_m = check_cover_m(self.ground.cover_m, f"{where}: ground.cover_m")
        _check(len(set(self.frames)) == len(self.frames), f"{where}: frame list has duplicates")
        if self.camera.frames:
            missing = [f for f in self.frames if f not in self.camera.frames]
            _check(
                not missing,
                f"{where}: the camera track has no pose for frame(s) {missing[:10]}"
                f"{' ...' if len(missing) > 10 else ''}; give a track that covers the plate or restrict --frames",
            )


# ---------------------------------------------------------------------------
# Jobs (the sidecar API). The server validates these with pydantic (TypeAdapter over
# these dataclasses), the Blender client builds them with plain dicts.
# ---------------------------------------------------------------------------


@dataclass
class JobSpec:
    """What a client asks the sidecar to do with a shot."""

    shot: str
    """Path of the shot folder (inside a configured shot root) or an upload id ``upload:<id>``."""
    stages: list[str] = field(default_factory=lambda: ["composite"])
    engines: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    frames: list[int] | None = None
    allow_fallback: bool = True
    seed: int = 12345
    checkpoints: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        _check(bool(self.shot), "job.shot is empty; give the path of a shot folder")
        bad = [s for s in self.stages if s not in STAGES]
        _check(not bad, f"unknown stage(s) {bad}; stages are {', '.join(STAGES)}")
        _check(bool(self.stages), "job.stages is empty; choose from " + ", ".join(STAGES))
        for stage, engine in self.engines.items():
            _check(stage in ENGINES, f"engines: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
            _check(engine in ENGINES[stage], f"engines: unknown {stage} engine {engine!r}; choose from {', '.join(ENGINES[stage])}")
        self.stages = [s for s in STAGES if s in self.stages]

    def engine_for(self, stage: str, weights_present: Any = None) -> str:
        """The engine this job runs for ``stage`` (shotcache.engines.default_engine, the one rule)."""
        return default_engine(stage, self.engines, weights_present)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobSpec":
        _check(isinstance(data, dict), "job: expected a JSON object")
        _check("shot" in data, "job: missing 'shot' (path of the shot folder)")
        spec = cls(**_from_fields(cls, data, "job"))
        spec.validate()
        return spec


JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


# ---------------------------------------------------------------------------
# Application jobs: the sidecar runs the tracker and the whole run too (app/track.py,
# app/run.py), so a remote GPU box or a render farm node can do everything. Paths name
# files inside the sidecar's shot roots (relative to a root, or absolute inside one).
# ---------------------------------------------------------------------------

JOB_KINDS = ("stages", "track", "run")
"""What a queued job does: the stages of a rendered shot (JobSpec), a camera solve
(TrackRequest) or the whole pipeline (RunRequest)."""


@dataclass
class TrackRequest:
    """``POST /track``: solve the camera of a plate into a transforms.json (vanelia track)."""

    input: str
    """Plate video or folder of frames."""
    output: str
    """transforms.json to write."""
    tracker: str = "auto"
    focal_mm: float | None = None
    frames: str | None = None
    camera_height: float | None = None
    """Metres (the scene's scale); None: ``known_size`` or a typical camera height."""
    known_size: str | None = None
    """'X1,Y1,X2,Y2=METRES[@FRAME]': scale from two ground points of a plate frame (not with camera_height)."""
    place: str | None = None
    masks: str | None = None

    def validate(self) -> None:
        _check(bool(self.input) and bool(self.output), "track: give 'input' (the plate) and 'output' (a transforms.json)")
        _check(self.tracker in TRACKERS, f"track: tracker {self.tracker!r}; choose {', '.join(TRACKERS)}")
        _check(self.output.lower().endswith(".json"), f"track: output {self.output!r} must be a .json file")
        _check(self.focal_mm is None or self.focal_mm > 0, f"track: focal_mm {self.focal_mm} must be positive")
        _check(self.camera_height is None or self.camera_height > 0, f"track: camera_height {self.camera_height} must be positive")
        _check(self.camera_height is None or not self.known_size, "track: camera_height and known_size both set the scale; give one")


@dataclass
class RunRequest:
    """``POST /run``: the whole pipeline, plate + GLB -> MP4 + contact sheet (vanelia run)."""

    input: str
    model: str
    output: str
    """The .mp4 to write; the contact sheet goes next to it."""
    camera: str | None = None
    frames: str | None = None
    resolution: str | None = None
    samples: int | None = None
    stages: list[str] = field(default_factory=lambda: ["composite"])
    engines: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    mask: str | None = None
    seed: int = 12345
    keep: str | None = None
    """Shot folder to keep (re-runs reuse it)."""
    allow_fallback: bool = True
    tracker: str = "auto"
    focal_mm: float | None = None
    camera_height: float | None = None
    """Metres (the scene's scale); None: ``known_size`` or a typical camera height."""
    known_size: str | None = None
    """'X1,Y1,X2,Y2=METRES[@FRAME]': scale of the camera solved here from two ground points (app.run.RunOptions)."""
    place: str | None = None
    force: bool = False
    auto_holdout: bool = True
    """Hide the product behind moving things in front of it (vanelia run --no-auto-holdout turns it off)."""
    ground_cover: float | None = None
    """Metres of grass round the product, which hides its base (vanelia run --ground-cover)."""

    def validate(self) -> None:
        _check(bool(self.input) and bool(self.model) and bool(self.output), "run: give 'input', 'model' and 'output'")
        if self.ground_cover is not None:
            check_cover_m(self.ground_cover, "run.ground_cover")
        bad = [s for s in self.stages if s not in STAGES]
        _check(not bad, f"run: unknown stage(s) {bad}; stages are {', '.join(STAGES)}")
        _check(self.tracker in TRACKERS, f"run: tracker {self.tracker!r}; choose {', '.join(TRACKERS)}")
