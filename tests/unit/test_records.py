"""Parsing and encoding one record: pure functions, no AWS."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apigw_enrichment.encoding.plain import EncodingFailure, encode_line
from apigw_enrichment.enrichment.keys import LookupKey, lookup_key
from apigw_enrichment.failures import RecordError
from apigw_enrichment.formats.json_line import FormatFailure, parse_object
from apigw_enrichment.sources.firehose import SourceFailure, decode_base64

DEFAULT_FIELDS = (("api_id", "apiId"), ("stage",), ("key_id", "apiKeyId", "identityApiKeyId"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=8)


def test_decode_base64_accepts_firehose_data():
    assert decode_base64(base64.b64encode(b'{"a":1}').decode()) == b'{"a":1}'


@pytest.mark.parametrize("data", ["not base64!", "eyJhIjoxfQ", "eyJhIjoxfQ=\n", "e30=e30="])
def test_decode_base64_rejects_stray_characters_and_bad_padding(data):
    with pytest.raises(RecordError) as failure:
        decode_base64(data)
    assert failure.value.reason is SourceFailure.INVALID_BASE64


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


@pytest.mark.parametrize("tail", [b"", b"\n", b"\r\n", b"\n\n", b"  "])
def test_output_is_one_line_ending_in_exactly_one_newline(tail):
    line = encode_line(parse_object(b'{"msg": "line one\\nline two"}' + tail))
    assert line == b'{"msg":"line one\\nline two"}\n'


@given(json_objects)
def test_encode_then_parse_gives_back_the_same_object(obj):
    line = encode_line(obj)
    assert line.endswith(b"\n")
    assert b"\n" not in line[:-1]
    assert b"\r" not in line
    assert parse_object(line) == obj
    assert json.loads(line) == obj


def test_lookup_key_reads_the_seed_format():
    obj = {"api_id": "a1", "stage": "prod", "key_id": "k1", "api_key": "secret"}
    assert lookup_key(obj, *DEFAULT_FIELDS) == LookupKey("a1", "prod", "k1")


def test_lookup_key_reads_the_camel_case_format():
    obj = {"apiId": "a1", "stage": "prod", "identityApiKeyId": "k1"}
    assert lookup_key(obj, *DEFAULT_FIELDS) == LookupKey("a1", "prod", "k1")


@pytest.mark.parametrize("obj", [{"key_id": "-"}, {"key_id": ""}, {"key_id": None}, {}])
def test_a_dash_empty_null_or_missing_key_id_means_no_key(obj):
    assert lookup_key({"api_id": "a1", "stage": "prod", **obj}, *DEFAULT_FIELDS).key_id is None


@pytest.mark.parametrize("value", [42, 1.5, True, ["k1"], {"id": "k1"}])
def test_a_key_id_that_is_not_a_string_is_unusable(value):
    key = lookup_key({"api_id": "a1", "stage": "prod", "key_id": value}, *DEFAULT_FIELDS)
    assert key == LookupKey("a1", "prod", None, key_unusable=True)


@pytest.mark.parametrize("value", [42, None, ["a1"], {"id": "a1"}, "-"])
def test_an_api_id_or_stage_that_is_not_a_usable_string_is_none(value):
    key = lookup_key({"api_id": value, "stage": value, "key_id": "k1"}, *DEFAULT_FIELDS)
    assert key == LookupKey(None, None, "k1")


def test_the_first_field_name_present_wins():
    obj = {"apiId": "camel", "api_id": "snake", "stage": "prod", "apiKeyId": "k2", "key_id": "k1"}
    assert lookup_key(obj, *DEFAULT_FIELDS) == LookupKey("snake", "prod", "k1")
