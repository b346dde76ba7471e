"""Track and whole-run jobs: the sidecar calls the same app functions the CLI calls.

``prepare`` checks a request when it is submitted (paths confined to the shot roots, every
input checked by the app layer before anything expensive) and returns the plain JSON that is
queued; ``execute`` runs it on a worker and returns the job's result. Both go through the
durable queue (server/jobs.py) like stage jobs, so a killed sidecar runs them again on start.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from shotcache.errors import UsageError
from shotcache.schema import RunRequest, TrackRequest

from .security import confine

Log = Callable[[str], None]
OnProgress = Callable[[str, int, int], None]

_PATH_FIELDS = {"track": ("input", "output", "masks"), "run": ("input", "model", "output", "camera", "mask", "keep")}


def _confined(request: Any, kind: str, roots: list[Path]) -> dict[str, Any]:
    body = dataclasses.asdict(request)
    for name in _PATH_FIELDS[kind]:
        if body.get(name):
            body[name] = str(confine(str(body[name]), roots, what=f"{kind}.{name}"))
    return body


def prepare(kind: str, request: TrackRequest | RunRequest, roots: list[Path]) -> tuple[dict[str, Any], Path]:
    """The queued body of a track/run request and the folder its output goes to."""
    request.validate()
    body = _confined(request, kind, roots)
    if kind == "track":
        from shotcache.frames import parse_frame_range

        if not Path(body["input"]).exists():
            raise FileNotFoundError(f"track.input {request.input!r}: no such plate inside the shot roots")
        from app.track import check_track_inputs

        # footage, frame range and scale options (a known size's points inside the frame), before queueing
        check_track_inputs(Path(body["input"]), parse_frame_range(body.get("frames"), "track.frames"),
                           body.get("camera_height"), body.get("known_size"))
    elif kind == "run":
        from app.run import check_inputs

        check_inputs(_run_options(body))
    else:
        raise UsageError(f"unknown job kind {kind!r}; kinds are track, run")
    return body, Path(body["output"]).parent


def _run_options(body: dict[str, Any]) -> Any:
    from app.run import RunOptions

    kw: dict[str, Any] = {k: v for k, v in body.items() if k not in _PATH_FIELDS["run"]}
    for k in _PATH_FIELDS["run"]:
        kw[k] = Path(body[k]) if body.get(k) else None
    return RunOptions(**kw, progress=False)


def execute(kind: str, body: dict[str, Any], device: str, log: Log, on_progress: OnProgress,
            should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run a queued track/run job; returns its result (the track's QC, the run's summary).
    ``should_stop``: the job's cancel, which stops a run between steps and mid-render
    (app.run.run_pipeline), a track mid-way through Blender's tracker or between solvers
    (app.track.track_plate)."""
    if kind == "track":
        from app.track import track_plate
        from shotcache.frames import parse_frame_range

        qc = track_plate(Path(body["input"]), Path(body["output"]), body["tracker"], body.get("focal_mm"),
                         parse_frame_range(body.get("frames")), body.get("camera_height"), place=body.get("place"),
                         masks=Path(body["masks"]) if body.get("masks") else None, log=log, known_size=body.get("known_size"),
                         should_stop=should_stop)
        return {"output": body["output"], "qc": qc}
    from app.run import run_pipeline

    opts = _run_options(body)
    opts.device = device
    summary = run_pipeline(opts, log=log, on_progress=on_progress, should_stop=should_stop)
    return {**summary, "skipped": {str(k): v for k, v in summary.get("skipped", {}).items()}}
