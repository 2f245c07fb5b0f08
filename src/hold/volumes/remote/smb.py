"""The ``smb`` volume driver: volumes kept on an SMB share.

    hold volume create -d smb -o share=//HOST[:PORT]/SHARE[/PATH] \\
        -o username=U -o password-file=F [-o vers= uid= gid= file_mode=
        dir_mode= domain=] NAME

Each volume is its own directory on the share, named after the volume
(``SHARE/PATH/NAME``): ``create`` logs in and makes it (a wrong password or
an unreachable server fails there, leaving nothing behind), ``remove``
deletes it on the server.  Options are those of ``smbshare.SmbShare``.

On the host::

    <root>/volumes/<name>/      0700
      _data/                    the mountpoint (the share's directory while
                                at least one container uses the volume)
      smb.json                  the options (no secret: password-file's
                                value is only where the password came from)
      secret                    0600, the password
      mounts.json               mount ids (container ids) of current users
      fuse.pid, fuse.log, cache/   the rclone process, when FUSE is used

Mount lifecycle and supervision are ``_driver.RemoteDriver``'s: mounted on
the first container's start, unmounted with the last mount id (rclone
uploads what it still holds first), a dead FUSE server cleared and
mounted again by the next ``mount``; a container still holding the dead
mount sees ENOTCONN.
"""

from __future__ import annotations

import os
from typing import Mapping

from hold.errors import InvalidArgument, SystemError_
from hold.volumes.remote._driver import RemoteDriver, write_private
from hold.volumes.remote.smbshare import SmbShare, read_secret

__all__ = ["SmbDriver"]


class SmbDriver(RemoteDriver):
    """Volumes as directories of SMB shares; see the module docstring."""

    name = "smb"

    def validate(self, options: Mapping[str, str]) -> None:
        SmbShare.parse(options)
        if "password-file" not in options:
            raise InvalidArgument("the smb driver needs password-file=FILE "
                                  "(or password-file=- for stdin)", option="password-file")

    def save_secrets(self, options: Mapping[str, str], vdir: str) -> None:
        write_private(os.path.join(vdir, "secret"), read_secret(options["password-file"]))

    def client(self, options: Mapping[str, str], vdir: str):
        share = SmbShare.parse(options)
        try:
            with open(os.path.join(vdir, "secret")) as f:
                share.password = f.read()
        except OSError as exc:
            raise SystemError_(f"{vdir}: the volume's password is missing: {exc.strerror}",
                               errno=exc.errno) from exc
        return share.client()

    def describe(self, options: Mapping[str, str], name: str) -> dict:
        share = SmbShare.parse(options)
        return {"Share": share.unc, "Directory": share.join(name)}
