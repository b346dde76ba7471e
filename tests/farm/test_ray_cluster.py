"""A two-node Ray cluster on loopback (head + worker started here with `ray start`, own ports
and temp folders, stopped by PID): renders and stages spread over both nodes give the
single-machine result bit for bit, and a worker node killed mid-chunk loses no frame."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ray")

from farm_shots import masked_shot, read_version  # noqa: E402
from ray_nodes import free_ports, start_node, wait_for_nodes  # noqa: E402

from ml.pipeline.runner import PipelineRunner  # noqa: E402
from shotcache.schema import JobSpec  # noqa: E402

pytestmark = pytest.mark.slow

SPEC = dict(stages=["inpaint", "composite"], engines={"inpaint": "propagate", "composite": "classical"},
            params={"inpaint": {"window": 2}}, seed=3)
DELAY_S = "0.2"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import ray

    from farm.ray.cluster import ClusterError, connect
    from farm.worker import FRAME_DELAY_ENV

    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ[FRAME_DELAY_ENV] = DELAY_S  # workers pause per frame: a kill lands mid-chunk
    # Not under pytest's basetemp: Ray puts unix sockets in the node's temp folder, and
    # /tmp/pytest-of-root/pytest-N/popen-gwK/ray0/head/session_.../sockets/plasma_store
    # passes the 107-byte limit of a socket path (the head then dies silently).
    tmp = Path(tempfile.mkdtemp(prefix="vray-", dir="/tmp"))
    port = free_ports(1)[0]
    address = f"127.0.0.1:{port}"
    head = start_node(tmp, "head", port=port, resources={"blender": 1})
    worker = start_node(tmp, "worker", head_address=address, resources={"blender": 1})
    try:
        t0 = time.monotonic()
        while True:
            try:
                connect(address)
                break
            except ClusterError:
                if time.monotonic() - t0 > 90 or head.proc.poll() is not None:
                    raise
                time.sleep(1)
        wait_for_nodes(address, 2)
        ids = {n["NodeID"][:8]: n for n in ray.nodes() if n.get("Alive")}
        head_id = next(k for k, n in ids.items() if "node:__internal_head__" in n.get("Resources", {}))
        worker_id = next(k for k in ids if k != head_id)
        yield SimpleNamespace(address=address, head=head, worker=worker, head_id=head_id, worker_id=worker_id)
    finally:
        ray.shutdown()
        os.environ.pop(FRAME_DELAY_ENV, None)
        worker.stop()
        head.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _plain(shot: Path) -> dict[int, bytes]:
    runner = PipelineRunner()
    spec = JobSpec(shot=str(shot), **SPEC)
    v = runner.prepare(spec, shot)
    runner.run(spec, shot, version=v)
    return read_version(shot, v)


def _node_id(label: str) -> str:
    return label.split("/")[1]


def test_two_nodes_render_and_stages_match_one_machine(cluster, tmp_path: Path):
    from cli.render import run_batch
    from farm.ray.runner import RayPipelineRunner, render_shot
    from ml.io.exr import read_passes
    from server.jobs import frame_nodes

    data = tmp_path / "data"
    run_batch("demo-data", ["--output", str(data), "--frames", "8", "--resolution", "96x54", "--samples", "4"], on_line=lambda s: None)
    common = ["--plate", str(data / "plate.mp4"), "--model", str(data / "product.glb"), "--camera", str(data / "transforms.json"), "--samples", "4"]
    one, farm = tmp_path / "one", tmp_path / "farm"
    run_batch("render", common + ["--shot", str(one)], on_line=lambda s: None)
    run_batch("render", common + ["--shot", str(farm), "--setup-only"], on_line=lambda s: None)
    assert not list((farm / "render").glob("*.exr"))
    made = render_shot(cluster.address, farm, chunk_frames=2, shared=False)  # EXRs back through the object store
    assert made["rendered"] == list(range(1, 9)) and not made["lost"] and made["shared_storage"] is False
    assert {_node_id(n) for n in made["nodes"].values()} == {cluster.head_id, cluster.worker_id}  # both nodes rendered
    for f in range(1, 9):
        a, b = read_passes(one / "render" / f"{f:06d}.exr"), read_passes(farm / "render" / f"{f:06d}.exr")
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), f"render of frame {f} differs"
    assert json.loads((one / "shot.json").read_text())["render"]["frame_hashes"] == json.loads((farm / "shot.json").read_text())["render"]["frame_hashes"]
    again = render_shot(cluster.address, farm)  # nothing changed: nothing rendered
    assert again["rendered"] == []

    from ml.io.images import write_mask

    for shot in (one, farm):
        for f in range(1, 9):
            m = np.zeros((54, 96), np.float32)
            m[18:36, 8 + 4 * f : 24 + 4 * f] = 1
            write_mask(shot / "masks" / f"{f:06d}.png", m)
    want = _plain(one)
    runner = RayPipelineRunner(address=cluster.address, chunk_frames=2)
    spec = JobSpec(shot=str(farm), **SPEC)
    v = runner.prepare(spec, farm)
    res = runner.run(spec, farm, version=v)
    assert res.frames_done == list(range(1, 9)) and not res.skipped
    assert read_version(farm, v) == want
    nodes = frame_nodes(farm, v)
    assert sorted(map(int, nodes)) == list(range(1, 9))
    assert {_node_id(n) for n in nodes.values()} == {cluster.head_id, cluster.worker_id}
    rec = json.loads((farm / v / "params.json").read_text())
    assert rec["state"] == "done" and rec["farm"]["shared_storage"] is True and rec["farm"]["workers"] == 2
    assert rec["frames"]["5"]["composite"]["engine"] == "classical"


def test_sidecar_front_door_runs_jobs_on_the_cluster(cluster, tmp_path: Path):
    """`vanelia serve --ray ADDRESS`: the same HTTP API and durable queue; the job view says
    which node made each frame."""
    from farm.ray.runner import RayPipelineRunner
    from server.cli import use_ray
    from server.config import ServerConfig
    from server.local import BackgroundServer
    from shotcache.client import SidecarClient

    root = tmp_path / "shots"
    shot = masked_shot(root / "s", frames=8)
    ref = tmp_path / "ref"
    shutil.copytree(shot, ref)
    cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[root], data_dir=tmp_path / "sidecar", runner=use_ray(cluster.address))
    assert RayPipelineRunner.default_address == cluster.address
    srv = BackgroundServer(cfg)
    srv.start()
    try:
        client = SidecarClient(srv.url, timeout=60)
        job_id = client.submit(dict(SPEC, shot=str(shot)))
        client.wait(job_id)
        job = client.status(job_id)
    finally:
        srv.stop()
    assert job["state"] == "done", job
    assert set(job["progress"].values()) == {"done"} and sorted(map(int, job["nodes"])) == list(range(1, 9))
    assert {_node_id(n) for n in job["nodes"].values()} <= {cluster.head_id, cluster.worker_id}
    assert read_version(shot, job["version"]) == _plain(ref)


def test_killed_worker_loses_no_frame(cluster, tmp_path: Path):
    from farm.ray.runner import RayPipelineRunner

    shot = masked_shot(tmp_path / "shot", frames=16, size=(96, 60))
    ref = tmp_path / "ref"
    shutil.copytree(shot, ref)
    want = _plain(ref)
    killed: dict[str, float] = {}
    made: dict[int, list[str]] = {}

    def on_made(frame: int, node: str) -> None:
        made.setdefault(frame, []).append(node)
        if _node_id(node) == cluster.worker_id and not killed:
            cluster.worker.kill()  # the whole worker node, mid-chunk
            killed["t"] = time.monotonic()

    runner = RayPipelineRunner(address=cluster.address, chunk_frames=8, shared=False, on_made=on_made)
    spec = JobSpec(shot=str(shot), **SPEC)
    v = runner.prepare(spec, shot)
    res = runner.run(spec, shot, version=v)
    assert killed, "the worker node never made a frame"
    assert res.frames_done == list(range(1, 17)) and not res.skipped
    assert read_version(shot, v) == want  # identical to one machine
    assert all(len(n) == 1 for n in made.values()), "a finished frame was made twice"
    lost = runner.last["lost"]
    assert len(lost) == 1 and lost[0]["returned"] and lost[0]["replanned"], lost
    rec = json.loads((shot / v / "params.json").read_text())
    for f in lost[0]["returned"]:  # came back before the kill: kept, not recomputed
        assert _node_id(rec["frames"][str(f)]["node"]) == cluster.worker_id
    for f in lost[0]["replanned"]:  # retried on the node that is left
        assert _node_id(rec["frames"][str(f)]["node"]) == cluster.head_id


def test_a_cancelled_render_starts_no_new_chunk_and_keeps_what_came_back(cluster, tmp_path: Path):
    from cli.render import run_batch
    from farm.ray.runner import render_shot
    from shotcache.errors import Cancelled

    data, shot = tmp_path / "data", tmp_path / "shot"
    run_batch("demo-data", ["--output", str(data), "--frames", "8", "--resolution", "96x54", "--samples", "2"], on_line=lambda s: None)
    run_batch("render", ["--plate", str(data / "plate.mp4"), "--model", str(data / "product.glb"), "--camera",
                         str(data / "transforms.json"), "--samples", "2", "--shot", str(shot), "--setup-only"], on_line=lambda s: None)
    back: list[int] = []
    with pytest.raises(Cancelled, match="of 8 frame"):
        render_shot(cluster.address, shot, chunk_frames=1, on_frame=lambda f, node: back.append(f),
                    should_stop=lambda: len(back) >= 1)
    on_disk = sorted(int(p.stem) for p in (shot / "render").glob("*.exr"))
    assert 1 <= len(back) < 8 and on_disk == sorted(back)  # the chunks in flight finished; none started after
    hashes = json.loads((shot / "shot.json").read_text())["render"]["frame_hashes"]
    assert sorted(map(int, hashes)) == sorted(back)  # what came back is recorded, so a re-run skips it
