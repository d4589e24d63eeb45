#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# podman pull through dfdaemon as a registries.conf mirror (vfs storage in the test's temp
# dir, no daemon, nothing outside $T): the image "registry.invalid/test/app" resolves to the
# mirror 127.0.0.1:<dfdaemon>, whose --registry is the test's docker-registry. podman verifies
# every layer digest itself; the pulled image ID must equal the config digest. A second pull
# into a fresh storage takes the layers from dfdaemon's local store (0 registry blob GETs).
# Phase 1: blob bodies come from the registry through dfdaemon (no swarm).
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon
need_registry_tools
command -v podman > /dev/null || fail "podman not installed (run scripts/install-deps.sh)"

start_registry
push_image test/app 3 1024
CFG=$("${SKOPEO[@]}" inspect --raw --tls-verify=false "docker://$REG_HOST/test/app:latest" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')
start_dfdaemon pm --registry "$REG_BASE" --verbose
say "registry $REG_BASE, dfdaemon $DFD_BASE"

cat > "$T/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
prefix = "registry.invalid"
location = "registry.invalid"
[[registry.mirror]]
location = "$DFD_HOST"
insecure = true
EOF
podman_in() { # podman_in STORE args...: podman with its own vfs storage under $T/STORE
  local s=$1
  shift
  CONTAINERS_REGISTRIES_CONF="$T/registries.conf" REGISTRY_AUTH_FILE="$T/run/containers-auth.json" \
    timeout -k 5 40 podman --root "$T/$s/root" --runroot "$T/$s/run" --tmpdir "$T/$s/tmp" \
    --storage-driver vfs --cgroup-manager cgroupfs --events-backend none "$@"
}

check "podman pull registry.invalid/test/app through the mirror"
podman_in p1 pull --signature-policy "$T/run/policy.json" registry.invalid/test/app:latest \
  > "$T/run/podman1.out" 2>&1 || fail "podman pull failed: $(tail -3 "$T/run/podman1.out")"
id=$(podman_in p1 image inspect --format '{{.Id}}' registry.invalid/test/app:latest)
[ "sha256:$id" = "$CFG" ] || fail "pulled image id $id, expected config $CFG"
ok "podman pulled it; image id = config digest ${CFG:0:19}…"
n=$(grep -c 'blob OK repo=test/app' "$DFD_LOG" || true)
[ "$n" -ge 4 ] || fail "dfdaemon logged $n blobs, expected >= 4 (3 layers + config)"
ok "dfdaemon served $n blobs"

check "a second host-local pull (fresh storage) is served from dfdaemon's store"
before=$(reg_count GET /v2/test/app/blobs/)
podman_in p2 pull --signature-policy "$T/run/policy.json" registry.invalid/test/app:latest \
  > "$T/run/podman2.out" 2>&1 || fail "second podman pull failed: $(tail -3 "$T/run/podman2.out")"
after=$(reg_count GET /v2/test/app/blobs/)
[ "$after" = "$before" ] || fail "registry blob GETs $before → $after on the second pull"
ok "second pull: registry blob GETs stay at $after"

dfd_stop_all
pass
