#!/usr/bin/env bash
# hold build's part: `hold image bootstrap` makes Debian base images with
# mmdebstrap, which verifies the archive with gpgv.
set -euo pipefail
source "$(dirname "$0")/apt.sh"
apt_install mmdebstrap gpgv
