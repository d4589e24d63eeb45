#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 10 "Private stays private": a symlink planted at a cache file path of the supernode
# (<home>/repo/download/<id[0:3]>/<id>, <id>.meta, the .tmp files it writes) is never followed:
#  1. while the task is in memory, the download port refuses a data file replaced by a symlink
#     to a file outside the cache (the outside content is not served);
#  2. after a restart, a data file that is a symlink to a copy of the real data (meta intact) is
#     not revalidated through the link: it is treated as missing, downloaded again (200, no 304);
#  3. after a restart, symlinks at the data file (no meta) and at <id>.meta.tmp / .md5.tmp /
#     .sha256.tmp are not written through: the files they point to are unchanged.
# Every download stays correct.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

mkfile "$T/www/a.bin" 3
mkfile "$T/www/b.bin" 3
mkdir -p "$T/outside"
start_origin
start_supernode
HOME1=$SN_HOME PORT1=$SN_PORT DPORT1=$SN_DPORT
say "origin $ORIGIN_BASE, supernode $SN_BASE (download port $SN_DPORT), home $HOME1"

# task_id NAME: the task id dfget NAME registered
task_id() {
  local id
  id=$(grep -o 'registered: taskId=[0-9a-f]*' "$(dfget_log "$1")" | tail -1 | cut -d= -f2)
  [ ${#id} = 64 ] || fail "no task id in the log of dfget $1"
  echo "$id"
}
cache_path() { echo "$HOME1/repo/download/${1:0:3}/$1"; }
# fingerprint FILE: size, sha256 and mtime (a file written through a link changes at least one)
fingerprint() { stat -c '%s %Y' "$1" | tr '\n' ' '; sha256_of "$1"; }

check "first downloads through the supernode"
for f in a b; do
  mkdir -p "$T/out/$f.1"
  run_dfget "$f.1" -u "$ORIGIN_BASE/$f.bin" -o "$T/out/$f.1/$f.bin" -n "$SN_NODE" --notbs
  expect_rc "$f.1" 0
  assert_same_file "$T/out/$f.1/$f.bin" "$T/www/$f.bin"
done
ID_A=$(task_id a.1) ID_B=$(task_id b.1)
DATA_A=$(cache_path "$ID_A") DATA_B=$(cache_path "$ID_B")
[ -f "$DATA_A" ] && [ -f "$DATA_A.meta" ] && [ -f "$DATA_B" ] || fail "cache files not where expected"
ok "cache files $(basename "$DATA_A") and $(basename "$DATA_B")"

check "download port: a data file replaced by a symlink to an outside file is not served"
cp "$DATA_A" "$T/outside/a.copy"         # the real cache data, kept for step 2
head -c "$(file_size "$DATA_A")" /dev/zero | tr '\0' 'S' > "$T/outside/secret"
FP_SECRET=$(fingerprint "$T/outside/secret")
rm "$DATA_A"
ln -s "$T/outside/secret" "$DATA_A"
code=$(curl -sg --max-time 10 -o "$T/run/dl.body" -w '%{http_code}' -H 'Range: bytes=0-99' \
  "http://127.0.0.1:$SN_DPORT/download/${ID_A:0:3}/$ID_A") || code=000
grep -q SSSS "$T/run/dl.body" && fail "the download port served the symlink target's content (HTTP $code)"
[ "$code" = 404 ] || fail "download port answered HTTP $code for a symlinked cache file (wanted 404)"
grep -q "cache file .*$ID_A unusable: it is a symbolic link" "$SN_LOG" ||
  fail "no log line names the refused symlink"
ok "HTTP 404, the outside content was not served, the log says why"
stop_supernode

check "plant symlinks for the restart"
# a: the data file links to an exact copy of the real data, the meta is intact
rm "$DATA_A"
ln -s "$T/outside/a.copy" "$DATA_A"
FP_ACOPY=$(fingerprint "$T/outside/a.copy")
# b: no meta; the data file and every .tmp the supernode writes link to outside files
printf 'precious data, not a cache file\n' > "$T/outside/b.target"
printf 'precious meta\n' > "$T/outside/meta.target"
printf 'precious md5\n' > "$T/outside/md5.target"
printf 'precious sha256\n' > "$T/outside/sha.target"
rm "$DATA_B" "$DATA_B.meta" "$DATA_B.md5" "$DATA_B.sha256"
ln -s "$T/outside/b.target" "$DATA_B"
ln -s "$T/outside/meta.target" "$DATA_B.meta.tmp"
ln -s "$T/outside/md5.target" "$DATA_B.md5.tmp"
ln -s "$T/outside/sha.target" "$DATA_B.sha256.tmp"
declare -A FP=()
for t in b.target meta.target md5.target sha.target; do FP[$t]=$(fingerprint "$T/outside/$t"); done
ok "a: data -> outside copy (meta intact); b: data, .meta.tmp, .md5.tmp, .sha256.tmp -> outside files"

origin_reset_stats
start_supernode --home "$HOME1" --port "$PORT1" --download-port "$DPORT1"
check "after the restart: both files download correctly"
for f in a b; do
  mkdir -p "$T/out/$f.2"
  run_dfget "$f.2" -u "$ORIGIN_BASE/$f.bin" -o "$T/out/$f.2/$f.bin" -n "$SN_NODE" --notbs
  expect_rc "$f.2" 0
  assert_same_file "$T/out/$f.2/$f.bin" "$T/www/$f.bin"
done

check "a: the symlinked cache was not revalidated through the link (fetched again: 200, no 304)"
[ "$(origin_status /a.bin 304)" = 0 ] ||
  fail "the origin answered 304 for a.bin: the cache was reused through the symlink"
[ "$(origin_status /a.bin 200)" = 1 ] || fail "a.bin was not fetched again (200 count $(origin_status /a.bin 200))"
grep -q "$ID_A is a symbolic link: never followed" "$SN_LOG" ||
  fail "no log line says the data file of a was a symlink"
ok "origin: one 200, no 304; the log names the link"

check "no file outside the cache was read for serving or written through a link"
[ "$(fingerprint "$T/outside/secret")" = "$FP_SECRET" ] || fail "outside/secret changed"
[ "$(fingerprint "$T/outside/a.copy")" = "$FP_ACOPY" ] || fail "outside/a.copy changed"
for t in "${!FP[@]}"; do
  [ "$(fingerprint "$T/outside/$t")" = "${FP[$t]}" ] ||
    fail "outside/$t was written through a symlink: now $(head -c 80 "$T/outside/$t")"
done
ok "all 6 outside files unchanged (size, mtime, sha256)"
for p in "$DATA_A" "$DATA_B" "$DATA_B.meta" "$DATA_B.md5" "$DATA_B.sha256"; do
  [ -f "$p" ] && [ ! -L "$p" ] || fail "$p is not a regular file after the download"
done
for p in "$DATA_B.meta.tmp" "$DATA_B.md5.tmp" "$DATA_B.sha256.tmp"; do
  [ ! -e "$p" ] && [ ! -L "$p" ] || fail "$p still exists"
done
[ "$(stat -c %a "$DATA_B.meta")" = 600 ] || fail "$DATA_B.meta mode $(stat -c %a "$DATA_B.meta")"
ok "the cache holds regular files again (metas mode 600), the planted links are gone"
pass
