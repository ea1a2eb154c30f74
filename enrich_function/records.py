"""Pure functions that turn a Firehose record's data into a JSON object and back.

Nothing here does I/O or keeps state. A record that cannot be read raises RecordError,
whose reason is a short fixed code: safe to count in a metric, and never the payload.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Mapping

# orjson turns an integer beyond 64 bits into a float, silently losing digits. Such a
# record (rare, and never produced by API Gateway's own variables) takes the exact
# stdlib path instead. 19 digits is the shortest run that can leave the 64-bit range.
_LONG_DIGIT_RUN = re.compile(rb"\d{19}")
NO_KEY_MARKERS = ("", "-")  # API Gateway writes "-" for an empty $context value.


class FailureReason(StrEnum):
    INVALID_BASE64 = "invalid_base64"
    EMPTY = "empty"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_OBJECT = "not_object"
    UNENCODABLE = "unencodable"
    # Did not fit in the 6 MB response and Firehose did not accept its re-ingested copy.
    RESPONSE_FULL = "response_full"


class RecordError(Exception):
    """A record that cannot be enriched. `reason` is a FailureReason, never payload text."""

    def __init__(self, reason: FailureReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LookupKey:
    """What a record says about who called: the API, its stage and the API key id."""

    api_id: str | None
    stage: str | None
    key_id: str | None
    # True when the key field held something that cannot be a key id (a number, a list...).
    key_unusable: bool = False


def decode_base64(data: str) -> bytes:
    """Decode Firehose's base64 strictly: stray characters or bad padding are an error."""
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise RecordError(FailureReason.INVALID_BASE64) from None


def encode_base64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def parse_object(raw: bytes) -> dict[str, Any]:
    """Parse one access-log line into a JSON object, or raise RecordError with the reason."""
    if not raw.strip():
        raise RecordError(FailureReason.EMPTY)
    if _LONG_DIGIT_RUN.search(raw):
        parsed = _parse_exact(raw)
    else:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # orjson refuses some valid JSON (lone surrogates, numbers past double range);
            # the exact parser decides, and names the reason if it refuses too.
            parsed = _parse_exact(raw)
    if not isinstance(parsed, dict):
        raise RecordError(FailureReason.NOT_OBJECT)
    return parsed


def _parse_exact(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(FailureReason.NOT_UTF8) from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise RecordError(FailureReason.INVALID_JSON) from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def encode_line(obj: Mapping[str, Any]) -> bytes:
    """Serialize an object as exactly one line of JSON followed by one newline."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        pass
    # Integers past 64 bits and lone surrogates: the stdlib writes both exactly, and
    # ensure_ascii keeps a lone surrogate as its \\u escape instead of invalid UTF-8.
    try:
        text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise RecordError(FailureReason.UNENCODABLE) from None
    return text.encode("ascii") + b"\n"


def lookup_key(
    obj: Mapping[str, Any],
    api_id_fields: tuple[str, ...],
    stage_fields: tuple[str, ...],
    key_id_fields: tuple[str, ...],
) -> LookupKey:
    """Read the API id, stage and API key id from a record, by the first field present."""
    raw_key = _first_present(obj, key_id_fields)
    key_id: str | None = None
    key_unusable = False
    if isinstance(raw_key, str):
        key_id = None if raw_key in NO_KEY_MARKERS else raw_key
    elif raw_key is not None:
        key_unusable = True
    return LookupKey(
        api_id=_as_text(_first_present(obj, api_id_fields)),
        stage=_as_text(_first_present(obj, stage_fields)),
        key_id=key_id,
        key_unusable=key_unusable,
    )


def _first_present(obj: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in obj:
            return obj[name]
    return None


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value not in NO_KEY_MARKERS else None
