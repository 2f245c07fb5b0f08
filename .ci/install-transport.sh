#!/usr/bin/env bash
# hold save/load/pull/push's part: the tests round-trip images through a
# real Docker engine (docker.io) and a real registry (docker-registry),
# both started by the tests on private sockets / loopback ports.
# The registry package's own service is never used: installs run with a
# policy-rc.d that forbids starting services, and a running one is stopped.
set -euo pipefail
need=()
for pkg in docker.io docker-registry zstd apache2-utils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" || status=$?
    [ "$made_policy" = 1 ] && rm -f "$policy"
    [ "${status:-0}" = 0 ] || exit "$status"
fi
# If a system registry service got started anyway, stop it: tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
    systemctl disable docker-registry || true
fi
