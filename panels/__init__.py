"""The "Vanelia" sidebar tab, in the 3D view and in the sequencer."""
from __future__ import annotations

from . import sidebar

CLASSES: tuple[type, ...] = sidebar.CLASSES
