"""Remote storage for volumes and host mappings (issue 8).

    smbshare.py     SmbShare: one SMB share's options, and its client
                    (kernel cifs where the host has it, else rclone FUSE)
    _rclone.py      rclone clients (SMB, S3): FUSE mounts, server-side mkdir/purge
    _cifs.py        the kernel cifs client
    _fuse.py        FuseProcess: a supervised FUSE server per mountpoint
    _driver.py      RemoteDriver: host state, mount ids, supervision
    smb.py          SmbDriver, the ``smb`` volume driver
    sshfs.py        SshfsDriver, the ``sshfs`` volume driver
    s3.py           S3Driver, the ``s3`` volume driver (rclone)
    azureblob.py    AzureBlobDriver, the ``azureblob`` volume driver (rclone)
    mapping.py      host share mappings (``hold storage map``)
    testing.py      real servers for tests (SambaServer)

``register_builtin`` makes the drivers known to ``open_driver``; it
imports nothing heavy (the factories import their driver on first use),
so the monitor's light path stays light.
"""

__all__ = ["register_builtin"]


def _smb(paths):
    from hold.volumes.remote.smb import SmbDriver
    return SmbDriver(paths)


def _sshfs(paths):
    from hold.volumes.remote.sshfs import SshfsDriver
    return SshfsDriver(paths)


def _s3(paths):
    from hold.volumes.remote.s3 import S3Driver
    return S3Driver(paths)


def _azureblob(paths):
    from hold.volumes.remote.azureblob import AzureBlobDriver
    return AzureBlobDriver(paths)


def register_builtin() -> None:
    from hold.volumes.driver import register_driver
    register_driver("smb", _smb)
    register_driver("sshfs", _sshfs)
    register_driver("s3", _s3)
    register_driver("azureblob", _azureblob)
