"""A small asyncio client for member-to-member commands (heartbeats, votes,
oplog fetching): OP_MSG over one TCP connection, one request at a time.

``MemberClient(host)``; ``await command(doc, timeout=...)`` connects on first
use (and again after a failure) and returns the reply document; failures are
:class:`MemberUnreachable` -- with ``refused=True`` when nothing listens on
the port, which is how a member knows for certain that another is gone.
A reply with ``ok: 0`` is returned as is, for the caller to read.
"""

from __future__ import annotations

import asyncio
import itertools
import struct

import bson
from bson.errors import InvalidBSON

from holddb.repl._config import split_host
from holddb.wire import CODEC_OPTIONS

__all__ = ["MemberClient", "MemberUnreachable"]

_OP_MSG = 2013
_HEADER = struct.Struct("<iiii")
_ids = itertools.count(1)


class MemberUnreachable(Exception):
    def __init__(self, host: str, reason: str, *, refused: bool = False) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.refused = refused


class MemberClient:
    def __init__(self, host: str) -> None:
        self.host = host
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def command(self, doc: dict, *, db: str = "admin", timeout: float = 10.0) -> dict:
        async with self._lock:
            if self._writer is not None:  # a kept connection may have died since: retry once
                try:
                    return await asyncio.wait_for(self._round_trip({**doc, "$db": db}), timeout)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    self._drop()
                except asyncio.TimeoutError as exc:
                    self._drop()
                    raise MemberUnreachable(self.host, f"no reply within {timeout:.1f}s") from exc
            try:
                return await asyncio.wait_for(self._round_trip({**doc, "$db": db}), timeout)
            except ConnectionRefusedError as exc:
                self._drop()
                raise MemberUnreachable(self.host, "Connection refused", refused=True) from exc
            except asyncio.TimeoutError as exc:
                self._drop()
                raise MemberUnreachable(self.host, f"no reply within {timeout:.1f}s") from exc
            except (OSError, asyncio.IncompleteReadError, ValueError, InvalidBSON) as exc:
                self._drop()
                refused = isinstance(exc, ConnectionRefusedError)
                raise MemberUnreachable(self.host, f"{type(exc).__name__}: {exc}",
                                        refused=refused) from exc

    async def _round_trip(self, doc: dict) -> dict:
        try:
            return await self._exchange(doc)
        except asyncio.CancelledError:
            self._drop()  # cancelled mid-exchange: the connection's stream is out of step
            raise

    async def _exchange(self, doc: dict) -> dict:
        if self._writer is None:
            name, port = split_host(self.host)
            self._reader, self._writer = await asyncio.open_connection(name, port,
                                                                       limit=64 * 1024 * 1024)
        body = struct.pack("<I", 0) + b"\x00" + bson.encode(doc, codec_options=CODEC_OPTIONS)
        request_id = next(_ids)
        self._writer.write(_HEADER.pack(16 + len(body), request_id, 0, _OP_MSG) + body)
        await self._writer.drain()
        assert self._reader is not None
        header = await self._reader.readexactly(16)
        length, _, response_to, op_code = _HEADER.unpack(header)
        payload = await self._reader.readexactly(length - 16)
        if op_code != _OP_MSG or payload[4] != 0 or response_to != request_id:
            raise ValueError(f"unexpected reply opcode {op_code}")
        return bson.decode(payload[5:], codec_options=CODEC_OPTIONS)

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    def close(self) -> None:
        self._drop()
