"""SmbShare option parsing and the kernel cifs mount options (no I/O)."""

from __future__ import annotations

import pytest

from hold.errors import InvalidArgument
from hold.volumes.remote._cifs import cifs_mount_options
from hold.volumes.remote.smbshare import SmbShare, read_secret

BASE = {"share": "//files.example:4455/team/projects/x", "username": "alice",
        "password-file": "/root/pw"}


def test_unc_with_port_and_path():
    share = SmbShare.parse(BASE)
    assert (share.host, share.port, share.share, share.path) == \
        ("files.example", 4455, "team", "projects/x")
    assert share.unc == "//files.example:4455/team/projects/x"
    assert share.join("vol") == "projects/x/vol"


def test_default_port_is_445_and_left_out_of_the_unc():
    share = SmbShare.parse(dict(BASE, share="//10.0.0.5/data/"))
    assert share.port == 445 and share.path == "" and share.unc == "//10.0.0.5/data"


@pytest.mark.parametrize("bad,word", [
    ({"password": "s3cret"}, "password-file"),
    ({"colour": "blue"}, "accepts"),
    ({"share": "files/data"}, "//HOST"),
    ({"share": "//h:99999/data"}, "port"),
    ({"uid": "bob"}, "number"),
    ({"file_mode": "rw"}, "octal"),
    ({"vers": "4"}, "vers"),
])
def test_bad_options_name_what_is_accepted(bad, word):
    with pytest.raises(InvalidArgument) as err:
        SmbShare.parse(dict(BASE, **bad))
    assert word in str(err.value) and "s3cret" not in str(err.value)


def test_share_and_username_are_required():
    for key in ("share", "username"):
        options = dict(BASE)
        del options[key]
        with pytest.raises(InvalidArgument, match=key):
            SmbShare.parse(options)


def test_cifs_options_carry_no_password():
    share = SmbShare.parse(dict(BASE, vers="3.1.1", uid="1000", file_mode="0644"))
    share.password = "s3cret"
    options = cifs_mount_options(share, "/state/cifs.credentials")
    assert options == "credentials=/state/cifs.credentials,port=4455,vers=3.1.1,uid=1000,file_mode=0644"


def test_read_secret_from_file_and_empty_refused(tmp_path):
    path = tmp_path / "pw"
    path.write_text("s3cret\nignored\n")
    assert read_secret(str(path)) == "s3cret"
    path.write_text("\n")
    with pytest.raises(InvalidArgument, match="empty"):
        read_secret(str(path))
    with pytest.raises(InvalidArgument, match="No such file"):
        read_secret(str(tmp_path / "missing"))
