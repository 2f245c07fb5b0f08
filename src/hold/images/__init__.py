"""Images: content-addressed layers, OCI configs, tags.

Public surface: ``ImageService`` (the one door; see images/service.py for
its lifecycle), ``Image`` (what it returns), ``parse_reference`` and
``Reference`` (what users type).  Everything else is private to the package.
"""

from hold.images.model import Image
from hold.images.reference import Reference, parse_reference
from hold.images.service import ImageService

__all__ = ["Image", "ImageService", "Reference", "parse_reference"]
