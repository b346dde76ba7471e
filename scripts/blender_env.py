"""Import the extension's code from this source tree inside Blender or the `bpy` module.

The add-on's modules use package-relative imports (``from ..shotcache import schema``), as
they must inside an installed extension (``bl_ext.<repo>.vanelia``). Headless scripts and
tests load the same source tree as the package ``vanelia_addon`` so those imports work
without installing anything.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "vanelia_addon"


def load_extension(root: Path = ROOT) -> ModuleType:
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.spec_from_file_location(PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Vanelia extension from {root}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = mod
    spec.loader.exec_module(mod)
    return mod
