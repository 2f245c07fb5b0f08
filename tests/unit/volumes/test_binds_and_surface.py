"""The sensitive bind-source rule (pure path logic) and the public surface."""

import importlib

import pytest

from hold.errors import InvalidArgument
from hold.store.paths import Paths
from hold.volumes.binds import OVERRIDE_FLAG, check_bind_source, sensitive_reason

PATHS = Paths("/srv/holdroot/data", "/srv/holdroot/run")


@pytest.mark.parametrize("source, fragment", [
    ("/", "whole file system"),
    ("/etc", "users, passwords"),
    ("/etc/", "users, passwords"),
    ("/proc", "processes and kernel"),
    ("/proc/sysrq-trigger", "inside /proc"),
    ("/sys/fs/cgroup", "inside /sys"),
    ("/dev/sda", "inside /dev"),
    ("/boot", "boot loader"),
    ("/var/lib/hold", "data root"),
    ("/var/lib/hold/volumes/x/_data", "inside /var/lib/hold"),
    ("/run/hold", "runtime root"),
    ("/var/run/docker.sock", "container runtime's socket"),
    ("/run/containerd/containerd.sock", "inside /run/containerd"),
    ("/var", "contains /var/lib/hold"),
    ("/run", "contains /run/hold"),
    ("/srv/holdroot/data", "hold's data root"),
    ("/srv/holdroot/run/containers", "inside /srv/holdroot/run"),
    ("/srv/holdroot", "contains /srv/holdroot/data"),
    ("/srv", "contains /srv/holdroot/data"),
])
def test_refused_with_a_reason(source, fragment):
    why = sensitive_reason(source, PATHS)
    assert fragment in why, why


@pytest.mark.parametrize("source", ["/home", "/home/user/project", "/srv/other",
                                    "/etc/localtime", "/etc/app/config.yaml", "/opt",
                                    "/tmp/x", "/mnt/share"])
def test_allowed(source):
    assert sensitive_reason(source, PATHS) == ""


def test_message_names_the_override_and_override_works():
    with pytest.raises(InvalidArgument) as err:
        check_bind_source("/etc", PATHS, allow_sensitive=False)
    assert OVERRIDE_FLAG in str(err.value) and "refusing to bind-mount" in str(err.value)
    check_bind_source("/etc", PATHS, allow_sensitive=True)


def test_symlink_resolved_before_the_check(tmp_path):
    link = tmp_path / "looks-harmless"
    link.symlink_to("/etc")
    assert "users, passwords" in sensitive_reason(str(link), PATHS)


@pytest.mark.parametrize("module", ["driver", "local", "service", "mountspec", "resolve",
                                    "attach", "copyup", "binds", "cleanup", "testing",
                                    "subpath", "transfer"])
def test_public_surface_exists(module):
    mod = importlib.import_module(f"hold.volumes.{module}")
    assert mod.__all__, module
    for name in mod.__all__:
        assert hasattr(mod, name), f"hold.volumes.{module}.{name}"


def test_package_lists_its_modules():
    import hold.volumes as volumes
    for name in volumes.__all__:
        importlib.import_module(f"hold.volumes.{name}")


def test_cli_start_up_does_not_import_volumes():
    import subprocess
    import sys
    code = ("import sys, hold.cli.main, hold.cli.commands.containers; "
            "print(any(m.startswith('hold.volumes') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
