"""The ``sshfs`` volume driver: volumes kept on a server reached over SSH.

    hold volume create -d sshfs -o sshcmd=USER@HOST:/PATH \\
        -o identity-file=FILE|- [-o port=22] [-o uid=N] [-o gid=N] NAME

(the option names of Docker's well-known sshfs example plugin).  Each
volume is its own directory on the server, ``PATH/NAME``: ``create`` logs
in and makes it (``ssh ... mkdir -p``; a refused key or an unreachable
server fails there), ``remove`` deletes it (``rm -rf``).  The server must
give the user a shell for these two; mounts use SFTP.

Secrets and trust: the private key is copied at create (from the file, or
stdin for ``-``) into the volume's 0700 directory as a 0600 file; the
server's host key is learnt at create (``accept-new``) into the volume's
own known_hosts and required to match on every later connection.

Mounts are Debian's ``sshfs -f`` (FUSE), supervised as the smb driver's
rclone mounts (``_fuse.FuseProcess``), with ``allow_other`` (non-root
container users), ``reconnect`` and keep-alives.  Durability: fsync inside
the container reaches the server (OpenSSH's fsync extension); hard links,
chmod and SQLite's locking work.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from typing import Mapping

from hold.errors import InvalidArgument
from hold.volumes.remote._driver import RemoteDriver, write_private
from hold.volumes.remote._fuse import FuseProcess
from hold.volumes.remote.smbshare import run_quiet

__all__ = ["SshfsDriver", "SSHFS_OPTIONS", "parse_sshcmd"]

SSHFS_OPTIONS = ("sshcmd", "port", "identity-file", "uid", "gid")
_SSHCMD = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
                     r":(?P<path>[^,\n]*)$")


def parse_sshcmd(value: str) -> tuple[str, str, str]:
    """(user, host, path) of ``USER@HOST:PATH``."""
    match = _SSHCMD.match(value or "")
    if not match:
        raise InvalidArgument(f'invalid option sshcmd="{value}": USER@HOST:/PATH is needed',
                              option="sshcmd")
    return match["user"], match["host"].strip("[]"), match["path"].rstrip("/")


def _validate(options: Mapping[str, str]) -> None:
    for key in options:
        if key == "password":
            raise InvalidArgument("password= is not accepted: use identity-file=FILE "
                                  "(a private key)", option=key)
        if key not in SSHFS_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}" (the sshfs driver accepts: '
                                  f'{", ".join(SSHFS_OPTIONS)})', option=key)
    for key in ("sshcmd", "identity-file"):
        if not options.get(key):
            raise InvalidArgument(f"the sshfs driver needs {key}= (for example "
                                  "sshcmd=alice@files:/srv/volumes "
                                  "identity-file=/root/.ssh/id_ed25519)", option=key)
    parse_sshcmd(options["sshcmd"])
    for key in ("port", "uid", "gid"):
        if options.get(key) and not options[key].isdigit():
            raise InvalidArgument(f'invalid option {key}="{options[key]}": a number is '
                                  "needed", option=key)
    if options.get("port") and not 0 < int(options["port"]) < 65536:
        raise InvalidArgument(f'invalid option port="{options["port"]}"', option="port")


class SshfsClient:
    kind = "sshfs"
    durability = "sshfs FUSE mount: fsync reaches the server"

    def __init__(self, options: Mapping[str, str], vdir: str):
        self.user, self.host, self.path = parse_sshcmd(options["sshcmd"])
        self.port = options.get("port") or "22"
        self.uid, self.gid = options.get("uid", ""), options.get("gid", "")
        self.identity = os.path.join(vdir, "identity")
        self.known_hosts = os.path.join(vdir, "known_hosts")
        self.where = f"{self.user}@{self.host}:{self.port}"

    def _remote(self, subpath: str) -> str:
        return "/".join(p for p in (self.path, subpath) if p) or "."

    def _ssh_options(self, trust: str) -> list[str]:
        return ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", f"IdentityFile={self.identity}",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", f"StrictHostKeyChecking={trust}", "-o", "ConnectTimeout=10",
                "-o", "LogLevel=ERROR"]

    def _ssh(self, command: str, what: str, trust: str = "yes") -> str:
        argv = ["ssh", "-F", "/dev/null", "-p", self.port, *self._ssh_options(trust),
                f"{self.user}@{self.host}", command]
        return run_quiet(argv, None, what=f"{what} on {self.where}")

    def check(self, state_dir: str = "") -> None:
        self._ssh("true", "connect", trust="accept-new")

    def mkdir(self, subpath: str, state_dir: str = "") -> None:
        self._ssh(f"mkdir -p -- {shlex.quote(self._remote(subpath))}", "mkdir")

    def purge(self, subpath: str, state_dir: str = "") -> None:
        if not subpath:
            raise InvalidArgument("refusing to delete the export itself")
        self._ssh(f"rm -rf -- {shlex.quote(self._remote(subpath))}", "rm")

    def state(self, mountpoint: str, state_dir: str) -> str:
        return FuseProcess(mountpoint, state_dir).state()

    def mount(self, subpath: str, mountpoint: str, state_dir: str) -> None:
        opts = [f"port={self.port}", f"IdentityFile={self.identity}",
                f"UserKnownHostsFile={self.known_hosts}", "StrictHostKeyChecking=yes",
                "BatchMode=yes", "IdentitiesOnly=yes", "allow_other", "reconnect",
                "ServerAliveInterval=15", "ServerAliveCountMax=3"]
        if self.uid:
            opts.append(f"uid={self.uid}")
        if self.gid:
            opts.append(f"gid={self.gid}")
        argv = ["sshfs", "-f", f"{self.user}@{self.host}:{self._remote(subpath)}",
                mountpoint, "-o", ",".join(opts)]
        FuseProcess(mountpoint, state_dir).start(argv, dict(os.environ),
                                                 what=f"mount {self.where}")

    def unmount(self, mountpoint: str, state_dir: str) -> None:
        FuseProcess(mountpoint, state_dir).stop()


class SshfsDriver(RemoteDriver):
    """Volumes as directories on an SSH server; see the module docstring."""

    name = "sshfs"

    def validate(self, options: Mapping[str, str]) -> None:
        _validate(options)

    def save_secrets(self, options: Mapping[str, str], vdir: str) -> None:
        source = options["identity-file"]
        try:
            if source == "-":
                key = sys.stdin.read()
            else:
                with open(source) as f:
                    key = f.read()
        except OSError as exc:
            raise InvalidArgument(f"identity-file={source}: {exc.strerror}",
                                  option="identity-file") from exc
        if "PRIVATE KEY" not in key:
            raise InvalidArgument(f"identity-file={source}: not a private key",
                                  option="identity-file")
        write_private(os.path.join(vdir, "identity"), key if key.endswith("\n") else key + "\n")

    def client(self, options: Mapping[str, str], vdir: str) -> SshfsClient:
        return SshfsClient(options, vdir)

    def describe(self, options: Mapping[str, str], name: str) -> dict:
        client = SshfsClient(options, "")
        return {"Server": client.where, "Directory": client._remote(name)}
