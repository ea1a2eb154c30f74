"""Re-ingesting records into the stream: chunking, per-entry retries, and the bounds on both."""

from __future__ import annotations

import pytest

from apigw_enrichment.budget import Deadline
from apigw_enrichment.reingest import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES,
    MAX_ROUNDS,
    StreamRef,
    chunks,
    parse_stream_arn,
    put_records,
)
from tests.support.fake_firehose import FakeFirehose

STREAM = "amazon-apigateway-test"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def payloads(count: int, size: int = 100) -> list[bytes]:
    return [f"{n:08d}".encode().ljust(size - 1, b"x") + b"\n" for n in range(count)]


def put(fake: FakeFirehose, data: list[bytes], *, seconds: float = 10, sleeps: Sleeps | None = None):
    return put_records(
        fake.client(),
        STREAM,
        data,
        Deadline(seconds),
        sleep=sleeps if sleeps is not None else Sleeps(),
        jitter=lambda: 1.0,
    )


def test_chunks_hold_at_most_500_records_and_4_mib():
    small = payloads(1201)
    assert [len(c) for c in chunks(range(1201), small)] == [MAX_BATCH_RECORDS, MAX_BATCH_RECORDS, 201]
    big = [b"x" * MAX_RECORD_BYTES] * 9  # 4 fit in 4 MiB, the fifth would not
    assert [len(c) for c in chunks(range(9), big)] == [4, 4, 1]
    assert all(sum(len(big[i]) for i in c) <= MAX_BATCH_BYTES for c in chunks(range(9), big))
    exact = [b"y" * (MAX_BATCH_BYTES // 2)] * 2
    assert [len(c) for c in chunks(range(2), exact)] == [2]


def test_every_entry_accepted_first_time_takes_one_request_per_chunk():
    fake, data = FakeFirehose(), payloads(1201)
    result = put(fake, data)
    assert result.accepted == (True,) * 1201 and result.accepted_count == 1201
    assert (result.requests, result.rounds) == (3, 1)
    assert [len(r) for r in fake.requests] == [500, 500, 201]
    assert sorted(fake.accepted) == sorted(data)


def test_rejected_entries_are_retried_with_backoff_until_accepted():
    sleeps = Sleeps()
    # Every third entry is rejected the first two times it is sent.
    fake = FakeFirehose(
        reject=lambda data, n: "ServiceUnavailableException" if int(data[:8]) % 3 == 0 and n <= 2 else None
    )
    result = put(fake, payloads(30), sleeps=sleeps)
    assert result.accepted_count == 30 and result.rounds == 3
    assert [len(r) for r in fake.requests] == [30, 10, 10], "only the rejected entries are sent again"
    assert sleeps == [0.1, 0.2]


def test_entries_rejected_every_time_are_reported_not_accepted_after_the_last_round():
    fake = FakeFirehose(reject=lambda data, _n: "InternalFailure" if data.startswith(b"00000004") else None)
    result = put(fake, payloads(10))
    assert result.accepted == (True,) * 4 + (False,) + (True,) * 5
    assert result.rounds == MAX_ROUNDS and result.requests == MAX_ROUNDS
    assert fake.accepted.count(payloads(10)[4]) == 0


def test_a_failing_request_is_retried_by_botocore_then_by_the_next_round(monkeypatch):
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _s: None)
    fake = FakeFirehose(request_error=lambda n: (500, "ServiceUnavailableException") if n <= 4 else None)
    result = put(fake, payloads(5))
    # Round 1: three attempts (botocore standard mode) fail; round 2: one fails, one succeeds.
    assert result.accepted_count == 5
    assert (len(fake.requests), result.rounds) == (5, 2)


def test_a_permanent_error_stops_at_once():
    fake = FakeFirehose(request_error=lambda _n: (400, "ResourceNotFoundException"))
    result = put(fake, payloads(5))
    assert result.accepted == (False,) * 5 and len(fake.requests) == 1
    assert result.error is not None and result.error.startswith("ResourceNotFoundException")


def test_a_record_over_1000_kib_is_not_sent():
    fake = FakeFirehose()
    result = put(fake, [b"a\n", b"x" * (MAX_RECORD_BYTES + 1), b"b\n"])
    assert result.accepted == (True, False, True) and result.too_large == 1
    assert fake.requests == [[b"a\n", b"b\n"]]


def test_nothing_is_sent_once_the_budget_is_used_up():
    fake = FakeFirehose()
    result = put(fake, payloads(3), seconds=0)
    assert result.accepted == (False,) * 3 and fake.requests == [] and result.requests == 0


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (
            "arn:aws:firehose:eu-west-1:123456789012:deliverystream/amazon-apigateway-logs",
            StreamRef("eu-west-1", "amazon-apigateway-logs"),
        ),
        ("arn:aws-cn:firehose:cn-north-1:123456789012:deliverystream/s", StreamRef("cn-north-1", "s")),
        ("arn:aws:kinesis:us-east-1:123456789012:stream/x", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_the_stream_comes_from_the_events_delivery_stream_arn(arn, expected):
    assert parse_stream_arn(arn) == expected
