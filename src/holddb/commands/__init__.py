"""Commands, one module per family, registered by name in ``_registry``.

Importing this package imports every family so that all handlers are
registered.  Public surface: :class:`Context`, :func:`lookup`,
:func:`registered`.
"""

from holddb.commands._registry import Context, lookup, registered
from holddb.commands import admin, catalog, handshake, read, repl, write  # noqa: F401  (registration)

__all__ = ["Context", "lookup", "registered"]
