"""A client of the OCI distribution API (what ``docker-registry`` serves).

    RegistryClient(domain, repository, credentials)
      .get_manifest(ref) -> (bytes, media type, digest)   digest-checked
      .fetch_blob(digest, dest, size) -> None             digest-checked,
                                                          resumed with Range
      .blob_exists(digest) / .upload_blob(digest, path) / .put_manifest(...)
    login(server, username, password) -> auth file path

Transport: HTTPS, except for ``localhost``, ``127.0.0.0/8`` and ``::1``,
which are spoken to in plain HTTP (Docker's default insecure registries).
Authentication follows the registry's ``WWW-Authenticate`` challenge:
``Basic`` sends the stored credentials; ``Bearer`` fetches a token from the
realm (with the credentials, if any) for ``repository:<name>:pull[,push]``
and retries once.  ``docker.io`` means ``registry-1.docker.io``.

Errors: an unreachable registry is a ``SystemError_`` naming the URL; 401
after authenticating is ``InvalidArgument`` ("unauthorized: ..."); an
unknown manifest is ``ImageNotFound``; other registry errors carry the
registry's own error code and message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

from hold.errors import HoldError, ImageNotFound, InvalidArgument, SystemError_

__all__ = ["RegistryClient", "login", "MANIFEST_TYPES", "INDEX_TYPES", "is_insecure"]

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws")
_CHUNK = 1 << 20
_RETRIES = 4
_TIMEOUT = 60


def is_insecure(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in ("localhost", "[::1]") or name.startswith("127.")


class _Response:
    def __init__(self, status: int, headers, body: bytes, stream=None, conn=None,
                 streams=None):
        self.status, self.headers, self.body = status, headers, body
        self.stream, self.conn, self.streams = stream, conn, streams
        if streams is not None:
            streams.add(conn)

    def close(self) -> None:
        if self.conn is not None:
            if self.streams is not None:
                self.streams.discard(self.conn)
            self.conn.close()


class RegistryClient:
    def __init__(self, domain: str, repository: str, credentials=None, push=False):
        self.host = "registry-1.docker.io" if domain == "docker.io" else domain
        self.domain = domain
        self.repository = repository
        self.scheme = "http" if is_insecure(self.host) else "https"
        self.credentials = credentials
        self.scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        self.authorization = ""
        self._scopes: list[str] = []
        self._streams: set = set()      # connections blobs are being read from
        self._aborted = False

    # ------------------------------------------------------------ http

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def _connect(self, url: str):
        import http.client
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(parts.netloc, timeout=_TIMEOUT)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return conn, target, parts.netloc

    def request(self, method: str, path: str, headers=None, body=None,
                stream: bool = False, expect=(200,)) -> _Response:
        """One request, following redirects and answering one auth challenge."""
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        for _attempt in range(2):
            response = self._send(method, url, headers or {}, body, stream)
            if response.status == 401 and self._authenticate(response):
                response.close()
                if hasattr(body, "seek"):
                    body.seek(0)
                continue
            break
        if response.status == 401:
            response.close()
            raise InvalidArgument(f"unauthorized: authentication required for "
                                  f"{self.domain}/{self.repository} "
                                  f"({_error_text(response) or 'log in with hold login'})")
        if response.status not in expect:
            text = _error_text(response)
            response.close()
            codes = _error_codes(response)
            if response.status == 404 and {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"} & codes:
                raise ImageNotFound(f"manifest for {self.domain}/{self.repository} "
                                    f"not found: {text}")
            raise HoldError(f"{method} {url}: registry answered {response.status}: "
                            f"{text or 'no details'}")
        return response

    def _send(self, method, url, headers, body, stream) -> _Response:
        for _hop in range(5):
            conn, target, netloc = self._connect(url)
            sent = dict(headers)
            if self.authorization and netloc == self.host:
                sent["Authorization"] = self.authorization
            try:
                conn.request(method, target, body=body, headers=sent)
                raw = conn.getresponse()
            except OSError as exc:
                conn.close()
                raise SystemError_(f"{method} {url}: registry unreachable: "
                                   f"{exc.strerror or exc}", errno=exc.errno) from exc
            except Exception as exc:     # http.client's protocol errors
                conn.close()
                raise SystemError_(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
            if raw.status in (301, 302, 303, 307, 308) and raw.getheader("Location"):
                from urllib.parse import urljoin
                url = urljoin(url, raw.getheader("Location"))
                raw.read()
                conn.close()
                if raw.status == 303:
                    method, body = "GET", None
                continue
            if stream and raw.status in (200, 206):
                return _Response(raw.status, raw.headers, b"", raw, conn, self._streams)
            data = raw.read()
            conn.close()
            return _Response(raw.status, raw.headers, data)
        raise SystemError_(f"{method} {url}: too many redirects")

    def _authenticate(self, response: _Response) -> bool:
        """Answer a 401's challenge; False when there is nothing new to try."""
        challenge = response.headers.get("WWW-Authenticate", "")
        kind, _, params = challenge.partition(" ")
        if kind.lower() == "basic":
            if not self.credentials or self.authorization.startswith("Basic"):
                return False
            user, password = self.credentials
            self.authorization = "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode()
            return True
        if kind.lower() == "bearer":
            params = _parse_challenge(params)
            scopes = sorted({s for s in (self.scope, params.get("scope")) if s})
            if self.authorization.startswith("Bearer") and scopes == self._scopes:
                return False
            self._scopes = scopes
            self.authorization = "Bearer " + self._token(params, scopes)
            return True
        return False

    def _token(self, params: dict[str, str], scopes: list[str]) -> str:
        from urllib.parse import urlencode
        realm = params.get("realm")
        if not realm:
            raise HoldError(f"registry {self.domain} asked for a token without a realm")
        query: list[tuple[str, str]] = [("scope", s) for s in scopes]
        if params.get("service"):
            query.append(("service", params["service"]))
        headers = {}
        if self.credentials:
            user, password = self.credentials
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode()
            query.append(("account", user))
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        response = self._send("GET", url, headers, None, False)
        if response.status in (401, 403):
            detail = _error_text(response)
            raise InvalidArgument(f"unauthorized: the token server of {self.domain} "
                                  "refused the credentials"
                                  + (f" ({detail})" if detail else ""))
        if response.status != 200:
            raise HoldError(f"token server {realm} answered {response.status}")
        try:
            answer = json.loads(response.body)
            return answer.get("token") or answer["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise HoldError(f"token server {realm} gave no token") from None

    def abort(self) -> None:
        """Hang up every blob download in progress (from another thread):
        their reads end at once instead of at the next timeout."""
        import socket
        self._aborted = True
        for conn in list(self._streams):
            try:
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------- operations

    def ping(self) -> None:
        """GET /v2/, authenticating: InvalidArgument on bad credentials."""
        self.request("GET", "/v2/")

    def get_manifest(self, ref: str) -> tuple[bytes, str, str]:
        accept = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
        response = self.request("GET", f"/v2/{self.repository}/manifests/{ref}",
                                {"Accept": accept})
        body = response.body
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        expected = ref if ref.startswith("sha256:") else \
            response.headers.get("Docker-Content-Digest")
        if expected and expected != digest:
            raise InvalidArgument(f"manifest {self.repository}@{ref}: digest mismatch: "
                                  f"content is {digest}, expected {expected}")
        media = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            media = json.loads(body).get("mediaType") or media
        except (ValueError, AttributeError):
            raise InvalidArgument(f"manifest {self.repository}@{ref} is not JSON") from None
        if media in _SCHEMA1:
            raise InvalidArgument(f"{self.repository}:{ref} is a Docker schema 1 "
                                  "manifest, which hold does not pull (accepted: "
                                  "OCI and Docker schema 2 manifests and indexes)")
        return body, media, digest

    def fetch_blob(self, digest: str, dest: str, size: int | None = None,
                   progress=None) -> None:
        """Download blob ``digest`` into ``dest``; a dropped connection is
        resumed from where it stopped (HTTP Range), up to _RETRIES times.
        ``progress(bytes so far)`` is called after each chunk."""
        hasher = hashlib.sha256()
        done = 0
        with open(dest, "wb") as out:
            for attempt in range(_RETRIES + 1):
                if self._aborted:
                    raise SystemError_(f"downloading blob {digest}: aborted")
                headers = {"Range": f"bytes={done}-"} if done else {}
                try:
                    response = self.request("GET", f"/v2/{self.repository}/blobs/{digest}",
                                            headers, stream=True, expect=(200, 206))
                except SystemError_:
                    if attempt == _RETRIES:
                        raise
                    continue
                try:
                    if done and response.status != 206:
                        out.seek(0)
                        out.truncate()
                        hasher, done = hashlib.sha256(), 0
                    length = response.headers.get("Content-Length")
                    received = 0
                    while chunk := response.stream.read(_CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        received += len(chunk)
                        if progress is not None:
                            progress(done)
                    if length is None or received >= int(length):
                        break
                    # http.client ends a sized read quietly when the peer
                    # hangs up: a short body is a dropped connection
                    if attempt == _RETRIES:
                        raise SystemError_(f"downloading blob {digest}: the connection "
                                           f"dropped {_RETRIES + 1} times")
                except (OSError, ValueError, http_errors()) as exc:
                    if attempt == _RETRIES or self._aborted:
                        raise SystemError_(f"downloading blob {digest}: {exc}") from exc
                finally:
                    response.close()
        got = "sha256:" + hasher.hexdigest()
        if got != digest:
            raise InvalidArgument(f"blob {digest}: digest mismatch: downloaded "
                                  f"content is {got}")
        if size is not None and done != size:
            raise InvalidArgument(f"blob {digest}: size {done}, manifest says {size}")

    def blob_exists(self, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{self.repository}/blobs/{digest}",
                                expect=(200, 404))
        return response.status == 200

    def upload_blob(self, digest: str, path: str) -> None:
        """Monolithic upload: POST for a location, PUT the bytes there."""
        start = self.request("POST", f"/v2/{self.repository}/blobs/uploads/",
                             {"Content-Length": "0"}, body=b"", expect=(202,))
        location = start.headers.get("Location")
        if not location:
            raise HoldError(f"registry {self.domain} gave no upload location")
        from urllib.parse import urljoin
        location = urljoin(self.url("/"), location)
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        size = os.path.getsize(path)
        with open(path, "rb") as body:
            self.request("PUT", location, {"Content-Type": "application/octet-stream",
                                           "Content-Length": str(size)},
                         body=body, expect=(201,))

    def put_manifest(self, ref: str, data: bytes, media: str) -> str:
        response = self.request("PUT", f"/v2/{self.repository}/manifests/{ref}",
                                {"Content-Type": media}, body=data, expect=(201,))
        return response.headers.get("Docker-Content-Digest") or \
            "sha256:" + hashlib.sha256(data).hexdigest()


def http_errors():
    import http.client
    return http.client.HTTPException


def _parse_challenge(params: str) -> dict[str, str]:
    return {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', params)}


def _error_text(response: _Response) -> str:
    try:
        errors = json.loads(response.body).get("errors")
        if not errors:
            return ""
        return "; ".join(f"{e.get('code', '').lower().replace('_', ' ')}: "
                         f"{e.get('message', '')}".strip(": ") for e in errors)
    except (ValueError, AttributeError, TypeError):
        return response.body[:200].decode(errors="replace").strip()


def _error_codes(response: _Response) -> set[str]:
    try:
        return {e.get("code") for e in json.loads(response.body).get("errors") or []}
    except (ValueError, AttributeError, TypeError):
        return set()


def login(server: str, username: str, password: str) -> str:
    """Check the credentials against ``server`` and store them; returns the
    auth file's path.  Bad credentials store nothing."""
    from hold.images.transport.auth import AuthFile, normalise_server
    host = normalise_server(server)
    client = RegistryClient(host, "", (username, password))
    client.scope = ""
    client.ping()
    if not client.authorization:
        # the registry let us in without asking: nothing proves the password,
        # which is what docker does too; keep them for registries that ask later
        pass
    auth = AuthFile()
    auth.store(host, username, password)
    return auth.path
