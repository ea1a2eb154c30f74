"""The sample events: valid for `sam local invoke`, in step with their generator, and covering the contract."""

from __future__ import annotations

import base64
import json

import pytest

from apigw_enrichment.sources.firehose import validate_event
from apigw_logs.samples import build_events, render
from tests.support.events import EVENTS, load_event

EVENT_FILES = sorted(path.name for path in EVENTS.glob("*.json") if path.name != "demo_account.json")


def test_the_committed_events_are_what_the_generator_writes():
    generated = build_events()
    assert sorted(generated) == EVENT_FILES
    for name, payload in generated.items():
        assert (EVENTS / name).read_text(encoding="utf-8") == render(payload), f"run `make events` ({name})"


@pytest.mark.parametrize("name", EVENT_FILES)
def test_each_event_is_a_firehose_transformation_event(name):
    event = load_event(name)
    validate_event(event)
    assert event["deliveryStreamArn"].split("/")[-1].startswith("amazon-apigateway-")
    ids = [record["recordId"] for record in event["records"]]
    assert len(ids) == len(set(ids))


def decoded_lines(name):
    return [json.loads(base64.b64decode(r["data"])) for r in load_event(name)["records"]]


def test_raw_key_format_event_has_known_unknown_and_missing_keys_with_raw_key_values():
    lines = decoded_lines("raw_key_format.json")
    assert all(set(line) >= {"api_id", "api_key", "key_id", "stage", "request_id"} for line in lines)
    key_ids = [line["key_id"] for line in lines]
    assert "-" in key_ids and "zz9unknown" in key_ids and "k7x2m9p4q1" in key_ids


def test_camel_case_event_uses_camel_case_names():
    assert all({"apiId", "stage", "identityApiKeyId"} <= set(line) for line in decoded_lines("camel_case.json"))
