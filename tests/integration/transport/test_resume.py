"""A blob download cut mid-way is resumed with an HTTP Range request.

A real TCP proxy (a thread of this process) sits between hold and the real
registry and hangs up the first blob download after a few kilobytes."""

from __future__ import annotations

import os
import select
import socket
import threading

import pytest


class CuttingProxy:
    def __init__(self, upstream: tuple[str, int], cut_after: int, stall: bool = False):
        self.upstream, self.cut_after, self.stall = upstream, cut_after, stall
        self.released = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.requests: list[str] = []
        self.cuts = 0
        self.closing = False
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            text = head.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
            self.requests.append(text)
            first = text.split("\r\n", 1)[0]
            cut = (first.startswith("GET ") and "/blobs/sha256:" in first
                   and "range:" not in text.lower() and self.cuts == 0)
            upstream.sendall(head)
            self._relay(client, upstream, self.cut_after if cut else None)
        finally:
            client.close()
            upstream.close()

    def _relay(self, client, upstream, limit) -> None:
        sent = 0
        while True:
            ready, _, _ = select.select([client, upstream], [], [], 30)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is upstream:
                    if limit is not None and sent + len(data) >= limit:
                        client.sendall(data[:limit - sent])
                        self.cuts += 1
                        if self.stall:      # stop sending, keep the line open
                            self.released.wait(60)
                        return              # hang up mid-response
                    sent += len(data)
                    client.sendall(data)
                else:
                    upstream.sendall(data)

    def close(self) -> None:
        self.closing = True
        self.released.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        self.acceptor.join(timeout=5)
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def stalling_proxy(registry):
    host, port = registry.host.split(":")
    proxy = CuttingProxy((host, int(port)), cut_after=64 * 1024, stall=True)
    yield proxy
    proxy.close()


@pytest.fixture
def proxy(registry):
    host, port = registry.host.split(":")
    proxy = CuttingProxy((host, int(port)), cut_after=64 * 1024)
    yield proxy
    proxy.close()


def test_cut_download_resumes(registry, proxy, bb, hold_config, tmp_path_factory):
    from hold.testing import HoldCLI, temporary_paths
    ref = f"{registry.host}/team/resume:v1"
    bb.ok("tag", "bb", ref)
    bb(("push"), ref, env=dict(os.environ), check=True)
    via_proxy = f"127.0.0.1:{proxy.port}/team/resume:v1"
    other = HoldCLI(temporary_paths(str(tmp_path_factory.mktemp("resume"))))
    try:
        out = other("pull", via_proxy, env=dict(os.environ), check=True).stdout
        assert "Pull complete" in out
        assert proxy.cuts == 1
        assert any("range: bytes=" in r.lower() and "/blobs/" in r for r in proxy.requests)
        assert other.ok("image", "inspect", "--format", "{{.Id}}", via_proxy) == \
            bb.ok("image", "inspect", "--format", "{{.Id}}", "bb")
        assert other.ok("run", "--rm", via_proxy, "echo", "resumed") == "resumed\n"
    finally:
        other.cleanup()


def test_interrupted_pull_leaves_nothing(registry, stalling_proxy, bb, hold_config,
                                         tmp_path_factory):
    """Ctrl-C while a download hangs: exit 130 at once, nothing recorded,
    nothing left in tmp/."""
    import signal
    import subprocess
    import time
    from hold.testing import HoldCLI, temporary_paths
    ref = f"{registry.host}/team/stall:v1"
    bb.ok("tag", "bb", ref)
    bb("push", ref, env=dict(os.environ), check=True)
    other = HoldCLI(temporary_paths(str(tmp_path_factory.mktemp("stall"))))
    proc = subprocess.Popen(other.base + ["pull", f"127.0.0.1:{stalling_proxy.port}/team/stall:v1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while stalling_proxy.cuts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stalling_proxy.cuts == 1
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        assert time.monotonic() - started < 5
        assert proc.returncode == 130, proc.stderr.read()
        assert os.listdir(other.paths.tmp) == []
        assert other.ok("images", "-q") == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        other.cleanup()
