#!/usr/bin/env bash
# Installs what hold's tests and main job need on a fresh Debian 12 machine
# (as root).  Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in busybox-static iproute2 tini gcc libc6-dev nftables util-linux; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi

python3 -m pip install -q -e '.[test]'
# Byte-compile now: the CLI's start-up time is a feature, and a machine with
# PYTHONDONTWRITEBYTECODE set would otherwise recompile on every command.
python3 -m compileall -q src >/dev/null

# Optional parts install themselves (holddb's mongosh, ...).
for part in .ci/install-*.sh; do
    [ -e "$part" ] && bash "$part"
done
