"""The mount flag parser: shapes and Docker's error messages (no I/O)."""

import pytest

from hold.errors import InvalidArgument
from hold.volumes.mountspec import (parse_mount, parse_ram_size, parse_tmpfs, parse_volume,
                                    parse_volumes_from, validate_request,
                                    validate_volume_name)


def test_mount_defaults_to_volume_and_accepts_aliases():
    req = parse_mount("src=data,dst=/srv,ro")
    assert (req.type, req.source, req.target, req.readonly) == ("volume", "data", "/srv", True)
    req = parse_mount("type=bind,source=/h,destination=/x,readonly=false,bind-propagation=rshared")
    assert (req.type, req.readonly, req.propagation) == ("bind", False, "rshared")


def test_mount_volume_options():
    req = parse_mount("target=/d,volume-nocopy,volume-opt=type=tmpfs,volume-opt=o=size=1m,"
                      "volume-label=a=b,volume-driver=local,volume-subpath=sub/dir")
    assert req.nocopy and req.driver == "local" and req.subpath == "sub/dir"
    assert req.driver_options == {"type": "tmpfs", "o": "size=1m"}
    assert req.labels == {"a": "b"}


def test_mount_csv_quoting_keeps_commas_in_values():
    req = parse_mount('target=/d,"volume-opt=o=size=1m,uid=5"')
    assert req.driver_options == {"o": "size=1m,uid=5"}


def test_mount_tmpfs_options():
    req = parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770")
    assert req.tmpfs_size == 64 * 1024 * 1024 and req.tmpfs_mode == 0o1770


@pytest.mark.parametrize("value, message", [
    ("type=volume,x=y,target=/d", "unexpected key 'x' in 'x=y'"),
    ("source=v", "target is required"),
    ("type=,target=/d", "type is required"),
    ("target=/d,bogus", "invalid field 'bogus' must be a key=value pair"),
    ("target=/d,readonly=maybe", "invalid value for readonly: maybe"),
    ("target=/d,volume-nocopy=maybe", "invalid value for volume-nocopy: maybe"),
    ("type=tmpfs,target=/d,tmpfs-size=lots", "invalid value for tmpfs-size: lots"),
    ("type=tmpfs,target=/d,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
    ("type=bind,src=/a,target=/d,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
    ("type=volume,target=/d,bind-propagation=shared", "cannot mix 'bind-*' options with mount type 'volume'"),
    ("type=bind,src=/a,target=/d,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"),
])
def test_mount_errors_are_dockers(value, message):
    with pytest.raises(InvalidArgument) as err:
        parse_mount(value)
    assert str(err.value) == f'invalid argument "{value}" for "--mount" flag: {message}'


def test_short_volume_forms():
    anon = parse_volume("/data")
    assert (anon.type, anon.source, anon.target) == ("volume", "", "/data")
    named = parse_volume("db:/var/lib/db:ro,nocopy")
    assert (named.type, named.source, named.readonly, named.nocopy) == ("volume", "db", True, True)
    bind = parse_volume("/host:/x:rslave,z")
    assert (bind.type, bind.propagation, bind.create_host_path, bind.mode) == \
        ("bind", "rslave", True, "rslave,z")


@pytest.mark.parametrize("value, message", [
    ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
    ("/x:ro", "invalid volume specification: '/x:ro'"),
    (":/x", "invalid volume specification: ':/x'"),
    ("v:/x:bogus", "invalid mode: bogus"),
    ("v:/x:ro,rw", "invalid mode: ro,rw"),
    ("v:/x:shared", "invalid mode: shared"),
    ("/h:/x:nocopy", "invalid mode: nocopy"),
    ("", "invalid empty volume spec"),
])
def test_short_volume_errors(value, message):
    with pytest.raises(InvalidArgument) as err:
        parse_volume(value)
    assert str(err.value) == message


def test_tmpfs_flag():
    req = parse_tmpfs("/run:rw,nosuid,nodev,size=65536k,mode=1777,uid=5,nr_inodes=9")
    assert req.tmpfs_size == 65536 * 1024 and req.tmpfs_mode == 0o1777
    assert req.tmpfs_options == ["nosuid", "nodev", "uid=5", "nr_inodes=9"] and not req.readonly
    assert parse_tmpfs("/run:ro").readonly
    with pytest.raises(InvalidArgument, match="invalid tmpfs option: 'bogus'"):
        parse_tmpfs("/run:bogus")


def test_tmpfs_flag_words_go_to_the_runtime():
    assert parse_tmpfs("/run:noexec,size=1m,suid").tmpfs_options == ["noexec", "suid"]


def test_volumes_from():
    assert parse_volumes_from("web:ro") == ("web", "ro")
    assert parse_volumes_from("web") == ("web", "")
    with pytest.raises(InvalidArgument, match="invalid mode: rx"):
        parse_volumes_from("web:rx")


@pytest.mark.parametrize("value, message", [
    ("target=data", 'invalid mount config for type "volume": invalid mount path: '
                    "'data' mount path must be absolute"),
    ("target=/", 'invalid mount config for type "volume": invalid specification: '
                 "destination can't be '/'"),
    ("type=bind,target=/x", 'invalid mount config for type "bind": field Source must '
                            "not be empty"),
    ("type=bind,src=rel/dir,target=/x", "mount path must be absolute (relative host paths"),
    ("type=tmpfs,src=x,target=/x", 'invalid mount config for type "tmpfs": field Source '
                                   "must not be specified"),
    ("type=bind,src=/a,target=/x,bind-propagation=weird", "invalid propagation mode: weird"),
    ("type=foo,target=/x", "mount type unknown: 'foo'"),
    ("src=a/b,target=/x", '"a/b" includes invalid characters for a local volume name'),
    ("src=vv,target=/x,volume-subpath=../up", "invalid volume subpath '../up'"),
])
def test_validation(value, message):
    with pytest.raises(InvalidArgument) as err:
        validate_request(parse_mount(value))
    assert message in str(err.value)


def test_short_form_validation_names_the_spec():
    with pytest.raises(InvalidArgument) as err:
        validate_request(parse_volume("/tmp:data"))
    assert str(err.value).startswith("invalid volume specification: '/tmp:data': "
                                     'invalid mount config for type "bind"')


@pytest.mark.parametrize("name", ["a", "-ab", "a/b", "a b", "ab:c", ""])
def test_bad_volume_names(name):
    with pytest.raises(InvalidArgument, match=r'only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed'):
        validate_volume_name(name)


@pytest.mark.parametrize("name", ["ab", "a.b_c-d", "0" * 64])
def test_good_volume_names(name):
    assert validate_volume_name(name) == name


def test_ram_size():
    assert parse_ram_size("1024") == 1024
    assert parse_ram_size("64m") == 64 << 20
    assert parse_ram_size("1g") == 1 << 30
    assert parse_ram_size("2KiB") == 2048
    with pytest.raises(ValueError):
        parse_ram_size("lots")
