"""Operators: thin wrappers that call addon/ functions, with poll, reports and undo."""
from __future__ import annotations

from . import jobs, light, place, render, shot, sidecar, track, versions

CLASSES: tuple[type, ...] = (*track.CLASSES, *shot.CLASSES, *place.CLASSES, *light.CLASSES, *render.CLASSES, *sidecar.CLASSES, *versions.CLASSES, *jobs.CLASSES)
