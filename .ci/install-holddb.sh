#!/usr/bin/env bash
# Installs what holddb's tests need on a fresh Debian 12 machine (as root):
# mongosh 2.x from the npm registry into /opt/hold-cache/mongosh, with a
# `mongo` and `mongosh` link in /usr/local/bin.  Idempotent: quick when the
# shell is already there.  Set HOLDDB_SKIP_MONGOSH=1 to skip.
set -euo pipefail

prefix="${HOLDDB_MONGOSH_PREFIX:-/opt/hold-cache/mongosh}"
bin="$prefix/node_modules/.bin/mongosh"

if [ "${HOLDDB_SKIP_MONGOSH:-0}" = 1 ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-holddb: npm not found; skipping mongosh (its tests will skip)" >&2
    exit 0
fi
if [ ! -x "$bin" ]; then
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error 'mongosh@2' >&2
fi
for name in mongosh mongo; do
    if [ ! -e "/usr/local/bin/$name" ] || [ -L "/usr/local/bin/$name" ]; then
        ln -sfn "$bin" "/usr/local/bin/$name"
    fi
done
