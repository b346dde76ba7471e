"""A two-node Ray cluster on loopback (head + worker started here with `ray start`, own ports
and temp folders, stopped by PID; the driver and the sidecar run in processes of their own):
renders and stages spread over both nodes give the single-machine result bit for bit, and a
worker node killed mid-chunk loses no frame."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ray")

from farm_shots import masked_shot, read_version  # noqa: E402
from ray_driver import SPEC  # noqa: E402
from ray_nodes import ROOT, drive, free_ports, start_cluster  # noqa: E402

from ml.pipeline.runner import PipelineRunner  # noqa: E402
from shotcache.schema import JobSpec  # noqa: E402

# The module's cluster is built in the first test's setup, and a head that never answers is
# given up on and started again (ray_nodes.start_cluster): room for that beside the test itself.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

DELAY_S = "0.2"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from farm.worker import FRAME_DELAY_ENV

    os.environ[FRAME_DELAY_ENV] = DELAY_S  # workers pause per frame: a kill lands mid-chunk
    # Not under pytest's basetemp: Ray puts unix sockets in the node's temp folder, and
    # /tmp/pytest-of-root/pytest-N/popen-gwK/ray0/head/session_.../sockets/plasma_store
    # passes the 107-byte limit of a socket path (the head then dies silently).
    tmp = Path(tempfile.mkdtemp(prefix="vray-", dir="/tmp"))
    try:
        address, head, worker, ids = start_cluster(tmp, resources={"blender": 1})
    except BaseException:
        os.environ.pop(FRAME_DELAY_ENV, None)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        assert len(ids["worker_ids"]) == 1, ids
        yield SimpleNamespace(address=address, head=head, worker=worker, head_id=ids["head_id"], worker_id=ids["worker_ids"][0])
    finally:
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
    from ml.io.exr import read_passes
    from server.jobs import frame_nodes

    data = tmp_path / "data"
    run_batch("demo-data", ["--output", str(data), "--frames", "8", "--resolution", "96x54", "--samples", "4"], on_line=lambda s: None)
    common = ["--plate", str(data / "plate.mp4"), "--model", str(data / "product.glb"), "--camera", str(data / "transforms.json"), "--samples", "4"]
    one, farm = tmp_path / "one", tmp_path / "farm"
    run_batch("render", common + ["--shot", str(one)], on_line=lambda s: None)
    run_batch("render", common + ["--shot", str(farm), "--setup-only"], on_line=lambda s: None)
    assert not list((farm / "render").glob("*.exr"))
    made = drive("render", address=cluster.address, shot=str(farm), chunk_frames=2, shared=False)  # EXRs back through the object store
    assert made["rendered"] == list(range(1, 9)) and not made["lost"] and made["shared_storage"] is False
    assert {_node_id(n) for n in made["nodes"].values()} == {cluster.head_id, cluster.worker_id}  # both nodes rendered
    for f in range(1, 9):
        a, b = read_passes(one / "render" / f"{f:06d}.exr"), read_passes(farm / "render" / f"{f:06d}.exr")
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), f"render of frame {f} differs"
    assert json.loads((one / "shot.json").read_text())["render"]["frame_hashes"] == json.loads((farm / "shot.json").read_text())["render"]["frame_hashes"]
    again = drive("render", address=cluster.address, shot=str(farm))  # nothing changed: nothing rendered
    assert again["rendered"] == []

    from ml.io.images import write_mask

    for shot in (one, farm):
        for f in range(1, 9):
            m = np.zeros((54, 96), np.float32)
            m[18:36, 8 + 4 * f : 24 + 4 * f] = 1
            write_mask(shot / "masks" / f"{f:06d}.png", m)
    want = _plain(one)
    res = drive("stages", address=cluster.address, shot=str(farm), chunk_frames=2)
    v = res["version"]
    assert res["frames_done"] == list(range(1, 9)) and not res["skipped"]
    assert read_version(farm, v) == want
    nodes = frame_nodes(farm, v)
    assert sorted(map(int, nodes)) == list(range(1, 9))
    assert {_node_id(n) for n in nodes.values()} == {cluster.head_id, cluster.worker_id}
    rec = json.loads((farm / v / "params.json").read_text())
    assert rec["state"] == "done" and rec["farm"]["shared_storage"] is True and rec["farm"]["workers"] == 2
    assert rec["frames"]["5"]["composite"]["engine"] == "classical"


def test_sidecar_front_door_runs_jobs_on_the_cluster(cluster, tmp_path: Path):
    """`vanelia serve --ray ADDRESS` (its own process, as it is deployed): the same HTTP API and
    durable queue; the job view says which node made each frame."""
    from shotcache.client import SidecarClient, SidecarError

    root = tmp_path / "shots"
    shot = masked_shot(root / "s", frames=8)
    ref = tmp_path / "ref"
    shutil.copytree(shot, ref)
    port = free_ports(1)[0]
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "cli.main", "serve", "--ray", cluster.address, "--host", "127.0.0.1", "--port", str(port),
           "--shot-root", str(root), "--data-dir", str(tmp_path / "sidecar")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", RAY_AUTH_MODE="disabled")
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
    try:
        client = SidecarClient(f"http://127.0.0.1:{port}", timeout=60)
        t0 = time.monotonic()
        while True:
            try:
                client.health()
                break
            except SidecarError:
                assert proc.poll() is None and time.monotonic() - t0 < 90, f"the sidecar did not come up:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        job_id = client.submit(dict(SPEC, shot=str(shot)))
        client.wait(job_id)
        job = client.status(job_id)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert job["state"] == "done", (job, log.read_text()[-3000:])
    assert set(job["progress"].values()) == {"done"} and sorted(map(int, job["nodes"])) == list(range(1, 9))
    assert {_node_id(n) for n in job["nodes"].values()} <= {cluster.head_id, cluster.worker_id}
    assert read_version(shot, job["version"]) == _plain(ref)


def test_killed_worker_loses_no_frame(cluster, tmp_path: Path):
    shot = masked_shot(tmp_path / "shot", frames=24, size=(96, 60))
    ref = tmp_path / "ref"
    shutil.copytree(shot, ref)
    want = _plain(ref)
    # the whole worker node (its process group), mid-chunk, the first time it makes a frame
    res = drive("stages", address=cluster.address, shot=str(shot), chunk_frames=12, shared=False,
                kill_pgid=cluster.worker.pid, kill_node=cluster.worker_id)
    v = res["version"]
    assert res["killed"], "the worker node never made a frame"
    assert res["frames_done"] == list(range(1, 25)) and not res["skipped"]
    assert read_version(shot, v) == want  # identical to one machine
    assert all(len(n) == 1 for n in res["made"].values()), "a finished frame was made twice"
    lost = res["lost"]
    assert len(lost) == 1 and lost[0]["returned"] and lost[0]["replanned"], lost
    rec = json.loads((shot / v / "params.json").read_text())
    for f in lost[0]["returned"]:  # came back before the kill: kept, not recomputed
        assert _node_id(rec["frames"][str(f)]["node"]) == cluster.worker_id
    for f in lost[0]["replanned"]:  # retried on the node that is left
        assert _node_id(rec["frames"][str(f)]["node"]) == cluster.head_id


def test_a_cancelled_render_starts_no_new_chunk_and_keeps_what_came_back(cluster, tmp_path: Path):
    from cli.render import run_batch

    data, shot = tmp_path / "data", tmp_path / "shot"
    run_batch("demo-data", ["--output", str(data), "--frames", "8", "--resolution", "96x54", "--samples", "2"], on_line=lambda s: None)
    run_batch("render", ["--plate", str(data / "plate.mp4"), "--model", str(data / "product.glb"), "--camera",
                         str(data / "transforms.json"), "--samples", "2", "--shot", str(shot), "--setup-only"], on_line=lambda s: None)
    res = drive("render_cancelled", address=cluster.address, shot=str(shot))
    back = res["back"]
    assert res["cancelled"] and "of 8 frame" in res["cancelled"], res
    on_disk = sorted(int(p.stem) for p in (shot / "render").glob("*.exr"))
    assert 1 <= len(back) < 8 and on_disk == sorted(back)  # the chunks in flight finished; none started after
    hashes = json.loads((shot / "shot.json").read_text())["render"]["frame_hashes"]
    assert sorted(map(int, hashes)) == sorted(back)  # what came back is recorded, so a re-run skips it
