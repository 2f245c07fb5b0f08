"""Volumes: state that outlives containers.

Public surface (see each module's docstring for its words and lifecycle):

    driver.py     VolumeDriver (the interface), DriverVolume, Capabilities,
                  register_driver / open_driver (drivers by name)
    local.py      LocalDriver: directories under <root>/volumes
    service.py    VolumeService: records, references, filters, rm, prune
    mountspec.py  the --mount / -v / --tmpfs / --volumes-from parser
    resolve.py    requests -> a container's Mounts, before it is created
    attach.py     a container's Mounts -> runtime mounts, at start
    copyup.py     filling a new volume from the image
    subpath.py    volume-subpath, resolved and mounted through an fd
    transfer.py   export / import / clone / rename (hold additions)
    binds.py      the sensitive-path rule for bind sources
    cleanup.py    what container removal does to volumes (light: the monitor)
    testing.py    FakeDriver and CLI helpers for tests
    conformance.py  DriverConformance: the suite every driver passes (pytest)
    plugin.py     PluginDriver: Docker volume plugins (JSON over HTTP)
    remote/       the smb, sshfs and s3 drivers, host share mappings

Nothing is imported here, so that importing one module (the monitor
imports cleanup) does not import the rest.
"""

__all__ = ["driver", "local", "service", "mountspec", "resolve", "attach", "copyup",
           "binds", "cleanup", "testing", "conformance", "subpath", "transfer",
           "plugin", "remote"]
