"""The usage-plan directory and the pure enrichment step."""

from __future__ import annotations

from apigw_enrichment.enrichment.directory import (
    LOOKUP_UNAVAILABLE,
    NO_API_KEY,
    UNKNOWN_API_KEY,
    Customer,
    Enrichment,
    PlanKeys,
    build_directory,
    enrichment_for,
)
from apigw_enrichment.enrichment.keys import LookupKey
from apigw_enrichment.fields import EnrichmentStatus

ENRICHED = EnrichmentStatus.ENRICHED


def plan(plan_id, name, stages, keys):
    return PlanKeys(
        {"id": plan_id, "name": name, "apiStages": [{"apiId": a, "stage": s} for a, s in stages]},
        tuple(Customer(k, f"plan-key-name-{k}", None) for k in keys),
    )


API_KEYS = [
    {"id": "k1", "name": "Acme", "customerId": "c-1"},
    {"id": "k2", "name": "Globex", "customerId": "c-2"},
    {"id": "k3", "name": "Initech", "customerId": None},
]
DIRECTORY = build_directory(
    [
        plan("gold", "Gold", [("api1", "prod"), ("api2", "prod")], ["k1", "k2"]),
        plan("free", "Free", [("api1", "dev")], ["k2", "k-late"]),
    ],
    API_KEYS,
)


def test_lookup_maps_api_stage_and_key_to_the_plan_and_customer():
    assert DIRECTORY.lookup("api1", "prod", "k1") == Enrichment(ENRICHED, "gold", "Gold", "c-1", "Acme")
    assert DIRECTORY.lookup("api2", "prod", "k2") == Enrichment(ENRICHED, "gold", "Gold", "c-2", "Globex")


def test_a_key_on_several_plans_gets_the_plan_of_the_records_stage():
    assert DIRECTORY.lookup("api1", "dev", "k2") == Enrichment(ENRICHED, "free", "Free", "c-2", "Globex")


def test_a_known_key_on_no_plan_for_the_stage_still_names_its_customer():
    assert DIRECTORY.lookup("api1", "dev", "k1") == Enrichment(
        EnrichmentStatus.UNKNOWN_API_KEY, None, None, "c-1", "Acme"
    )
    assert DIRECTORY.lookup("api9", "prod", "k3") == Enrichment(
        EnrichmentStatus.UNKNOWN_API_KEY, None, None, None, "Initech"
    )


def test_an_unknown_key_has_null_plan_and_customer():
    assert DIRECTORY.lookup("api1", "prod", "nope") == UNKNOWN_API_KEY


def test_a_key_listed_on_a_plan_but_not_by_get_api_keys_uses_the_plan_listing_name():
    assert DIRECTORY.lookup("api1", "dev", "k-late") == Enrichment(
        ENRICHED, "free", "Free", None, "plan-key-name-k-late"
    )


def test_counts_and_conflicts():
    assert (DIRECTORY.plan_count, DIRECTORY.key_count, DIRECTORY.conflicts) == (2, 4, 0)
    clash = build_directory(
        [plan("a", "A", [("api1", "prod")], ["k1"]), plan("b", "B", [("api1", "prod")], ["k1"])], API_KEYS
    )
    assert clash.conflicts == 1
    assert clash.lookup("api1", "prod", "k1").usage_plan_id == "a", "the first plan listed wins"


def test_enrichment_for_each_status():
    assert enrichment_for(LookupKey("api1", "prod", None), DIRECTORY) == NO_API_KEY
    assert enrichment_for(LookupKey("api1", "prod", None), None) == NO_API_KEY, "no key needs no lookup"
    assert enrichment_for(LookupKey("api1", "prod", "k1"), None) == LOOKUP_UNAVAILABLE
    assert enrichment_for(LookupKey("api1", "prod", None, key_unusable=True), DIRECTORY) == UNKNOWN_API_KEY
    assert enrichment_for(LookupKey(None, None, "k1"), DIRECTORY).status is EnrichmentStatus.UNKNOWN_API_KEY
    assert enrichment_for(LookupKey("api1", "prod", "k1"), DIRECTORY).status is ENRICHED
