#!/usr/bin/env bash
# hold save/load/pull/push's part: the tests round-trip images through a
# real Docker engine (docker.io) and a real registry (docker-registry),
# both started by the tests on private sockets / loopback ports.
# The registry package's own service is never used: installs run with a
# policy-rc.d that forbids starting services, and a running one is stopped.
set -euo pipefail
source "$(dirname "$0")/apt.sh"
apt_install docker.io docker-registry zstd apache2-utils
# If a system registry service got started anyway, stop it: tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
    systemctl disable docker-registry || true
fi
