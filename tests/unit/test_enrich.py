"""Recognising a record that was enriched before (it was re-ingested), and passing it through."""

from __future__ import annotations

import pytest

from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.encoding.plain import enrich_object, pass_through
from apigw_enrichment.enrichment.directory import NO_API_KEY, Enrichment
from apigw_enrichment.fields import ENRICHMENT_FIELDS, EnrichmentStatus, is_enriched

ENRICHED = {
    "api_id": "a1",
    "key_id": "k1",
    "api_key": "****a1f3",
    "usage_plan_id": "p1",
    "usage_plan_name": "Gold",
    "customer_id": None,
    "customer_name": "Acme",
    "enrichment_status": "enriched",
}


def test_the_fields_added_are_the_fields_recognised():
    added = enrich_object({"a": 1}, Enrichment(EnrichmentStatus.ENRICHED, "p", "P", "c", "C"), ApiKeyValuePolicy.MASK)
    assert tuple(added)[1:] == ENRICHMENT_FIELDS
    assert is_enriched(added)
    assert is_enriched(enrich_object({}, NO_API_KEY, ApiKeyValuePolicy.MASK))


def test_an_enriched_record_is_recognised_whatever_its_status():
    for status in EnrichmentStatus:
        assert is_enriched({**ENRICHED, "enrichment_status": status.value})


@pytest.mark.parametrize(
    "change",
    [
        {"enrichment_status": "done"},
        {"enrichment_status": None},
        {"enrichment_status": ["enriched"]},
        {"usage_plan_id": 5},
        {"customer_name": {"n": "Acme"}},
    ],
)
def test_a_record_that_only_looks_enriched_is_not(change):
    assert not is_enriched({**ENRICHED, **change})


@pytest.mark.parametrize("missing", ENRICHMENT_FIELDS)
def test_all_five_fields_must_be_there(missing):
    assert not is_enriched({k: v for k, v in ENRICHED.items() if k != missing})


def test_pass_through_keeps_a_masked_value_exactly_and_still_applies_the_policy():
    assert pass_through(dict(ENRICHED), ApiKeyValuePolicy.MASK) == ENRICHED
    assert pass_through(dict(ENRICHED), ApiKeyValuePolicy.KEEP) == ENRICHED
    assert "api_key" not in pass_through(dict(ENRICHED), ApiKeyValuePolicy.DROP)
    # A raw value slipped into an "enriched" record is still masked.
    raw = {**ENRICHED, "api_key": "aRawKeyValueThatIsLong0000a1f3"}
    assert pass_through(raw, ApiKeyValuePolicy.MASK)["api_key"] == "****a1f3"
