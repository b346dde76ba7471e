#!/usr/bin/env bash
# Create (or bring up to date) the project's two environments. Idempotent: a second run
# with unchanged lock files does nothing but check.
#   .venv    Python 3.11: the sidecar (torch, opencv, fastapi, ...) + bpy 5.0.1 as the
#            Blender stand-in + the `vanelia` command (.venv/bin/vanelia)
#   .venv42  Python 3.11: bpy 4.2 LTS, for the compatibility tests
#   a real Blender binary (scripts/get_blender.sh: Debian's 4.3 in ~/.cache/vanelia) and, for
#   the GUI test, Xvfb + ImageMagick from apt when missing. Both are optional: without them
#   the binary and GUI tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${VANELIA_PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 is required (Blender 4.2-5.0 embed 3.11); set VANELIA_PYTHON" >&2; exit 1; }

make_env() {  # make_env DIR LOCKFILE [extra pip args...]
  local dir="$1" lock="$2"; shift 2
  local stamp="$dir/.vanelia-lock.sha256"
  local want; want="$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: $dir is up to date"; return 0
  fi
  echo "setup: installing $dir from $lock (first run takes a few minutes)"
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  "$dir/bin/python" -m pip install -q -r "$lock"
  "$@"
  echo "$want" > "$stamp"
}

make_env .venv requirements/sidecar.lock .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
make_env .venv42 requirements/blender42.lock true

# Type stubs for mypy (tests/test_typecheck.py): fake-bpy-module for Blender 4.2 and 5.2.
# Both provide `bpy`, so each goes into its own --target folder, never into site-packages.
install_stubs() {  # install_stubs VERSION
  local dir=".venv/stubs/$1" req="requirements/stubs-$1.txt"
  local stamp="$dir/.vanelia-stubs.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: $dir is up to date"; return 0
  fi
  echo "setup: installing bpy stubs into $dir"
  rm -rf "$dir"
  .venv/bin/python -m pip install -q --no-deps --target "$dir" -r "$req"
  echo "$want" > "$stamp"
}
# Older set-ups installed both stub packages into site-packages, where they overwrite each other.
for old in fake-bpy-module-4.2 fake-bpy-module-5.2; do
  if .venv/bin/python -m pip show -q "$old" >/dev/null 2>&1; then .venv/bin/python -m pip uninstall -q -y "$old"; fi
done
install_stubs 4.2
install_stubs 5.2
# A real Blender binary and a virtual display for the binary/GUI tests (tests/binary/).
install_apt() {  # install_apt COMMAND PACKAGE...: apt-get the packages when COMMAND is missing
  local cmd="$1"; shift
  command -v "$cmd" >/dev/null && return 0
  command -v apt-get >/dev/null || { echo "setup: $cmd missing and no apt-get; the GUI test will skip" >&2; return 0; }
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  echo "setup: installing $* (apt)"
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; } \
    || echo "setup: could not install $* with apt-get; the GUI test will skip" >&2
}
install_apt Xvfb xvfb xauth
install_apt import imagemagick
if BLENDER_BIN=$(bash scripts/get_blender.sh); then
  echo "setup: Blender binary $BLENDER_BIN"
else
  echo "setup: no Blender binary (see above); the binary tests will skip" >&2
fi
echo "setup: done (.venv/bin/vanelia, .venv42)"
