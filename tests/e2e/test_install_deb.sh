#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 12, "deploy it": the install rules and the Debian package, built from the binaries under
# test ($DF_BIN's build directory).
#  1. `cmake --install --prefix /usr` into a DESTDIR lays out binaries, man pages, units,
#     sysusers.d and configs; the units' ExecStart follows the prefix;
#  2. every man page renders with `man -l` without a warning (groff -ww too) and names every
#     flag its binary's --help lists;
#  3. `systemd-analyze verify` passes for both units against the DESTDIR layout;
#  4. scripts/mkdeb.sh builds the .deb; as root it is installed with `apt-get install ./….deb`
#     on this machine: user damselfly created, units verify in place, the installed supernode
#     runs as damselfly with the installed supernode.yml, the installed dfget downloads a file
#     through it, the installed dfdaemon starts with the installed dfdaemon.yml; then remove and
#     purge leave nothing (binaries, units, man pages, /etc files, user, group, state).
# The package part runs only as root, only on a plain build (packages are made from release
# binaries), and only when no damselfly package, user or config exists that this test did not
# create; the package is purged on every exit. The test runs alone (RUN_SERIAL in ctest): while
# it is installed, /etc/dragonfly/*.yml are read by any supernode or dfdaemon started.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget dfdaemon

grep -q __asan_init "$DF_BIN/supernode" &&
  skip "sanitizer build: packages are built from plain (RelWithDebInfo) binaries"
BUILD=$(cd "$DF_BIN/.." && pwd)
[ -f "$BUILD/cmake_install.cmake" ] || skip "$BUILD is not a CMake build directory"
# cmake --install writes install_manifest.txt and the configured units into the build dir
[ -w "$BUILD" ] || skip "cannot write to $BUILD (cmake --install writes its manifest there)"
for t in cmake dpkg-deb man groff systemd-analyze; do
  command -v "$t" > /dev/null || skip "$t not installed"
done
VERSION=$("$DF_BIN/supernode" --version | awk '{ print $3 }')

# ---- 1. make install layout --------------------------------------------------------------------
check "cmake --install --prefix /usr with DESTDIR lays out the files"
D="$T/destdir"
DESTDIR="$D" cmake --install "$BUILD" --prefix /usr > "$T/run/install.out" 2>&1 ||
  fail "cmake --install failed: $(tail -5 "$T/run/install.out")"
for f in usr/bin/supernode usr/bin/dfget usr/bin/dfdaemon \
         usr/share/man/man8/supernode.8 usr/share/man/man1/dfget.1 usr/share/man/man8/dfdaemon.8 \
         usr/lib/systemd/system/damselfly-supernode.service \
         usr/lib/systemd/system/damselfly-dfdaemon.service usr/lib/sysusers.d/damselfly.conf \
         usr/share/doc/damselfly/README.md usr/share/doc/damselfly/LICENSE \
         etc/dragonfly/supernode.yml etc/dragonfly/dfdaemon.yml etc/dragonfly.conf \
         etc/default/damselfly-supernode etc/default/damselfly-dfdaemon; do
  [ -f "$D/$f" ] || fail "make install layout: /$f missing"
done
for b in supernode dfget dfdaemon; do
  [ -x "$D/usr/bin/$b" ] || fail "/usr/bin/$b not executable"
done
grep -qx 'ExecStart=/usr/bin/supernode --home-dir ${STATE_DIRECTORY} $SUPERNODE_OPTS' \
  "$D/usr/lib/systemd/system/damselfly-supernode.service" || fail "supernode unit: wrong ExecStart"
grep -q '^Apache License' <(tr -s ' ' < "$D/usr/share/doc/damselfly/LICENSE" | sed 's/^ //') ||
  fail "LICENSE is not the Apache License"
ok "$(cd "$D" && find . -type f | wc -l) files: binaries, 3 man pages, 2 units, sysusers.d, docs, 5 configs"
DESTDIR="$T/destdir2" cmake --install "$BUILD" --prefix /opt/df > "$T/run/install2.out" 2>&1 ||
  fail "cmake --install --prefix /opt/df failed"
grep -q '^ExecStart=/opt/df/bin/dfdaemon ' "$T/destdir2/opt/df/lib/systemd/system/damselfly-dfdaemon.service" ||
  fail "the units' ExecStart does not follow --prefix"
[ -f "$T/destdir2/etc/dragonfly/supernode.yml" ] || fail "configs must go to /etc whatever the prefix"
echo "# mine" > "$T/destdir2/etc/dragonfly.conf"
DESTDIR="$T/destdir2" cmake --install "$BUILD" --prefix /opt/df > "$T/run/install3.out" 2>&1 ||
  fail "second cmake --install failed"
