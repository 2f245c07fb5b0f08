"""Metadata and files on disk: the bottom layer of hold.

``Store`` is the SQLite database of one data root; ``atomic_write`` and
``paths`` are the file-side helpers.  Services above never speak SQL to a
table they do not own; the schema is drawn in ``store/schema.py``.
"""

from hold.store._db import Store
from hold.store._files import atomic_write, atomic_write_json, remove_tree
from hold.store.paths import Paths

__all__ = ["Store", "Paths", "atomic_write", "atomic_write_json", "remove_tree"]
