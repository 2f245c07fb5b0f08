"""holddb: a MongoDB-wire-compatible document server on SQLite.

Packages: ``wire`` (framing and BSON), ``storage`` (SQLite collections,
indexes, oplog), ``query`` (filters, updates, projections, aggregation),
``commands`` (handlers by family), ``server`` (asyncio server), ``main``
(mongod-style command line).  ``holddb.testing`` starts real servers for
tests.
"""

from holddb.version import HOLDDB_VERSION as __version__

__all__ = ["__version__"]
