"""CloudWatch Logs subscription records end to end: unpacked, read, masked, enriched; nothing lost."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from botocore.exceptions import ClientError

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.reingest import MAX_RECORD_BYTES, ReingestResult
from apigw_enrichment.response import fit_response
from apigw_enrichment.sources.cloudwatch_logs import SubscriptionFailure
from apigw_enrichment.sources.firehose import REINGESTED_MARK, validate_event
from apigw_enrichment.sources.log_groups import LogGroupStages
from apigw_logs.samples import ACCESS_LOG_GROUP, CONTROL_MESSAGE, subscription_record
from tests.support.directory import KNOWN_API, KNOWN_KEY, KNOWN_STAGE, use_fixed_directory
from tests.support.events import decoded, firehose_event, load_event
from tests.support.formats import TIME
from tests.support.logs import plan_metrics

RAW_KEY = "Ab3dEf6hIj9kLm2nOp5qRs7t"
ENRICHED_FIELDS = {
    "usage_plan_id": "pl0gold001",
    "usage_plan_name": "Gold",
    "customer_id": None,
    "customer_name": "Acme Corp",
    "enrichment_status": "enriched",
}


def line(n: int, *, key: str = KNOWN_KEY, status: str = "200", **extra: str) -> bytes:
    fields = {"request_id": f"req-{n}", "api_id": KNOWN_API, "stage": KNOWN_STAGE, "key_id": key, "status": status}
    return json.dumps({**fields, **extra}, separators=(",", ":")).encode()


def lines_of(data: bytes) -> list[dict]:
    assert data.endswith(b"\n") and b"\n\n" not in data, "one line per message, each ending in exactly one newline"
    return [json.loads(text) for text in data.split(b"\n")[:-1]]


@pytest.fixture
def fixed_directory():
    use_fixed_directory()


def test_a_data_message_becomes_one_enriched_line_per_message_in_order(fixed_directory, lambda_context):
    messages = [line(1), line(2, key="-"), line(3, api_key=RAW_KEY), line(4, key="unknown01")]
    response = app.lambda_handler(firehose_event([subscription_record(messages)]), lambda_context)
    ((_, result, data),) = decoded(response)
    assert result == "Ok"
    out = lines_of(data)
    assert [record["request_id"] for record in out] == ["req-1", "req-2", "req-3", "req-4"]
    assert [record["enrichment_status"] for record in out] == ["enriched", "no_api_key", "enriched", "unknown_api_key"]
    assert out[0]["usage_plan_name"] == "Gold" and out[0]["customer_name"] == "Acme Corp"
    assert out[2]["api_key"] == "****" + RAW_KEY[-4:]
    assert RAW_KEY.encode() not in data


def test_a_control_message_is_dropped(fixed_directory, lambda_context):
    control = subscription_record([CONTROL_MESSAGE], log_group="", message_type="CONTROL_MESSAGE")
    response = app.lambda_handler(firehose_event([control]), lambda_context)
    assert response["records"] == [{"recordId": "record-00000", "result": "Dropped", "data": ""}]


def test_one_unreadable_message_fails_its_whole_record_as_sent_and_no_other(fixed_directory, lambda_context):
    """The choice documented in docs/operations.md: the record is kept whole under errors/, where the
    good lines beside the bad one can be replayed from; no line is written half-read."""
    bad = subscription_record([line(1), b"not an access-log line in this format", line(3)])
    good = subscription_record([line(4)])
    event = firehose_event([bad, good, line(5)])
    answers = app.handle(event, lambda_context)
    assert [(answer.result, answer.reason) for answer in answers] == [
        ("ProcessingFailed", answers[0].reason),
        ("Ok", None),
        ("Ok", None),
    ]
    assert answers[0].reason is not None
    assert answers[0].data == event["records"][0]["data"], "the original, for Firehose's errors/ prefix"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (gzip.compress(b"not json", mtime=0), SubscriptionFailure.INVALID_ENVELOPE),
        (gzip.compress(b'{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[]}'), "invalid_envelope"),
        (gzip.compress(b'{"messageType":"OTHER","logGroup":"g","logEvents":[{"message":"x"}]}'), "invalid_envelope"),
        (gzip.compress(b'{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":1}]}'), "invalid_envelope"),
        (subscription_record([line(1)])[:-8], "invalid_envelope"),  # truncated: no trailer
        (b"\x1f\x8b not really gzip", "invalid_envelope"),
    ],
    ids=["not JSON", "no events", "unknown message type", "an event without a message", "truncated", "not gzip"],
)  # fmt: skip
def test_gzip_that_holds_no_envelope_fails_alone(raw, reason, fixed_directory, lambda_context):
    answers = app.handle(firehose_event([raw, line(2)]), lambda_context)
    assert [(answer.result, answer.reason) for answer in answers] == [("ProcessingFailed", reason), ("Ok", None)]


def test_one_stream_takes_direct_lines_and_subscription_records_together(fixed_directory, lambda_context):
    event = firehose_event([line(1), subscription_record([line(2), line(3)]), line(4)])
    response = app.lambda_handler(event, lambda_context)
    datas = [data for _, result, data in decoded(response) if result == "Ok"]
    assert [[record["request_id"] for record in lines_of(data)] for data in datas] == [
        ["req-1"],
        ["req-2", "req-3"],
        ["req-4"],
    ]


def test_the_sample_event_runs_as_sam_local_invoke_would_send_it(demo_account, lambda_context):
    event = load_event("cloudwatch_logs_subscription.json")
    response = app.lambda_handler(event, lambda_context)
    assert [record["result"] for record in response["records"]] == ["Dropped", "Ok", "Ok", "Ok"]
    _, (_, _, recommended), (_, _, raw_key), _ = decoded(response)
    assert [record["enrichment_status"] for record in lines_of(recommended)] == [
        "enriched",
        "enriched",
        "no_api_key",
        "enriched",
    ]
    assert all(record["api_key"].startswith("****") for record in lines_of(raw_key))


# --- api_id and stage from the log group ---

KEY_ONLY = (
    '$context.identity.sourceIp - - [$context.requestTime] "$context.httpMethod $context.resourcePath '
    '$context.protocol" $context.status $context.responseLength $context.requestId $context.identity.apiKeyId'
)


def key_only_line(n: int, key: str = KNOWN_KEY) -> bytes:
    return f'198.51.100.7 - - [{TIME}] "GET /orders HTTP/1.1" 200 512 req-{n} {key}'.encode()


def stages(listing, calls: list[int] | None = None) -> LogGroupStages:
    def fetch(_deadline):
        if calls is not None:
            calls.append(1)
        return listing()

    return LogGroupStages(fetch, ttl_seconds=900, retry_seconds=60, budget_seconds=10)


def test_a_line_without_api_id_or_stage_gets_them_from_the_stage_logging_to_its_group(monkeypatch, lambda_context):
    monkeypatch.setenv("ACCESS_LOG_FORMAT", KEY_ONLY)
    use_fixed_directory()
    calls: list[int] = []
    state.use_stages(stages(lambda: {ACCESS_LOG_GROUP: (KNOWN_API, KNOWN_STAGE)}, calls))
    record = subscription_record([key_only_line(1), key_only_line(2)])
    for _ in range(2):
        ((_, result, data),) = decoded(app.lambda_handler(firehose_event([record]), lambda_context))
        assert result == "Ok"
        out = lines_of(data)
        assert [(r["api_id"], r["stage"], r["enrichment_status"]) for r in out] == [
            (KNOWN_API, KNOWN_STAGE, "enriched")
        ] * 2
        assert list(out[0])[:2] == ["api_id", "stage"]
    assert calls == [1], "listed once, then kept"


def test_a_json_line_that_names_its_stage_keeps_it(fixed_directory, lambda_context):
    state.use_stages(stages(lambda: {ACCESS_LOG_GROUP: ("otherapi01", "beta")}))
    ((_, _, data),) = decoded(app.lambda_handler(firehose_event([subscription_record([line(1)])]), lambda_context))
    (out,) = lines_of(data)
    assert (out["api_id"], out["stage"], out["enrichment_status"]) == (KNOWN_API, KNOWN_STAGE, "enriched")


def test_when_stages_cannot_be_listed_lines_stay_as_they_are(monkeypatch, lambda_context):
    monkeypatch.setenv("ACCESS_LOG_FORMAT", KEY_ONLY)
    use_fixed_directory()

    def denied():
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetRestApis")

    state.use_stages(stages(denied))
    ((_, result, data),) = decoded(
        app.lambda_handler(firehose_event([subscription_record([key_only_line(1)])]), lambda_context)
    )
    (out,) = lines_of(data)
    assert result == "Ok" and "api_id" not in out and "stage" not in out
    # The key is known, so its customer is still named; with no stage, no plan can be.
    assert (out["customer_name"], out["enrichment_status"]) == ("Acme Corp", "unknown_api_key")


# --- sizes ---


def test_a_record_too_large_for_the_response_goes_back_as_copies_under_the_record_limit(fixed_directory):
    # About 2.5 MB of lines from one record: more than PutRecordBatch's 1,000 KiB a record.
    messages = [line(n, user_agent="x" * 400) for n in range(5000)]
    event = firehose_event([subscription_record(messages), line(9999)])
    answers, _, _ = app.transform_batch(validate_event(event), state.settings(), state.usage_plan_cache())
    enriched = base64.b64decode(answers[0].data)
    sent: list[bytes] = []

    def reingest(payloads: list[bytes]) -> ReingestResult:
        sent.extend(payloads)
        return ReingestResult((True,) * len(payloads), 1, 1, 0)

    fit_response(answers, reingest, limit=len(enriched))
    assert [answer.result for answer in answers] == ["Dropped", "Ok"]
    assert len(sent) >= 3 and all(len(payload) <= MAX_RECORD_BYTES for payload in sent)
    assert all(payload.startswith(REINGESTED_MARK) and payload.endswith(b"\n") for payload in sent)
    assert b"".join(payload[len(REINGESTED_MARK) :] for payload in sent) == enriched, "every line, once, in order"


def test_if_any_copy_is_refused_the_record_fails_whole(fixed_directory):
    messages = [line(n, user_agent="x" * 400) for n in range(5000)]
    event = firehose_event([subscription_record(messages)])
    answers, _, _ = app.transform_batch(validate_event(event), state.settings(), state.usage_plan_cache())

    def reingest(payloads: list[bytes]) -> ReingestResult:
        return ReingestResult((True,) * (len(payloads) - 1) + (False,), 1, 1, 0)

    fit_response(answers, reingest, limit=1000)
    assert answers[0].result == "ProcessingFailed" and answers[0].data == event["records"][0]["data"]


def test_copies_of_several_lines_pass_through_when_they_come_back(fixed_directory, lambda_context):
    enriched = b"".join(
        json.dumps({"request_id": f"r{n}", **ENRICHED_FIELDS}, separators=(",", ":")).encode() + b"\n" for n in range(3)
    )
    response = app.lambda_handler(firehose_event([REINGESTED_MARK + enriched]), lambda_context)
    assert decoded(response) == [("record-00000", "Ok", enriched)]


# --- metrics ---


def test_per_plan_requests_and_errors_count_every_line_and_name_no_customer(fixed_directory, lambda_context, capsys):
    messages = [line(1), line(2, status="404"), line(3, status="503"), line(4, key="-", status="500")]
    app.lambda_handler(firehose_event([subscription_record(messages), line(5, status="502")]), lambda_context)
    assert plan_metrics(capsys.readouterr().out) == {
        "pl0gold001": {"Requests": 4, "ClientErrors": 1, "ServerErrors": 2},
        "(none)": {"Requests": 1, "ClientErrors": 0, "ServerErrors": 1},
    }


def test_half_a_pair_is_filled_in_only_where_the_other_half_agrees(monkeypatch, lambda_context):
    """A line naming stage `beta` in a group that `prod` logs to is not given prod's API id."""
    monkeypatch.setenv("ACCESS_LOG_FORMAT", KEY_ONLY)
    use_fixed_directory()
    state.use_stages(stages(lambda: {ACCESS_LOG_GROUP: (KNOWN_API, KNOWN_STAGE)}))
    agrees = json.dumps({"stage": KNOWN_STAGE, "key_id": KNOWN_KEY})
    differs = json.dumps({"stage": "beta", "key_id": KNOWN_KEY})
    ((_, _, data),) = decoded(
        app.lambda_handler(firehose_event([subscription_record([agrees, differs])]), lambda_context)
    )
    first, second = lines_of(data)
    assert (first["api_id"], first["stage"], first["enrichment_status"]) == (KNOWN_API, KNOWN_STAGE, "enriched")
    assert "api_id" not in second and second["stage"] == "beta"
