"""The handler end to end under moto's mock_aws, seeded with the demo account."""

from __future__ import annotations

import base64
import json
import logging

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event import (
    KinesisFirehoseDataTransformationRecord,
)

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.sources.firehose import InvalidEventError
from apigw_enrichment.telemetry import logger
from apigw_logs.emulator import DEMO_ACCOUNT, load_account
from tests.support.events import decoded, firehose_event, load_event, ok_objects
from tests.support.logs import everything_logged

DEMO = load_account(DEMO_ACCOUNT)
DEMO_KEY_VALUES = [key["value"] for key in DEMO["apiKeys"]]
FIELDS = ("usage_plan_id", "usage_plan_name", "customer_id", "customer_name", "enrichment_status")


def originals(event):
    return [json.loads(base64.b64decode(record["data"])) for record in event["records"]]


def with_fields(original, plan_id, plan_name, customer_id, customer_name, status, masked="****"):
    expected = dict(original)
    if "api_key" in expected and expected["api_key"] != "-":
        expected["api_key"] = masked + expected["api_key"][-4:]
    expected.update(zip(FIELDS, (plan_id, plan_name, customer_id, customer_name, status), strict=True))
    return expected


def test_raw_key_format_records_are_enriched_masked_and_answered_in_order(demo_account, lambda_context):
    event = load_event("raw_key_format.json")
    response = app.lambda_handler(event, lambda_context)
    src = originals(event)
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    assert {r["result"] for r in response["records"]} == {"Ok"}
    assert ok_objects(response) == [
        with_fields(src[0], "pl0gold001", "Gold", "cust-acme-001", "Acme Corp", "enriched"),
        with_fields(src[1], "pl0free002", "Free", "cust-globex-002", "Globex Inc", "enriched"),
        with_fields(src[2], "pl0gold001", "Gold", "cust-umbrella-003", "Umbrella Ltd", "enriched"),
        with_fields(src[3], "pl0sbox003", "Sandbox", "cust-umbrella-003", "Umbrella Ltd", "enriched"),
        with_fields(src[4], None, None, "cust-initech-004", "Initech", "unknown_api_key"),
        with_fields(src[5], None, None, None, None, "unknown_api_key"),
        with_fields(src[6], None, None, None, None, "no_api_key"),
    ]


def test_every_ok_record_is_one_json_line_with_exactly_one_newline(demo_account, lambda_context):
    for name in ("raw_key_format.json", "recommended_format.json", "camel_case.json", "malformed.json"):
        for _, result, data in decoded(app.lambda_handler(load_event(name), lambda_context)):
            if result == "Ok":
                assert data.endswith(b"\n") and b"\n" not in data[:-1], name
                assert isinstance(json.loads(data), dict)


def test_camel_case_records_and_a_record_that_already_ended_in_a_newline(demo_account, lambda_context):
    event = load_event("camel_case.json")
    assert base64.b64decode(event["records"][0]["data"]).endswith(b"}\n")
    response = app.lambda_handler(event, lambda_context)
    src = originals(event)
    assert ok_objects(response) == [
        with_fields(src[0], "pl0gold001", "Gold", "cust-acme-001", "Acme Corp", "enriched"),
        with_fields(src[1], "pl0gold001", "Gold", "cust-umbrella-003", "Umbrella Ltd", "enriched"),
        with_fields(src[2], None, None, None, None, "no_api_key"),
    ]


def test_malformed_records_fail_alone_and_come_back_untouched(demo_account, lambda_context):
    event = load_event("malformed.json")
    response = app.lambda_handler(event, lambda_context)
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    assert [r["result"] for r in response["records"]] == ["Ok"] + ["ProcessingFailed"] * 7
    for sent, answered in zip(event["records"][1:], response["records"][1:], strict=True):
        assert answered["data"] == sent["data"], "Firehose keeps the original under the error prefix"
    assert ok_objects(response)[0]["enrichment_status"] == "enriched"


def test_each_answer_has_the_shape_powertools_gives_a_transformation_record(demo_account, lambda_context):
    # The handler builds plain dicts on the hot path; they must be what the data class writes.
    for name in ("raw_key_format.json", "malformed.json"):
        for answered in app.lambda_handler(load_event(name), lambda_context)["records"]:
            record = KinesisFirehoseDataTransformationRecord(
                record_id=answered["recordId"], result=answered["result"], data=answered["data"]
            )
            assert answered == record.asdict()


def test_a_record_without_data_or_with_data_that_is_not_a_string_fails_alone(demo_account, lambda_context):
    event = firehose_event([b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"-"}'])
    event["records"] += [{"recordId": "no-data"}, {"recordId": "number", "data": 5}, {"recordId": "null", "data": None}]
    response = app.lambda_handler(event, lambda_context)
    assert [(r["recordId"], r["result"], r["data"] if r["result"] != "Ok" else "") for r in response["records"]] == [
        ("record-00000", "Ok", ""),
        ("no-data", "ProcessingFailed", ""),
        ("number", "ProcessingFailed", ""),
        ("null", "ProcessingFailed", ""),
    ]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("mask", {"api_key": "****a1f3"}), ("drop", {}), ("keep", {"api_key": "demoAcmeKeyValue000000000000a1f3"})],
)
def test_api_key_values_policy(demo_account, lambda_context, monkeypatch, policy, expected):
    monkeypatch.setenv("API_KEY_VALUES", policy)
    line = {"api_id": "a1b2c3d4e5", "stage": "prod", "key_id": "k7x2m9p4q1", "api_key": DEMO_KEY_VALUES[0]}
    (obj,) = ok_objects(app.lambda_handler(firehose_event([json.dumps(line).encode()]), lambda_context))
    assert {k: v for k, v in obj.items() if k == "api_key"} == expected
    assert obj["customer_name"] == "Acme Corp"


