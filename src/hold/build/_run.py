"""RUN steps: a command executed in a real, isolated build container.

A build container is an ordinary hold container without a record in the
store (the monitor tolerates that): the runtime gets a ``RuntimeSpec`` over
the image's layers plus an init layer and a fresh writable layer, all
under one scratch directory::

    <root>/tmp/build-<id>/
        init/        etc/{hosts,hostname,resolv.conf}, dev/, proc/, sys/:
                     the mountpoints, kept out of the step's layer
        upper/       the writable layer: becomes the step's layer
        work/        overlay's scratch
        hosts, hostname, resolv.conf, run.log
        builder.pid  the hold process that owns the step (for system check)
    <runroot>/containers/<id>/   the rootfs mountpoint, spec.json (monitor)

The overlay is mounted inside the container's own mount namespace, so it
disappears with the container; ``BuildContainer.remove`` deletes both
directories.  Use as a context manager: the directories never outlive it.
"""

from __future__ import annotations

import os

from hold.errors import HoldError, SystemError_

__all__ = ["BuildContainer", "RunFailed"]


class RunFailed(HoldError):
    """A RUN command exited non-zero; ``code`` is its exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message, code=code)
        self.code = code


class BuildContainer:
    """The scratch directories of one build step (RUN, COPY, ADD)."""

    def __init__(self, paths):
        self.paths = paths
        self.id = os.urandom(32).hex()
        self.base = os.path.join(paths.tmp, f"build-{self.id}")
        self.upper = os.path.join(self.base, "upper")
        self.work = os.path.join(self.base, "work")
        self.init = os.path.join(self.base, "init")

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def __enter__(self) -> "BuildContainer":
        for sub in (self.upper, self.work, *(os.path.join(self.init, d)
                                             for d in ("etc", "dev", "proc", "sys"))):
            os.makedirs(sub, exist_ok=True)
        os.chmod(self.upper, 0o755)
        for name in ("hosts", "hostname", "resolv.conf"):
            open(os.path.join(self.init, "etc", name), "a").close()
        hostname = self.short_id
        _write(os.path.join(self.base, "hostname"), hostname + "\n")
        _write(os.path.join(self.base, "hosts"),
               "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
               f"127.0.1.1\t{hostname}\n")
        _write(os.path.join(self.base, "resolv.conf"), _host_resolv_conf())
        # Who owns this build container: `hold system check` must leave a
        # container alone while this process lives (it has no store record).
        _write(os.path.join(self.base, "builder.pid"), f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        from hold.store import remove_tree
        remove_tree(self.paths.container_run_dir(self.id))
        remove_tree(self.base)

    def run(self, image, args: list[str], env: list[str], workdir: str, user: str,
            quiet: bool, network: str = "none") -> int:
        """Run ``args`` over ``image`` (None for scratch); its exit code.

        Output streams to this process's stdout/stderr as it comes, or to
        nowhere with ``quiet``.  ``network`` is "none" (a namespace with only
        lo) or "host" (the host's network, e.g. for apt-get).
        """
        from hold.runtime import caps, cgroups
        from hold.runtime.monitor import LaunchError, LaunchOptions, launch
        from hold.runtime.spec import Process, RuntimeSpec, Security
        layers = [self.init] + list(reversed(image.layer_dirs if image else []))
        spec = RuntimeSpec(
            id=self.id, name=f"build-{self.short_id}", lowerdirs=layers,
            upperdir=self.upper, workdir=self.work,
            rootfs=os.path.join(self.paths.container_run_dir(self.id), "rootfs"),
            process=Process(args=args, env=env, cwd=workdir or "/", user=user),
            hostname=self.short_id,
            security=Security(caps=sorted(caps.DEFAULT_CAPS)),
            network=network,
            etc_files={"/etc/hosts": os.path.join(self.base, "hosts"),
                       "/etc/hostname": os.path.join(self.base, "hostname"),
                       "/etc/resolv.conf": os.path.join(self.base, "resolv.conf")})
        options = LaunchOptions(
            container_id=self.id, db_path=self.paths.db, root=self.paths.root,
            runroot=self.paths.runroot, log_path=os.path.join(self.base, "run.log"),
            attach=True, auto_remove=False,
            cgroup_parent=cgroups.parent_for_root(self.paths.root))
        # Ctrl-C or SIGTERM while the monitor starts would leave a container
        # we hold no handle on: keep them pending until ``started`` exists.
        import signal
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            with _quiet_stdio(quiet):
                started = launch(spec, options)
        except LaunchError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise RunFailed(str(exc), exc.code) from None
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)   # a pending one raises here
            return started.wait_exit()
        except LaunchError as exc:
            raise SystemError_(f"build container {self.short_id}: {exc}") from None
        except BaseException:
            # Interrupted (Ctrl-C): the container is in its own session and
            # never saw the signal; kill it and let its monitor finish before
            # the directories under it are removed.
            _kill_and_wait(started)
            raise
        finally:
            started.close()


def _kill_and_wait(started) -> None:
    import signal
    try:
        os.kill(started.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        started.wait_exit()
    except BaseException:        # noqa: BLE001 - best effort; the monitor may be gone
        pass


class _quiet_stdio:
    """Point fds 1 and 2 at /dev/null while the monitor forks (it inherits
    them), so ``-q`` builds print nothing of the RUN output."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.saved: list[int] = []

    def __enter__(self):
        if self.quiet:
            import sys
            sys.stdout.flush()
            sys.stderr.flush()
            devnull = os.open(os.devnull, os.O_WRONLY)
            self.saved = [os.dup(1), os.dup(2)]
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.close(devnull)
        return self

    def __exit__(self, *exc):
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _host_resolv_conf() -> str:
    try:
        with open("/etc/resolv.conf") as f:
            return "".join(line for line in f if not line.startswith("nameserver 127."))
    except OSError:
        return ""
