"""The ``azureblob`` volume driver: volumes kept in an Azure Blob Storage
container, through rclone.

    hold volume create -d azureblob -o container=CONTAINER[/PATH] \\
        -o account=ACCOUNT -o key-file=FILE|- [-o endpoint=URL] \\
        [-o uid=N gid=N file_mode=0644 dir_mode=0755] NAME

Each volume is the prefix ``CONTAINER/PATH/NAME/``: ``create`` lists the
container (a wrong key or an unreachable endpoint fails there) and makes
it if missing; ``remove`` deletes every blob under the prefix.
``endpoint`` is for emulators and sovereign clouds (Azurite:
``http://127.0.0.1:10000/devstoreaccount1``).  The account key is kept in
a 0600 file of the volume's 0700 directory and reaches rclone only
through its environment.  Mounts, supervision and durability are the
rclone ones (``_rclone.RcloneClient``): a blob is uploaded about a second
after a file's last close, fsync does not reach the server, the last
unmount waits for pending uploads.  (Azure *Files*, the chapter's SMB
share, is the ``smb`` driver.)
"""

from __future__ import annotations

import os
import re
from typing import Mapping

from hold.errors import InvalidArgument, SystemError_
from hold.volumes.remote._driver import RemoteDriver, write_private
from hold.volumes.remote.smbshare import read_secret

__all__ = ["AzureBlobDriver", "AZUREBLOB_OPTIONS"]

AZUREBLOB_OPTIONS = ("container", "account", "key-file", "endpoint", "uid", "gid",
                     "file_mode", "dir_mode")
_CONTAINER = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}(/[^/]+)*/?$")


def _validate(options: Mapping[str, str]) -> None:
    for key in options:
        if key == "key":
            raise InvalidArgument("key= is not accepted (it would show in ps and in the "
                                  "volume's record): use key-file=FILE or key-file=-",
                                  option=key)
        if key not in AZUREBLOB_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}" (the azureblob driver accepts: '
                                  f'{", ".join(AZUREBLOB_OPTIONS)})', option=key)
    if not _CONTAINER.match(options.get("container", "")):
        raise InvalidArgument(f'invalid option container="{options.get("container", "")}": '
                              "CONTAINER[/PATH] with a valid container name (3-63 of a-z, "
                              "0-9, -) is needed", option="container")
    for key in ("account", "key-file"):
        if not options.get(key):
            raise InvalidArgument(f"the azureblob driver needs {key}=", option=key)
    endpoint = options.get("endpoint", "")
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        raise InvalidArgument(f'invalid option endpoint="{endpoint}": http(s)://HOST[:PORT]'
                              "[/PATH] is needed", option="endpoint")
    for key in ("uid", "gid"):
        if options.get(key) and not options[key].isdigit():
            raise InvalidArgument(f'invalid option {key}="{options[key]}": a number is '
                                  "needed", option=key)
    for key in ("file_mode", "dir_mode"):
        if options.get(key) and not re.fullmatch(r"0?[0-7]{3,4}", options[key]):
            raise InvalidArgument(f'invalid option {key}="{options[key]}": an octal mode '
                                  "such as 0755 is needed", option=key)


class AzureBlobDriver(RemoteDriver):
    """Volumes as prefixes of an Azure Blob container; see the module docstring."""

    name = "azureblob"

    def validate(self, options: Mapping[str, str]) -> None:
        _validate(options)

    def save_secrets(self, options: Mapping[str, str], vdir: str) -> None:
        write_private(os.path.join(vdir, "secret"),
                      read_secret(options["key-file"], what="key-file"))

    def client(self, options: Mapping[str, str], vdir: str):
        from hold.volumes.remote._rclone import RcloneAzureBlob
        try:
            with open(os.path.join(vdir, "secret")) as f:
                key = f.read()
        except OSError as exc:
            raise SystemError_(f"{vdir}: the volume's account key is missing: "
                               f"{exc.strerror}", errno=exc.errno) from exc
        return RcloneAzureBlob(container=options["container"], account=options["account"],
                               key=key, endpoint=options.get("endpoint", ""),
                               uid=options.get("uid", ""), gid=options.get("gid", ""),
                               file_mode=options.get("file_mode", ""),
                               dir_mode=options.get("dir_mode", ""))

    def describe(self, options: Mapping[str, str], name: str) -> dict:
        prefix = options["container"].strip("/") + "/" + name + "/"
        return {"Account": options["account"], "Endpoint": options.get("endpoint", ""),
                "Prefix": prefix}
