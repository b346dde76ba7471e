"""Client for a running ComfyUI server: upload images, queue a workflow, follow it, fetch results.

ComfyUI's HTTP API: ``POST /upload/image`` (multipart, answers ``{name, subfolder, type}``),
``POST /prompt`` with ``{"prompt": <API-format workflow>, "client_id": ...}`` (answers
``{prompt_id, number, node_errors}`` or HTTP 400 with ``error`` + ``node_errors``), ``GET
/queue`` (running / pending), ``GET /history/<prompt_id>`` (outputs + status once done),
``GET /view?filename=&subfolder=&type=`` (the image bytes), ``POST /interrupt``.

Workflows are API-format JSON with ``{{name}}`` placeholders (``{{image}}``, ``{{mask}}``,
``{{prompt}}``, ``{{negative_prompt}}``, ``{{seed}}``, ``{{steps}}``, ``{{cfg}}``,
``{{denoise}}``, ``{{sampler}}``, ``{{checkpoint}}``): a string that is exactly one placeholder
takes the value's type, placeholders inside longer strings are substituted as text.
"""
from __future__ import annotations

import copy
import json
import re
import time
import uuid
from typing import Any, Callable

import cv2
import numpy as np
import requests

from ml.stages.base import EngineError, EngineUnavailable

from .sampling import Cancelled, is_cancelled

DEFAULT_URL = "http://127.0.0.1:8188"

