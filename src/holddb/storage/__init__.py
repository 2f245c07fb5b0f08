"""Durable storage on SQLite: collections, indexes, the oplog, and the
planner that picks an index for a filter.  See ``_engine`` for the lifecycle
and ``_schema`` for the tables."""

from holddb.storage._engine import CollectionInfo, Storage
from holddb.storage._indexes import IndexInfo, index_keys, validate_index_spec
from holddb.storage._keys import encode_key
from holddb.storage._planner import Plan, plan, plan_min_max

__all__ = ["CollectionInfo", "IndexInfo", "Plan", "Storage", "encode_key",
           "index_keys", "plan", "plan_min_max", "validate_index_spec"]
