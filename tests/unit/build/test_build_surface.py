"""hold.build exposes exactly what its __all__ names."""

import hold.build as build


def test_public_surface():
    assert sorted(build.__all__) == ["BuildOptions", "Builder", "Dockerfile",
                                     "DockerfileError", "Instruction", "bootstrap", "parse"]
    for name in build.__all__:
        assert getattr(build, name) is not None
