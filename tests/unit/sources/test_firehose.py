"""The Firehose source: a record's base64, strictly; the function's own re-ingested copies."""

from __future__ import annotations

import base64
import binascii

import pybase64
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from apigw_enrichment.failures import RecordError
from apigw_enrichment.sources.firehose import (
    REINGESTED_MARK,
    SourceFailure,
    decode_base64,
    encode_base64,
    read_reingested,
)


def test_decode_base64_accepts_firehose_data():
    assert decode_base64(base64.b64encode(b'{"a":1}').decode()) == b'{"a":1}'


@pytest.mark.parametrize("data", ["not base64!", "eyJhIjoxfQ", "eyJhIjoxfQ=\n", "e30=e30="])
def test_decode_base64_rejects_stray_characters_and_bad_padding(data):
    with pytest.raises(RecordError) as failure:
        decode_base64(data)
    assert failure.value.reason is SourceFailure.INVALID_BASE64


def strict_binascii(data: str) -> bytes | None:
    """What decoding was before pybase64: binascii's strict mode; None where it refuses."""
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def pybase64_validating(data: str) -> bytes | None:
    try:
        return pybase64.b64decode(data, None, True)
    except ValueError:
        return None


# Text near base64: its alphabet, padding, and the characters a broken or hostile record holds.
NEAR_BASE64 = st.text(
    alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\r\t.\x00\u00e9"),
    max_size=24,
)


@st.composite
def damaged_base64(draw: st.DrawFn) -> str:
    """The base64 of some bytes with one character inserted, removed or replaced, or none."""
    text = base64.b64encode(draw(st.binary(max_size=16))).decode()
    at = draw(st.integers(0, len(text)))
    edit = draw(st.sampled_from(["none", "insert", "remove", "replace"]))
    char = draw(st.sampled_from("A/+=\n -_\u00e9"))
    if edit == "insert":
        return text[:at] + char + text[at:]
    if edit == "remove":
        return text[:at] + text[at + 1 :]
    if edit == "replace":
        return text[:at] + char + text[at + 1 :]
    return text


@settings(max_examples=2000)
@given(st.one_of(NEAR_BASE64, damaged_base64()))
@example("QR==")  # padding bits set: both accept it, and decode it alike
@example("QQ=a")
@example("=QQ=")
@example("QUJD=")
@example("Q")
def test_pybase64_accepts_only_what_strict_binascii_accepts_and_decodes_it_alike(data):
    """decode_base64 relies on this: whatever pybase64 validates, binascii's strict mode would
    have accepted with the same bytes (what it refuses, strict mode decides)."""
    fast = pybase64_validating(data)
    if fast is not None:
        assert fast == strict_binascii(data)


@settings(max_examples=2000)
@given(st.one_of(NEAR_BASE64, damaged_base64()))
def test_decode_base64_answers_exactly_as_strict_binascii(data):
    expected = strict_binascii(data)
    if expected is None:
        with pytest.raises(RecordError):
            decode_base64(data)
    else:
        assert decode_base64(data) == expected


@given(st.binary(max_size=2000))
def test_encode_base64_is_the_standard_encoding_with_padding_and_no_newline(raw):
    assert encode_base64(raw) == binascii.b2a_base64(raw, newline=False).decode("ascii")


def test_pybase64_runs_its_c_extension_here():
    """The speed comes from the extension; the pure-Python fallback would work, slowly."""
    assert pybase64.b64decode.__module__ == "pybase64._pybase64"


def test_a_re_ingested_copy_is_known_by_its_mark_and_read_without_it():
    line = b'{"a":"x","enrichment_status":"enriched"}\n'
    data = base64.b64encode(REINGESTED_MARK + line).decode()
    assert read_reingested(data) == [(line, {"a": "x", "enrichment_status": "enriched"})]


def test_a_copy_of_several_lines_is_read_line_by_line():
    """A subscription record too large to go back whole goes back as copies of several lines."""
    lines = [b'{"a":"x","enrichment_status":"enriched"}\n', b'{"a":"y","enrichment_status":"no_api_key"}\n']
    data = base64.b64encode(REINGESTED_MARK + b"".join(lines)).decode()
    assert read_reingested(data) == [
        (lines[0], {"a": "x", "enrichment_status": "enriched"}),
        (lines[1], {"a": "y", "enrichment_status": "no_api_key"}),
    ]


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(b'{"a":"x"}').decode(),  # no mark: an ordinary line
        base64.b64encode(REINGESTED_MARK + b"not json").decode(),
        base64.b64encode(REINGESTED_MARK + b"[1]").decode(),
        base64.b64encode(REINGESTED_MARK + b'{"a":"x"}\nnot json\n').decode(),  # one line of two is no JSON
        base64.b64encode(REINGESTED_MARK).decode(),  # the mark alone
        "not base64!",
    ],
)
def test_anything_else_is_no_copy(data):
    assert read_reingested(data) is None
