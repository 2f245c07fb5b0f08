"""A real Samba server on loopback for the walkthrough's SMB run: the
stand-in for the chapter's Azure Files share.

    python3 walkthrough/samba-server.py INFO.json

starts smbd on a free 127.0.0.1 port with a private configuration under a
temporary directory, writes {"unc", "username", "password_file",
"share_dir"} to INFO.json, and serves until it gets SIGTERM or SIGINT, then
stops smbd and removes its directory.
"""

import json
import signal
import sys

from hold.volumes.remote.testing import SambaServer


def main(info_path: str) -> None:
    server = SambaServer().start()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        with open(info_path, "w") as f:
            json.dump({"unc": server.unc, "username": server.user,
                       "password_file": server.password_file,
                       "share_dir": server.share_dir}, f)
        while not stop:
            signal.pause()
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1])
