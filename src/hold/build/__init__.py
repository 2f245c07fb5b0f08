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
"""

from hold.build.bootstrap import bootstrap
from hold.build.builder import BuildOptions, Builder
from hold.build.dockerfile import Dockerfile, DockerfileError, Instruction, parse

__all__ = ["BuildOptions", "Builder", "Dockerfile", "DockerfileError", "Instruction",
           "bootstrap", "parse"]
