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
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson

from apigw_enrichment.failures import RecordError

GZIP_MAGIC = b"\x1f\x8b"

# CloudWatch Logs takes at most 1 MiB of events in one PutLogEvents call, and an envelope is
# those events with their ids and JSON escaping: a few MiB at most. Anything that inflates past
# this is not an envelope CloudWatch Logs wrote (a gzip bomb reaches gigabytes from a megabyte),
# and fails alone before it can take the function's memory. (Under the batch's own bound,
# handler.MAX_BATCH_INFLATED_BYTES, so the first envelope of a batch is held to this one.)
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024
# What parsing makes of the envelope is bounded too, before it is parsed: each value costs
# the parser up to some 100 bytes (a dict, a list, a str, an int), so 16 MiB of `[{},{},...]`
# would take over 600 MB, more than the function has. An envelope of recommended-format lines
# counts one value (values_at_most) every 8 bytes or so: a million is some 8 MiB of them, eight
# times what CloudWatch Logs puts in one, and at most about 90 MB once parsed, whatever it holds.
MAX_ENVELOPE_VALUES = 1_000_000
# Parsing costs at most about 40 MB a MiB of JSON, however dense (16 MiB of `[{},{},...]` takes
# 620 MB), so an envelope of up to 2 MiB costs at most about 80 MB and is not counted: the
# envelopes CloudWatch Logs writes, about 1 MB, pay nothing for the bound (counting is 1.5 ms a MB).
_PARSED_UNCOUNTED_BYTES = 2 * 1024 * 1024

DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"


class SubscriptionFailure(StrEnum):
    # gzip that does not inflate, or inflates to something other than an envelope.
    INVALID_ENVELOPE = "invalid_envelope"
    # Inflates past MAX_ENVELOPE_BYTES, or holds more than MAX_ENVELOPE_VALUES values.
    ENVELOPE_TOO_LARGE = "envelope_too_large"
    # The batch's envelopes before it have inflated to all the batch may hold (handler.py).
    BATCH_TOO_LARGE = "batch_too_large"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a subscription record holds: the log group it came from and its lines, in order."""

    message_type: str
    log_group: str
    messages: tuple[bytes, ...]
    size: int = field(default=0, compare=False)  # inflated bytes: what the batch's budget counts

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
    if len(text) > limit or (len(text) > _PARSED_UNCOUNTED_BYTES and values_at_most(text) > MAX_ENVELOPE_VALUES):
        raise RecordError(SubscriptionFailure.ENVELOPE_TOO_LARGE)
    # A truncated member, or bytes after it: either way not what CloudWatch Logs sent.
    if not inflater.eof or inflater.unused_data:
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE)
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RecordError(SubscriptionFailure.INVALID_ENVELOPE) from None
    return replace(_checked(envelope), size=len(text))


def values_at_most(text: bytes) -> int:
    """An upper bound on the values (objects, arrays, strings, numbers, literals) that parsing
    `text` as JSON makes, in a few C-speed passes: a container opens with `{` or `[`, a string
    has two quotes, and any other value follows a `:`, a `,` or a `[`, or is the whole text.
    Characters inside strings are counted too, so it can only count more than there are."""
    return text.count(b"{") + 2 * text.count(b"[") + text.count(b'"') // 2 + text.count(b":") + text.count(b",") + 1


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
        # (orjson refuses a lone surrogate escape, so the envelope holding one has failed
        # above; "surrogatepass" only keeps this line from raising if that ever changes.)
        messages.append(message.encode("utf-8", "surrogatepass"))
    return Envelope(message_type, log_group, tuple(messages))