def test_field_names_can_be_overridden(demo_account, lambda_context, monkeypatch):
    monkeypatch.setenv("KEY_ID_FIELD", "caller")
    monkeypatch.setenv("API_ID_FIELD", "rest_api")
    monkeypatch.setenv("STAGE_FIELD", "env")
    line = {"rest_api": "a1b2c3d4e5", "env": "prod", "caller": "k3n8v5b2z6"}
    (obj,) = ok_objects(app.lambda_handler(firehose_event([json.dumps(line).encode()]), lambda_context))
    assert obj["usage_plan_name"] == "Free" and obj["customer_id"] == "cust-globex-002"


def test_a_warm_invocation_with_known_keys_makes_no_control_plane_calls(control_plane_calls, lambda_context):
    app.lambda_handler(load_event("raw_key_format.json"), lambda_context)
    assert sorted(control_plane_calls) == [
        "GetApiKeys",
        "GetUsagePlanKeys",
        "GetUsagePlanKeys",
        "GetUsagePlanKeys",
        "GetUsagePlans",
    ]
    control_plane_calls.clear()
    for name in ("recommended_format.json", "camel_case.json", "raw_key_format.json"):
        app.lambda_handler(load_event(name), lambda_context)
    assert control_plane_calls == []


def test_a_key_created_after_cold_start_is_found_by_a_miss_refresh(control_plane_calls, lambda_context, monkeypatch):
    monkeypatch.setenv("MISS_REFRESH_SECONDS", "0")
    app.lambda_handler(load_event("raw_key_format.json"), lambda_context)
    client = boto3.client("apigateway")
    key = client.create_api_key(
        name="Hooli", value="demoHooliKeyValue0000000000000e5b7", customerId="cust-hooli", enabled=True
    )
    client.create_usage_plan_key(usagePlanId="pl0free002", keyId=key["id"], keyType="API_KEY")
    control_plane_calls.clear()
    line = {"api_id": "a1b2c3d4e5", "stage": "prod", "key_id": key["id"]}
    (obj,) = ok_objects(app.lambda_handler(firehose_event([json.dumps(line).encode()]), lambda_context))
    assert (obj["usage_plan_name"], obj["customer_name"], obj["enrichment_status"]) == ("Free", "Hooli", "enriched")
    assert control_plane_calls.count("GetUsagePlans") == 1


def test_one_summary_log_line_per_batch_and_metrics_by_result_and_status(
    demo_account, lambda_context, capsys, handler_logs
):
    app.lambda_handler(load_event("malformed.json"), lambda_context)
    logs = [json.loads(line) for line in handler_logs.getvalue().splitlines()]
    assert [line["message"] for line in logs] == ["usage plans loaded", "batch transformed"]
    lines = logs + [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summaries = [line for line in lines if line.get("message") == "batch transformed"]
    assert len(summaries) == 1
    assert summaries[0]["results"] == {"Ok": 1, "ProcessingFailed": 7}
    assert summaries[0]["failure_reasons"] == {
        "invalid_base64": 1,
        "not_utf8": 1,
        "empty": 1,
        "invalid_json": 2,
        "not_object": 2,
    }
    assert summaries[0]["statuses"] == {"enriched": 1}
    assert summaries[0]["cache_age_seconds"] is not None
    (emf,) = [line for line in lines if "_aws" in line and "UsagePlan" not in line]
    assert emf["RecordsOk"] == [1.0] and emf["RecordsProcessingFailed"] == [7.0]
    assert emf["Status_enriched"] == [1.0] and emf["Failed_not_object"] == [2.0]
    assert emf["CacheLoads"] == [1.0] and "CacheLoadDuration" in emf


def test_no_raw_key_value_reaches_any_log_line_even_at_debug(
    demo_account, lambda_context, capsys, caplog, handler_logs
):
    caplog.set_level(logging.DEBUG)
    logger.setLevel(logging.DEBUG)
    try:
        for name in ("raw_key_format.json", "malformed.json"):
            app.lambda_handler(load_event(name), lambda_context)
    finally:
        logger.setLevel(logging.INFO)
    logged = everything_logged(handler_logs, capsys, caplog)
    assert "batch transformed" in logged
    assert "GetUsagePlanKeys" in caplog.text or "usageplans" in caplog.text, "botocore did log at DEBUG"
    for value in DEMO_KEY_VALUES:
        assert value not in logged
    assert not any(value in repr(vars(state.usage_plan_cache())) for value in DEMO_KEY_VALUES), "nor are they cached"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "not a Firehose transformation event: expected an object with a 'records' list"),
        ([], "not a Firehose transformation event: expected an object with a 'records' list"),
        ({"records": [{"data": "e30="}]}, "record 0 has no 'recordId' string, so it cannot be answered"),
    ],
)
def test_an_event_that_is_not_a_firehose_event_is_refused_clearly(lambda_context, event, message):
    with pytest.raises(InvalidEventError) as error:
        app.lambda_handler(event, lambda_context)
    assert str(error.value) == message
