"""The 6 MB response limit: a 3 MB batch of short records, re-ingested through moto's Firehose into S3."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.answers import Answer
from apigw_enrichment.budget import Deadline
from apigw_enrichment.formats.json_line import FormatFailure
from apigw_enrichment.reingest import ReingestResult
from apigw_enrichment.response import (
    REINGEST_BUDGET_SECONDS,
    RESPONSE_LIMIT_BYTES,
    entry_size,
    fit_response,
    response_size,
)
from apigw_enrichment.sources.firehose import REINGESTED_MARK
from apigw_logs.emulator import DEMO_ACCOUNT, load_account, seed_account
from tests.support.clock import FakeClock
from tests.support.events import firehose_event
from tests.support.fake_firehose import FakeFirehose

STREAM = "amazon-apigateway-test"  # conftest.firehose_event's deliveryStreamArn
BUCKET = "access-logs-test"
DEMO = load_account(DEMO_ACCOUNT)
KEYS = ("k7x2m9p4q1", "k3n8v5b2z6", "k5j6h2g8f4", "k9r4t1w7y3", "-")


def short_record(n: int) -> bytes:
    """About 250 bytes, the recommended format's core fields: close to the shortest records
    of which 3 MB still fit in one invocation (Lambda takes at most 6 MB of request, and
    base64 plus each record's recordId and timestamp add about 130 bytes a record)."""
    return json.dumps(
        {
            "request_id": f"req-{n:08d}",
            "request_time_epoch": "1763683200000",
            "api_id": "a1b2c3d4e5",
            "stage": "prod",
            "method": "GET",
            "path": "/orders",
            "protocol": "HTTP/1.1",
            "status": "200",
            "response_latency": "12",
            "source_ip": "198.51.100.7",
            "key_id": KEYS[n % len(KEYS)],
        },
        separators=(",", ":"),
    ).encode()


def three_mb_event() -> dict[str, Any]:
    lines, size = [], 0
    while size < 3 * 1024 * 1024:
        line = short_record(len(lines))
        lines.append(line)
        size += len(line)
    event = firehose_event(lines)
    for record in event["records"]:  # Firehose's own recordIds are 56 digits long
        record["recordId"] = f"{49546986683135544286507457936321625675700192471156:050d}{record['recordId'][-6:]}"
    return event


def serialized(response: dict[str, Any]) -> int:
    """The bytes the Lambda runtime sends back (json.dumps, default separators)."""
    return len(json.dumps(response).encode())


@pytest.fixture
def aws():
    with mock_aws():
        seed_account(boto3.client("apigateway"), DEMO)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName=STREAM,
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "logs/",
            },
        )
        yield s3


def unmarked(copy: bytes) -> dict[str, Any]:
    """A re-ingested copy's object; the copy must carry the mark."""
    assert copy.startswith(REINGESTED_MARK)
    return json.loads(copy.removeprefix(REINGESTED_MARK))


def delivered(s3) -> list[bytes]:
    lines = []
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        lines += s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().splitlines(keepends=True)
    return lines


def test_a_3_mb_batch_of_short_records_stays_under_the_limit_and_every_record_is_accounted_for(
    aws, lambda_context, handler_logs
):
    event = three_mb_event()
    raw_bytes = sum(len(base64.b64decode(r["data"])) for r in event["records"])
    assert raw_bytes >= 3 * 1024 * 1024 and serialized(event) < 6 * 1024 * 1024, "a batch Firehose can send"

    response = app.lambda_handler(event, lambda_context)
    size = serialized(response)
    assert size <= RESPONSE_LIMIT_BYTES
    assert size == response_size(entry_size(r["recordId"], r["result"], r["data"]) for r in response["records"])
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]

    by_result: dict[str, list[dict[str, Any]]] = {"Ok": [], "Dropped": [], "ProcessingFailed": []}
    for record in response["records"]:
        by_result[record["result"]].append(record)
    assert by_result["ProcessingFailed"] == []
    assert len(by_result["Dropped"]) > 1000, "the batch really did overflow"

    # Every Dropped record's enriched copy arrived in S3 through the stream, exactly once, marked
    # as a copy (moto's Firehose runs no processor; the real one gives it to the function again).
    copies = {unmarked(line)["request_id"]: line for line in delivered(aws)}
    dropped_ids = {r["recordId"] for r in by_result["Dropped"]}
    expected = {
        json.loads(base64.b64decode(sent["data"]))["request_id"]
        for sent in event["records"]
        if sent["recordId"] in dropped_ids
    }
    assert set(copies) == expected and len(delivered(aws)) == len(expected)
    assert {unmarked(line)["enrichment_status"] for line in copies.values()} == {
        "enriched",
        "unknown_api_key",
        "no_api_key",
    }
    summary = json.loads(handler_logs.getvalue().splitlines()[-1])
    assert summary["reingested"] == len(dropped_ids) and summary["response_bytes"] == size

    # Those copies come through the function again and pass unchanged, unmarked: not enriched twice.
    again = app.lambda_handler(firehose_event(list(copies.values())), lambda_context)
    assert {r["result"] for r in again["records"]} == {"Ok"}
    assert [base64.b64decode(r["data"]) for r in again["records"]] == [
        line.removeprefix(REINGESTED_MARK) for line in copies.values()
    ]
    assert json.loads(handler_logs.getvalue().splitlines()[-1])["already_enriched"] == len(copies)


