"""Paged loading against a fake that pages like the real API (moto returns one page)."""

from __future__ import annotations

import json
import math

import pytest

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.enrichment.usage_plans import UsagePlanCache, fetch_directory
from tests.support.events import firehose_event, ok_objects
from tests.support.fake_apigateway import REAL_MAX_PAGE, FakeAccount, PagingApiGateway, big_account


def expected_calls(plan_keys: list[int], api_keys: int) -> int:
    """One GetUsagePlans page per 500 plans, one GetUsagePlanKeys page per 500 keys of each plan
    (at least one call per plan), and one GetApiKeys page per 500 keys."""
    plan_pages = max(1, math.ceil(len(plan_keys) / REAL_MAX_PAGE))
    key_pages = sum(max(1, math.ceil(n / REAL_MAX_PAGE)) for n in plan_keys)
    return plan_pages + key_pages + max(1, math.ceil(api_keys / REAL_MAX_PAGE))


def test_cold_start_for_60_plans_with_1200_keys_on_one_plan_takes_66_calls():
    fake = PagingApiGateway(big_account(60, 1200))
    result = fetch_directory(fake.client())
    assert result.calls == fake.count() == expected_calls([1200] + [0] * 59, 1200) == 66
    assert (fake.count("GetUsagePlans"), fake.count("GetUsagePlanKeys"), fake.count("GetApiKeys")) == (1, 62, 3)
    assert {call.limit for call in fake.calls} == {500}, "every call asks for the largest page"
    assert result.directory.plan_count == 60 and result.directory.key_count == 1200
    assert result.directory.knows("api0000", "prod", "key001199")


def test_cold_start_for_300_plans_with_10000_keys():
    fake = PagingApiGateway(big_account(300, 4020, keys_per_other_plan=20))
    result = fetch_directory(fake.client())
    assert result.calls == fake.count() == expected_calls([4020] + [20] * 299, 10_000) == 329
    assert result.directory.plan_count == 300 and result.directory.key_count == 10_000
    assert result.directory.knows("api0299", "prod", "key009999")


def test_more_than_500_plans_are_paged_too():
    fake = PagingApiGateway(big_account(1201, 0))
    assert fetch_directory(fake.client()).directory.plan_count == 1201
    assert fake.count("GetUsagePlans") == 3
    assert [call.position for call in fake.calls if call.operation == "GetUsagePlans"] == [None, "500", "1000"]


def test_key_values_are_never_requested_from_get_api_keys_nor_kept():
    account = FakeAccount()
    account.add_key("k1", "Acme", "c-1", value="theRawSecretValueOfAcme000000000")
    account.add_plan("p1", "Gold", [("api1", "prod")], ["k1"])
    fake = PagingApiGateway(account)
    directory = fetch_directory(fake.client()).directory
    assert "theRawSecretValueOfAcme000000000" not in repr(directory)


@pytest.mark.parametrize("records", [10, 3000])
def test_calls_grow_with_pages_not_with_records_or_keys_in_the_batch(lambda_context, records):
    fake = PagingApiGateway(big_account(60, 1200))
    client = fake.client()
    state.use_cache(
        UsagePlanCache(lambda deadline: fetch_directory(client, deadline), ttl_seconds=900, miss_refresh_seconds=60)
    )
    lines = [
        json.dumps({"api_id": "api0000", "stage": "prod", "key_id": f"key{n % 1200:06d}"}).encode()
        for n in range(records)
    ]
    objects = ok_objects(app.lambda_handler(firehose_event(lines), lambda_context))
    assert {obj["enrichment_status"] for obj in objects} == {"enriched"}
    assert fake.count() == 66
    app.lambda_handler(firehose_event(lines), lambda_context)
    assert fake.count() == 66, "a warm batch of known keys makes no calls"
