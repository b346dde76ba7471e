"""Diffuse-stage engines (names in shotcache/engines.py). The diffusion compositors
``controlnet`` / ``iclight`` of the composite stage live in ml/composite/diffusion.py and
build on the bases here.

Learned engines need a local diffusers model folder: the engine checkpoint (job checkpoints,
``--model-dir``), ``params['model_dir']`` or ``$VANELIA_MODEL_DIR``. Without one, ``setup``
raises EngineUnavailable naming the folder expected, and the runner falls back to ``none`` /
``classical``, so the default pipeline needs no weights.

Params every learned engine reads: prompt, negative_prompt, strength, steps, seed, guidance,
sampler, dilate_px, feather_px, max_side, temporal (fixed|blend|keyframe|independent),
latent_blend, keyframe_interval; and, in-process only, ``progress`` (callable(fraction)) and
``cancel`` (threading.Event or callable) checked between denoising steps.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ml.io.colour import linear_to_uint8, uint8_to_linear
from ml.stages.base import Engine, EngineError, EngineUnavailable, FrameState, register

from . import masks
from .models import DiffusionModels, check_prompt, denoiser_kind, load_models, pick_device, require, resolve_model_dir
from .sdedit import Options, TemporalHooks
from .temporal import Sequencer

ENGINE_DEFAULTS: dict[str, dict[str, Any]] = {
    "sdedit": {"strength": 0.45, "steps": 30, "guidance": 5.0},
    "inpaint": {"strength": 1.0, "steps": 30, "guidance": 7.0},
    "controlnet": {"strength": 0.6, "steps": 30, "guidance": 5.0},
    "iclight": {"strength": 0.9, "steps": 25, "guidance": 2.0},
}


def alpha_over(plate: np.ndarray, rgba: np.ndarray, shadow_catcher: np.ndarray | None = None) -> np.ndarray:
    """Straight-alpha product over the plate, the plate first darkened by the shadow catcher."""
    base = plate[..., :3].astype(np.float32)
    if shadow_catcher is not None:
        sc = shadow_catcher if shadow_catcher.ndim == 3 else shadow_catcher[..., None]
        base = base * np.clip(sc[..., :3], 0.0, 1.0)
    a = np.clip(rgba[..., 3:4], 0.0, 1.0)
    return (base * (1 - a) + rgba[..., :3] * a).astype(np.float32)


class _Learned(Engine):
    """Shared setup/model cache/temporal state of the local-model engines."""

    kind = "sdedit"
    prompt_required = False
    """The model needs a text prompt (inpainting and relighting generate new content)."""

    def __init__(self) -> None:
        super().__init__()
        self._models: DiffusionModels | None = None
        self._folder: Path | None = None
        self.sequencer = Sequencer()

    def setup(self, device: str = "cpu", checkpoint: str | None = None) -> None:
        super().setup(pick_device(device), checkpoint)
        folder = resolve_model_dir(None, checkpoint, self.name)
        self._check_folder(folder)
        self._folder = folder

    def _check_folder(self, folder: Path) -> None:
        denoiser_kind(folder)
        for comp in ("vae", "text_encoder", "tokenizer", "scheduler"):
            require(folder, comp)

    def reset(self) -> None:
        self.sequencer.reset()

    def models(self, params: dict[str, Any]) -> DiffusionModels:
        folder = resolve_model_dir(params, str(self._folder) if self._folder else self.checkpoint, self.name)
        if self._models is None or self._models.folder != folder:
            self._check_folder(folder)
            self._models = self._load(folder, params)
            self._folder = folder
        return self._models

    def _load(self, folder: Path, params: dict[str, Any]) -> DiffusionModels:
        return load_models(folder, self.device, params.get("dtype"))

    def options(self, params: dict[str, Any]) -> Options:
        opts = Options.from_params(params, **ENGINE_DEFAULTS[self.kind])
        prog, cancel = params.get("progress"), params.get("cancel")
        opts.progress = prog if callable(prog) else None
        opts.cancel = cancel if (callable(cancel) or hasattr(cancel, "is_set")) else None
        return opts

    def run(self, models: DiffusionModels, frame: FrameState, region: np.ndarray, opts: Options, params: dict[str, Any], hooks: TemporalHooks | None):
        raise NotImplementedError

    def image(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        return frame.composite

    def region(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        return masks.frame_region(frame, params, self.name)

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        self.check_inputs(frame)
        opts = self.options(params)
        if self.prompt_required:
            check_prompt(opts.prompt, self.name, required=True)
        models = self.models(params)
        region = self.region(frame, params)
        self.sequencer.configure(params)
        image = self.image(frame, params)
        out = self.sequencer.step(image, lambda hooks: self.run(models, frame, region, opts, params, hooks))
        return np.ascontiguousarray(out[..., :3], dtype=np.float32)


@register
class SDEditEngine(_Learned):
    stage, name, kind = "diffuse", "sdedit", "sdedit"
    needs = ("composite",)

    def run(self, models, frame, region, opts, params, hooks):
        from .sdedit import sdedit

        return sdedit(models, self.image(frame, params), region, opts, temporal=hooks)


@register
class InpaintEngine(_Learned):
    stage, name, kind = "diffuse", "inpaint", "inpaint"
    prompt_required = True
    needs = ("composite",)

    def run(self, models, frame, region, opts, params, hooks):
        from .inpaint import inpaint

        return inpaint(models, self.image(frame, params), region, opts, temporal=hooks)


class ControlNetBase(_Learned):
    kind = "controlnet"

    def _check_folder(self, folder: Path) -> None:
        super()._check_folder(folder)
        from .controlnet import CONTROL_FOLDERS

        if not any((folder / sub).is_dir() for sub in CONTROL_FOLDERS.values()):
            require(folder, "controlnet", "depth ControlNet")

    def run(self, models, frame, region, opts, params, hooks):
        from .controlnet import CONTROL_FOLDERS, controlnet_diffuse, parse_control

        for kind in parse_control(params.get("control")):
            models.add_controlnet(CONTROL_FOLDERS[kind])
        return controlnet_diffuse(
            models,
            self.image(frame, params),
            region,
            opts,
            depth=frame.passes.get("depth"),
            normal=frame.passes.get("normal"),
            camera=frame.camera,
            control=params.get("control") or "depth",
            scale=float(params.get("control_scale", 1.0)),
            temporal=hooks,
        )


@register
class ControlNetDiffuse(ControlNetBase):
    stage, name = "diffuse", "controlnet"
    needs = ("composite", "depth")



class ICLightBase(_Learned):
    kind = "iclight"
    prompt_required = True

    def _check_folder(self, folder: Path) -> None:
        from .iclight import find_offset

        require(folder, "unet", "IC-Light base SD 1.5 UNet")
        for comp in ("vae", "text_encoder", "tokenizer", "scheduler"):
            require(folder, comp)
        find_offset(folder, os.environ.get("VANELIA_ICLIGHT_OFFSET"))

    def _load(self, folder: Path, params: dict[str, Any]) -> DiffusionModels:
        from .iclight import find_offset, load_iclight_unet
        from .models import pick_dtype

        offset = find_offset(folder, params.get("iclight_offset") or os.environ.get("VANELIA_ICLIGHT_OFFSET"))
        unet = load_iclight_unet(folder, offset, pick_dtype(self.device, params.get("dtype")))
        return load_models(folder, self.device, params.get("dtype"), unet=unet)

    def base(self, frame: FrameState) -> np.ndarray:
        raise NotImplementedError

    def region(self, frame, params):
        a = masks.check_mask(frame.rgba[..., 3], frame.plate.shape[:2], "render alpha")
        if a.max() <= 0:
            raise EngineError(f"iclight: the render of frame {frame.index} has an empty alpha (nothing to relight)")
        return a

    def run(self, models, frame, region, opts, params, hooks):
        from .iclight import relight

        return relight(models, self.base(frame), frame.rgba, frame.plate, opts, temporal=hooks)


@register
class ICLightDiffuse(ICLightBase):
    stage, name = "diffuse", "iclight"
    needs = ("composite", "rgba")

    def base(self, frame):
        return frame.composite


@register
class NoDiffuse(Engine):
    """The diffuse stage off: the composite passes through unchanged."""

    stage, name = "diffuse", "none"
    needs = ("composite",)

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        self.check_inputs(frame)
        return np.asarray(frame.composite, dtype=np.float32).copy()


class _Remote(Engine):
    """Common part of the remote-backend engines: send the composite + region, blend back."""

    takes_url = True
    """setup()'s checkpoint argument is the backend's URL."""

    stage = "diffuse"
    needs = ("composite",)
    env_url = ""
    default_url = ""

    def setup(self, device: str = "cpu", checkpoint: str | None = None) -> None:
        super().setup(device, checkpoint)
        self.url = checkpoint if checkpoint and checkpoint.startswith(("http://", "https://")) else os.environ.get(self.env_url, self.default_url)
        self.client(self.url).ping()

    def client(self, url: str) -> Any:
        raise NotImplementedError

    def remote(self, client: Any, image8: np.ndarray, mask8: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        self.check_inputs(frame)
        comp = np.asarray(frame.composite, dtype=np.float32)
        region = masks.frame_region(frame, params, self.name)
        hard, soft = masks.soft_region(region, int(params.get("dilate_px", 8)), int(params.get("feather_px", 4)))
        url = params.get("url") or getattr(self, "url", self.default_url)
        result = self.remote(self.client(url), linear_to_uint8(comp[..., :3]), hard, params)
        if result.shape[:2] != comp.shape[:2]:
            import cv2

            result = cv2.resize(result, (comp.shape[1], comp.shape[0]), interpolation=cv2.INTER_CUBIC)
        return masks.blend_keep_outside(comp[..., :3], uint8_to_linear(result), soft)


def _callbacks(params: dict[str, Any]) -> tuple[Any, Any]:
    prog, cancel = params.get("progress"), params.get("cancel")
    return (prog if callable(prog) else None), (cancel if (callable(cancel) or hasattr(cancel, "is_set")) else None)


@register
class A1111Engine(_Remote):
    name = "a1111"
    env_url = "VANELIA_A1111_URL"
    default_url = "http://127.0.0.1:7860"

    def client(self, url):
        from .remote_a1111 import A1111Client

        return A1111Client(url, timeout=float(os.environ.get("VANELIA_REMOTE_TIMEOUT", 600)))

    def remote(self, client, image8, mask, params):
        from .remote_a1111 import A1111Settings

        loras = params.get("loras") or []
        if isinstance(loras, str):  # "name:0.7,other:0.3"
            loras = [(p.split(":")[0], float(p.split(":")[1]) if ":" in p else 1.0) for p in loras.split(",") if p]
        s = A1111Settings(
            prompt=str(params.get("prompt") or ""),
            negative_prompt=str(params.get("negative_prompt") or ""),
            steps=int(params.get("steps", 30)),
            sampler=str(params.get("sampler") or "Euler a"),
            seed=int(params.get("seed", -1)),
            cfg_scale=float(params.get("guidance", 7.0)),
            denoising_strength=float(params.get("strength", 0.5)),
            loras=list(loras),
        )
        prog, cancel = _callbacks(params)
        images, _ = client.img2img(image8, s, mask=mask, progress=prog, cancel=cancel)
        return images[0]


@register
class ComfyUIEngine(_Remote):
    name = "comfyui"
    env_url = "VANELIA_COMFYUI_URL"
    default_url = "http://127.0.0.1:8188"

    def client(self, url):
        from .remote_comfyui import ComfyUIClient

        return ComfyUIClient(url, timeout=float(os.environ.get("VANELIA_REMOTE_TIMEOUT", 600)))

    def remote(self, client, image8, mask, params):
        from .remote_comfyui import DEFAULT_INPAINT_WORKFLOW, load_workflow

        wf = load_workflow(params["workflow"]) if params.get("workflow") else DEFAULT_INPAINT_WORKFLOW
        values = {
            "prompt": str(params.get("prompt") or ""),
            "negative_prompt": str(params.get("negative_prompt") or ""),
            "seed": int(params.get("seed", 0)),
            "steps": int(params.get("steps", 30)),
            "cfg": float(params.get("guidance", 7.0)),
            "denoise": float(params.get("strength", 0.5)),
            "sampler": str(params.get("sampler") or "euler"),
            "checkpoint": params.get("comfy_checkpoint"),
        }
        mask8 = np.repeat(((mask > 0.5) * 255).astype(np.uint8)[..., None], 3, axis=2)
        prog, cancel = _callbacks(params)
        return client.run(wf, values, images={"image": image8, "mask": mask8}, progress=prog, cancel=cancel)[0]
