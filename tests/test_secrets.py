"""Raw API key values never reach anything the function logs, on any path, even at DEBUG."""

from __future__ import annotations

import base64
import json
import logging

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.telemetry import logger
from apigw_logs.emulator import DEMO_ACCOUNT, load_account, seed_account
from tests.support.events import firehose_event, load_event
from tests.support.fake_apigateway import RawBody
from tests.support.fake_firehose import FakeFirehose
from tests.support.logs import everything_logged

DEMO = load_account(DEMO_ACCOUNT)
KEY_VALUES = [key["value"] for key in DEMO["apiKeys"]]


def oversize_batch_with_raw_keys() -> dict:
    """A batch too big for one response, every record carrying a raw key value, some of them
    under a duplicated, escaped or nested key field."""
    keys = [(key["id"], key["value"]) for key in DEMO["apiKeys"]]
    lines = []
    for n in range(12_000):
        key_id, value = keys[n % len(keys)]
        record = {
            "request_id": f"r{n:06d}",
            "api_id": "a1b2c3d4e5",
            "stage": "prod",
            "key_id": key_id,
            "api_key": value,
            "user_agent": "x" * 400,
        }
        text = json.dumps(record)
        if n % 3 == 1:  # the raw value, then a duplicate with nothing to hide: neither may leave raw
            text = text[:-1] + ', "api_key": "-"}'
        elif n % 3 == 2:  # an escaped duplicate name, and the value nested too
            text = text[:-1] + f', "api\\u005fkey": null, "inner": {{"apiKey": "{value}"}}}}'
        lines.append(text.encode())
    return firehose_event(lines)


@pytest.mark.parametrize("policy", ["mask", "drop"])
def test_no_key_value_is_logged_on_any_path(lambda_context, handler_logs, capsys, caplog, monkeypatch, policy):
    monkeypatch.setenv("API_KEY_VALUES", policy)
    monkeypatch.setenv("MISS_REFRESH_SECONDS", "0")
    monkeypatch.setenv("CACHE_TTL_SECONDS", "0")  # every batch reloads, so every load path runs
    # Firehose refuses some re-ingested copies, so the warning path runs too.
    firehose = FakeFirehose(reject=lambda data, _n: "ServiceUnavailableException" if b"r0000" in data else None)
    monkeypatch.setattr(state, "firehose_client", lambda _region: firehose.client())
    monkeypatch.setattr("apigw_enrichment.reingest.time.sleep", lambda _s: None)
    try:
        with mock_aws():
            seed_account(boto3.client("apigateway"), DEMO)  # GetUsagePlanKeys returns the values
            caplog.set_level(logging.DEBUG)  # from here on, only the function runs
            logger.setLevel(logging.DEBUG)
            app.lambda_handler(load_event("raw_key_format.json"), lambda_context)
            app.lambda_handler(oversize_batch_with_raw_keys(), lambda_context)
            # A denied reload: the error path logs API Gateway's message.
            client = state.apigateway_client()
            denied = '{"message": "User is not authorized to perform: apigateway:GET"}'
            client.meta.events.register_first(
                "before-send.api-gateway",
                lambda **_: AWSResponse(
                    "https://apigateway", 403, {"x-amzn-ErrorType": "AccessDeniedException"}, RawBody(denied.encode())
                ),
            )
            app.lambda_handler(load_event("raw_key_format.json"), lambda_context)
    finally:
        logger.setLevel(logging.INFO)
    logged = everything_logged(handler_logs, capsys, caplog)
    assert "re-ingested" in logged and "access denied" in logged and "usage plans loaded" in logged
    assert "GetUsagePlanKeys" in caplog.text, "botocore logged at DEBUG, and was still clean"
    for value in KEY_VALUES:
        assert value not in logged
        assert base64.b64encode(value.encode()).decode()[:24] not in logged
    assert not any(value in repr(vars(state.usage_plan_cache())) for value in KEY_VALUES), "nor are they cached"
