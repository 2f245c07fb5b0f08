"""hold's one error taxonomy.

Every failure a user can cause, or the host can cause, is raised as one of
these kinds, with the context needed to say what went wrong::

    HoldError                 base
     +-- InvalidArgument      malformed flag, spec, name, option
     +-- NotFound             no such image / container / volume
     |    +-- ImageNotFound
     |    +-- ContainerNotFound
     |    +-- VolumeNotFound
     |    +-- NetworkNotFound
     +-- Conflict             name in use, object in use
     |    +-- NameInUse
     |    +-- ContainerRunning
     |    +-- ContainerNotRunning
     |    +-- ImageInUse
     |    +-- VolumeInUse
     +-- Unsupported          the host or build lacks a feature
     +-- UnsafeArchive        a tarball tries to escape its layer
     +-- SystemError_         a kernel / OS call failed (keeps errno)
     +-- CommandNotFound      container command missing       (run/exec: 127)
     +-- CommandNotExecutable container command not executable (run/exec: 126)

The CLI maps kinds to Docker's exit codes in exactly one place
(``hold.cli.main.exit_code``: 1 for most failures, 125 for a bad flag and
for a failed ``run``), and the API server maps them to HTTP status codes
in exactly one place (``http_status``).  Foreign errors (OSError,
sqlite3.Error, ...) are translated at the boundary with ``raise ... from
exc``.
"""

from __future__ import annotations

__all__ = [
    "HoldError", "InvalidArgument", "NotFound", "ImageNotFound",
    "ContainerNotFound", "VolumeNotFound", "NetworkNotFound", "Conflict",
    "NameInUse", "ContainerRunning", "ContainerNotRunning", "ImageInUse",
    "VolumeInUse", "Unsupported", "UnsafeArchive", "SystemError_",
    "CommandNotFound", "CommandNotExecutable", "http_status",
]


class HoldError(Exception):
    """Base of every error hold raises on purpose."""

    #: None: the CLI picks Docker's code for the kind and the command.  An
    #: error that must end the CLI with its own status sets it (a build's
    #: failing RUN step exits with the step's code, as Docker's builder does).
    exit_code: int | None = None
    http = 500

    def __init__(self, message: str, **context):
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class InvalidArgument(HoldError):
    http = 400


class NotFound(HoldError):
    http = 404


class ImageNotFound(NotFound):
    pass


class ContainerNotFound(NotFound):
    def __init__(self, ref: str):
        super().__init__(f"No such container: {ref}", ref=ref)


class VolumeNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(f"get {name}: no such volume", name=name)


class NetworkNotFound(NotFound):
    def __init__(self, ref: str):
        super().__init__(f"network {ref} not found", ref=ref)


class Conflict(HoldError):
    http = 409


class NameInUse(Conflict):
    pass


class ContainerRunning(Conflict):
    pass


class ContainerNotRunning(Conflict):
    pass


class ImageInUse(Conflict):
    pass


class VolumeInUse(Conflict):
    pass


class Unsupported(HoldError):
    http = 501


class UnsafeArchive(InvalidArgument):
    """A tarball member would land outside its layer directory."""


class SystemError_(HoldError):
    """A kernel or OS call failed; ``errno`` is kept for the reader."""

    def __init__(self, message: str, errno: int | None = None, **context):
        super().__init__(message, errno=errno, **context)
        self.errno = errno


class CommandNotFound(HoldError):
    pass


class CommandNotExecutable(HoldError):
    pass


def http_status(error: BaseException) -> int:
    """The HTTP status the API server answers for ``error``."""
    return error.http if isinstance(error, HoldError) else 500
