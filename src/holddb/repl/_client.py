"""A small asyncio client for member-to-member commands (heartbeats, votes,
oplog fetching): OP_MSG over one TCP connection, one request at a time.

``MemberClient(host, on_lost=callback)``; ``await command(doc, timeout=...)``
connects on first use (and again after a failure) and returns the reply
document; failures are :class:`MemberUnreachable` -- with ``refused=True``
when nothing listens on the port, which is how a member knows for certain
that another is gone.  A reply with ``ok: 0`` is returned as is, for the
caller to read.

A kept connection that the other end closes or resets (EOF, ECONNRESET) is
the other early sign of death: a live member never hangs up on another.
``on_lost`` is called at once when that happens, before anything is retried
(a reconnect to a host that vanished without refusing may hang for the whole
timeout), so the coordinator can start suspecting it.  ``retry=False``
makes such a command fail instead of being re-sent on a new connection: an
oplog ``getMore`` must not be, because its lost reply may have moved the
cursor past entries that we never received.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from typing import Callable

import bson
from bson.errors import InvalidBSON

from holddb.repl._config import split_host
from holddb.wire import CODEC_OPTIONS

__all__ = ["MemberClient", "MemberUnreachable"]

_OP_MSG = 2013
_HEADER = struct.Struct("<iiii")
_ids = itertools.count(1)


class MemberUnreachable(Exception):
    """``refused``: nothing listens there; ``lost``: an open connection was
    hung up on (both mean the process is gone, unlike a timeout)."""

    def __init__(self, host: str, reason: str, *, refused: bool = False,
                 lost: bool = False) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.refused = refused
        self.lost = lost


_HUNG_UP = (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError,
            ConnectionAbortedError)


class MemberClient:
    def __init__(self, host: str, *, on_lost: Callable[[], None] | None = None) -> None:
        self.host = host
        self.on_lost = on_lost
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def command(self, doc: dict, *, db: str = "admin", timeout: float = 10.0,
                      retry: bool = True) -> dict:
        async with self._lock:
            if self._writer is not None:  # a kept connection may have died since: retry once
                try:
                    return await asyncio.wait_for(self._round_trip({**doc, "$db": db}), timeout)
                except _HUNG_UP as exc:
                    self._drop()
                    self._hung_up()
                    if not retry:
                        raise MemberUnreachable(self.host, f"connection closed: "
                                                f"{type(exc).__name__}", lost=True) from exc
                except (OSError, ValueError) as exc:
                    self._drop()
                    if not retry:  # (EHOSTUNREACH after a link went down, ...): not re-sent either
                        raise MemberUnreachable(self.host, f"connection failed: "
                                                f"{type(exc).__name__}: {exc}") from exc
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
                lost = isinstance(exc, _HUNG_UP)
                if lost:
                    self._hung_up()
                raise MemberUnreachable(self.host, f"{type(exc).__name__}: {exc}",
                                        lost=lost) from exc

    def _hung_up(self) -> None:
        if self.on_lost is not None:
            self.on_lost()

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
