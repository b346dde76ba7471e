"""Client for an already-running Automatic1111 web UI started with ``--api``.

Speaks its documented JSON API: ``POST /sdapi/v1/img2img`` with base64 PNGs (``init_images``,
optional ``mask`` for inpainting), prompt / negative prompt (LoRA as ``<lora:name:weight>``
tags in the prompt), steps, ``sampler_name``, seed, ``denoising_strength``; the answer holds
``images`` (base64) and ``info`` (a JSON string). While a request runs, ``GET
/sdapi/v1/progress`` reports progress and ``POST /sdapi/v1/interrupt`` stops it.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np
import requests

from ml.stages.base import EngineError, EngineUnavailable

from .sampling import Cancelled, is_cancelled

DEFAULT_URL = "http://127.0.0.1:7860"


def encode_png(rgb8: np.ndarray) -> str:
    arr = np.ascontiguousarray(rgb8)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise EngineError("could not encode an image as PNG")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def decode_image(b64: str) -> np.ndarray:
    """Base64 PNG/JPEG (optionally a data: URL) -> HxWx3 uint8 RGB."""
    if "," in b64[:100] and b64.startswith("data:"):
        b64 = b64.split(",", 1)[1]
    try:
        raw = base64.b64decode(b64, validate=False)
    except (ValueError, TypeError) as exc:
        raise EngineError(f"the server returned an image that is not valid base64: {exc}") from exc
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise EngineError("the server returned data that is not an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def lora_prompt(prompt: str, loras: list[tuple[str, float]] | dict[str, float] | None) -> str:
    """Append A1111 LoRA tags: ``<lora:name:weight>``."""
    items = list(loras.items()) if isinstance(loras, dict) else list(loras or [])
    tags = " ".join(f"<lora:{name}:{float(w):g}>" for name, w in items)
    return f"{prompt} {tags}".strip() if tags else prompt


@dataclass
class A1111Settings:
    prompt: str = ""
    negative_prompt: str = ""
    steps: int = 30
    sampler: str = "Euler a"
    seed: int = -1
    cfg_scale: float = 7.0
    denoising_strength: float = 0.5
    loras: list[tuple[str, float]] = field(default_factory=list)
    mask_blur: int = 4
    inpainting_fill: int = 1  # 1 = start from the original pixels
    inpaint_full_res: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self, image: np.ndarray, mask: np.ndarray | None) -> dict[str, Any]:
        h, w = image.shape[:2]
        body: dict[str, Any] = {
            "init_images": [encode_png(image)],
            "prompt": lora_prompt(self.prompt, self.loras),
            "negative_prompt": self.negative_prompt,
            "steps": int(self.steps),
            "sampler_name": self.sampler,
            "seed": int(self.seed),
            "cfg_scale": float(self.cfg_scale),
            "denoising_strength": float(self.denoising_strength),
            "width": int(w),
            "height": int(h),
            "batch_size": 1,
            "n_iter": 1,
        }
        if mask is not None:
            body.update(
                mask=encode_png(((np.asarray(mask) > 0.5) * 255).astype(np.uint8)),
                mask_blur=int(self.mask_blur),
                inpainting_fill=int(self.inpainting_fill),
                inpaint_full_res=bool(self.inpaint_full_res),
                inpainting_mask_invert=0,
            )
        body.update(self.extra)
        return body


class A1111Client:
    def __init__(self, url: str = DEFAULT_URL, timeout: float = 600.0, connect_timeout: float = 5.0, poll_s: float = 0.5) -> None:
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.poll_s = poll_s

    # -- transport ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, json_body: Any = None, timeout: float | None = None) -> Any:
        url = self.url + path
        try:
            r = requests.request(method, url, json=json_body, timeout=(self.connect_timeout, timeout or self.timeout))
        except requests.ConnectionError as exc:
            raise EngineUnavailable(
                f"no Automatic1111 web API answers at {self.url} ({type(exc).__name__}); start it with "
                f"COMMANDLINE_ARGS=\"--api\" or give the right URL (--a1111-url / VANELIA_A1111_URL)"
            ) from exc
        except requests.Timeout as exc:
            raise EngineError(f"Automatic1111 at {self.url} did not answer {method} {path} within {timeout or self.timeout:g} s") from exc
        if r.status_code == 404:
            raise EngineUnavailable(f"{url} returned 404: the server at {self.url} is not Automatic1111 started with --api")
        if r.status_code >= 400:
            raise EngineError(f"Automatic1111 {method} {path} failed with HTTP {r.status_code}: {_error_text(r)}")
        try:
            return r.json()
        except ValueError as exc:
            raise EngineError(f"Automatic1111 {method} {path} answered HTTP {r.status_code} with non-JSON data") from exc

    # -- API ---------------------------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        """Cheap liveness check (the progress endpoint exists whenever --api is on)."""
        return self._request("GET", "/sdapi/v1/progress?skip_current_image=true", timeout=self.connect_timeout)

    def samplers(self) -> list[str]:
        return [s.get("name", "") for s in self._request("GET", "/sdapi/v1/samplers")]

    def progress(self) -> float:
        return float(self._request("GET", "/sdapi/v1/progress?skip_current_image=true", timeout=self.connect_timeout).get("progress", 0.0))

    def interrupt(self) -> None:
        self._request("POST", "/sdapi/v1/interrupt", timeout=self.connect_timeout)

    def img2img(
        self,
        image: np.ndarray,
        settings: A1111Settings,
        mask: np.ndarray | None = None,
        progress: Callable[[float], None] | None = None,
        cancel: Any = None,
    ) -> tuple[list[np.ndarray], dict[str, Any]]:
        """img2img (or inpaint when ``mask`` is given): (uint8 RGB images, info dict)."""
        if image.dtype != np.uint8 or image.ndim != 3:
            raise EngineError(f"img2img needs an HxWx3 uint8 image, got {image.dtype} {image.shape}")
        if mask is not None and np.asarray(mask).shape[:2] != image.shape[:2]:
            raise EngineError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}")
        body = settings.payload(image, mask)
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["answer"] = self._request("POST", "/sdapi/v1/img2img", body)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(self.poll_s)
            if not worker.is_alive():
                break
            if is_cancelled(cancel):
                try:
                    self.interrupt()
                finally:
                    worker.join(self.connect_timeout)
                raise Cancelled("Automatic1111 request cancelled (interrupt sent)")
            if progress is not None:
                try:
                    progress(min(max(self.progress(), 0.0), 0.99))
                except EngineError:
                    pass
        if "error" in box:
            raise box["error"]
        answer = box["answer"]
        images = answer.get("images") if isinstance(answer, dict) else None
        if not images:
            raise EngineError(f"Automatic1111 returned no images ({str(answer)[:200]})")
        info = answer.get("info", {})
        if isinstance(info, str):
            try:
                info = json.loads(info)
            except ValueError:
                info = {"raw": info}
        if progress is not None:
            progress(1.0)
        # A1111 may append extra images (masks, grids); the first is the result
        return [decode_image(b) for b in images], info


def _error_text(r: requests.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return r.text[:300] or r.reason
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("error", "detail", "errors", "message") if data.get(k)]
        return "; ".join(parts)[:500] or json.dumps(data)[:300]
    return str(data)[:300]


def wait_for(url: str, seconds: float = 5.0) -> bool:
    """True once the API answers (used by tests and the CLI before a batch)."""
    client = A1111Client(url, connect_timeout=1.0)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            client.ping()
            return True
        except EngineError:
            time.sleep(0.1)
    return False
