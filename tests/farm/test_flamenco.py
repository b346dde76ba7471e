"""The Flamenco job type (farm/flamenco/vanelia.js) under Node, against a stand-in of
Flamenco's job-compiler API (flamenco_author.js); its tasks then run here for real."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from farm_shots import read_version
from farm_tasks import run_in_order

ROOT = Path(__file__).resolve().parents[2]
JOB_TYPE = ROOT / "farm" / "flamenco" / "vanelia.js"
STANDIN = Path(__file__).with_name("flamenco_author.js")
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (needed to run the Flamenco job type)")

JOB = {"stages": ["inpaint", "composite"], "engines": {"inpaint": "propagate", "composite": "classical"},
       "params": {"inpaint": {"window": 2}}, "seed": 5}


def compile_job(tmp: Path, settings: dict) -> subprocess.CompletedProcess:
    f = tmp / "settings.json"
    f.write_text(json.dumps(settings))
    return subprocess.run([NODE, str(STANDIN), str(JOB_TYPE), str(f)], capture_output=True, text=True, timeout=60)


def base_settings(tmp: Path, **kw) -> dict:
    return dict({"vanelia_root": str(ROOT), "shot": str(tmp / "shot"), "plate": "/p.mp4", "model": "/m.glb",
                 "camera": "/t.json", "frames": "1-20", "render_chunk_size": 8, "stage_chunk_size": 6}, **kw)


def test_job_type_chunks_the_range_and_sends_stages_to_gpu_workers(tmp_path: Path):
    r = compile_job(tmp_path, base_settings(tmp_path, output=str(tmp_path / "o.mp4")))
    assert r.returncode == 0, r.stderr
    tasks = {t["name"]: t for t in json.loads(r.stdout)["tasks"]}
    renders = [t for t in tasks.values() if t["name"].startswith("render-")]
    stages = [t for t in tasks.values() if t["name"].startswith("stages-")]
    assert [t["name"] for t in renders] == ["render-1-8", "render-9-16", "render-17-20"]
    assert len(stages) == 4 and all(t["type"] == "vanelia-gpu" for t in stages)  # GPU workers only
    assert all(t["type"] == "blender" and t["dependencies"] == ["setup"] for t in renders)
    assert tasks["prepare"]["dependencies"] == [t["name"] for t in renders]
    assert sorted(tasks["finish"]["dependencies"]) == sorted(t["name"] for t in stages)
    covered = []
    for t in stages:
        args = t["commands"][0]["parameters"]["args"]
        a, b = args[args.index("--frames") + 1].split(":")
        covered += range(int(a), int(b) + 1)
        assert args[0].endswith("scripts/vanelia_farm.py") and args[args.index("--device") + 1] == "cuda"
    assert covered == list(range(1, 21))
    render_args = renders[0]["commands"][0]["parameters"]["args"]
    assert render_args[:2] == ["-b", "--factory-startup"] and render_args[render_args.index("--") + 1] == "render-shot"
    assert "--output" in tasks["finish"]["commands"][0]["parameters"]["args"]
    # the stages part alone (for a GPU worker tag): no Blender task
    r = compile_job(tmp_path, base_settings(tmp_path, part="stages"))
    assert r.returncode == 0 and {t["type"] for t in json.loads(r.stdout)["tasks"]} == {"vanelia", "vanelia-gpu"}


def test_job_type_refuses_bad_settings(tmp_path: Path):
    r = compile_job(tmp_path, base_settings(tmp_path, plate=""))
    assert r.returncode == 2 and "plate" in r.stderr
    r = compile_job(tmp_path, base_settings(tmp_path, job="{not json"))
    assert r.returncode == 2 and "'job' is not JSON" in r.stderr
    r = compile_job(tmp_path, base_settings(tmp_path, render_with="maya"))
    assert r.returncode != 0 and "render_with" in r.stderr


@pytest.mark.slow
def test_job_runs_and_matches_one_machine(tmp_path: Path):
    from cli.render import run_batch
    from ml.io.images import write_mask
    from ml.io.video import probe
    from ml.pipeline.runner import PipelineRunner
    from shotcache.schema import JobSpec

    data = tmp_path / "data"
    run_batch("demo-data", ["--output", str(data), "--frames", "8", "--resolution", "96x54", "--samples", "4"], on_line=lambda s: None)
    shot = tmp_path / "shot"
    for f in range(1, 9):  # removal masks, put in the shot folder before the job
        m = np.zeros((54, 96), np.float32)
        m[18:36, 8 + 4 * f : 24 + 4 * f] = 1
        write_mask(shot / "masks" / f"{f:06d}.png", m)
    settings = base_settings(tmp_path, plate=str(data / "plate.mp4"), model=str(data / "product.glb"),
                             camera=str(data / "transforms.json"), frames="1-8", samples=4, render_chunk_size=8,
                             stage_chunk_size=3, job=json.dumps(JOB), device="cpu", render_with="bpy",
                             python=sys.executable, output=str(tmp_path / "final.mp4"))
    r = compile_job(tmp_path, settings)
    assert r.returncode == 0, r.stderr
    tasks = json.loads(r.stdout)["tasks"]
    order = run_in_order(tasks)
    assert order[0] == "setup" and order[-1] == "finish"
    rec = json.loads((shot / "v001" / "params.json").read_text())
    assert rec["state"] == "done" and sorted(map(int, rec["frames"])) == list(range(1, 9))
    assert all(m.get("node") and m["composite"]["engine"] == "classical" for m in rec["frames"].values())
    assert probe(tmp_path / "final.mp4")["frames"] == 8
    # same frames as one machine running the whole job over the same shot
    ref = tmp_path / "ref"
    shutil.copytree(shot, ref, ignore=shutil.ignore_patterns("v0*", "cache"))
    runner = PipelineRunner()
    spec = JobSpec(shot=str(ref), **JOB)
    v = runner.prepare(spec, ref)
    runner.run(spec, ref, version=v)
    assert read_version(shot, "v001") == read_version(ref, v)
    # a stage task run again (a farm retry) makes nothing twice
    again = tasks[[t["name"] for t in tasks].index("stages-1-3")]
    before = (shot / "v001" / "frames" / "000002.png").stat().st_mtime_ns
    run_in_order([dict(again, dependencies=[])])
    assert (shot / "v001" / "frames" / "000002.png").stat().st_mtime_ns == before
