"""`vanelia serve`: start the sidecar (also `python -m server.cli ...`)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import (DEFAULT_HOST, DEFAULT_PORT, DEFAULT_RUNNER, DEFAULT_UPLOAD_LIMIT, DEFAULT_UPLOAD_TTL_S, ConfigError,
                     ServerConfig, default_data_dir)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="start the sidecar HTTP server",
                       description="Start the Vanelia sidecar: a job server for the pipeline stages. "
                                   "Binds to 127.0.0.1 by default; any other address needs --token.")
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST}; others need --token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    p.add_argument("--shot-root", action="append", default=[], metavar="DIR",
                   help="folder whose shots jobs may use (repeatable); paths outside are refused")
    p.add_argument("--token", default=os.environ.get("VANELIA_TOKEN"),
                   help="shared secret clients must send as 'Authorization: Bearer T' (env VANELIA_TOKEN)")
    p.add_argument("--data-dir", default=None, help=f"job database and uploads (default {default_data_dir()})")
    p.add_argument("--db", default=None, metavar="PATH", help="job database file (default DATA_DIR/jobs.sqlite)")
    p.add_argument("--device", default="cpu", help="cpu, cuda (one worker per visible GPU) or cuda:N")
    p.add_argument("--upload-limit", type=int, default=DEFAULT_UPLOAD_LIMIT, metavar="BYTES", help="largest accepted upload")
    p.add_argument("--checkpoint", action="append", default=[], metavar="STAGE=PATH",
                   help="checkpoint for a stage's learned engine (repeatable), e.g. composite=ckpt/photoreal.safetensors")
    p.add_argument("--checkpoint-root", action="append", default=[], metavar="DIR",
                   help="folder whose checkpoints jobs may name (repeatable; the shipped checkpoints/ always)")
    p.add_argument("--model-root", action="append", default=[], metavar="DIR",
                   help="folder whose diffusion models, workflows and LoRAs jobs may name (repeatable)")
    p.add_argument("--remote", action="append", default=[], metavar="ENGINE=URL",
                   help="remote diffusion backend, e.g. a1111=http://127.0.0.1:7860 (repeatable): the only "
                        "addresses jobs may reach; a job never names a URL")
    p.add_argument("--upload-ttl", type=float, default=DEFAULT_UPLOAD_TTL_S / 3600, metavar="HOURS",
                   help="remove uploads unused for this long (default 24)")
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="JSON file with any of: shot_roots, checkpoint_roots, model_roots, remotes {engine: url}, "
                        "checkpoints {stage: path}, upload_limit, upload_ttl_hours (options given here add to it)")
    p.add_argument("--runner", default=DEFAULT_RUNNER, help=argparse.SUPPRESS)
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run jobs on a Ray cluster: 'local' (one in this process) or HOST:PORT of a Ray head")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def _pairs(items: list[str], option: str, what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{option} {item!r}: expected {what}")
        out[key] = value
    return out


def _config_file(path: Path | None) -> dict:
    """The --config JSON (server-side settings only: jobs never carry these)."""
    if path is None:
        return {}
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--config {path}: not a readable JSON file ({exc})") from None
    known = {"shot_roots", "checkpoint_roots", "model_roots", "remotes", "checkpoints", "upload_limit", "upload_ttl_hours"}
    if not isinstance(doc, dict) or set(doc) - known:
        raise ConfigError(f"--config {path}: expected a JSON object with keys among {', '.join(sorted(known))}")
    return doc


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    doc = _config_file(getattr(args, "config", None))
    checkpoints = {**doc.get("checkpoints", {}), **_pairs(args.checkpoint, "--checkpoint", "STAGE=PATH")}
    remotes = {**doc.get("remotes", {}), **_pairs(getattr(args, "remote", []), "--remote", "ENGINE=URL")}
    roots = lambda key, given: [Path(r) for r in [*doc.get(key, []), *given]]  # noqa: E731
    upload_limit = args.upload_limit if args.upload_limit != DEFAULT_UPLOAD_LIMIT else int(doc.get("upload_limit", args.upload_limit))
    ttl_h = args.upload_ttl if args.upload_ttl != DEFAULT_UPLOAD_TTL_S / 3600 else float(doc.get("upload_ttl_hours", args.upload_ttl))
    runner, device = args.runner, args.device
    if getattr(args, "ray", None):
        # one queue worker drives the whole cluster; the GPUs are the cluster's (one actor each)
        runner, device = use_ray(args.ray), "cpu"
    cfg = ServerConfig(host=args.host, port=args.port, shot_roots=roots("shot_roots", args.shot_root), token=args.token or None,
                       db_path=Path(args.db) if args.db else None, upload_limit=upload_limit, device=device,
                       checkpoints=checkpoints, runner=runner, remotes=remotes, upload_ttl_s=ttl_h * 3600,
                       checkpoint_roots=roots("checkpoint_roots", getattr(args, "checkpoint_root", [])),
                       model_roots=roots("model_roots", getattr(args, "model_root", [])),
                       frame_delay_s=float(os.environ.get("VANELIA_SIDECAR_FRAME_DELAY", "0") or 0))
    if args.data_dir:
        cfg.data_dir = Path(args.data_dir)
    elif args.db:
        cfg.data_dir = Path(args.db).parent
    return cfg


def use_ray(address: str) -> str:
    """The runner reference for jobs on Ray (farm/ray/runner.py), set to ``address``."""
    try:
        from farm.ray.runner import RayPipelineRunner
    except ImportError as exc:
        raise ConfigError(f"--ray: the farm package (Ray) is not installed here ({exc})") from exc
    from shotcache.schema import UserError

    try:
        RayPipelineRunner.configure(address)
    except UserError as exc:
        raise ConfigError(str(exc)) from exc
    return "farm.ray.runner:RayPipelineRunner"


def run(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args).check()
        cfg.devices()
    except ConfigError as exc:
        print(f"vanelia serve: error: {exc}", file=sys.stderr)
        return 2
    from .app import serve

    serve(cfg, log_level=args.log_level)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vanelia serve")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
