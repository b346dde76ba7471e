"""The OpenJD job template (farm/openjd/vanelia.yaml): `openjd check`, and `openjd run`
locally through every step, giving the frames one machine gives."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from farm_shots import read_version

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "farm" / "openjd" / "vanelia.yaml"
OPENJD = Path(sys.executable).with_name("openjd")
pytestmark = pytest.mark.skipif(not OPENJD.is_file(), reason="openjd-cli is not installed (requirements/sidecar.lock)")


def test_template_passes_openjd_check():
    r = subprocess.run([str(OPENJD), "check", str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "passes validation" in r.stdout, r.stdout + r.stderr


@pytest.mark.slow
def test_openjd_run_makes_the_single_machine_frames(tmp_path: Path):
    from cli.render import run_batch
    from ml.io.video import probe
    from ml.pipeline.runner import PipelineRunner
    from shotcache.schema import JobSpec

    data = tmp_path / "data"
    run_batch("demo-data", ["--output", str(data), "--frames", "6", "--resolution", "96x54", "--samples", "4"], on_line=lambda s: None)
    shot, out = tmp_path / "shot", tmp_path / "final.mp4"
    job = {"stages": ["composite"], "seed": 11}
    params = {"VaneliaRoot": ROOT, "Python": sys.executable, "Shot": shot, "Plate": data / "plate.mp4",
              "Model": data / "product.glb", "Camera": data / "transforms.json", "FrameEnd": 6, "RenderChunk": 6,
              "StageChunk": 3, "Samples": 4, "Device": "cpu", "Output": out, "Job": json.dumps(job)}
    cmd = [str(OPENJD), "run", str(TEMPLATE), "--step", "Finish", "--run-dependencies"]
    for k, v in params.items():
        cmd += ["-p", f"{k}={v}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert r.returncode == 0, (r.stdout[-4000:], r.stderr[-2000:])
    assert "All actions completed successfully" in r.stdout
    assert probe(out)["frames"] == 6
    rec = json.loads((shot / "v001" / "params.json").read_text())
    assert rec["state"] == "done" and sorted(map(int, rec["frames"])) == list(range(1, 7))
    assert sorted((shot / "v001" / "farm").glob("chunk-*.json")) and all(m.get("node") for m in rec["frames"].values())
    ref = tmp_path / "ref"
    shutil.copytree(shot, ref, ignore=shutil.ignore_patterns("v0*", "cache"))
    runner = PipelineRunner()
    spec = JobSpec(shot=str(ref), **job)
    v = runner.prepare(spec, ref)
    runner.run(spec, ref, version=v)
    assert read_version(shot, "v001") == read_version(ref, v)
