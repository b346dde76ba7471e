"""Small real HTTP servers (loopback sockets) that speak the documented request/response shapes
of the Automatic1111 web API and of ComfyUI. Their "generation" is deterministic: the picture
inverted inside the mask (the whole picture without a mask), so a client test can check that
the image, the mask and the parameters made the round trip."""
from __future__ import annotations

import base64
import json
import threading
import time
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import cv2
import numpy as np


def _png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def _decode(raw: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def fake_generate(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    out = image.copy()
    sel = np.ones(image.shape[:2], bool) if mask is None else mask[..., 0] > 127
    out[sel] = 255 - out[sel]
    return out


class _Base(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))


class A1111Handler(_Base):
    def do_GET(self) -> None:
        st = self.server.state
        path = urlparse(self.path).path
        if path == "/sdapi/v1/progress":
            self._send(200, {"progress": st["progress"], "eta_relative": 0.0, "state": {"interrupted": st["interrupted"], "job_count": 0}, "current_image": None, "textinfo": None})
        elif path == "/sdapi/v1/samplers":
            self._send(200, [{"name": "Euler a", "aliases": ["k_euler_a"], "options": {}}, {"name": "DPM++ 2M", "aliases": [], "options": {}}])
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        st = self.server.state
        path = urlparse(self.path).path
        body = self._body()
        if path == "/sdapi/v1/interrupt":
            st["interrupted"] = True
            self._send(200, {})
            return
        if path != "/sdapi/v1/img2img":
            self._send(404, {"detail": "Not Found"})
            return
        req = json.loads(body)
        st["requests"].append(req)
        if not isinstance(req.get("steps"), int):
            self._send(422, {"detail": [{"loc": ["body", "steps"], "msg": "value is not a valid integer", "type": "type_error.integer"}]})
            return
        if req.get("prompt", "").startswith("fail"):
            self._send(500, {"error": "RuntimeError", "detail": "", "body": "", "errors": "CUDA error: device-side assert triggered"})
            return
        st["interrupted"] = False
        for i in range(int(req.get("steps", 1)) if req.get("prompt", "").startswith("slow") else 0):
            if st["interrupted"]:
                break
            st["progress"] = i / req["steps"]
            time.sleep(0.05)
        st["progress"] = 0.0
        image = _decode(base64.b64decode(req["init_images"][0]))
        mask = _decode(base64.b64decode(req["mask"])) if req.get("mask") else None
        out = fake_generate(image, mask)
        params = {k: v for k, v in req.items() if k not in ("init_images", "mask")}
        info = json.dumps({"prompt": req.get("prompt"), "seed": req.get("seed"), "sampler_name": req.get("sampler_name"), "steps": req.get("steps")})
        self._send(200, {"images": [base64.b64encode(_png_bytes(out)).decode()], "parameters": params, "info": info})


class ComfyHandler(_Base):
    def do_GET(self) -> None:
        st = self.server.state
        url = urlparse(self.path)
        if url.path == "/system_stats":
            self._send(200, {"system": {"os": "posix", "comfyui_version": "0.3.x"}, "devices": []})
        elif url.path == "/queue":
            with st["lock"]:
                running = [[0, pid, {}, {}, []] for pid in st["running"]]
            self._send(200, {"queue_running": running, "queue_pending": []})
        elif url.path.startswith("/history/"):
            pid = url.path.rsplit("/", 1)[1]
            with st["lock"]:
                entry = st["history"].get(pid)
            self._send(200, {pid: entry} if entry else {})
        elif url.path == "/view":
            q = parse_qs(url.query)
            name = q.get("filename", [""])[0]
            data = st["outputs"].get(name)
            if data is None or q.get("type", ["output"])[0] != "output":
                self._send(404, b"", "text/plain")
            else:
                self._send(200, data, "image/png")
        else:
            self._send(404, b"404: Not Found", "text/plain")

    def do_POST(self) -> None:
        st = self.server.state
        path = urlparse(self.path).path
        body = self._body()
        if path == "/upload/image":
            ctype = self.headers.get("Content-Type", "")
            msg = BytesParser(policy=email_policy).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                if part.get_param("name", header="content-disposition") == "image":
                    name = part.get_filename()
                    st["inputs"][name] = part.get_payload(decode=True)
                    self._send(200, {"name": name, "subfolder": "", "type": "input"})
                    return
            self._send(400, b"no image", "text/plain")
        elif path == "/prompt":
            req = json.loads(body)
            wf = req.get("prompt")
            errors = {}
            for nid, node in (wf or {}).items():
                if node.get("class_type") == "LoadImage" and node["inputs"].get("image") not in st["inputs"]:
                    errors[nid] = {"errors": [{"type": "custom_validation_failed", "message": "Invalid image file", "details": f"image: {node['inputs'].get('image')}"}], "dependent_outputs": [], "class_type": "LoadImage"}
            if not isinstance(wf, dict) or errors:
                self._send(400, {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": errors})
                return
            st["count"] += 1
            pid = f"p{st['count']:04d}"
            st["prompts"][pid] = wf
            with st["lock"]:
                st["running"].append(pid)
            threading.Thread(target=self._execute, args=(st, pid, wf), daemon=True).start()
            self._send(200, {"prompt_id": pid, "number": st["count"], "node_errors": {}})
        elif path == "/interrupt":
            st["interrupted"] = True
            self._send(200, b"", "text/plain")
        elif path == "/queue":
            self._send(200, b"", "text/plain")
        else:
            self._send(404, b"404: Not Found", "text/plain")

    @staticmethod
    def _execute(st: dict, pid: str, wf: dict) -> None:
        st["interrupted"] = False
        loads = [n for n in wf.values() if n["class_type"] == "LoadImage"]
        ckpt = next((n["inputs"].get("ckpt_name") for n in wf.values() if n["class_type"] == "CheckpointLoaderSimple"), None)
        steps = next((n["inputs"].get("steps") for n in wf.values() if n["class_type"] == "KSampler"), 1)
        for _ in range(int(steps) if isinstance(steps, int) else 1):
            if st["interrupted"]:
                break
            time.sleep(st["step_s"])
        entry: dict[str, Any]
        if st["interrupted"]:
            entry = {"outputs": {}, "status": {"status_str": "error", "completed": False, "messages": [["execution_interrupted", {"prompt_id": pid}]]}}
        elif ckpt == "missing.safetensors":
            entry = {"outputs": {}, "status": {"status_str": "error", "completed": False, "messages": [["execution_error", {"prompt_id": pid, "node_id": "1", "node_type": "CheckpointLoaderSimple", "exception_message": "Could not find checkpoint missing.safetensors"}]]}}
        else:
            image = _decode(st["inputs"][loads[0]["inputs"]["image"]])
            mask = _decode(st["inputs"][loads[1]["inputs"]["image"]]) if len(loads) > 1 else None
            name = f"vanelia_{pid}_.png"
            st["outputs"][name] = _png_bytes(fake_generate(image, mask))
            entry = {"prompt": [0, pid, wf, {}, ["11"]], "outputs": {"11": {"images": [{"filename": name, "subfolder": "", "type": "output"}]}}, "status": {"status_str": "success", "completed": True, "messages": []}}
        with st["lock"]:
            st["running"].remove(pid)
            st["history"][pid] = entry


class Server:
    """Context manager: a server on 127.0.0.1:<free port> in a thread; ``.url``, ``.state``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], **state: Any) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.state = {  # type: ignore[attr-defined]
            "requests": [], "progress": 0.0, "interrupted": False, "inputs": {}, "outputs": {}, "history": {},
            "prompts": {}, "running": [], "count": 0, "lock": threading.Lock(), "step_s": 0.0, **state,
        }
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def state(self) -> dict:
        return self.httpd.state  # type: ignore[attr-defined]

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
