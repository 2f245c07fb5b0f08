"""OP_COMPRESSED compressors: zlib always; snappy and zstd when importable.

Compressor ids are the wire protocol's: 0 noop, 1 snappy, 2 zlib, 3 zstd.
"""

from __future__ import annotations

import zlib

from holddb.errors import MongoError

try:  # optional, import-guarded: only offered when the package is installed
    import snappy as _snappy  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _snappy = None
try:
    import zstandard as _zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _zstd = None

NAME_TO_ID = {"noop": 0, "snappy": 1, "zlib": 2, "zstd": 3}
ID_TO_NAME = {v: k for k, v in NAME_TO_ID.items()}


def available_compressors() -> list[str]:
    """Names this server can negotiate, in preference order."""
    names = []
    if _zstd is not None:
        names.append("zstd")
    if _snappy is not None:
        names.append("snappy")
    names.append("zlib")
    return names


def decompress(compressor_id: int, payload: bytes, size: int) -> bytes:
    """Inflate an OP_COMPRESSED payload; the result must be ``size`` bytes."""
    try:
        if compressor_id == 0:
            data = payload
        elif compressor_id == 2:
            data = zlib.decompress(payload)
        elif compressor_id == 1 and _snappy is not None:
            data = _snappy.uncompress(payload)
        elif compressor_id == 3 and _zstd is not None:
            data = _zstd.ZstdDecompressor().decompress(payload, max_output_size=size)
        else:
            raise MongoError(17, f"unsupported compressor id {compressor_id}")
    except MongoError:
        raise
    except Exception as exc:  # each library raises its own error type
        raise MongoError(17, f"cannot decompress message: {exc}") from exc
    if len(data) != size:
        raise MongoError(17, "decompressed size does not match uncompressedSize")
    return data


def compress(compressor_id: int, data: bytes) -> bytes:
    """Deflate a reply body with the compressor the client used."""
    if compressor_id == 2:
        return zlib.compress(data)
    if compressor_id == 1 and _snappy is not None:
        return _snappy.compress(data)
    if compressor_id == 3 and _zstd is not None:
        return _zstd.ZstdCompressor().compress(data)
    return data
