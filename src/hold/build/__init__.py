"""Builds: Dockerfiles into images, and Debian base images from packages.

Public surface: ``Builder`` and ``BuildOptions`` (``hold build``; see
build/builder.py for the flow), ``parse`` with ``Dockerfile``,
``Instruction`` and ``DockerfileError`` (the pure parser), and
``bootstrap`` (``hold image bootstrap``).  The layout::

    dockerfile.py  text -> stages of checked instructions (pure)
    words.py       $VAR substitution and word splitting (pure)
    _metadata.py   metadata instructions -> run config + history text
    context.py     the build context, .dockerignore, source hashes
    _copy.py       COPY/ADD into an upperdir over the image's layers
    _run.py        RUN in a build container (the runtime's monitor)
    builder.py     the steps, the layer cache, progress
    bootstrap.py   mmdebstrap/debootstrap -> an imported base image

Names are imported on first use: ``hold build`` never loads bootstrap's
subprocess machinery, and the parser never loads the builder.
"""

from __future__ import annotations

__all__ = ["BuildOptions", "Builder", "Dockerfile", "DockerfileError", "Instruction",
           "bootstrap", "parse"]

_WHERE = {"BuildOptions": "builder", "Builder": "builder", "Dockerfile": "dockerfile",
          "DockerfileError": "dockerfile", "Instruction": "dockerfile",
          "parse": "dockerfile", "bootstrap": "bootstrap"}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'hold.build' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f"hold.build.{_WHERE[name]}"), name)
