"""hold: a daemonless container engine for stateful containers."""

__version__ = "0.1.0"
