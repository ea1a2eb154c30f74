"""A fixed usage-plan directory, served without any AWS: for tests about records rather than lookups."""

from __future__ import annotations

from apigw_enrichment import state
from apigw_enrichment.enrichment.directory import Customer, PlanKeys, build_directory
from apigw_enrichment.enrichment.usage_plans import FetchResult, UsagePlanCache

# A small directory served without any AWS: for tests about records rather than lookups.
KNOWN_API, KNOWN_STAGE, KNOWN_KEY = "a1b2c3d4e5", "prod", "k7x2m9p4q1"


def use_fixed_directory(*, knows_the_key: bool = True) -> None:
    """Install a cache whose loads return one plan with one key (or no key), and never fail."""

    plan = PlanKeys(
        {"id": "pl0gold001", "name": "Gold", "apiStages": [{"apiId": KNOWN_API, "stage": KNOWN_STAGE}]},
        (Customer(KNOWN_KEY, "Acme Corp", None),) if knows_the_key else (),
    )
    keys = [{"id": KNOWN_KEY, "name": "Acme Corp", "customerId": "cust-acme-001"}] if knows_the_key else []
    directory = build_directory([plan], keys)
    state.use_cache(
        UsagePlanCache(lambda _deadline: FetchResult(directory, 0), ttl_seconds=900, miss_refresh_seconds=60)
    )
