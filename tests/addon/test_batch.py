"""Headless batch script as real processes: exit codes, progress lines, run_batch, vanelia render."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_shot import make_inputs

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vanelia_batch.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def inputs(ext, tmp_path_factory):
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return make_inputs(tmp_path_factory.mktemp("batch-inputs"), n=2, size=(48, 27))


@pytest.fixture(scope="module")
def rendered_shot(inputs, tmp_path_factory):
    """`vanelia render` through the CLI dispatcher -> run_batch -> python vanelia_batch.py."""
    from cli.main import main

    shot = tmp_path_factory.mktemp("batch") / "shot"
    blend = shot.parent / "shot.blend"
    rc = main(["render", "--plate", str(inputs["plate"]), "--model", str(inputs["model"]), "--camera", str(inputs["camera"]),
               "--shot", str(shot), "--samples", "4", "--blend", str(blend)])
    assert rc == 0
    return shot, blend


def test_vanelia_render_builds_the_shot(rendered_shot, capfd):
    shot, blend = rendered_shot
    assert sorted(p.name for p in (shot / "render").iterdir()) == ["000001.exr", "000002.exr"]
    assert (shot / "shot.json").is_file() and blend.is_file()
    doc = json.loads((shot / "shot.json").read_text())
    assert sorted(doc["render"]["frame_hashes"]) == ["1", "2"]


def test_the_ground_cover_is_recorded_kept_and_renders_again_only_when_it_changes(inputs, rendered_shot, tmp_path, capsys):
    """`vanelia render --ground-cover` records the grass's height in shot.json and renders again
    (the shadow catcher stands on the grass: shotcache.schema.cover_floor_m); a re-run without
    the option keeps it and renders nothing; 0 takes it away; a height out of range is refused
    before Blender starts."""
    import shutil

    from cli.main import main

    shot = tmp_path / "shot"
    shutil.copytree(rendered_shot[0], shot)
    base = ["render", "--plate", str(inputs["plate"]), "--model", str(inputs["model"]), "--camera", str(inputs["camera"]),
            "--shot", str(shot), "--samples", "4"]

    def stamps() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in (shot / "render").iterdir()}

    def cover() -> float:
        return json.loads((shot / "shot.json").read_text())["ground"]["cover_m"]

    bare = stamps()
    assert main([*base, "--ground-cover", "0.05"]) == 0 and cover() == 0.05
    covered = stamps()
    assert all(covered[k] != bare[k] for k in bare)  # the catcher moved up onto the grass
    assert main(base) == 0 and cover() == 0.05 and stamps() == covered  # kept, nothing rendered again
    assert main([*base, "--ground-cover", "0"]) == 0 and cover() == 0.0
    capsys.readouterr()
    assert main([*base, "--ground-cover", "2"]) == 2
    assert "--ground-cover 2" in capsys.readouterr().err and cover() == 0.0


def test_success_exit_code_and_progress_lines(rendered_shot):
    shot, _ = rendered_shot
    res = run_script("render-shot", "--shot", str(shot), "--force")
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("[vanelia]")]
    assert "[vanelia] frame 1/2" in "\n".join(lines) and "[vanelia] frame 2/2" in "\n".join(lines)


def test_failure_exit_codes(inputs, tmp_path):
    res = run_script("render", "--plate", str(inputs["plate"]), "--model", str(tmp_path / "missing.glb"),
                     "--camera", str(inputs["camera"]), "--shot", str(tmp_path / "s"))
    assert res.returncode == 2
    assert "[vanelia] error:" in res.stderr and "missing.glb" in res.stderr
    assert not (tmp_path / "s").exists()
    res = run_script("no-such-step")
    assert res.returncode == 2 and "unknown step" in res.stderr
    res = run_script("render", "--plate", "x")  # argparse usage error
    assert res.returncode == 2


def test_run_batch_raises_with_the_scripts_message(inputs, tmp_path):
    from app.blender import BatchError, run_batch

    with pytest.raises(BatchError, match="missing.glb: product model not found") as info:
        run_batch("render", ["--plate", str(inputs["plate"]), "--model", str(tmp_path / "missing.glb"),
                             "--camera", str(inputs["camera"]), "--shot", str(tmp_path / "s")])
    assert info.value.returncode == 2


def test_sequencer_step_opens_blend_and_saves(rendered_shot, tmp_path):
    pytest.importorskip("vanelia_addon.addon.sequencer", reason="addon/sequencer.py (H2) not present yet")
    from vanelia_addon.addon import sequencer

    if not hasattr(sequencer, "load_version"):
        pytest.skip("addon.sequencer.load_version not available yet")
    shot, blend = rendered_shot
    frames = shot / "v001" / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    for f in (1, 2):
        cv2.imwrite(str(frames / f"{f:06d}.png"), np.full((27, 48, 3), 80 * f, np.uint8))
    (shot / "v001" / "params.json").write_text(json.dumps({"stages": ["composite"], "engines": {"composite": "classical"}}))
    out = tmp_path / "seq.blend"
    res = run_script("sequencer", "--shot", str(shot), "--version", "v001", "--blend", str(blend), "--save", str(out))
    assert res.returncode == 0, res.stderr
    assert out.is_file() and "[vanelia] loaded v001" in res.stdout
    res = run_script("sequencer", "--shot", str(shot), "--version", "v009", "--save", str(tmp_path / "x.blend"))
    assert res.returncode != 0 and "v009" in res.stderr


# The same script in a real Blender binary: tests/binary/test_batch_binary.py (scripts/get_blender.sh obtains it).
