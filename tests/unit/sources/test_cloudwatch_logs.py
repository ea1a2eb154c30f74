"""Unpacking a CloudWatch Logs subscription record, apart from reading its lines."""

from __future__ import annotations

import gzip
import json

import pytest

from apigw_enrichment.failures import RecordError
from apigw_enrichment.sources.cloudwatch_logs import (
    Envelope,
    SubscriptionFailure,
    is_subscription_record,
    read_envelope,
)
from apigw_logs.samples import CONTROL_MESSAGE, subscription_record


def test_a_data_message_gives_its_log_group_and_messages_in_order():
    raw = subscription_record(["first", '{"second":2}'], log_group="/my/group")
    assert is_subscription_record(raw)
    assert read_envelope(raw) == Envelope("DATA_MESSAGE", "/my/group", (b"first", b'{"second":2}'))


def test_a_control_message_has_no_lines():
    envelope = read_envelope(subscription_record([CONTROL_MESSAGE], log_group="", message_type="CONTROL_MESSAGE"))
    assert envelope.is_control and envelope.messages == ()


def test_a_direct_line_is_not_a_subscription_record():
    assert not is_subscription_record(b'{"api_id":"a"}')
    assert not is_subscription_record(b"\x1f")


def test_an_envelope_that_inflates_past_the_bound_fails_before_it_is_read_whole():
    raw = gzip.compress(b" " * 10_000)  # 10 kB of spaces in a few dozen bytes
    with pytest.raises(RecordError) as failure:
        read_envelope(raw, limit=1000)
    assert failure.value.reason is SubscriptionFailure.ENVELOPE_TOO_LARGE


def test_bytes_after_the_gzip_member_are_not_an_envelope():
    with pytest.raises(RecordError) as failure:
        read_envelope(subscription_record(["x"]) + b"junk")
    assert failure.value.reason is SubscriptionFailure.INVALID_ENVELOPE


@pytest.mark.parametrize(
    "envelope",
    [
        [],
        {"messageType": "DATA_MESSAGE", "logEvents": [{"message": "x"}]},  # no log group
        {"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": "x"},
        {"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": [None]},
        {"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": [{"message": 1}]},
    ],
)
def test_json_of_another_shape_is_not_an_envelope(envelope):
    with pytest.raises(RecordError) as failure:
        read_envelope(gzip.compress(json.dumps(envelope).encode()))
    assert failure.value.reason is SubscriptionFailure.INVALID_ENVELOPE
