"""The ``s3`` volume driver: volumes kept in an S3 bucket, through rclone.

    hold volume create -d s3 -o bucket=BUCKET[/PATH] \\
        [-o endpoint=URL] [-o region=R] [-o provider=AWS|Minio|Other|...] \\
        [-o access-key-id=ID -o secret-access-key-file=FILE|-] \\
        [-o uid=N gid=N file_mode=0644 dir_mode=0755] NAME

Each volume is the prefix ``BUCKET/PATH/NAME/``: ``create`` logs in (lists
the bucket; a wrong key or an unreachable endpoint fails there) and makes
the bucket if it is missing; ``remove`` deletes every object under the
prefix.  ``provider`` defaults to ``Other`` with an endpoint, ``AWS``
without.  Without keys rclone connects anonymously (public buckets).

The secret key is kept in a 0600 file of the volume's 0700 directory and
reaches rclone only through its environment.  Mounts, supervision and
durability are the smb driver's rclone ones (``_rclone.RcloneClient``):
objects are uploaded about a second after a file's last close, fsync does
not reach the server, and the last unmount waits for pending uploads.
Object storage has no hard links, no symlinks, no chmod, and renames of
directories copy every object.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

from hold.errors import InvalidArgument, SystemError_
from hold.volumes.remote._driver import RemoteDriver, write_private
from hold.volumes.remote.smbshare import read_secret

__all__ = ["S3Driver", "S3_OPTIONS"]

S3_OPTIONS = ("bucket", "endpoint", "region", "provider", "access-key-id",
              "secret-access-key-file", "uid", "gid", "file_mode", "dir_mode")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^/]+)*/?$")


def _validate(options: Mapping[str, str]) -> None:
    for key in options:
        if key == "secret-access-key":
            raise InvalidArgument("secret-access-key= is not accepted (it would show in ps "
                                  "and in the volume's record): use "
                                  "secret-access-key-file=FILE or =-", option=key)
        if key not in S3_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}" (the s3 driver accepts: '
                                  f'{", ".join(S3_OPTIONS)})', option=key)
    if not _BUCKET.match(options.get("bucket", "")):
        raise InvalidArgument(f'invalid option bucket="{options.get("bucket", "")}": '
                              "BUCKET[/PATH] with a valid bucket name is needed",
                              option="bucket")
    endpoint = options.get("endpoint", "")
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        raise InvalidArgument(f'invalid option endpoint="{endpoint}": http(s)://HOST[:PORT] '
                              "is needed", option="endpoint")
    if bool(options.get("access-key-id")) != bool(options.get("secret-access-key-file")):
        raise InvalidArgument("access-key-id= and secret-access-key-file= go together",
                              option="access-key-id")
    for key in ("uid", "gid"):
        if options.get(key) and not options[key].isdigit():
            raise InvalidArgument(f'invalid option {key}="{options[key]}": a number is '
                                  "needed", option=key)
    for key in ("file_mode", "dir_mode"):
        if options.get(key) and not re.fullmatch(r"0?[0-7]{3,4}", options[key]):
            raise InvalidArgument(f'invalid option {key}="{options[key]}": an octal mode '
                                  "such as 0755 is needed", option=key)


class S3Driver(RemoteDriver):
    """Volumes as prefixes of an S3 bucket; see the module docstring."""

    name = "s3"

    def validate(self, options: Mapping[str, str]) -> None:
        _validate(options)

    def save_secrets(self, options: Mapping[str, str], vdir: str) -> None:
        if options.get("secret-access-key-file"):
            write_private(os.path.join(vdir, "secret"),
                          read_secret(options["secret-access-key-file"],
                                      what="secret-access-key-file"))

    def client(self, options: Mapping[str, str], vdir: str):
        from hold.volumes.remote._rclone import RcloneS3
        secret = ""
        if options.get("secret-access-key-file"):
            try:
                with open(os.path.join(vdir, "secret")) as f:
                    secret = f.read()
            except OSError as exc:
                raise SystemError_(f"{vdir}: the volume's secret key is missing: "
                                   f"{exc.strerror}", errno=exc.errno) from exc
        return RcloneS3(bucket=options["bucket"], endpoint=options.get("endpoint", ""),
                        region=options.get("region", ""), provider=options.get("provider", ""),
                        access_key_id=options.get("access-key-id", ""),
                        secret_access_key=secret, uid=options.get("uid", ""),
                        gid=options.get("gid", ""), file_mode=options.get("file_mode", ""),
                        dir_mode=options.get("dir_mode", ""))

    def describe(self, options: Mapping[str, str], name: str) -> dict:
        prefix = options["bucket"].strip("/") + "/" + name + "/"
        return {"Endpoint": options.get("endpoint", "") or "AWS", "Prefix": prefix}