[ "$(cat "$T/destdir2/etc/dragonfly.conf")" = "# mine" ] || fail "make install replaced an existing config"
ok "--prefix /opt/df: ExecStart=/opt/df/bin/…, configs in /etc, an existing config is kept"

# ---- 2. man pages --------------------------------------------------------------------------------
check "man -l renders each page without warnings; each names every flag of --help"
for page in man8/supernode.8 man1/dfget.1 man8/dfdaemon.8; do
  f="$D/usr/share/man/$page"
  b=$(basename "${page%.*}")
  : > "$T/run/man.err"
  for w in 60 80 120; do
    MANWIDTH=$w man -l "$f" > "$T/run/$b.man" 2>> "$T/run/man.err" ||
      fail "man -l $page failed: $(cat "$T/run/man.err")"
  done
  groff -man -Tutf8 -ww -z "$f" 2>> "$T/run/man.err"
  [ ! -s "$T/run/man.err" ] || fail "$page: warnings: $(head -5 "$T/run/man.err")"
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS FILES 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
    grep -q "^$s\$" "$T/run/$b.man" || fail "$page has no $s section"
  done
  "$DF_BIN/$b" --help > "$T/run/$b.help" 2>&1 || true
  missing=""
  for flag in $(grep -oE -- '--[a-zA-Z][a-zA-Z-]*' "$T/run/$b.help" | sort -u); do
    grep -qF -- "$flag" "$T/run/$b.man" || missing+="$flag "
  done
  [ -z "$missing" ] || fail "$page does not document: $missing"
  ok "$page: $(wc -l < "$T/run/$b.man") lines, all $(grep -oE -- '--[a-zA-Z][a-zA-Z-]*' "$T/run/$b.help" | sort -u | wc -l) flags of --help"
done

# ---- 3. systemd-analyze verify on the DESTDIR layout -------------------------------------------
# --root resolves ExecStart inside the root; the units' dependencies (sysinit.target, …) are
# copied from the host into a scratch copy of the layout. MANPATH: the Documentation= check.
check "systemd-analyze verify passes for both units (DESTDIR layout)"
V="$T/verifyroot"
cp -a "$D" "$V"
cp -L /lib/systemd/system/*.target /lib/systemd/system/*.slice "$V/usr/lib/systemd/system/" 2> /dev/null ||
  skip "the host's systemd units (/lib/systemd/system/*.target) are not there"
for u in damselfly-supernode damselfly-dfdaemon; do
  out=$(MANPATH="$V/usr/share/man" systemd-analyze verify --root="$V" \
          "/usr/lib/systemd/system/$u.service" 2>&1) || fail "systemd-analyze verify $u: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $u warns: $out"
done
ok "both units verify (ExecStart present, man pages found, no unknown keys)"

# ---- 4. the Debian package -------------------------------------------------------------------------
check "scripts/mkdeb.sh builds the package from this build"
bash "$DF_TESTS/../scripts/mkdeb.sh" "$BUILD" "$T/deb" > "$T/run/mkdeb.out" 2> "$T/run/mkdeb.err" ||
  fail "mkdeb.sh failed: $(tail -5 "$T/run/mkdeb.err")"
DEB=$(tail -n 1 "$T/run/mkdeb.out")
ARCH=$(dpkg --print-architecture)
[ "$DEB" = "$T/deb/damselfly_${VERSION}_${ARCH}.deb" ] && [ -f "$DEB" ] || fail "unexpected package path '$DEB'"
dpkg-deb -c "$DEB" | awk '{ print $6 }' > "$T/run/deb.list"
for f in ./usr/bin/supernode ./usr/bin/dfget ./usr/bin/dfdaemon ./usr/share/man/man8/supernode.8.gz \
         ./usr/share/man/man1/dfget.1.gz ./usr/share/man/man8/dfdaemon.8.gz \
         ./lib/systemd/system/damselfly-supernode.service ./lib/systemd/system/damselfly-dfdaemon.service \
         ./usr/share/doc/damselfly/copyright ./etc/dragonfly/supernode.yml ./etc/dragonfly.conf; do
  grep -qxF "$f" "$T/run/deb.list" || fail "package lacks $f"
done
dpkg-deb -f "$DEB" Depends | grep -q 'libcurl4' || fail "Depends lacks the shared libraries"
[ "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | wc -l)" = 5 ] || fail "expected 5 conffiles"
ok "$(basename "$DEB"): $(stat -c %s "$DEB") bytes, $(wc -l < "$T/run/deb.list") entries, Depends: $(dpkg-deb -f "$DEB" Depends | cut -c1-60)…"

[ "$(id -u)" = 0 ] || skip "installing the package needs root (the layout, man page, unit and build checks passed)"
command -v apt-get > /dev/null || skip "apt-get not installed"
command -v setpriv > /dev/null || skip "setpriv not installed"
st=$(dpkg-query -W -f='${db:Status-Status}' damselfly 2> /dev/null || true)
[ -z "$st" ] || [ "$st" = not-installed ] || skip "a damselfly package is on this machine ($st): not touching it"
getent passwd damselfly > /dev/null && skip "a user 'damselfly' exists that this test did not create"
getent group damselfly > /dev/null && skip "a group 'damselfly' exists that this test did not create"
for f in /etc/dragonfly /etc/dragonfly.conf /etc/default/damselfly-supernode /etc/default/damselfly-dfdaemon \
         /usr/bin/supernode /usr/bin/dfget /usr/bin/dfdaemon /var/lib/damselfly; do
  [ ! -e "$f" ] || skip "$f exists on this machine: not installing over it"
done

# From here on the package is purged on every exit (before lib.sh's clean-up).
_PKG=0
_PKG_PIDS=()
pkg_purge() {
  local pid
  [ "$_PKG" = 1 ] || return 0
  for pid in "${_PKG_PIDS[@]}"; do _df_kill_pid "$pid"; done
  # shellcheck disable=SC2046
  _df_kill_all $(_df_strays)
  dpkg --purge damselfly > "$T/run/purge-trap.out" 2>&1 ||
    echo "WARNING: dpkg --purge damselfly failed: $(tail -3 "$T/run/purge-trap.out")" >&2
  _PKG=0
}
# shellcheck disable=SC2154  # rc is set inside the trap
trap 'rc=$?; pkg_purge; (exit $rc); df_cleanup' EXIT

check "apt-get install ./$(basename "$DEB")"
_PKG=1
apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=60 "$DEB" \
  > "$T/run/apt.out" 2>&1 || fail "apt-get install failed: $(tail -5 "$T/run/apt.out")"
[ "$(dpkg-query -W -f='${db:Status-Status}' damselfly)" = installed ] || fail "package not installed"
pw=$(getent passwd damselfly) || fail "postinst did not create the user damselfly"
IFS=: read -r _ _ uid _ _ home shell <<< "$pw"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/damselfly ] && [[ "$shell" == */nologin ]] ||
  fail "user damselfly is not a system user with home /var/lib/damselfly and no shell: $pw"
