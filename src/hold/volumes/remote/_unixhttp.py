"""HTTP over a unix socket (rclone's rc socket, Docker volume plugins).

``post_json(socket_path, path, body, timeout)`` sends one POST with a JSON
body and returns the decoded JSON answer; OSError and HTTP errors are the
caller's to translate (it knows what it was talking to).
"""

from __future__ import annotations

import http.client
import json
import socket

__all__ = ["UnixHTTPConnection", "post_json"]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def post_json(socket_path: str, path: str, body: dict | None = None, *,
              timeout: float = 10.0, headers: dict | None = None) -> tuple[int, object]:
    """(HTTP status, decoded JSON or raw text) of one POST."""
    conn = UnixHTTPConnection(socket_path, timeout=timeout)
    try:
        data = json.dumps(body or {}).encode()
        conn.request("POST", path, body=data,
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw or b"{}")
    except ValueError:
        return response.status, raw.decode(errors="replace")
