"""A real Docker engine on private paths, for tests and benchmarks.

dockerd 20.10 (Debian's docker.io) started with no bridge and no iptables
rules, on its own socket, data root and exec root under ``base``, so it
touches nothing of the host's and nothing of another run's.  Keep ``base``
short: containerd's socket path must stay under 108 bytes.
"""

from __future__ import annotations

import os
import subprocess
import time


def launch_dockerd(base: str, timeout: float = 60.0) -> tuple[subprocess.Popen, dict]:
    """Start dockerd under ``base``; (process, env for the docker CLI) once
    it answers ``docker version``.  RuntimeError with its log otherwise."""
    socket = os.path.join(base, "docker.sock")
    env = dict(os.environ, DOCKER_HOST=f"unix://{socket}",
               DOCKER_CONFIG=os.path.join(base, "cli"))
    log_path = os.path.join(base, "dockerd.log")
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(
            ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
             "-H", f"unix://{socket}", "--data-root", os.path.join(base, "data"),
             "--exec-root", os.path.join(base, "exec"),
             "--pidfile", os.path.join(base, "docker.pid")],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"dockerd exited {daemon.returncode}: {_tail(log_path)}")
        probe = subprocess.run(["docker", "version"], env=env, capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=10)
        if probe.returncode == 0:
            return daemon, env
        time.sleep(0.2)
    daemon.kill()
    raise RuntimeError(f"dockerd did not answer within {timeout:.0f} s: {_tail(log_path)}")


def _tail(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()[-800:]
    except OSError:
        return ""