getent group damselfly > /dev/null || fail "no group damselfly"
[ "$(/usr/bin/supernode --version)" = "supernode version $VERSION (damselfly)" ] || fail "installed supernode --version"
[ "$(/usr/bin/dfget version)" = "dfget version:$VERSION" ] || fail "installed dfget version"
[ "$(/usr/bin/dfdaemon --version)" = "dfdaemon version $VERSION (damselfly)" ] || fail "installed dfdaemon --version"
[ "$(man -w supernode)" = /usr/share/man/man8/supernode.8.gz ] || fail "man -w supernode: $(man -w supernode 2>&1)"
: > "$T/run/man.err"
for p in supernode dfget dfdaemon; do MANWIDTH=80 man "$p" > /dev/null 2>> "$T/run/man.err"; done
[ ! -s "$T/run/man.err" ] || fail "installed man pages warn: $(head -3 "$T/run/man.err")"
for u in damselfly-supernode damselfly-dfdaemon; do
  out=$(systemd-analyze verify "/lib/systemd/system/$u.service" 2>&1) || fail "systemd-analyze verify $u (installed): $out"
  [ -z "$out" ] || fail "systemd-analyze verify $u (installed) warns: $out"
done
ok "user damselfly (uid $uid), versions $VERSION, man supernode/dfget/dfdaemon, both units verify in /lib/systemd/system"

check "the installed supernode runs as damselfly (installed supernode.yml) and serves the installed dfget"
chmod 0711 "$T"   # damselfly must reach its home below $T
SNH="$T/pkg-sn"
mkdir -m 0700 "$SNH"
chown damselfly:damselfly "$SNH"
mkfile "$T/www/pkg.bin" 4
start_origin
P=$(free_port) DP=$(free_port)
setpriv --reuid=damselfly --regid=damselfly --init-groups \
  /usr/bin/supernode --port "$P" --download-port "$DP" --home-dir "$SNH" --advertise-ip 127.0.0.1 \
  --console > "$T/run/pkgsn.out" 2>&1 &
SNP=$!
track_pid "$SNP"
_PKG_PIDS+=("$SNP")
_DF_SN_PIDS+=("$SNP")
SN_BASE="http://127.0.0.1:$P"
wait_until 10 curl -sf --max-time 1 "$SN_BASE/_ping" -o /dev/null ||
  fail "installed supernode does not answer: $(tail -3 "$T/run/pkgsn.out")"
