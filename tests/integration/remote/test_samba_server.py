"""The Samba server the SMB tests and the walkthrough run against must
itself be sound under the load hold puts on it: rclone's connection pool
opens, stats and renames in the same directories from several connections
at once.  With its lock directory unreadable to the share's user, smbd
took live processes for dead, broke their share-mode locks and panicked
(about 15 times in the few seconds of this test), and the walkthrough's SMB
run then lost its uploads to "connection error: EOF"."""

from __future__ import annotations

import os
import stat
import subprocess

from hold.volumes.remote.smbshare import rclone_binary


def test_state_directories_are_readable_by_the_share_user_but_secrets_are_not(samba):
    base = os.path.join(samba.workdir, "samba")
    for sub in ("lock", "state", "cache", "pid"):
        assert stat.S_IMODE(os.stat(os.path.join(base, sub)).st_mode) == 0o755, sub
    assert stat.S_IMODE(os.stat(os.path.join(base, "private")).st_mode) == 0o700


def test_concurrent_clients_in_one_directory_never_panic_smbd(samba, tmp_path):
    rclone = rclone_binary()
    obscured = subprocess.run([rclone, "obscure", "-"], input=samba.password, text=True,
                              capture_output=True, check=True).stdout.strip()
    env = {**os.environ, "RCLONE_SMB_HOST": "127.0.0.1", "RCLONE_SMB_PORT": str(samba.port),
           "RCLONE_SMB_USER": samba.user, "RCLONE_SMB_PASS": obscured}
    source = tmp_path / "src"
    for member in (1, 2, 3):
        (source / f"MongoData{member}" / "db").mkdir(parents=True)
    for round_ in range(20):
        for member in (1, 2, 3):
            for n in range(6):
                (source / f"MongoData{member}" / "db" / f"f{n}").write_bytes(
                    os.urandom(2000 + round_))
        copy = subprocess.run([rclone, "copy", str(source), f":smb:{samba.share}/conc",
                               "--config", "", "--transfers", "8", "--checkers", "8",
                               "--retries", "1", "-q"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert copy.returncode == 0 and samba.panics() == [], (copy.stderr, samba.panics()[:4])
    on_server = os.path.join(samba.share_dir, "conc", "MongoData3", "db", "f5")
    assert os.path.getsize(on_server) == 2000 + 19
