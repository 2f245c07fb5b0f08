"""The native idle monitor: ``hold-monitor.c``, compiled on first use.

A detached container's monitor becomes, once the container runs, either
the Python light monitor (``python -S -I`` running ``runtime/_light.py``,
~3 MB per container: a bare interpreter is most of it) or this small C
program doing the same idle work in well under 0.2 MB; both hand over to
``monitor.resume_after_exit`` when the container exits.  The C source ships
in the package and is built with the machine's ``cc`` (or ``gcc``) the
first time a data root needs it, so no wheel carries a binary and no
install step is needed::

    <root>/bin/hold-monitor-<key>          the monitor, <key> = sha256 of the
                                           source and the compiler flags
    <root>/bin/hold-monitor-<key>.failed   why building it failed (once)
    <root>/bin/build.lock                  serialises builders (flock)
    <root>/bin/.partial-<key>.<pid>        a build in progress; renamed into
                                           place when complete, so a monitor
                                           never runs a half-written file.
                                           Not in <root>/tmp: the build runs
                                           in the background after `hold run
                                           -d` returns, and tmp/ is what
                                           `system check` clears and tests
                                           expect empty after each command

A new build removes the builds of other keys (an upgraded hold's leftovers).

``HOLD_MONITOR`` chooses: unset or empty, the native monitor when it can be
had and silently the Python one when not (no compiler; a compiler that
refuses the source: its output is kept in the ``.failed`` file and that
source is not tried again, delete the file to retry; a timed-out build is
tried again next time); ``python`` forces the Python monitor; ``native``
requires the native one, and a ``hold run -d`` that cannot have it fails
with the reason.

Only ``os`` and ``fcntl`` are imported up front (``hashlib`` and
``subprocess`` when building): ``choice`` runs on every ``hold run -d``,
and the rest in the monitor process just before it execs.
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["NativeMonitorUnavailable", "SOURCE", "choice", "monitor_binary"]

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hold-monitor.c")
ENV = "HOLD_MONITOR"
CHOICES = ("python", "native")

# Static when glibc's static libraries are there: 50 idle monitors then
# share one text mapping and each keeps ~65 kB Pss, against ~105 kB for a
# dynamic build (libc's relocations and data are per process).
_FLAGS = ("-O2", "-Wall", "-Werror", "-s", "-ffunction-sections", "-fdata-sections",
          "-Wl,--gc-sections")
_BUILDS = (_FLAGS + ("-static",), _FLAGS)
_COMPILE_TIMEOUT = 120


class NativeMonitorUnavailable(Exception):
    """The native monitor cannot be had here; the message says why."""


def choice() -> str:
    """"auto", "python" or "native", from HOLD_MONITOR."""
    value = os.environ.get(ENV, "").strip().lower()
    if not value:
        return "auto"
    if value not in CHOICES:
        raise NativeMonitorUnavailable(
            f"{ENV}={value!r} is not a monitor kind; accepted: python, native (or unset)")
    return value


def monitor_binary(root: str, *, required: bool = False) -> str | None:
    """The built native monitor for data root ``root``, building it if need be.

    None when it cannot be had, unless ``required``: then
    NativeMonitorUnavailable with the reason.  Safe when many processes ask
    at once: one builds, the others wait for it and use its result."""
    try:
        with open(SOURCE, "rb") as f:
            source = f.read()
    except OSError as exc:
        return _unavailable(f"source {SOURCE} unreadable: {exc.strerror}", required)
    key = _key(source)
    bindir = os.path.join(root, "bin")
    target = os.path.join(bindir, f"hold-monitor-{key}")
    if os.access(target, os.X_OK):
        return target
    failed = target + ".failed"
    if os.path.exists(failed):
        return _unavailable(_read_reason(failed), required)
    compiler = _compiler()
    if compiler is None:    # not recorded: installing gcc later must just work
        return _unavailable("no C compiler (cc or gcc) on PATH", required)
    os.makedirs(bindir, exist_ok=True)
    with open(os.path.join(bindir, "build.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(target, os.X_OK):
            return target           # built while we waited
        if os.path.exists(failed):
            return _unavailable(_read_reason(failed), required)
        reason, lasting = _build(compiler, bindir, key, target)
        if reason is None:
            _remove_older_builds(bindir, keep=os.path.basename(target))
            return target
        if lasting:         # the compiler refused the source: it will again
            _write_reason(failed, reason)
        return _unavailable(reason, required)


def _key(source: bytes) -> str:
    import hashlib
    digest = hashlib.sha256(source)
    for flags in _BUILDS:
        digest.update(b"\0" + " ".join(flags).encode())
    return digest.hexdigest()[:16]


def _compiler() -> str | None:
    for name in ("cc", "gcc"):
        for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
            path = os.path.join(directory or ".", name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return None


def _build(compiler: str, bindir: str, key: str, target: str) -> tuple[str | None, bool]:
    """Compile into a partial file beside the target and rename it into
    place; the caller holds the build lock, so any other partial file is a
    crashed builder's and goes.

    (None, _) when built, else (why not, lasting): a compiler that ran and
    refused is lasting; a timeout or a compiler that could not run (a full
    disk, a busy machine) may not be, and is tried again next time."""
    import subprocess
    for name in os.listdir(bindir):
        if name.startswith(".partial-"):
            try:
                os.unlink(os.path.join(bindir, name))
            except OSError:
                pass
    partial = os.path.join(bindir, f".partial-{key}.{os.getpid()}")
    errors = []
    lasting = True
    try:
        for flags in _BUILDS:
            try:
                proc = subprocess.run([compiler, *flags, "-o", partial, SOURCE],
                                      stdin=subprocess.DEVNULL, capture_output=True,
                                      timeout=_COMPILE_TIMEOUT)
            except subprocess.TimeoutExpired:
                errors.append(f"{compiler} {' '.join(flags)}: no result in {_COMPILE_TIMEOUT}s")
                lasting = False
                continue
            except OSError as exc:
                errors.append(f"{compiler}: {exc.strerror}")
                lasting = False
                break
            if proc.returncode == 0:
                os.chmod(partial, 0o755)
                os.rename(partial, target)
                return None, True
            output = proc.stderr.decode(errors="replace").strip()
            errors.append(f"{compiler} {' '.join(flags)} exited {proc.returncode}: "
                          f"{output[-2000:]}")
    finally:
        try:
            os.unlink(partial)
        except FileNotFoundError:
            pass
    return "\n".join(errors), lasting


def _remove_older_builds(bindir: str, keep: str) -> None:
    """Builds of earlier sources (an upgraded hold) and their failure notes.

    Monitors still running an old build keep it: unlinking a running
    program leaves its mapping alone."""
    for name in os.listdir(bindir):
        if name.startswith("hold-monitor-") and name != keep:
            try:
                os.unlink(os.path.join(bindir, name))
            except OSError:
                pass


def _read_reason(path: str) -> str:
    try:
        with open(path) as f:
            return "building it failed before: " + f.read().strip()
    except OSError:
        return "building it failed before"


def _write_reason(path: str, reason: str) -> None:
    partial = f"{path}.{os.getpid()}"
    with open(partial, "w") as f:
        f.write(reason + "\n")
    os.rename(partial, path)


def _unavailable(reason: str, required: bool) -> None:
    if required:
        raise NativeMonitorUnavailable(f"the native monitor is unavailable: {reason}")
    return None
