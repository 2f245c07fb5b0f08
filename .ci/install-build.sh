#!/usr/bin/env bash
# hold build's part: `hold image bootstrap` makes Debian base images with
# mmdebstrap, which verifies the archive with gpgv.
set -euo pipefail
need=()
for pkg in mmdebstrap gpgv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
