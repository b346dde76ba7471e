"""mypy over the Blender-side code against the fake-bpy-module stubs of 4.2 and 5.2, and over
the sidecar side (shotcache/, app/, server/, ml/) against the installed packages.

Blender 5.1+ can't run here (Python 3.13); the stubs keep the code honest about the API
of the versions it can't execute. The stubs of the two versions both provide ``bpy``, so
scripts/setup.sh installs each into its own folder (.venv/stubs/<version>); mypy finds the
``*-stubs`` packages through the search path of the Python it runs under (PYTHONPATH).

The code is checked as the package it is installed as (a copy named ``vanelia``), so the
relative imports (``from ..shotcache import schema``) resolve whatever the checkout folder
is called.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / ".venv" / "stubs"
SOURCES = ("__init__.py", "addon", "operators", "panels", "shotcache")
CACHE = ROOT / ".mypy_cache"

# Files not owned by the extension/UI engineer with known stub-typing errors, reported to
# the lead; their errors are printed but not counted until fixed. Remove a file from this
# list once it is clean.
NOT_YET_CLEAN: set[str] = set()

MYPY_INI = """\
[mypy]
python_version = 3.11
# requests ships no stubs; numpy's own annotations come from site-packages
ignore_missing_imports = True
check_untyped_defs = True
no_implicit_optional = True
strict_equality = True
warn_redundant_casts = True
show_error_codes = True
"""

_LINE = re.compile(r"^vanelia/(?P<file>[^:]+):(?P<line>\d+): (?P<kind>error|note): (?P<msg>.*)$")


def _tree(tmp: Path) -> Path:
    pkg = tmp / "vanelia"
    pkg.mkdir()
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, pkg / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, pkg / name)
    (tmp / "mypy.ini").write_text(MYPY_INI)
    return pkg


def _mypy(version: str, tmp: Path) -> tuple[list[tuple[str, str]], str]:
    stub_dir = STUBS / version
    if not (stub_dir / "bpy-stubs").is_dir():
        pytest.skip(f"{stub_dir}/bpy-stubs missing: run scripts/setup.sh (installs requirements/stubs-{version}.txt there)")
    _tree(tmp)
    env = dict(os.environ, PYTHONPATH=str(stub_dir), MYPYPATH="")
    cmd = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", str(CACHE / f"vanelia-{version}"), "vanelia"]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    errors = []
    for line in proc.stdout.splitlines():
        m = _LINE.match(line)
        if m and m["kind"] == "error":
            errors.append((m["file"], f"{m['file']}:{m['line']}: {m['msg']}"))
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not errors):
        pytest.fail(f"mypy did not run (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return errors, proc.stdout


@pytest.mark.parametrize("version", ["4.2", "5.2"])
def test_blender_side_typechecks(version: str, tmp_path: Path) -> None:
    errors, out = _mypy(version, tmp_path)
    counted = [msg for f, msg in errors if f not in NOT_YET_CLEAN]
    pending: dict[str, int] = {}
    for f, _msg in errors:
        if f in NOT_YET_CLEAN:
            pending[f] = pending.get(f, 0) + 1
    if pending:
        print(f"mypy {version}: errors in files pending a fix by their owner: {pending}")
    assert not counted, f"mypy ({version} stubs) found {len(counted)} error(s):\n" + "\n".join(counted[:60])


# ---------------------------------------------------------------------------
# the sidecar side: shotcache/, app/, server/, ml/ (against the installed packages' own types)
# ---------------------------------------------------------------------------

SIDECAR_PACKAGES = ("shotcache", "app", "server", "ml", "farm")

SIDECAR_BASELINE: dict[str, int] = {
    # Errors mypy found when it was first run over ml/ (issue 10), per file: mostly OpenCV and
    # diffusers stubs that don't match calls that work (cv2 overloads, save_pretrained), and
    # Optional narrowing in the diffusion sampler. A file may only go down; a file not listed
    # must stay clean. Lower a count (or drop the entry) when a file is fixed.
    "ml/diffuse/sampling.py": 9,
    "ml/diffuse/tiny.py": 5,
    "ml/diffuse/bench.py": 5,
    "ml/inpaint/bench.py": 3,
    "ml/camera/klt.py": 3,
    "ml/inpaint/propagate.py": 2,
    "ml/inpaint/engines.py": 2,
    "ml/diffuse/sdedit.py": 2,
    "ml/diffuse/iclight.py": 2,
    "ml/diffuse/engines.py": 2,
    "ml/inpaint/flow.py": 1,
    "ml/inpaint/export.py": 1,
    "ml/inpaint/cli.py": 1,
    "ml/diffuse/temporal.py": 1,
    "ml/diffuse/segment.py": 1,
    "ml/diffuse/inpaint.py": 1,
    "ml/camera/footage.py": 1,
}

SIDECAR_INI = """\
[mypy]
python_version = 3.11
ignore_missing_imports = True
no_implicit_optional = True
strict_equality = True
show_error_codes = True
"""

_SIDECAR_LINE = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: (?P<msg>.*)$")


@pytest.mark.slow
def test_sidecar_side_typechecks(tmp_path: Path) -> None:
    """mypy over the contract, the app layer, the server and every stage; no new errors."""
    ini = tmp_path / "mypy.ini"
    ini.write_text(SIDECAR_INI)
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ini), "--cache-dir", str(CACHE / "sidecar"),
           "--explicit-package-bases"] + [a for p in SIDECAR_PACKAGES for a in ("-p", p)]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), MYPYPATH=""),
                          capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, 1):
        pytest.fail(f"mypy did not run (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    per_file: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        m = _SIDECAR_LINE.match(line)
        if m:
            per_file.setdefault(m["file"], []).append(line)
    over = {f: lines for f, lines in per_file.items() if len(lines) > SIDECAR_BASELINE.get(f, 0)}
    fixed = {f: n for f, n in SIDECAR_BASELINE.items() if len(per_file.get(f, [])) < n}
    if fixed:
        print(f"mypy sidecar: fewer errors than the baseline in {fixed}; lower SIDECAR_BASELINE")
    assert not over, "mypy found new errors on the sidecar side:\n" + "\n".join(l for ls in over.values() for l in ls[:20])
