#!/usr/bin/env bash
# Installs what hold's tests and main job need on a fresh Debian 12 machine
# (as root).  Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

source .ci/apt.sh
apt_install busybox-static iproute2 tini gcc libc6-dev nftables util-linux

python3 -m pip install -q -e '.[test]'
# Byte-compile now: the CLI's start-up time is a feature, and a machine with
# PYTHONDONTWRITEBYTECODE set would otherwise recompile on every command.
python3 -m compileall -q src >/dev/null

# Optional parts install themselves (holddb's mongosh, ...).
for part in .ci/install-*.sh; do
    [ -e "$part" ] && bash "$part"
done
