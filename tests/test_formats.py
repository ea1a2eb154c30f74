"""Every format through the handler: CLF, CSV and XML lines are enriched like JSON ones, a JSON
line is read as JSON whatever the stage's format, and a line that fits no format fails alone."""

from __future__ import annotations

import json

import pytest

from apigw_enrichment import handler as app
from tests.support.directory import KNOWN_API, KNOWN_KEY, KNOWN_STAGE, use_fixed_directory
from tests.support.events import decoded, firehose_event, ok_objects
from tests.support.formats import CLF, CLF_WITH_KEY, CSV_WITH_KEY, TIME, XML

GOLD = {
    "usage_plan_id": "pl0gold001",
    "usage_plan_name": "Gold",
    "customer_id": "cust-acme-001",
    "customer_name": "Acme Corp",
    "enrichment_status": "enriched",
}
NONE_ = dict.fromkeys(("usage_plan_id", "usage_plan_name", "customer_id", "customer_name"))
RAW_KEY = "Ab3dEf6hIj9kLm2nOp5q"


@pytest.fixture
def stage_format(monkeypatch):
    """Deploys the function with ACCESS_LOG_FORMAT set to the given format."""

    def deploy(template: str) -> None:
        monkeypatch.setenv("ACCESS_LOG_FORMAT", template)
        use_fixed_directory()

    return deploy


def clf_line(*, key: str = KNOWN_KEY, agent: str = "curl/8.5") -> bytes:
    return (
        f'198.51.100.7 - - [{TIME}] "GET /orders HTTP/1.1" 200 512 req-1 {KNOWN_API} {KNOWN_STAGE} {key} "{agent}"\n'
    ).encode()


def answers(lines: list[bytes], lambda_context) -> list[tuple[str, str | None]]:
    """(result, failure reason) of each record, as the local runner shows them."""
    return [(answer.result, answer.reason) for answer in app.handle(firehose_event(lines), lambda_context)]


def test_clf_lines_are_enriched_into_one_json_object_each(stage_format, lambda_context):
    stage_format(CLF_WITH_KEY)
    response = app.lambda_handler(firehose_event([clf_line(), clf_line(key="-")]), lambda_context)
    line = {
        "source_ip": "198.51.100.7",
        "request_time": TIME,
        "method": "GET",
        "resource_path": "/orders",
        "protocol": "HTTP/1.1",
        "status": "200",
        "response_length": "512",
        "request_id": "req-1",
        "api_id": KNOWN_API,
        "stage": KNOWN_STAGE,
        "user_agent": "curl/8.5",
    }
    assert ok_objects(response) == [
        {**line, "key_id": KNOWN_KEY, **GOLD},
        {**line, "key_id": "-", **NONE_, "enrichment_status": "no_api_key"},
    ]
    assert all(data.endswith(b"}\n") and data.count(b"\n") == 1 for _, _, data in decoded(response))


def test_csv_lines_are_enriched_and_a_user_agent_with_commas_stays_whole(stage_format, lambda_context):
    stage_format(CSV_WITH_KEY)
    line = f"req-1,{KNOWN_API},{KNOWN_STAGE},{KNOWN_KEY},Mozilla/5.0 (X11, Linux),200,{TIME}".encode()
    assert ok_objects(app.lambda_handler(firehose_event([line]), lambda_context)) == [
        {
            "request_id": "req-1",
            "api_id": KNOWN_API,
            "stage": KNOWN_STAGE,
            "key_id": KNOWN_KEY,
            "user_agent": "Mozilla/5.0 (X11, Linux)",
            "status": "200",
            "request_time": TIME,
            **GOLD,
        }
    ]


def test_xml_lines_of_the_consoles_example_are_enriched_as_callers_without_a_key(stage_format, lambda_context):
    stage_format(XML)
    line = (
        f'<request id="r1"> <ip>198.51.100.7</ip> <caller>-</caller> <user>-</user> <requestTime>{TIME}'
        "</requestTime> <httpMethod>POST</httpMethod> <resourcePath>/orders</resourcePath> <status>201</status> "
        "<protocol>HTTP/1.1</protocol> <responseLength>12</responseLength> </request>"
    ).encode()
    (obj,) = ok_objects(app.lambda_handler(firehose_event([line]), lambda_context))
    assert (obj["request_id"], obj["method"], obj["status"], obj["enrichment_status"]) == (
        "r1",
        "POST",
        "201",
        "no_api_key",
    )


