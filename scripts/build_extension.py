"""Build the Vanelia extension zip from the git-tracked files of this checkout only.

Blender's builder packs every file under the source folder that the manifest does not
exclude, so a stray ``shot/`` folder or a local ``.blend`` in the checkout ended up in the
zip (3.6 MB, 39 files). Here the tracked files (``git ls-files``, with their working-tree
content) are copied into a temporary folder first, and the builder runs on that.

    python scripts/build_extension.py --output dist/              # with the `bpy` module
    python scripts/build_extension.py --output dist/ --blender B  # with a Blender binary
    blender -b --python scripts/build_extension.py -- --output dist/

Prints the zip's path; exit 2 with a reason when this is not a git checkout or the build
fails.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class BuildError(RuntimeError):
    """The zip could not be built; the message says why."""


def tracked_files(root: Path = ROOT) -> list[str]:
    """Paths (relative, '/'-separated) git tracks in ``root`` that exist in the work tree."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"{root}: not a git checkout (git ls-files failed: {exc}); build from a clone") from exc
    names = [n for n in out.decode("utf-8").split("\0") if n]
    return [n for n in names if (root / n).is_file()]  # deleted but not yet committed: skip


def stage(dest: Path, root: Path = ROOT) -> list[str]:
    """Copy the tracked files into ``dest``; returns their names."""
    names = tracked_files(root)
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return names


def _build_in_process(src: Path, out: Path) -> None:
    from bl_pkg.bl_extension_cli import cli_extension_handler  # Blender's own builder (bpy module or binary)

    if cli_extension_handler(["build", "--source-dir", str(src), "--output-dir", str(out)]) != 0:
        raise BuildError(f"Blender's extension builder failed on {src}; see its messages above")


def _build_with_binary(blender: str, src: Path, out: Path) -> None:
    cmd = [blender, "--factory-startup", "--command", "extension", "build", "--source-dir", str(src), "--output-dir", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"`{' '.join(cmd)}` failed ({res.returncode}): {(res.stderr or res.stdout).strip()[-500:]}")


def build(out_dir: Path, blender: str | None = None, root: Path = ROOT) -> Path:
    """Validate-free build of the zip into ``out_dir`` (created); returns the zip's path."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vanelia-ext-") as tmp:
        src = Path(tmp) / "vanelia"
        stage(src, root)
        before = set(out_dir.glob("*.zip"))
        if blender:
            _build_with_binary(blender, src, out_dir)
        else:
            _build_in_process(src, out_dir)
        made = sorted(set(out_dir.glob("*.zip")) - before) or sorted(out_dir.glob("vanelia-*.zip"))
    if not made:
        raise BuildError(f"the builder wrote no zip into {out_dir}")
    return made[-1]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--" in args:
        args = args[args.index("--") + 1 :]
    p = argparse.ArgumentParser(prog="build_extension.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--output", required=True, type=Path, help="folder for the zip (created)")
    p.add_argument("--blender", default=None, help="a Blender binary to build with (default: this Python's bpy)")
    a = p.parse_args(args)
    try:
        print(build(a.output, a.blender))
    except BuildError as exc:
        print(f"build_extension: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
