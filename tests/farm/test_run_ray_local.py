"""`vanelia run --ray local` (an in-process Ray cluster) writes the frames a plain run writes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from farm_shots import read_version

pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


def vanelia(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, **(env or {})))


def test_bad_ray_address_is_refused_before_any_work(tmp_path: Path, capsys):
    from cli.main import main

    plate = tmp_path / "plate"
    plate.mkdir()
    glb = tmp_path / "x.glb"
    glb.write_bytes(b"glTF")
    common = ["run", "--input", str(plate), "--model", str(glb), "--output", str(tmp_path / "o.mp4")]
    assert main(common + ["--ray", "no such host"]) == 2
    err = capsys.readouterr().err
    assert "--ray 'no such host'" in err and "Traceback" not in err
    assert main(common + ["--ray", "local", "--server", "http://127.0.0.1:1"]) == 2
    assert "give one" in capsys.readouterr().err
    assert main(["serve", "--ray", "nope"]) == 2
    assert "--ray 'nope'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mp4"))


def test_a_ray_address_where_nothing_answers_is_refused_at_once(tmp_path: Path, capsys):
    """Ray's own client retries a dead address for minutes; run and serve refuse it first."""
    import time

    from cli.main import main
    from ray_nodes import free_ports

    plate = tmp_path / "plate"
    plate.mkdir()
    glb = tmp_path / "x.glb"
    glb.write_bytes(b"glTF")
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    t0 = time.monotonic()
    assert main(["run", "--input", str(plate), "--model", str(glb), "--output", str(tmp_path / "o.mp4"), "--ray", dead]) == 2
    err = capsys.readouterr().err
    assert f"--ray {dead}: nothing answers" in err and "Traceback" not in err, err
    assert main(["serve", "--ray", dead, "--port", str(free_ports(1)[0])]) == 2
    err = capsys.readouterr().err
    assert f"--ray {dead}: nothing answers" in err and "Traceback" not in err, err
    assert time.monotonic() - t0 < 30
    assert not list(tmp_path.glob("*.mp4"))


@pytest.mark.slow
def test_ray_local_matches_a_plain_run(tmp_path: Path):
    from cli.render import run_batch
    from ml.io.images import write_mask

    data = tmp_path / "data"
    run_batch("demo-data", ["--output", str(data), "--frames", "8", "--resolution", "96x54", "--samples", "4"], on_line=lambda s: None)
    masks = tmp_path / "masks"
    for f in range(1, 9):
        m = np.zeros((54, 96), np.float32)
        m[20:34, 10 + 3 * f : 26 + 3 * f] = 1
        write_mask(masks / f"{f:06d}.png", m)
    common = ["--input", str(data / "plate.mp4"), "--model", str(data / "product.glb"), "--camera", str(data / "transforms.json"),
              "--samples", "4", "--mask", str(masks), "--engine", "inpaint=propagate", "--param", "inpaint.window=2",
              "--force"]  # about Ray, not the QC: at 96x54 the lock cannot measure to 1 px (it reads 1.3 px on the true camera)
    r = vanelia("run", *common, "--output", str(tmp_path / "plain.mp4"), "--keep", str(tmp_path / "plain"))
    assert r.returncode == 0, r.stderr[-3000:]
    r = vanelia("run", *common, "--output", str(tmp_path / "ray.mp4"), "--keep", str(tmp_path / "ray"), "--ray", "local",
                env={"VANELIA_RAY_CPUS": "2"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "on Ray (local)" in r.stdout
    plain, ray = read_version(tmp_path / "plain", "v001"), read_version(tmp_path / "ray", "v001")
    assert len(plain) == 8 and plain == ray  # bit-identical frames
    from ml.io.exr import read_passes

    for f in range(1, 9):  # the shot caches too: renders made by Ray tasks, pixel for pixel (headers hold dates)
        a, b = (read_passes(tmp_path / s / "render" / f"{f:06d}.exr") for s in ("plain", "ray"))
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    rec = json.loads((tmp_path / "ray" / "v001" / "params.json").read_text())
    assert rec["farm"]["address"] == "local" and all(m.get("node") for m in rec["frames"].values())
    assert rec["engines"]["inpaint"]["name"] == "propagate"