DEFAULT_INPAINT_WORKFLOW: dict[str, Any] = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
    "2": {"class_type": "LoadImage", "inputs": {"image": "{{image}}"}},
    "3": {"class_type": "LoadImage", "inputs": {"image": "{{mask}}"}},
    "4": {"class_type": "ImageToMask", "inputs": {"image": ["3", 0], "channel": "red"}},
    "5": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 2]}},
    "6": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["5", 0], "mask": ["4", 0]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["1", 1]}},
    "8": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}", "clip": ["1", 1]}},
    "9": {
        "class_type": "KSampler",
        "inputs": {
            "model": ["1", 0],
            "seed": "{{seed}}",
            "steps": "{{steps}}",
            "cfg": "{{cfg}}",
            "sampler_name": "{{sampler}}",
            "scheduler": "normal",
            "positive": ["7", 0],
            "negative": ["8", 0],
            "latent_image": ["6", 0],
            "denoise": "{{denoise}}",
        },
    },
    "10": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["1", 2]}},
    "11": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "vanelia"}},
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def fill_workflow(workflow: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``workflow`` with every ``{{name}}`` replaced; an unknown name is an error."""

    def sub(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: sub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x) for x in v]
        if isinstance(v, str):
            whole = _PLACEHOLDER.fullmatch(v.strip())
            if whole:
                return _value(whole.group(1))
            return _PLACEHOLDER.sub(lambda m: str(_value(m.group(1))), v)
        return v

    def _value(name: str) -> Any:
        if name not in values or values[name] is None:
            raise EngineError(f"ComfyUI workflow uses {{{{{name}}}}} but no value was given for it")
        return values[name]

    return sub(copy.deepcopy(workflow))


def load_workflow(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            wf = json.load(fh)
    except FileNotFoundError as exc:
        raise EngineError(f"ComfyUI workflow file {path} not found") from exc
    except ValueError as exc:
        raise EngineError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(wf, dict) or not all(isinstance(n, dict) and "class_type" in n for n in wf.values()):
        raise EngineError(f"{path}: not an API-format ComfyUI workflow (use 'Save (API Format)' in ComfyUI)")
    return wf


class ComfyUIClient:
    def __init__(self, url: str = DEFAULT_URL, timeout: float = 600.0, connect_timeout: float = 5.0, poll_s: float = 0.25) -> None:
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.poll_s = poll_s
        self.client_id = uuid.uuid4().hex

    def _request(self, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            r = requests.request(method, self.url + path, timeout=(self.connect_timeout, kw.pop("timeout", 60.0)), **kw)
        except requests.ConnectionError as exc:
            raise EngineUnavailable(
                f"no ComfyUI server answers at {self.url} ({type(exc).__name__}); start ComfyUI "
                f"(python main.py --listen) or give the right URL (--comfyui-url / VANELIA_COMFYUI_URL)"
            ) from exc
        except requests.Timeout as exc:
            raise EngineError(f"ComfyUI at {self.url} did not answer {method} {path} in time") from exc
        if r.status_code >= 400:
            raise EngineError(f"ComfyUI {method} {path} failed with HTTP {r.status_code}: {_error_text(r)}")
        return r

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        r = self._request(method, path, **kw)
        try:
            return r.json()
        except ValueError as exc:
            raise EngineError(f"ComfyUI {method} {path} answered with non-JSON data") from exc

    def ping(self) -> dict[str, Any]:
        return self._json("GET", "/system_stats", timeout=self.connect_timeout)

    def upload_image(self, rgb8: np.ndarray, name: str) -> str:
        """Upload a PNG into ComfyUI's input folder; returns the name LoadImage takes."""
        arr = cv2.cvtColor(np.ascontiguousarray(rgb8), cv2.COLOR_RGB2BGR) if rgb8.ndim == 3 else rgb8
        ok, buf = cv2.imencode(".png", arr)
        if not ok:
            raise EngineError("could not encode an image as PNG")
        data = self._json("POST", "/upload/image", files={"image": (name, buf.tobytes(), "image/png")}, data={"overwrite": "true", "type": "input"})
        sub = data.get("subfolder") or ""
        return f"{sub}/{data['name']}" if sub else str(data["name"])

    def queue(self, workflow: dict[str, Any]) -> str:
        data = self._json("POST", "/prompt", json={"prompt": workflow, "client_id": self.client_id})
        if data.get("node_errors"):
            raise EngineError(f"ComfyUI rejected the workflow: {json.dumps(data['node_errors'])[:500]}")
        return str(data["prompt_id"])

    def interrupt(self, prompt_id: str | None = None) -> None:
        self._request("POST", "/interrupt", json={})
        if prompt_id:
            self._request("POST", "/queue", json={"delete": [prompt_id]})

    def wait(self, prompt_id: str, progress: Callable[[float], None] | None = None, cancel: Any = None) -> dict[str, Any]:
        """Poll until the prompt is in the history; raise on an execution error or timeout."""
        end = time.monotonic() + self.timeout
        while True:
            hist = self._json("GET", f"/history/{prompt_id}")
            entry = hist.get(prompt_id) if isinstance(hist, dict) else None
            if entry:
                status = entry.get("status", {})
                if status.get("status_str") == "error":
                    raise EngineError(f"ComfyUI failed to run the workflow: {_execution_error(status)}")
                if status.get("completed", True):
                    if progress is not None:
                        progress(1.0)
                    return entry
            if is_cancelled(cancel):
                self.interrupt(prompt_id)
                raise Cancelled(f"ComfyUI prompt {prompt_id} cancelled (interrupt sent)")
            if time.monotonic() > end:
                raise EngineError(f"ComfyUI did not finish prompt {prompt_id} within {self.timeout:g} s")
            if progress is not None:
                progress(self._queue_progress(prompt_id))
            time.sleep(self.poll_s)

    def _queue_progress(self, prompt_id: str) -> float:
        """0.0 while pending, 0.5 while running (the HTTP API has no finer step count)."""
        q = self._json("GET", "/queue")
        running = [item[1] for item in q.get("queue_running", []) if len(item) > 1]
        return 0.5 if prompt_id in running else 0.0

    def fetch_images(self, entry: dict[str, Any]) -> list[np.ndarray]:
        out = []
        for node in (entry.get("outputs") or {}).values():
            for im in node.get("images", []):
                if im.get("type", "output") != "output":
                    continue
                r = self._request("GET", "/view", params={"filename": im["filename"], "subfolder": im.get("subfolder", ""), "type": "output"})
                img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
                if img is None:
                    raise EngineError(f"ComfyUI /view returned data that is not an image for {im['filename']}")
                out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if not out:
            raise EngineError("ComfyUI finished but the workflow saved no output image (add a SaveImage node)")
        return out

    def run(
        self,
        workflow: dict[str, Any],
        values: dict[str, Any],
        images: dict[str, np.ndarray] | None = None,
        progress: Callable[[float], None] | None = None,
        cancel: Any = None,
    ) -> list[np.ndarray]:
        """Upload ``images`` (placeholder name -> uint8 RGB), fill, queue, wait, fetch."""
        vals = dict(values)
        for key, img in (images or {}).items():
            vals[key] = self.upload_image(img, f"vanelia_{self.client_id[:8]}_{key}.png")
        pid = self.queue(fill_workflow(workflow, vals))
        return self.fetch_images(self.wait(pid, progress, cancel))


def _execution_error(status: dict[str, Any]) -> str:
    for msg in status.get("messages", []):
        if isinstance(msg, list) and len(msg) == 2 and msg[0] == "execution_error":
            d = msg[1]
            return f"node {d.get('node_id')} ({d.get('node_type')}): {d.get('exception_message', '').strip()}"
    return json.dumps(status)[:300]


def _error_text(r: requests.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return r.text[:300] or r.reason
    if isinstance(data, dict):
        err = data.get("error")
        msg = err.get("message") if isinstance(err, dict) else err
        extra = f"; node errors: {json.dumps(data['node_errors'])[:300]}" if data.get("node_errors") else ""
        return f"{msg or json.dumps(data)[:300]}{extra}"
    return str(data)[:300]
