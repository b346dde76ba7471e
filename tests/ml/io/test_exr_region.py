"""A frame rendered in its region only reads as the whole frame would (ml/io/exr.read_passes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("OpenEXR")

from ml.io.exr import BORDER_EDGE_PX, read_passes, write_passes  # noqa: E402


def _region_frame(h: int = 40, w: int = 60) -> dict[str, np.ndarray]:
    """Passes as Cycles writes a border render: zero outside rows 10-29, columns 20-49."""
    rgba = np.zeros((h, w, 4), np.float32)
    shadow = np.zeros((h, w, 3), np.float32)
    depth = np.full((h, w, 1), 1e11, np.float32)
    shadow[10:30, 20:50] = 1.0
    depth[10:30, 20:50] = 1e10
    rgba[15:25, 30:40] = [0.8, 0.6, 0.1, 1.0]
    depth[15:25, 30:40] = 2.0
    shadow[25:28, 28:42] = 0.4  # the product's shadow
    shadow[24, 35] = 0.0  # a contact pixel every sample found blocked: a real zero inside the region
    return {"rgba": rgba, "shadow_catcher": shadow, "depth": depth}


def test_outside_the_region_reads_unshadowed_and_inside_as_rendered(tmp_path: Path):
    p = _region_frame()
    write_passes(tmp_path / "f.exr", p)
    got = read_passes(tmp_path / "f.exr")
    e = BORDER_EDGE_PX
    outside = np.ones((40, 60), bool)
    outside[10 + e : 30 - e, 20 + e : 50 - e] = False  # the border's edge rows and columns are half filtered
    assert (got["shadow_catcher"][outside] == 1.0).all()  # not rendered: no shadow
    assert np.array_equal(got["shadow_catcher"][~outside], p["shadow_catcher"][~outside])  # rendered: as written
    assert got["shadow_catcher"][24, 35].max() == 0.0  # a real zero inside stays
    assert np.array_equal(got["rgba"], p["rgba"]) and (got["depth"][outside] >= 1e9).all()


def test_a_whole_frame_is_read_as_written(tmp_path: Path):
    p = _region_frame()
    p["shadow_catcher"][:] = np.where(p["shadow_catcher"] == 0.0, 0.9, p["shadow_catcher"])  # rendered everywhere
    write_passes(tmp_path / "f.exr", p)
    assert np.array_equal(read_passes(tmp_path / "f.exr")["shadow_catcher"], p["shadow_catcher"])


def test_the_border_edge_reads_unshadowed_but_not_the_frame_edge(tmp_path: Path):
    """Cycles filters a border's outermost pixels with part of their neighbourhood missing (a row
    2 % dark drew a line across dog-lawn): they read as unshadowed. A region that reaches the
    frame's edge keeps its pixels there, as a whole-frame render would."""
    h, w = 40, 60
    shadow = np.zeros((h, w, 3), np.float32)
    shadow[0:30, 20:50] = 1.0
    shadow[1, 20:50] = 0.97  # along the frame's top edge: kept
    shadow[28, 20:50] = 0.97  # along the border's bottom edge: a seam, dropped
    shadow[15, 21] = 0.5  # along the border's left edge: dropped
    shadow[15, 25] = 0.5  # inside: kept
    p = {"rgba": np.zeros((h, w, 4), np.float32), "shadow_catcher": shadow}
    write_passes(tmp_path / "e.exr", p)
    sc = read_passes(tmp_path / "e.exr")["shadow_catcher"][..., 0]
    assert sc[1, 30] == pytest.approx(0.97) and sc[15, 25] == pytest.approx(0.5)
    assert sc[28, 30] == 1.0 and sc[15, 21] == 1.0
