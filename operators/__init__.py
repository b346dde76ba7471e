"""Operators: thin wrappers that call addon/ functions, with poll, reports and undo."""
from __future__ import annotations

from . import jobs, render, shot, sidecar, versions

CLASSES: tuple[type, ...] = (*shot.CLASSES, *render.CLASSES, *sidecar.CLASSES, *versions.CLASSES, *jobs.CLASSES)
