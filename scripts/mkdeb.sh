#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package damselfly_<version>_<arch>.deb from a CMake build directory
# (issue 12; `make deb`). dpkg-deb based, no debhelper:
#   - the files come from the build's install rules (cmake --install --prefix /usr into a
#     staging root), binaries stripped, man pages gzipped, units in /lib/systemd/system;
#   - Depends from dpkg-shlibdeps (or, without dpkg-dev, the packages owning the ldd output),
#     plus adduser for the maintainer scripts;
#   - conffiles: /etc/dragonfly/{supernode,dfdaemon}.yml, /etc/dragonfly.conf,
#     /etc/default/damselfly-{supernode,dfdaemon};
#   - Maintainer: $DEB_MAINTAINER (default: Damselfly developers <damselfly@example.org>);
#   - postinst creates the system user `damselfly`; prerm stops/disables the units on removal;
#     postrm purge removes /var/lib/damselfly and the user (deploy/debian/).
#
# Usage: scripts/mkdeb.sh [BUILD_DIR [OUT_DIR]]   (defaults: build, BUILD_DIR)
# Prints the path of the .deb on its last line.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$(cd "${1:-$REPO/build}" && pwd)"
OUT="${2:-$BUILD}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

die() { echo "mkdeb: $*" >&2; exit 1; }
for t in cmake dpkg-deb dpkg strip gzip md5sum; do
  command -v "$t" > /dev/null || die "$t not found"
done
[ -f "$BUILD/cmake_install.cmake" ] || die "$BUILD is not a configured CMake build directory"
for b in supernode dfget dfdaemon; do
  [ -x "$BUILD/bin/$b" ] || die "$BUILD/bin/$b missing: build first (make build)"
done
if grep -q __asan_init "$BUILD/bin/supernode"; then
  die "$BUILD/bin/supernode is a sanitizer build: package a plain (RelWithDebInfo) build"
fi

VERSION=$("$BUILD/bin/supernode" --version | awk '{ print $3 }')
[[ "$VERSION" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "cannot read the version from supernode --version"
ARCH=$(dpkg --print-architecture)
MAINTAINER="${DEB_MAINTAINER:-Damselfly developers <damselfly@example.org>}"
DEB="$OUT/damselfly_${VERSION}_${ARCH}.deb"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/damselfly-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
ROOT="$STAGE/root"
umask 022

# ---- files -------------------------------------------------------------------------------------
DESTDIR="$ROOT" cmake --install "$BUILD" --prefix /usr > "$STAGE/install.log" ||
  { cat "$STAGE/install.log" >&2; die "cmake --install failed"; }
# Debian 12: units live in /lib/systemd/system
mkdir -p "$ROOT/lib/systemd"
mv "$ROOT/usr/lib/systemd/system" "$ROOT/lib/systemd/system"
rmdir "$ROOT/usr/lib/systemd"
for b in supernode dfget dfdaemon; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT/usr/bin/$b"
done
gzip -9n "$ROOT"/usr/share/man/man*/*.[18]
DOC="$ROOT/usr/share/doc/damselfly"
rm -f "$DOC/LICENSE"   # the license is in copyright (Apache-2.0, common-licenses)
install -m 0644 "$REPO/deploy/debian/copyright" "$DOC/copyright"
{
  printf 'damselfly (%s) unstable; urgency=medium\n\n' "$VERSION"
  printf '  * Release %s: supernode, dfget, dfdaemon; man pages, systemd units.\n\n' "$VERSION"
  printf ' -- %s  %s\n' "$MAINTAINER" \
    "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2> /dev/null || date +%s)}")"
} > "$DOC/changelog"
gzip -9n "$DOC/changelog"
find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT" -type f -exec chmod 0644 {} +
chmod 0755 "$ROOT"/usr/bin/*

# ---- dependencies ------------------------------------------------------------------------------
shlib_depends() {
  local d="$STAGE/shlibs"
  mkdir -p "$d/debian"
  printf 'Source: damselfly\n\nPackage: damselfly\nArchitecture: any\n' > "$d/debian/control"
  if command -v dpkg-shlibdeps > /dev/null &&
     (cd "$d" && dpkg-shlibdeps -O "$ROOT"/usr/bin/* 2> "$STAGE/shlibdeps.err") > "$STAGE/shlibdeps.out"; then
    sed -n 's/^shlibs:Depends=//p' "$STAGE/shlibdeps.out"
    return 0
  fi
  # fallback: the package of each library ldd names (multi-arch suffix dropped), unversioned
  ldd "$ROOT"/usr/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    while read -r lib; do
      dpkg -S "$(readlink -f "$lib")" 2> /dev/null || dpkg -S "$lib" 2> /dev/null || true
    done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g'
}
SHDEPS=$(shlib_depends)
[ -n "$SHDEPS" ] || die "could not determine the shared-library dependencies"
DEPENDS="$SHDEPS, adduser"

# ---- control area ------------------------------------------------------------------------------
CTRL="$ROOT/DEBIAN"
mkdir -p "$CTRL"
INSTALLED_KB=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat > "$CTRL/control" << EOF
Package: damselfly
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Section: net
Priority: optional
Description: peer-to-peer file and container-image distribution (Dragonfly 1.x)
 Damselfly fetches a file from its origin once, cuts it into pieces with a
 SHA-256 digest each and spreads it between the hosts that want it, so that
 the origin sends each file about once whatever the number of hosts. It is
 wire-compatible with Dragonfly 1.x and keeps its programs, flags and files:
  - supernode: scheduler and passive CDN (ports 8002 and 8001);
  - dfget: the download client, which also serves pieces to other peers;
  - dfdaemon: a registry mirror for Docker, containerd, CRI-O and podman
    on 127.0.0.1:65001.
 Systemd units damselfly-supernode and damselfly-dfdaemon are installed but
 not enabled; they run as the system user damselfly.
EOF
(cd "$ROOT" && find etc -type f | sort | sed 's|^|/|') > "$CTRL/conffiles"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print | sort |
   sed 's|^\./||' | xargs md5sum) > "$CTRL/md5sums"
for s in postinst prerm postrm; do
  install -m 0755 "$REPO/deploy/debian/$s" "$CTRL/$s"
done
chmod 0644 "$CTRL/control" "$CTRL/conffiles" "$CTRL/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" > /dev/null
echo "$DEB"
