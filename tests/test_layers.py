"""Layer rules of docs/ARCHITECTURE.md: lower layers never import the front ends."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BELOW_CLI = ("app", "ml", "server", "shotcache", "addon", "operators", "panels")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _offenders(folders: tuple[str, ...], banned: tuple[str, ...]) -> list[str]:
    bad = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            hits = sorted(m for m in _imports(path) if m.split(".")[0] in banned)
            if hits:
                bad.append(f"{path.relative_to(ROOT)}: {hits}")
    return bad


def test_nothing_below_cli_imports_cli():
    assert not _offenders(BELOW_CLI, ("cli",))


def test_the_contract_and_the_app_layer_stay_below_their_callers():
    assert not _offenders(("shotcache",), ("ml", "server", "app", "addon", "cli", "torch", "cv2"))
    assert not _offenders(("app",), ("server", "addon", "operators", "panels", "bpy"))
    assert not _offenders(("ml", "server"), ("bpy",))


BLENDER_SIDE = ("addon", "operators", "panels", "shotcache")
BLENDER_OK = {"bpy", "mathutils", "bpy_extras", "numpy", "requests", "bl_ui", "addon_utils"}


def test_blender_side_imports_only_what_blender_bundles():
    import sys

    allowed = set(sys.stdlib_module_names) | BLENDER_OK
    bad = []
    for folder in BLENDER_SIDE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            hits = sorted(m for m in _imports(path) if m.split(".")[0] not in allowed)
            if hits:
                bad.append(f"{path.relative_to(ROOT)}: {hits}")
    assert not bad, "Blender-side modules import what Blender does not bundle:\n" + "\n".join(bad)
