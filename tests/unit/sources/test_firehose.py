"""The Firehose source: a record's base64, strictly; the function's own re-ingested copies."""

from __future__ import annotations

import base64

import pytest

from apigw_enrichment.failures import RecordError
from apigw_enrichment.sources.firehose import REINGESTED_MARK, SourceFailure, decode_base64, read_reingested


def test_decode_base64_accepts_firehose_data():
    assert decode_base64(base64.b64encode(b'{"a":1}').decode()) == b'{"a":1}'


@pytest.mark.parametrize("data", ["not base64!", "eyJhIjoxfQ", "eyJhIjoxfQ=\n", "e30=e30="])
def test_decode_base64_rejects_stray_characters_and_bad_padding(data):
    with pytest.raises(RecordError) as failure:
        decode_base64(data)
    assert failure.value.reason is SourceFailure.INVALID_BASE64


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
