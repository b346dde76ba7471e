"""Shared fixtures. Data that tests need is generated here or taken from ../shared/data."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Keep torch from fighting pytest-xdist's other worker for the 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real footage and assets); tests skip with the reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def default_composite() -> str:
    """The composite engine a job that names none runs: the learned one when its checkpoint
    ships (checkpoints/composite), else classical - the catalogue's rule, not a second copy."""
    from ml.pipeline.runner import PipelineRunner
    from shotcache.schema import JobSpec

    return PipelineRunner().default_engine(JobSpec(shot="x", stages=["composite"]), "composite")
