#!/usr/bin/env bash
# Obtain a real Blender binary (with its GUI) for Vanelia's binary and GUI tests; print its path.
#
#   bash scripts/get_blender.sh            -> prints the path of a `blender` launcher
#
# Which Blender, in this order:
#   1. $VANELIA_BLENDER, when it names a working executable (use your own Blender build);
#   2. the one this script unpacked before (idempotent: a second run only checks it);
#   3. Debian trixie's `blender` package (4.3.x, Python 3.13, numpy 2, no OpenImageDenoise,
#      no `requests`), downloaded from the Debian mirror this machine's apt configuration
#      names and unpacked into a private folder with its own libc and Mesa: the system's
#      apt state, sources and libraries are never touched. ~310 MB download, ~1.2 GB on disk.
# That build is deliberately the awkward one: a distro build without OIDN and without
# Blender's bundled `requests`, on a newer Python/numpy than Blender's own builds.
#
# Where: $VANELIA_BLENDER_DIR (default ~/.cache/vanelia/blender-debian), shared by clones.
# Needs: Debian/Ubuntu amd64 with apt-get and dpkg; network to the Debian mirror only.
# Exit 0 with the path on stdout; exit 1 with a reason on stderr when no Blender can be had.
set -euo pipefail

DIR=${VANELIA_BLENDER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vanelia/blender-debian}
SUITE=${VANELIA_BLENDER_SUITE:-trixie}
LAUNCHER="$DIR/bin/blender"
ROOTFS="$DIR/root"

say() { echo "get_blender: $*" >&2; }
die() { say "$*"; exit 1; }

works() {  # works BLENDER: it starts and prints its version
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q '^Blender'
}

if [ -n "${VANELIA_BLENDER:-}" ]; then
  works "$VANELIA_BLENDER" || die "VANELIA_BLENDER=$VANELIA_BLENDER does not start; unset it or point it at a blender executable"
  echo "$VANELIA_BLENDER"; exit 0
fi
if works "$LAUNCHER"; then echo "$LAUNCHER"; exit 0; fi

# One fetch at a time per folder: clones set up side by side (two CI jobs, a checkout and its
# clean clone) share it, and a second fetch would delete the first one's half-built stage.
# The one that waits finds the Blender the first one unpacked.
mkdir -p "$(dirname "$DIR")"
if command -v flock >/dev/null; then
  exec 9>"$DIR.lock"
  flock 9
  if works "$LAUNCHER"; then echo "$LAUNCHER"; exit 0; fi
fi

command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (Debian/Ubuntu); set VANELIA_BLENDER to a Blender instead"
[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is supported; set VANELIA_BLENDER to a Blender instead"

mirror() {  # the first non-security Debian mirror of this machine's apt configuration
  local m
  m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' | grep -v -e security -e '^$' | head -1 || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# Build into a fresh folder and move it into place at the end: an interrupted run leaves
# no half-unpacked Blender that a later run would take for a good one.
STAGE="$DIR.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE/apt/lists/partial" "$STAGE/apt/archives/partial" "$STAGE/root" "$STAGE/bin"
MIRROR=$(mirror)
say "fetching Debian $SUITE's blender from $MIRROR into $DIR (first time only)"
echo "deb $MIRROR $SUITE main" > "$STAGE/apt/sources.list"
: > "$STAGE/apt/status"  # resolve as on an empty system, so trixie's own libc and Mesa come along
APT=(-o Dir::Etc::sourcelist="$STAGE/apt/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$STAGE/apt/lists"
     -o Dir::Cache="$STAGE/apt" -o Dir::Cache::archives="$STAGE/apt/archives" -o Dir::State::status="$STAGE/apt/status"
     -o APT::Architectures::=amd64 -o APT::Sandbox::User=root -o Debug::NoLocking=1)
apt-get "${APT[@]}" -qq update || die "apt-get update against $MIRROR $SUITE failed (network? mirror?)"
# python3-numpy: Blender's Python modules need it. No python3-requests: on purpose (see above).
PKGS="blender python3-numpy libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libegl-mesa0"
apt-get "${APT[@]}" -s install --no-install-recommends $PKGS | awk '/^Inst /{print $2}' > "$STAGE/apt/packages.txt"
[ -s "$STAGE/apt/packages.txt" ] || die "apt could not resolve $PKGS in $SUITE"
(cd "$STAGE/apt/archives" && xargs -a "$STAGE/apt/packages.txt" apt-get "${APT[@]}" -qq download) \
  || die "downloading the packages from $MIRROR failed"
for deb in "$STAGE"/apt/archives/*.deb; do dpkg -x "$deb" "$STAGE/root"; done

# Everything runs through the private root's dynamic loader and libraries. Paths point at
# the final folder, where the stage is moved below.
R="$ROOTFS"
LIBS="$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu/blas:$R/usr/lib/x86_64-linux-gnu/lapack:$R/usr/lib/x86_64-linux-gnu/pulseaudio:$R/usr/lib"
LOADER="$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
# Blender starts sys.executable in subprocesses (extension install): wrap that python too.
for py in "$STAGE"/root/usr/bin/python3.1?; do
  case "$py" in *-config|*.real) continue ;; esac
  [ -f "$py" ] && [ ! -L "$py" ] || continue
  name=$(basename "$py")
  mv "$py" "$py.real"
  printf '#!/bin/sh\nexec "%s" --library-path "%s" "%s" "$@"\n' "$LOADER" "$LIBS" "$R/usr/bin/$name.real" > "$py"
  chmod +x "$py"
done
cat > "$STAGE/bin/blender" <<EOF
#!/bin/sh
# Debian $SUITE's Blender in a private root (made by Vanelia's scripts/get_blender.sh).
export BLENDER_SYSTEM_RESOURCES="$R/usr/share/blender" BLENDER_SYSTEM_PYTHON="$R/usr"
export LIBGL_DRIVERS_PATH="$R/usr/lib/x86_64-linux-gnu/dri" __EGL_VENDOR_LIBRARY_DIRS="$R/usr/share/glvnd/egl_vendor.d"
export __GLX_VENDOR_LIBRARY_NAME=mesa LIBGL_ALWAYS_SOFTWARE=1
exec "$LOADER" --library-path "$LIBS" "$R/usr/bin/blender" "\$@"
EOF
chmod +x "$STAGE/bin/blender"
rm -rf "$STAGE/apt/archives" "$STAGE/apt/lists"  # the unpacked root is all that is needed
rm -rf "$DIR"
mv "$STAGE" "$DIR"
works "$LAUNCHER" || die "the unpacked Blender does not start: $("$LAUNCHER" --version 2>&1 | tail -3)"
say "$("$LAUNCHER" --version 2>/dev/null | head -1), $(du -sh "$DIR" | cut -f1) in $DIR"
echo "$LAUNCHER"
