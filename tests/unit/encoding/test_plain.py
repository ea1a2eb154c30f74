"""The plain path: the object with the five fields added, written out again as one line."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.encoding.plain import PlainRecord, copy_data, encode_line, enrich_object, pass_through
from apigw_enrichment.enrichment.directory import LOOKUP_UNAVAILABLE, NO_API_KEY, Enrichment
from apigw_enrichment.fields import ENRICHMENT_FIELDS, EnrichmentStatus, is_enriched
from apigw_enrichment.formats.json_line import parse_object
from tests.support.events import ENRICHED_RECORD as ENRICHED

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)

json_objects = st.dictionaries(st.text(), json_values, max_size=8)


# The enrichment enrichment/test_directory.py's directory gives (api1, prod, k1).
GOLD_ACME = Enrichment(EnrichmentStatus.ENRICHED, "gold", "Gold", "c-1", "Acme")


@pytest.mark.parametrize("tail", [b"", b"\n", b"\r\n", b"\n\n", b"  "])
def test_output_is_one_line_ending_in_exactly_one_newline(tail):
    line = encode_line(parse_object(b'{"msg": "line one\\nline two"}' + tail))
    assert line == b'{"msg":"line one\\nline two"}\n'


@given(json_objects)
def test_encode_then_parse_gives_back_the_same_object(obj):
    line = encode_line(obj)
    assert line.endswith(b"\n")
    assert b"\n" not in line[:-1]
    assert b"\r" not in line
    assert parse_object(line) == obj
    assert json.loads(line) == obj


def test_the_fields_added_are_the_fields_recognised():
    added = enrich_object({"a": 1}, Enrichment(EnrichmentStatus.ENRICHED, "p", "P", "c", "C"), ApiKeyValuePolicy.MASK)
    assert tuple(added)[1:] == ENRICHMENT_FIELDS
    assert is_enriched(added)
    assert is_enriched(enrich_object({}, NO_API_KEY, ApiKeyValuePolicy.MASK))


def test_enrich_object_keeps_every_field_in_order_and_adds_five_at_the_end():
    original = {"request_id": "r1", "api_key": "demoAcmeKeyValue000000000000a1f3", "n": 1}
    enriched = enrich_object(original, GOLD_ACME, ApiKeyValuePolicy.MASK)
    assert list(enriched.items()) == [
        ("request_id", "r1"),
        ("api_key", "****a1f3"),
        ("n", 1),
        ("usage_plan_id", "gold"),
        ("usage_plan_name", "Gold"),
        ("customer_id", "c-1"),
        ("customer_name", "Acme"),
        ("enrichment_status", "enriched"),
    ]
    assert original["api_key"] == "demoAcmeKeyValue000000000000a1f3", "the parsed record is not changed"


def test_unknown_fields_are_null_not_missing():
    enriched = enrich_object({"a": 1}, LOOKUP_UNAVAILABLE, ApiKeyValuePolicy.MASK)
    assert enriched == {
        "a": 1,
        "usage_plan_id": None,
        "usage_plan_name": None,
        "customer_id": None,
        "customer_name": None,
        "enrichment_status": "lookup_unavailable",
    }


def test_pass_through_keeps_a_masked_value_exactly_and_still_applies_the_policy():
    assert pass_through(dict(ENRICHED), ApiKeyValuePolicy.MASK) == ENRICHED
    assert pass_through(dict(ENRICHED), ApiKeyValuePolicy.KEEP) == ENRICHED
    assert "api_key" not in pass_through(dict(ENRICHED), ApiKeyValuePolicy.DROP)
    # A raw value slipped into an "enriched" record is still masked.
    raw = {**ENRICHED, "api_key": "aRawKeyValueThatIsLong0000a1f3"}
    assert pass_through(raw, ApiKeyValuePolicy.MASK)["api_key"] == "****a1f3"


def test_a_re_ingested_copy_goes_back_as_the_function_wrote_it():
    line = b'{"a": "spaced", "api_key": "****a1f3", "enrichment_status": "enriched"}\n'
    record = PlainRecord(line, json.loads(line))
    assert base64.b64decode(copy_data([record], ApiKeyValuePolicy.MASK)) == line


def test_unless_the_key_value_policy_now_changes_it():
    line = b'{"api_key": "demoAcmeKeyValue000000000000a1f3", "enrichment_status": "enriched"}\n'
    record = PlainRecord(line, json.loads(line))
    assert base64.b64decode(copy_data([record], ApiKeyValuePolicy.KEEP)) == line
    masked = json.loads(base64.b64decode(copy_data([record], ApiKeyValuePolicy.MASK)))
    assert masked == {"api_key": "****a1f3", "enrichment_status": "enriched"}
