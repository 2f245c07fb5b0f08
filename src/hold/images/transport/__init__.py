"""Moving images in and out of hold: archives and registries.

Public surface::

    save_images(service, refs, out)       `docker save`: write a tar to a stream
    save_to_file(service, refs, path)     the same, atomically to a file
    load_archive(service, source) -> [lines]
                                          `docker load`: a `docker save` tar
                                          (legacy or OCI-layout variant) or a
                                          plain OCI image layout tar
    pull(service, ref, out) / push(service, ref, out)
                                          OCI distribution registries
    AuthFile                              credentials (`hold login`), kept in
                                          docker's config.json shape

Words: a **blob** is content named by its digest (``sha256:<hex>`` of its
bytes); a **layer blob** may be compressed (gzip, zstd), its **diff id** is
the digest of the uncompressed tar.  A **manifest** names a config blob and
layer blobs; an **index** (or Docker's "manifest list") names manifests per
platform.  Every digest is checked as the bytes arrive: a mismatch is an
``InvalidArgument`` and nothing is recorded.

Every import goes through ``ImageService.import_images``, which unpacks
each layer with the safe unpacker before anything is placed or recorded.
"""

from __future__ import annotations

__all__ = ["save_images", "save_to_file", "load_archive", "pull", "push",
           "AuthFile"]


def _host_errors(doing: str):
    """The host's OSErrors (disk full, a missing blob) as SystemError_."""
    from hold.images.service import _host_errors as host_errors
    return host_errors(doing)


def save_images(service, refs, out) -> None:
    from hold.images.transport._save import save_images as _save
    with _host_errors("save"):
        _save(service, refs, out)


def save_to_file(service, refs, path: str) -> None:
    from hold.images.transport._save import save_to_file as _save
    with _host_errors(f"save to {path}"):
        _save(service, refs, path)


def load_archive(service, source) -> list[str]:
    from hold.images.transport._load import load_archive as _load
    with _host_errors("load"):
        return _load(service, source)


def pull(service, ref: str, out, **options):
    from hold.images.transport._pull import pull as _pull
    with _host_errors(f"pull {ref}"):
        return _pull(service, ref, out, **options)


def push(service, ref: str, out, **options):
    from hold.images.transport._push import push as _push
    with _host_errors(f"push {ref}"):
        return _push(service, ref, out, **options)


def __getattr__(name: str):
    if name == "AuthFile":
        from hold.images.transport.auth import AuthFile
        return AuthFile
    raise AttributeError(name)