[ "$(stat -c %U "/proc/$SNP")" = damselfly ] || fail "the supernode does not run as damselfly"
grep -q "config file /etc/dragonfly/supernode.yml: 3 settings" "$T/run/pkgsn.out" ||
  fail "the installed supernode.yml was not read: $(grep -m2 main "$T/run/pkgsn.out")"
DF_BIN=/usr/bin run_dfget pkg -u "$ORIGIN_BASE/pkg.bin" -o "$T/out/pkg.bin" --node "127.0.0.1:$P" --notbs
expect_rc pkg 0
assert_same_file "$T/out/pkg.bin" "$T/www/pkg.bin"
[ "$(summary_field pkg supernode)" -gt 0 ] || fail "the installed dfget did not download through the supernode"
[ -z "$(find "$SNH" ! -user damselfly)" ] || fail "files in the supernode home not owned by damselfly"
ok "supernode uid damselfly, read /etc/dragonfly/supernode.yml, dfget got $(summary_field pkg supernode) bytes from it"
stop_uploaders

check "the installed dfdaemon starts as damselfly with the installed dfdaemon.yml and dragonfly.conf"
DH="$T/pkg-dfd"
mkdir -m 0700 "$DH"
chown damselfly:damselfly "$DH"
DP2=$(free_port)
setpriv --reuid=damselfly --regid=damselfly --init-groups \
  /usr/bin/dfdaemon --port "$DP2" --workHome "$DH" > "$T/run/pkgdfd.out" 2>&1 &
DFDP=$!
track_pid "$DFDP"
_PKG_PIDS+=("$DFDP")
wait_port "$DP2" "$DFDP"
curl -sf --max-time 5 "http://127.0.0.1:$DP2/metrics" -o /dev/null || fail "installed dfdaemon: no /metrics"
[ -n "$(ss -Hltn "src 127.0.0.1:$DP2")" ] || fail "dfdaemon does not listen on 127.0.0.1 (its default bind)"
# a bad /etc/dragonfly/dfdaemon.yml would have ended it with exit 10; this is what it made of it
grep -q "listening on 127.0.0.1:$DP2, registry https://index.docker.io" "$DH/logs/dfdaemon.log" ||
  fail "dfdaemon log: $(grep -m1 listening "$DH/logs/dfdaemon.log" 2>&1)"
_df_term_expect_clean dfdaemon "$DFDP"
ok "dfdaemon answered on 127.0.0.1:$DP2 and exited 0 on SIGTERM"

# stop the supernode now (must exit 0), so that removal does not race it
_df_term_expect_clean supernode "$SNP"
_DF_SN_PIDS=()

check "dpkg --remove keeps only the conffiles; --purge leaves nothing"
dpkg --remove damselfly > "$T/run/remove.out" 2>&1 || fail "dpkg --remove failed: $(tail -3 "$T/run/remove.out")"
[ "$(dpkg-query -W -f='${db:Status-Status}' damselfly)" = config-files ] || fail "not in config-files state after remove"
for f in /usr/bin/supernode /usr/bin/dfget /usr/bin/dfdaemon /lib/systemd/system/damselfly-supernode.service; do
  [ ! -e "$f" ] || fail "$f still there after remove"
done
[ -f /etc/dragonfly/supernode.yml ] || fail "remove (not purge) deleted a conffile"
dpkg --purge damselfly > "$T/run/purge.out" 2>&1 || fail "dpkg --purge failed: $(tail -3 "$T/run/purge.out")"
_PKG=0
st=$(dpkg-query -W -f='${db:Status-Status}' damselfly 2> /dev/null || true)
[ -z "$st" ] || [ "$st" = not-installed ] || fail "package state after purge: $st"
left=""
for f in /usr/bin/supernode /usr/bin/dfget /usr/bin/dfdaemon /usr/share/man/man8/supernode.8.gz \
         /usr/share/man/man1/dfget.1.gz /usr/share/man/man8/dfdaemon.8.gz /lib/systemd/system/damselfly-supernode.service \
         /lib/systemd/system/damselfly-dfdaemon.service /usr/lib/sysusers.d/damselfly.conf /usr/share/doc/damselfly \
         /etc/dragonfly /etc/dragonfly.conf /etc/default/damselfly-supernode /etc/default/damselfly-dfdaemon \
         /var/lib/damselfly; do
  [ ! -e "$f" ] || left+="$f "
done
[ -z "$left" ] || fail "left after purge: $left"
getent passwd damselfly > /dev/null && fail "user damselfly left after purge"
getent group damselfly > /dev/null && fail "group damselfly left after purge"
ok "purged: no binaries, units, man pages, docs, /etc files, state, user or group"
pass
