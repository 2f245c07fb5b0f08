"""hold image bootstrap: a real Debian base from Debian's packages, cached.

Needs mmdebstrap (or debootstrap) and the host's Debian archive; skipped
when the tool is missing (.ci/install-build.sh installs it)."""

from __future__ import annotations

import shutil
import time

import pytest

from hold.build.bootstrap import bootstrap, host_mirror
from hold.engine import Engine
from hold.errors import InvalidArgument

pytestmark = pytest.mark.skipif(
    not (shutil.which("mmdebstrap") or shutil.which("debootstrap")) or not host_mirror(),
    reason="needs mmdebstrap or debootstrap and a Debian archive in the apt sources")


def test_bootstrap_makes_a_runnable_debian_with_python_and_caches_it(hold, context):
    engine = Engine(hold.paths)
    image, cached = bootstrap(engine.images, engine.paths, "debian:bookworm",
                              ["python3-minimal"], "deb:py")
    assert not cached
    assert hold.ok("run", "--rm", "deb:py", "python3", "-c", "print(6 * 7)") == "42\n"
    assert hold.ok("run", "--rm", "deb:py", "cat", "/etc/debian_version").startswith("12")
    start = time.monotonic()
    again, cached = bootstrap(engine.images, engine.paths, "debian:bookworm",
                              ["python3-minimal"], "deb:other")
    assert cached and again.id == image.id and time.monotonic() - start < 5
    assert sorted(again.tags) == ["deb:other", "deb:py"]
    # a build on top: merged /usr keeps /bin a symlink through COPY
    ctx = context({"Dockerfile": "FROM deb:py\nCOPY tool /bin/tool\n"
                                 "RUN python3 -c 'print(1)' > /one\n", "tool": "t\n"})
    hold.ok("build", "-t", "ontop", ctx)
    assert hold.ok("run", "--rm", "ontop", "sh", "-c",
                   "readlink /bin; cat /usr/bin/tool /one") == "usr/bin\nt\n1\n"
    assert hold.ok("images", "-q", "--no-trunc", "deb:py").strip() == image.id
    assert not any(n.startswith("bootstrap-") for n in __import__("os").listdir(
        hold.paths.tmp))


def test_bootstrap_refuses_bad_input_before_doing_anything(hold):
    engine = Engine(hold.paths)
    for args in (("ubuntu:jammy", []), ("debian:bookworm", ["Bad_Name"])):
        with pytest.raises(InvalidArgument):
            bootstrap(engine.images, engine.paths, args[0], args[1], "x")
    assert hold.ok("images", "-aq") == ""
