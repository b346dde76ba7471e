"""The add-on's process manager (addon/process_manager.py) and the sidecar client
(shotcache/client.py) against a real sidecar, from real bpy.

The add-on starts the sidecar itself, as from its preferences (a child process on a free
loopback port), follows a job the one way every task is followed (addon/tasks.py: worker
thread without bpy + a timer callback on the main thread), loads a result frame into
Blender, and stops the sidecar.
"""
from __future__ import annotations

import importlib
import socket
import sys
import threading
import types
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sidecar(ext, tmp_path):
    """Started through the add-on's own launcher; stopped through it at the end."""
    import importlib

    client_mod = importlib.import_module(f"{ext.__name__}.addon.process_manager")
    from server.bench import make_shot

    shots = tmp_path / "shots"
    make_shot(shots / "s", frames=5, width=64, height=48)
    port = _free_port()
    settings = types.SimpleNamespace(
        url=f"http://127.0.0.1:{port}", token="", mode="LOCAL", device="CPU", shot_root=str(shots),
        launch_argv=(sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
                     "--data-dir", str(tmp_path / "data")),
    )
    info = client_mod.start_sidecar(settings, log_path=tmp_path / "sidecar.log", timeout=120)
    proc = client_mod.started_process()
    try:
        yield client_mod, settings, info, proc, shots
    finally:
        client_mod.stop_sidecar()


def test_start_submit_follow_result_stop(sidecar, ext):
    client_mod, settings, info, proc, shots = sidecar
    shot_client = sys.modules[f"{ext.__name__}.shotcache.client"]
    schema = sys.modules[f"{ext.__name__}.shotcache.schema"]
    assert info["protocol"] == schema.PROTOCOL_VERSION
    assert proc is not None and proc.running
    assert "--shot-root" in proc.argv and "--device" in proc.argv

    # a second start finds it answering and starts nothing new
    assert client_mod.start_sidecar(settings)["status"] == "ok"
    assert client_mod.started_process() is proc

    client = shot_client.SidecarClient(settings.url)
    caps = client.capabilities()
    assert caps["device"] == "cpu" and "classical" in {e["name"] for e in caps["engines"]["composite"]}
    tasks = sys.modules[f"{ext.__name__}.addon.tasks"]
    sidecar_ops = importlib.import_module(f"{ext.__name__}.operators.sidecar")
    spec = schema.JobSpec(shot=str(shots / "s"), stages=["composite"], seed=9).to_dict()

    main = threading.get_ident()
    done_on: list[bool] = []
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    task = tasks.run_worker("sidecar", scene, lambda rep: sidecar_ops.run_job(settings.url, "", spec, str(shots / "s"), rep),
                            on_done=lambda t: done_on.append(threading.get_ident() == main), blocking=False)
    # drive the timer callback as Blender's event loop would (timers do not fire in background mode)
    import time

    deadline = time.monotonic() + 120
    messages = set()
    while task._timer() is not None:
        assert time.monotonic() < deadline
        messages.add(task.progress.message)
        time.sleep(0.05)
    assert task.state == "done" and done_on == [True], task.error
    job = task.result
    assert job["state"] == "done" and job["frames_done"] == 5
    assert any("queued" in m or "running" in m for m in messages), messages

    # the result as Blender sees it
    png = shots / "s" / job["version"] / "frames" / "000003.png"
    img = bpy.data.images.load(str(png))
    assert tuple(img.size) == (64, 48)
    px = list(img.pixels[:])
    assert max(px) > min(px)
    bpy.data.images.remove(img)

    # headless path: the same task blocks (bpy.app.background)
    spec2 = dict(spec, frames=[1, 2], seed=10)
    task2 = tasks.run_worker("sidecar", scene, lambda rep: sidecar_ops.run_job(settings.url, "", spec2, str(shots / "s"), rep))
    assert task2.state == "done" and task2.result["frames_done"] == 2

    client_mod.stop_sidecar()
    assert not proc.running and client_mod.started_process() is None
    with pytest.raises(shot_client.SidecarError) as exc:
        client.health()
    assert exc.value.kind == "unreachable" and settings.url in str(exc.value) and "vanelia serve" in str(exc.value)


def test_start_failure_names_the_log(ext, tmp_path):
    import importlib

    client_mod = importlib.import_module(f"{ext.__name__}.addon.process_manager")
    port = _free_port()
    proc = client_mod.SidecarProcess([sys.executable, "-m", "cli.main", "serve", "--host", "0.0.0.0", "--port", str(port),
                                      "--data-dir", str(tmp_path)], f"http://127.0.0.1:{port}", log_path=tmp_path / "s.log")
    with pytest.raises(Exception) as exc:
        proc.start(timeout=60)
    assert "exited with code 2" in str(exc.value) and "without a token" in str(exc.value)
    missing = client_mod.SidecarProcess(["/nonexistent/vanelia", "serve"], f"http://127.0.0.1:{port}", log_path=tmp_path / "m.log")
    with pytest.raises(Exception) as exc:
        missing.start(timeout=5)
    assert "Sidecar Python" in str(exc.value)
