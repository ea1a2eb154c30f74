"""The Firehose transformation event, and a record whose data is one access-log line."""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from enum import StrEnum
from operator import methodcaller
from typing import Any, NamedTuple

import pybase64

from apigw_enrichment.answers import Answer
from apigw_enrichment.failures import RecordError
from apigw_enrichment.formats.json_line import read_object


class SourceFailure(StrEnum):
    INVALID_BASE64 = "invalid_base64"


class InvalidEventError(ValueError):
    """The event is not a Firehose transformation event, so no record can be answered."""


class FirehoseEvent(NamedTuple):
    """A Firehose transformation event whose shape validate_event checked: the event as it came,
    named as Powertools' KinesisFirehoseEvent names it. (That data class's package imports
    forty event types, 16 ms of a cold start, for a field the loop reads once.)"""

    raw_event: dict[str, Any]


def validate_event(event: Any) -> FirehoseEvent:
    """Check the event's shape; a record can only be answered if it has a recordId."""
    if not isinstance(event, Mapping) or not isinstance(event.get("records"), list):
        raise InvalidEventError("not a Firehose transformation event: expected an object with a 'records' list")
    records = event["records"]
    # The usual event, checked by C-level maps: every record a dict, every recordId a string.
    if set(map(type, records)) <= _DICT and set(map(type, map(_RECORD_ID_OF, records))) <= _STR:
        return FirehoseEvent(dict(event))
    for index, record in enumerate(records):
        # (`type() is dict` first: the runtime's records are dicts, and an ABC check is slow.)
        if not (type(record) is dict or isinstance(record, Mapping)) or type(record.get("recordId")) is not str:
            raise InvalidEventError(f"record {index} has no 'recordId' string, so it cannot be answered")
    return FirehoseEvent(dict(event))


_DICT, _STR = frozenset({dict}), frozenset({str})
_RECORD_ID_OF = methodcaller("get", "recordId")


def answer_for(record: Mapping[str, Any]) -> Answer:
    data = record.get("data", "")
    if isinstance(data, str):
        return Answer(record["recordId"], "Ok", "", data)
    # Not a string: nothing to decode, and nothing to echo back either.
    answer = Answer(record["recordId"], "Ok", "", "")
    answer.fail(SourceFailure.INVALID_BASE64)
    return answer


def decode_base64(data: str) -> bytes:
    """Decode Firehose's base64 strictly: stray characters or bad padding are an error.

    pybase64 (SIMD) takes the usual record in a fifth of binascii's time. What it refuses,
    binascii's strict mode decides, as it did alone before: pybase64 with validate accepts
    nothing strict mode refuses, and decodes what both accept to the same bytes
    (tests/unit/sources/test_firehose.py checks both on arbitrary text). So the answer to
    every record is binascii's.
    """
    try:
        # (data, altchars, validate): positional, since a keyword costs 0.2 us more a call.
        return b64decode_validating(data, None, True)  # noqa: FBT003 - see above
    except ValueError:  # binascii.Error is one
        pass
    return decode_refused(data)


def decode_refused(data: str) -> bytes:
    """decode_base64 for data pybase64 refused: binascii's strict mode decides."""
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise RecordError(SourceFailure.INVALID_BASE64) from None


# pybase64's decoder: the hot loop calls it as decode_base64 does, (data, None, True), with no
# Python frame around it, and hands what it refuses to decode_refused.
b64decode_validating: Callable[..., bytes] = pybase64.b64decode

# Standard base64 with padding and no newline, as str: what binascii.b2a_base64(raw,
# newline=False).decode() gives, in one C call (SIMD), with no Python frame around it.
encode_base64: Callable[[bytes], str] = pybase64.b64encode_as_string


# The first byte of every copy the function puts back into its stream (RFC 7464's record
# separator, U+001E). API Gateway cannot begin a line with it: a JSON format begins with its
# own text, and no logged header may hold a control character. So a copy is known as one by
# this byte, not by the five fields it carries, which a client able to put quotes in a
# logged header could write into its own line.
REINGESTED_MARK = b"\x1e"


def read_reingested(data: str) -> list[tuple[bytes, dict[str, Any]]] | None:
    """Each line of `data` with its object if `data` is a copy this function re-ingested, else None.

    A copy holds one line, or several when it is part of a CloudWatch Logs subscription record
    too large to go back whole; each line ends with its own newline. Only reached for data that
    could not be read as a JSON line: the mark makes a copy no JSON, so the usual record pays
    nothing for this check.
    """
    try:
        marked = decode_base64(data)
    except RecordError:
        return None
    if not marked.startswith(REINGESTED_MARK):
        return None
    raw = marked[len(REINGESTED_MARK) :]
    # Lines as the function wrote them: each up to and including its newline.
    lines = [line + b"\n" for line in raw.split(b"\n")[:-1]]
    if not raw.endswith(b"\n"):
        lines.append(raw.rpartition(b"\n")[2])
    try:
        return [(line, read_object(line)) for line in lines]
    except RecordError:
        return None
