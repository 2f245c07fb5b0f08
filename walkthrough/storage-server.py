"""Real storage servers on loopback for the walkthrough's remote-storage
runs: Samba (the stand-in for the chapter's Azure Files share) or an S3
server (moto).

    python3 walkthrough/storage-server.py smb|s3 INFO.json

starts the server on a free 127.0.0.1 port with a private configuration
under a temporary directory, writes what a client needs to INFO.json
(smb: unc, username, password_file, share_dir, log_dir; s3: endpoint, access_key,
secret_file), and serves until SIGTERM or SIGINT, then stops the server and
removes its files.
"""

import json
import os
import signal
import sys
import tempfile

from hold.volumes.remote.testing import MotoServer, SambaServer


def _start(kind: str, workdir: str):
    if kind == "smb":
        server = SambaServer(workdir).start()
        return server, {"unc": server.unc, "username": server.user,
                        "password_file": server.password_file, "share_dir": server.share_dir,
                        "log_dir": server.workdir}
    if kind == "s3":
        server = MotoServer(workdir).start()
        secret = os.path.join(workdir, "secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(server.secret_key + "\n")
        return server, {"endpoint": server.endpoint, "access_key": server.access_key,
                        "secret_file": secret}
    raise SystemExit(f"unknown storage kind {kind!r}: smb or s3")


def main(kind: str, info_path: str) -> None:
    import shutil
    workdir = tempfile.mkdtemp(prefix="hold-storage-")
    os.chmod(workdir, 0o711)        # Samba serves the share as nobody, who must pass through
    server, info = _start(kind, workdir)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        with open(info_path, "w") as f:
            json.dump(info, f)
        while not stop:
            signal.pause()
    finally:
        panics = server.panics() if kind == "smb" else []
        if panics:      # a server bug, not the client's: say so where the run's output is read
            print(f"storage-server: smbd panicked ({len(panics)} PANIC log lines): {panics[0]}",
                  file=sys.stderr)
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
