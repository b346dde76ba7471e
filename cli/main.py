"""`vanelia` command: a thin dispatcher over modules that each own one command.

Top-level commands live in ``COMMANDS`` (module with ``add_parser(subparsers)``); the
stage-scoped verbs ``train/eval/bench/export <stage>`` map to modules with
``main(argv) -> int`` in ``STAGE_VERBS``. A module that is not importable (a stage not
installed) makes its command say so instead of breaking the whole CLI.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from shotcache.errors import Terminated, UsageError, exit_code

COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("cli.render", "build a shot cache: plate + camera track + product -> EXR passes"),
    "run": ("cli.run", "the whole pipeline: plate + GLB -> final.mp4"),
    "demo": ("cli.demo", "run the pipeline on generated data (no download)"),
    "serve": ("server.cli", "start the sidecar HTTP server"),
    "track": ("cli.track", "solve the camera of a plate -> transforms.json"),
    "inpaint": ("ml.inpaint.cli", "remove masked regions from frames (clean plate)"),
    "composite": ("ml.composite.cli", "harmonize a composite image inside a mask (alias: harmonize)"),
    "relight": ("ml.relight.cli", "re-shade the product renders of a shot"),
    "diffuse": ("ml.diffuse.cli", "diffusion refinement / insertion"),
    "segment": ("ml.diffuse.segment_cli", "text-prompted mask with CLIPSeg"),
    "farm": ("farm.cli", "render-farm tasks (Flamenco, OpenJD): prepare / stages for a chunk / finish"),
}

STAGE_VERBS: dict[tuple[str, str], str] = {
    ("train", "inpaint"): "ml.inpaint.train",
    ("train", "composite"): "ml.composite.train",
    ("train", "relight"): "ml.relight.train",
    ("eval", "inpaint"): "ml.inpaint.evaluate",
    ("eval", "composite"): "ml.composite.evaluate",
    ("eval", "relight"): "ml.relight.evaluate",
    ("eval", "track"): "cli.track_eval",
    ("eval", "insert"): "cli.eval_insert",
    ("eval", "light"): "cli.eval_light",
    ("bench", "pipeline"): "cli.bench_pipeline",
    ("bench", "inpaint"): "ml.inpaint.bench",
    ("bench", "composite"): "ml.composite.bench",
    ("bench", "relight"): "ml.relight.bench",
    ("bench", "diffuse"): "ml.diffuse.bench",
    ("bench", "farm"): "farm.bench",
    ("export", "inpaint"): "ml.inpaint.export",
    ("export", "composite"): "ml.composite.export",
    ("export", "relight"): "ml.relight.export",
}


STAGE_ALIASES = {"harmonize": "composite"}
"""Old names of a stage, still accepted after train/eval/bench/export (one name per stage)."""

CLIError = UsageError
"""The CLI's own user error (a bad option); any ``shotcache.errors.UserError`` is printed the same way."""


def _stage_verb(verb: str, argv: list[str]) -> int:
    targets = sorted(t for v, t in STAGE_VERBS if v == verb)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: vanelia {verb} {{{','.join(targets)}}} [args...]")
        return 0 if argv else 2
    key = (verb, STAGE_ALIASES.get(argv[0], argv[0]))
    if key not in STAGE_VERBS:
        print(f"vanelia {verb}: unknown target {argv[0]!r}; choose from {', '.join(targets)}", file=sys.stderr)
        return 2
    mod = importlib.import_module(STAGE_VERBS[key])
    return int(mod.main(argv[1:]) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vanelia", description="Put 3D products into live-action footage.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                p = sub.add_parser(name, help=f"{help_text} (not installed)")
                p.set_defaults(func=lambda a, m=module: _missing(m))
                continue
            raise
        mod.add_parser(sub)
    for verb in ("train", "eval", "bench", "export"):
        sub.add_parser(verb, help=f"{verb} a stage: vanelia {verb} STAGE ...", add_help=False)
    return parser


def _missing(module: str) -> int:
    print(f"vanelia: this command's module {module} is not available in this install", file=sys.stderr)
    return 2


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"stopped by signal {signum}")


def stop_on_sigterm() -> None:
    """SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread, so a cancelled
    command stops its Blender step and exits 143 instead of dying with the step orphaned."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process's own command line: the process is ours to stop (not a caller's)
        stop_on_sigterm()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("train", "eval", "bench", "export"):
            return _stage_verb(argv[0], argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:  # shotcache.errors decides: the user's to fix, or a bug
        code = exit_code(exc)
        if code is None:
            raise
        print(("vanelia: terminated" if isinstance(exc, Terminated) else "vanelia: interrupted") if isinstance(exc, KeyboardInterrupt)
              else f"vanelia: error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
