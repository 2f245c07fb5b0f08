"""Properties over arbitrary input: parsers either answer or raise
InvalidArgument, never anything else."""

from hypothesis import given, settings, strategies as st

from hold.errors import InvalidArgument
from hold.images.config import apply_changes
from hold.images.reference import parse_reference

REF_CHARS = st.text(alphabet="abcXYZ019._-:/@sha256", max_size=40)


@settings(max_examples=500, deadline=None)
@given(st.one_of(REF_CHARS, st.text(max_size=30)))
def test_reference_parse_is_total_and_familiar_round_trips(text):
    try:
        ref = parse_reference(text)
    except InvalidArgument as exc:
        assert "\n" not in str(exc)
        return
    again = parse_reference(ref.familiar)
    assert again == ref


INSTRUCTIONS = st.sampled_from(["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL",
                                "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "RUN", "env"])


@settings(max_examples=500, deadline=None)
@given(INSTRUCTIONS, st.text(alphabet=' ab=$"\'\\{}[],:-/0123456789\t', max_size=25))
def test_changes_are_total(instruction, rest):
    try:
        config = apply_changes({}, [f"{instruction} {rest}"])
    except InvalidArgument as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(config, dict)