def test_records_firehose_will_not_take_fail_processing_and_keep_their_original(aws, lambda_context, monkeypatch):
    fake = FakeFirehose(reject=lambda data, _n: "ServiceUnavailableException" if b'"k3n8v5b2z6"' in data else None)
    monkeypatch.setattr(state, "firehose_client", lambda _region: fake.client())
    monkeypatch.setattr("apigw_enrichment.reingest.time.sleep", lambda _s: None)
    event = three_mb_event()
    response = app.lambda_handler(event, lambda_context)
    size = serialized(response)
    assert size <= RESPONSE_LIMIT_BYTES
    sent = {r["recordId"]: r["data"] for r in event["records"]}
    failed = [r for r in response["records"] if r["result"] == "ProcessingFailed"]
    dropped = [r for r in response["records"] if r["result"] == "Dropped"]
    assert failed and dropped
    for record in failed:
        assert record["data"] == sent[record["recordId"]], "kept as it came, under the error prefix"
    # Every Dropped record's copy was accepted, and none of the refused ones was dropped.
    accepted = {unmarked(line)["request_id"] for line in fake.accepted}
    dropped_ids = {json.loads(base64.b64decode(sent[r["recordId"]]))["request_id"] for r in dropped}
    assert dropped_ids == accepted and len(fake.accepted) == len(dropped)
    assert not any(b'"k3n8v5b2z6"' in line for line in fake.accepted)
    # Room for the refused copies was made by moving more records out, not by failing them:
    # only records whose copies Firehose refused failed.
    assert all(b'"k3n8v5b2z6"' in base64.b64decode(r["data"]) for r in failed)


def test_without_a_stream_to_re_ingest_into_nothing_is_dropped(aws, lambda_context):
    event = three_mb_event()
    event["deliveryStreamArn"] = "not-an-arn"
    response = app.lambda_handler(event, lambda_context)
    assert serialized(response) <= RESPONSE_LIMIT_BYTES
    assert {r["result"] for r in response["records"]} == {"Ok", "ProcessingFailed"}


# --- the rule itself, for any sizes: never over the limit, never Dropped unless accepted ---


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Answer], set[int]]:
    count = draw(st.integers(1, 40))
    answers = []
    for n in range(count):
        original = base64.b64encode(b"o" * draw(st.integers(1, 300))).decode()
        answer = Answer(f"id-{n}", "Ok", "", original)
        if draw(st.booleans()):
            line = b"e" * draw(st.integers(1, 600))
            answer.data, answer.status = base64.b64encode(line).decode(), "enriched"
        else:
            answer.fail(FormatFailure.INVALID_JSON)
        answers.append(answer)
    refused = draw(st.sets(st.integers(0, count - 1)))
    return answers, refused


@settings(max_examples=300, deadline=None)
@given(batch=batches(), slack=st.integers(0, 20_000))
def test_fit_response_keeps_any_batch_under_the_limit_and_drops_only_accepted_records(batch, slack):
    answers, refused = batch
    # A limit that always leaves room for every record to fail with its original data.
    floor = response_size(entry_size(a.record_id, "ProcessingFailed", a.original) for a in answers)
    limit = floor + slack
    before = {a.record_id: (a.result, a.data) for a in answers}
    sent: list[bytes] = []

    def reingest(payloads: list[bytes]) -> ReingestResult:
        sent.extend(payloads)
        accepted = tuple(n not in refused for n in range(len(payloads)))
        return ReingestResult(accepted, 1, 1, 0)

    fit = fit_response(answers, reingest, limit)
    assert fit.response_bytes == response_size(entry_size(a.record_id, a.result, a.data) for a in answers)
    assert fit.response_bytes <= limit
    for answer in answers:
        result, data = before[answer.record_id]
        if answer.result == "Dropped":
            assert result == "Ok" and REINGESTED_MARK + base64.b64decode(data) in sent
        elif answer.result == "ProcessingFailed":
            assert answer.data == answer.original
        else:
            assert (answer.result, answer.data) == (result, data)


def test_one_invocation_spends_at_most_one_re_ingest_budget_against_a_hanging_endpoint(
    aws, lambda_context, monkeypatch
):
    # GIVEN a Firehose endpoint where every request hangs for 3 s and then fails, so that
    # fit_response re-ingests twice: the overflow, then more records to make room
    clock = FakeClock()

    def hang(_request: int) -> tuple[int, str]:
        clock.now += 3.0
        return 500, "ServiceUnavailableException"

    fake = FakeFirehose(request_error=hang)
    monkeypatch.setattr(state, "firehose_client", lambda _region: fake.client())
    monkeypatch.setattr("apigw_enrichment.response.Deadline", lambda seconds: Deadline(seconds, clock))
    monkeypatch.setattr("apigw_enrichment.reingest.time.sleep", lambda _s: None)
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _s: None)
    # WHEN a 3 MB batch is answered
    response = app.lambda_handler(three_mb_event(), lambda_context)
    # THEN it fits, nothing was dropped, and re-ingesting took one budget (and the request
    # that was in flight when it ran out), not one budget per attempt to make room
    assert serialized(response) <= RESPONSE_LIMIT_BYTES
    assert "Dropped" not in {r["result"] for r in response["records"]}
    assert len(fake.requests) >= 2
    assert clock.now <= REINGEST_BUDGET_SECONDS + 3.0
