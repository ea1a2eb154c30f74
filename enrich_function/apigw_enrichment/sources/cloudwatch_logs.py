"""A record from a CloudWatch Logs subscription filter: one gzip-compressed envelope, many lines.

CloudWatch Logs writes each record as gzip of a JSON envelope: `messageType`, `logGroup`,
`logStream`, `subscriptionFilters` and `logEvents[{id, timestamp, message}]`. Such a record is
known by its first two bytes, gzip's magic number (1f 8b): an access-log line that API Gateway
sends straight to the stream begins with its format's own text, and no format can begin with a
control character. So one stream takes both kinds, and each record is read as what it is.

Only unpacking is done here; each message is read, masked and enriched like a direct record.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from apigw_enrichment.failures import RecordError

GZIP_MAGIC = b"\x1f\x8b"

# CloudWatch Logs takes at most 1 MiB of events in one PutLogEvents call, and an envelope is
# those events with their ids and JSON escaping: a few MiB at most. Anything that inflates past
# this is not an envelope CloudWatch Logs wrote (a gzip bomb reaches gigabytes from a megabyte),
# and fails alone before it can take the function's memory.
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024

DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"


class SubscriptionFailure(StrEnum):
    # gzip that does not inflate, or inflates to something other than an envelope.
    INVALID_ENVELOPE = "invalid_envelope"
    # Inflates past MAX_ENVELOPE_BYTES.
    ENVELOPE_TOO_LARGE = "envelope_too_large"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a subscription record holds: the log group it came from and its lines, in order."""

    message_type: str
    log_group: str
    messages: tuple[bytes, ...]

    @property
    def is_control(self) -> bool:
        return self.message_type == CONTROL_MESSAGE


def is_subscription_record(raw: bytes) -> bool:
    return raw[:2] == GZIP_MAGIC


def read_envelope(raw: bytes, limit: int = MAX_ENVELOPE_BYTES) -> Envelope:
    """Inflate and check a subscription record; RecordError if it is not a whole envelope."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        text = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE) from None
    if len(text) > limit:
        raise RecordError(SubscriptionFailure.ENVELOPE_TOO_LARGE)
    # A truncated member, or bytes after it: either way not what CloudWatch Logs sent.
    if not inflater.eof or inflater.unused_data:
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE)
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE) from None
    return _checked(envelope)


def _checked(envelope: Any) -> Envelope:
    if not isinstance(envelope, Mapping):
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE)
    message_type, log_group, events = envelope.get("messageType"), envelope.get("logGroup"), envelope.get("logEvents")
    if message_type not in (DATA_MESSAGE, CONTROL_MESSAGE) or not isinstance(log_group, str):
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE)
    if message_type == CONTROL_MESSAGE:
        return Envelope(message_type, log_group, ())
    if not isinstance(events, list) or not events:
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE)
    messages = []
    for event in events:
        message = event.get("message") if isinstance(event, Mapping) else None
        if not isinstance(message, str):
            raise RecordError(SubscriptionFailure.INVALID_ENVELOPE)
        # "surrogatepass": a lone surrogate escape in the envelope stays visible to the reader
        # (as bytes no UTF-8 reader accepts) instead of failing here.
        messages.append(message.encode("utf-8", "surrogatepass"))
    return Envelope(message_type, log_group, tuple(messages))
