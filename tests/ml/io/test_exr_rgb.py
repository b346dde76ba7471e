"""Plain R, G, B EXRs (environment maps, composites): written and read back exactly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.io.exr import PassError, read_rgb, write_passes, write_rgb


def test_an_rgb_exr_reads_back_as_written(tmp_path: Path):
    rgb = (np.random.default_rng(0).random((9, 17, 3)) * 4.0).astype(np.float32)  # HDR: above 1
    write_rgb(tmp_path / "env.exr", rgb)
    assert np.array_equal(read_rgb(tmp_path / "env.exr"), rgb)


def test_a_file_without_rgb_channels_or_no_file_is_refused_by_name(tmp_path: Path):
    write_passes(tmp_path / "passes.exr", {"depth": np.ones((4, 4, 1), np.float32)})
    with pytest.raises(PassError, match="passes.exr: expected channels R, G, B"):
        read_rgb(tmp_path / "passes.exr")
    with pytest.raises(PassError, match="missing"):
        read_rgb(tmp_path / "none.exr")
