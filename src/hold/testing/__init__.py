"""Fixtures for hold's tests and for our users' tests.

``busybox_rootfs_tar`` makes a small real root filesystem from Debian's
busybox-static, ``temporary_paths`` a throw-away data root and runtime root.
Like trio.testing, these ship in the package so users can test against hold
the way we do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile

from hold.store.paths import Paths

__all__ = ["BUSYBOX", "busybox_rootfs_tar", "temporary_paths"]

BUSYBOX = "/bin/busybox"


def busybox_rootfs_tar(dest: str) -> str:
    """Write a busybox root filesystem tarball to ``dest`` and return it.

    The tree has /bin with every applet linked, /etc/passwd and /etc/group
    with root and nobody, and empty /tmp /proc /sys /dev mountpoints.
    """
    if not os.path.exists(BUSYBOX):
        raise RuntimeError(f"{BUSYBOX} missing: apt-get install busybox-static")
    with tempfile.TemporaryDirectory(prefix="hold-busybox-") as tmp:
        root = os.path.join(tmp, "root")
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "var"):
            os.makedirs(os.path.join(root, d))
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True,
                                 text=True, check=True).stdout.split()
        for applet in applets:
            link = os.path.join(root, "bin", applet)
            if not os.path.exists(link):
                os.symlink("busybox", link)
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n"
                    "nobody:x:65534:65534:nobody:/home:/bin/false\n")
        with open(os.path.join(root, "etc", "group"), "w") as f:
            f.write("root:x:0:\nnogroup:x:65534:\n")
        with tarfile.open(dest, "w") as tar:
            for name in sorted(os.listdir(root)):
                tar.add(os.path.join(root, name), arcname=name)
    return dest


def temporary_paths(base: str | None = None) -> Paths:
    """A fresh data root and runtime root under ``base`` (a temp dir)."""
    base = base or tempfile.mkdtemp(prefix="hold-test-")
    return Paths(os.path.join(base, "root"), os.path.join(base, "run"))