def test_a_json_line_is_read_as_json_whatever_the_stages_format(stage_format, lambda_context):
    stage_format(CLF)
    line = json.dumps({"request_id": "r1", "api_id": KNOWN_API, "stage": KNOWN_STAGE, "key_id": KNOWN_KEY})
    assert ok_objects(app.lambda_handler(firehose_event([line.encode()]), lambda_context)) == [
        {**json.loads(line), **GOLD}
    ]


def test_a_line_that_fits_no_format_fails_alone_and_the_rest_go_through(stage_format, lambda_context):
    stage_format(CLF_WITH_KEY)
    lines = [clf_line(), b"GET /orders 200", b"", clf_line()]
    assert answers(lines, lambda_context) == [
        ("Ok", None),
        ("ProcessingFailed", "format_mismatch"),
        ("ProcessingFailed", "empty"),
        ("Ok", None),
    ]


def test_with_the_default_json_format_a_clf_line_keeps_the_json_reason(lambda_context):
    use_fixed_directory()
    assert answers([clf_line()], lambda_context) == [("ProcessingFailed", "invalid_json")]


def test_a_text_format_that_logs_the_raw_key_is_masked(stage_format, lambda_context):
    stage_format("$context.requestId $context.apiId $context.stage $context.identity.apiKeyId $context.identity.apiKey")
    line = f"req-1 {KNOWN_API} {KNOWN_STAGE} {KNOWN_KEY} {RAW_KEY}".encode()
    response = app.lambda_handler(firehose_event([line]), lambda_context)
    (obj,) = ok_objects(response)
    assert (obj["api_key"], obj["enrichment_status"]) == ("****" + RAW_KEY[-4:], "enriched")
    assert RAW_KEY not in json.dumps(response)


def test_a_json_format_that_logs_the_raw_key_under_its_own_name_is_masked(stage_format, lambda_context):
    stage_format(
        '{"rid":"$context.requestId","api":"$context.apiId","env":"$context.stage","secret":"$context.identity.apiKey","kid":"$context.identity.apiKeyId"}'
    )
    line = json.dumps({"rid": "r1", "api": KNOWN_API, "env": KNOWN_STAGE, "secret": RAW_KEY, "kid": KNOWN_KEY})
    response = app.lambda_handler(firehose_event([line.encode()]), lambda_context)
    assert ok_objects(response) == [
        {"rid": "r1", "api": KNOWN_API, "env": KNOWN_STAGE, "secret": "****" + RAW_KEY[-4:], "kid": KNOWN_KEY, **GOLD}
    ]
    assert RAW_KEY not in json.dumps(response)


def test_a_line_read_two_ways_around_its_key_id_is_attributed_to_no_one(stage_format, lambda_context):
    stage_format("$context.requestId $context.identity.userAgent $context.identity.apiKeyId $context.path")
    line = f"req-1 curl/8 {KNOWN_KEY} /orders attacker01 /x".encode()
    (obj,) = ok_objects(app.lambda_handler(firehose_event([line]), lambda_context))
    assert {name: obj[name] for name in GOLD} == {**NONE_, "enrichment_status": "conflicting_identity"}


def test_an_ambiguous_line_of_a_raw_key_format_fails_alone(stage_format, lambda_context):
    stage_format("$context.requestId $context.identity.userAgent $context.identity.apiKey $context.path")
    lines = [f"r1 curl/8 {RAW_KEY} /orders Zz9yXw8vUt7sRq6pOn5m /x".encode(), b"r2 curl/8 " + RAW_KEY.encode() + b" /x"]
    assert answers(lines, lambda_context) == [("ProcessingFailed", "ambiguous_line"), ("Ok", None)]
