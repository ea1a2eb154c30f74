"""The JSON-line format: one object a line, read exactly, with a named reason when it cannot be."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from apigw_enrichment.encoding.plain import EncodingFailure, encode_line
from apigw_enrichment.failures import RecordError
from apigw_enrichment.formats.json_line import FormatFailure, members_are_plain, parse_object, top_level_duplicates

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)

json_objects = st.dictionaries(st.text(), json_values, max_size=8)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", FormatFailure.EMPTY),
        (b"  \n", FormatFailure.EMPTY),
        (b'\xff\xfe{"a": 1}', FormatFailure.NOT_UTF8),
        (b'{"api_id": "a1", "stage": "pr', FormatFailure.INVALID_JSON),
        (b'{"a": NaN}', FormatFailure.INVALID_JSON),
        (b'{"a": 1e400}', FormatFailure.INVALID_JSON),
        (b'{"a": "x\x00y"}', FormatFailure.INVALID_JSON),
        (b"[1, 2]", FormatFailure.NOT_OBJECT),
        (b'"GET /orders 200"', FormatFailure.NOT_OBJECT),
        (b"42", FormatFailure.NOT_OBJECT),
        (b"null", FormatFailure.NOT_OBJECT),
    ],
)
def test_parse_object_names_the_reason_a_record_is_unusable(raw, reason):
    with pytest.raises(RecordError) as failure:
        parse_object(raw)
    assert failure.value.reason is reason
    # The reason is a fixed code: no payload text ever rides on the exception.
    assert str(failure.value) == reason.value


@pytest.mark.parametrize("depth", [10, 1000, 5000, 100_000])
def test_deep_nesting_enriches_or_fails_alone_never_crashes(depth):
    raw = b'{"a":' * depth + b"1" + b"}" * depth
    try:
        line = encode_line(parse_object(raw))
    except RecordError as failure:
        # Either outcome is allowed; what matters is that only RecordError escapes.
        assert failure.reason in {FormatFailure.INVALID_JSON, EncodingFailure.UNENCODABLE}  # noqa: PT017
    else:
        assert line == raw + b"\n"


def test_parse_object_keeps_integers_beyond_64_bits_exact():
    obj = parse_object(b'{"n": 123456789012345678901234567890, "m": -9223372036854775809}')
    assert obj == {"n": 123456789012345678901234567890, "m": -9223372036854775809}
    assert encode_line(obj) == b'{"n":123456789012345678901234567890,"m":-9223372036854775809}\n'


def test_lone_surrogate_round_trips_as_its_escape():
    obj = parse_object(b'{"s": "\\ud800"}')
    assert encode_line(obj) == b'{"s":"\\ud800"}\n'


# --- the plain-line proof, and the careful read of the lines it refuses ---


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":"x","b":"y"}',
        b'{"a": "x", "b": "y"}',
        b'{"a":"x","b":1,"c":null,"d":true}',
        b'{"a":[1,2],"b":{}}',  # containers holding no string
        b"{}",
        b'{"path":"/orders/{id}","t":"21/Nov/2025:00:00:01 +0000"}',
    ],
)
def test_a_line_whose_quotes_its_members_account_for_is_plain(raw):
    assert members_are_plain(raw, parse_object(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":"x","a":"y"}',  # a name twice
        b'{"a":"x","a":"x"}',  # even with one value
        b'{"a":"x","b":1,"b":2}',  # with number values
        b'{"a":"x","k":"v","z":1,"y":2,"k":"w"}',  # numbers that balance a duplicate's quotes
        b'{"a":{"b":"c"}}',  # a nested member
        b'{"a":["x"]}',  # a string in an array
        b'{"a":"x\\"y"}',  # an escape
        b'{"a\\u0062":"x"}',  # an escaped name
    ],
)
def test_any_other_line_is_not(raw):
    assert not members_are_plain(raw, parse_object(raw))


def test_the_careful_read_reports_each_top_level_name_written_twice_with_all_its_values():
    raw = b'{"key_id":"k1","inner":{"key_id":"n","key_id":"m"},"ua":"x","key_id":"-","k\\u0065y_id":null}'
    assert top_level_duplicates(raw) == {"key_id": ["k1", "-", None]}
    assert top_level_duplicates(b'{"a":{"b":1,"b":2}}') == {}, "nested repeats are not the line's identity"


@pytest.mark.parametrize(
    ("raw", "reason"), [(b'{"a":"\xff"}', FormatFailure.NOT_UTF8), (b'{"a":1e400}', FormatFailure.INVALID_JSON)]
)
def test_the_careful_read_names_what_it_cannot_read(raw, reason):
    with pytest.raises(RecordError) as failure:
        top_level_duplicates(raw)
    assert failure.value.reason is reason
