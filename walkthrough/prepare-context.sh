#!/usr/bin/env bash
# Fills the build contexts of the walkthrough's images from the host, so the
# image builds themselves need no network: Python wheels of hold/holddb and
# pymongo (pip, from PyPI), node and mongosh (the host's node, mongosh from
# the npm registry, installed by .ci/install-holddb.sh).
#   usage: walkthrough/prepare-context.sh OUTDIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
out="$1"
mkdir -p "$out"
for image in mongo-node mongo-client; do
    rm -rf "$out/$image"
    cp -r "$here/$image" "$out/$image"
done
wheels="$out/.wheels"
rm -rf "$wheels"
python3 -m pip wheel -q -w "$wheels" "$repo" 2>&1 | grep -v '^WARNING' || true
cp -r "$wheels" "$out/mongo-node/wheels"
cp -r "$wheels" "$out/mongo-client/wheels"
cp "$(command -v node)" "$out/mongo-node/node"
mongosh_prefix="${HOLDDB_MONGOSH_PREFIX:-/opt/hold-cache/mongosh}"
cp -r "$mongosh_prefix" "$out/mongo-node/mongosh"
