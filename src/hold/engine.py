"""Engine: the one object that wires hold's services for a data root.

Services are built on first use, so that a command imports and opens only
what it needs (``hold ps`` never imports the image unpacker).
"""

from __future__ import annotations

from functools import cached_property

from hold.store import Paths, Store


class Engine:
    def __init__(self, paths: Paths):
        self.paths = paths

    @cached_property
    def store(self) -> Store:
        return Store(self.paths.db)

    @cached_property
    def images(self):
        from hold.images.service import ImageService
        return ImageService(self.store, self.paths)

    @cached_property
    def networks(self):
        from hold.networks.service import NetworkService
        return NetworkService(self.store, self.paths)

    @cached_property
    def containers(self):
        from hold.containers.service import ContainerService
        return ContainerService(self.store, self.paths, self.images, self.networks)
