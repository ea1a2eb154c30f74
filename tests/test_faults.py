"""The handler when API Gateway's control plane is throttled, failing, slow, or denies access.

The real client (botocore's standard retry mode, its timeouts) talks to a fake that pages like
the real API and can fail any request. Time is a fake clock: retry backoff sleeps and slow
requests advance it, so budgets and refresh windows are exact and the tests never wait.
"""

from __future__ import annotations

import json
import logging
import time
import types
from typing import Any

import botocore.endpoint
import pytest
from botocore.exceptions import ReadTimeoutError

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.enrichment.usage_plans import UsagePlanCache, fetch_directory
from apigw_enrichment.telemetry import logger
from tests.support.clock import FakeClock
from tests.support.events import firehose_event, ok_objects
from tests.support.fake_apigateway import FakeAccount, PagingApiGateway
from tests.support.logs import emf_metrics, everything_logged

# Two plans on two stages, three keys: a full load is 1 GetUsagePlans + 2 GetUsagePlanKeys
# + 1 GetApiKeys = 4 requests.
FULL_LOAD = 4
ATTEMPTS = 3  # botocore standard mode, total_max_attempts in state.py
THROTTLED = (429, "TooManyRequestsException", "Too Many Requests")
UNAVAILABLE = (503, "ServiceUnavailableException", "Service Unavailable")
DENIED = (
    403,
    "AccessDeniedException",
    (
        "User: arn:aws:sts::123456789012:assumed-role/EnrichRole/fn is not authorized to perform: apigateway:GET on "
        "resource: arn:aws:apigateway:us-east-1::/usageplans/pl1/keys"
    ),
)
KEY_VALUES = ("rawValueAcme0000000000000000001", "rawValueGlobex00000000000000002", "rawValueInitech0000000000000003")


def account() -> FakeAccount:
    fake = FakeAccount()
    fake.add_key("k1", "Acme", "cust-1", value=KEY_VALUES[0])
    fake.add_key("k2", "Globex", "cust-2", value=KEY_VALUES[1])
    fake.add_key("k3", "Initech", "cust-3", value=KEY_VALUES[2])
    fake.add_plan("pl1", "Gold", [("api1", "prod")], ["k1", "k2"])
    fake.add_plan("pl2", "Free", [("api1", "dev")], ["k3"])
    return fake


class World:
    """The fake control plane, the function's real client and cache, and one clock for all."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, budget: float = 10.0) -> None:
        self.clock = FakeClock(5000.0)
        self.sleeps: list[float] = []
        self.api = PagingApiGateway(account())
        client = state.apigateway_client()  # the function's own client and retry config
        self.api.attach(client)
        self.cache = UsagePlanCache(
            lambda deadline: fetch_directory(client, deadline),
            ttl_seconds=900,
            miss_refresh_seconds=60,
            budget_seconds=budget,
            clock=self.clock,
        )
        state.use_cache(self.cache)
        # botocore sleeps between retries with time.sleep; here that advances the fake clock.
        monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=self._sleep, time=time.time))

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.now += seconds

    def fail(self, fault: Any, *, first: int | None = None, operation: str | None = None) -> None:
        """Fail every request (or the first `first` of them, or those of one operation)."""
        self.api.failure = lambda n, op: (
            fault if (first is None or n <= first) and (operation is None or op == operation) else None
        )

    def heal(self) -> None:
        self.api.failure = lambda _n, _op: None


def batch(*keys: str | None, stage: str = "prod") -> dict[str, Any]:
    lines = [json.dumps({"api_id": "api1", "stage": stage, "key_id": key or "-"}).encode() for key in keys]
    return firehose_event(lines)


def statuses(response: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(obj["usage_plan_name"], obj["enrichment_status"]) for obj in ok_objects(response)]


def log_lines(buffer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def emf(capsys) -> dict[str, Any]:
    (metrics,) = emf_metrics(capsys.readouterr().out)
    return metrics


@pytest.fixture
def world(monkeypatch):
    return World(monkeypatch)


def test_healthy_cold_start_makes_one_request_per_page(world, lambda_context):
    response = app.lambda_handler(batch("k1", "k3", None), lambda_context)
    assert statuses(response) == [("Gold", "enriched"), (None, "unknown_api_key"), (None, "no_api_key")]
    assert world.api.count() == FULL_LOAD and world.sleeps == []


def test_throttled_on_every_call_fails_open_with_one_warning_and_retries_after_the_gap(
    world, lambda_context, handler_logs, capsys
):
    world.fail(THROTTLED)
    response = app.lambda_handler(batch("k1", "k2", None), lambda_context)
    assert [r["result"] for r in response["records"]] == ["Ok"] * 3
    assert ok_objects(response)[0] == {
        "api_id": "api1", "stage": "prod", "key_id": "k1",
        "usage_plan_id": None, "usage_plan_name": None, "customer_id": None, "customer_name": None,
        "enrichment_status": "lookup_unavailable",
    }  # fmt: skip
    assert statuses(response)[2] == (None, "no_api_key")
    # botocore retried GetUsagePlans twice, with backoff, then gave up: 3 requests in all.
    assert (world.api.count(), world.api.count("GetUsagePlans")) == (ATTEMPTS, ATTEMPTS)
    assert len(world.sleeps) == ATTEMPTS - 1 and all(0 <= s <= 2 for s in world.sleeps)
    warnings = [line for line in log_lines(handler_logs) if line["level"] == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0]["message"] == (
        "usage plans could not be loaded (throttled); serving no snapshot: records are lookup_unavailable"
    )
    assert warnings[0]["error"] == "TooManyRequestsException: Too Many Requests"
    metrics = emf(capsys)
    assert metrics["CacheLoadFailures"] == [1.0] and metrics["CacheLoadFailed_throttled"] == [1.0]
    assert metrics["Status_lookup_unavailable"] == [2.0]

    world.clock.now += 59
    app.lambda_handler(batch("k1"), lambda_context)
    assert world.api.count() == ATTEMPTS, "no new load inside MISS_REFRESH_SECONDS"
    world.heal()
    world.clock.now += 1
    assert statuses(app.lambda_handler(batch("k1"), lambda_context)) == [("Gold", "enriched")]
    assert world.api.count() == ATTEMPTS + FULL_LOAD


def test_throttled_on_the_first_two_calls_recovers_within_the_load(world, lambda_context):
    world.fail(THROTTLED, first=2)
    assert statuses(app.lambda_handler(batch("k1", "k2"), lambda_context)) == [("Gold", "enriched")] * 2
    assert world.api.count() == FULL_LOAD + 2
    assert world.api.count("GetUsagePlans") == 3 and len(world.sleeps) == 2


def test_throttling_across_pages_is_retried_page_by_page(world, lambda_context):
    world.api.failure = lambda n, op: THROTTLED if op == "GetUsagePlanKeys" and n in (2, 4) else None
    assert statuses(app.lambda_handler(batch("k1", "k3", stage="dev"), lambda_context))[1] == ("Free", "enriched")
    assert world.api.count("GetUsagePlanKeys") == 2 + 2 and world.api.count() == FULL_LOAD + 2


@pytest.mark.parametrize("fault", [UNAVAILABLE, (500, "InternalServerError", "Internal Error")])
def test_5xx_on_every_call(world, lambda_context, handler_logs, fault):
    world.fail(fault)
    assert statuses(app.lambda_handler(batch("k1"), lambda_context)) == [(None, "lookup_unavailable")]
    assert world.api.count() == ATTEMPTS
    (warning,) = [line for line in log_lines(handler_logs) if line["level"] == "WARNING"]
    assert warning["failure"] == "server_error"


def test_one_5xx_is_retried(world, lambda_context):
    world.fail(UNAVAILABLE, first=1)
    assert statuses(app.lambda_handler(batch("k1"), lambda_context)) == [("Gold", "enriched")]
    assert world.api.count() == FULL_LOAD + 1


def test_read_timeouts_on_every_call(world, lambda_context, handler_logs):
    world.fail(ReadTimeoutError(endpoint_url="https://apigateway.us-east-1.amazonaws.com/usageplans"))
    assert statuses(app.lambda_handler(batch("k1"), lambda_context)) == [(None, "lookup_unavailable")]
    assert world.api.count() == ATTEMPTS
    (warning,) = [line for line in log_lines(handler_logs) if line["level"] == "WARNING"]
    assert warning["failure"] == "timeout"
    assert warning["error"].startswith("ReadTimeoutError: Read timeout on endpoint URL")


def test_a_timeout_on_one_page_is_retried(world, lambda_context):
    timeout = ReadTimeoutError(endpoint_url="https://apigateway.us-east-1.amazonaws.com/apikeys")
    world.api.failure = lambda _n, op: timeout if op == "GetApiKeys" and world.api.count("GetApiKeys") == 1 else None
    assert statuses(app.lambda_handler(batch("k2"), lambda_context)) == [("Gold", "enriched")]
    assert world.api.count() == FULL_LOAD + 1


def test_access_denied_names_the_missing_permission_once_and_fails_open(world, lambda_context, handler_logs, capsys):
    world.fail(DENIED, operation="GetUsagePlanKeys")
    for _ in range(3):
        response = app.lambda_handler(batch("k1", None), lambda_context)
        assert statuses(response) == [(None, "lookup_unavailable"), (None, "no_api_key")]
    # GetUsagePlans succeeded, the first GetUsagePlanKeys was denied and not retried.
    assert [call.operation for call in world.api.calls] == ["GetUsagePlans", "GetUsagePlanKeys"]
    errors = [line for line in log_lines(handler_logs) if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["message"] == (
        "access denied: the function's role needs apigateway:GET on arn:aws:apigateway:us-east-1::/usageplans/*/keys;"
        " serving no snapshot: records are lookup_unavailable"
    )
    assert errors[0]["missing_permission"] == "apigateway:GET on arn:aws:apigateway:us-east-1::/usageplans/*/keys"
    assert "CacheLoadFailed_access_denied" in capsys.readouterr().out


def test_a_failed_reload_keeps_serving_the_last_good_snapshot(world, lambda_context, handler_logs):
    app.lambda_handler(batch("k1"), lambda_context)
    world.fail(THROTTLED)
    world.clock.now += 900  # the cache has expired
    response = app.lambda_handler(batch("k1", "k3", stage="dev"), lambda_context)
    assert statuses(response) == [(None, "unknown_api_key"), ("Free", "enriched")]
    assert world.api.count() == FULL_LOAD + ATTEMPTS
    (warning,) = [line for line in log_lines(handler_logs) if line["level"] == "WARNING"]
    assert warning["message"] == "usage plans could not be loaded (throttled); serving the last good snapshot"
    summary = log_lines(handler_logs)[-1]
    assert summary["message"] == "batch transformed" and summary["cache_age_seconds"] >= 900


def test_a_key_added_after_cold_start_is_found_by_one_reload_after_the_miss_gap(world, lambda_context):
    app.lambda_handler(batch("k1"), lambda_context)
    world.api.account.add_key("k4", "Hooli", "cust-4")
    world.api.account.keys_by_plan["pl1"].append("k4")
    world.clock.now += 30
    assert statuses(app.lambda_handler(batch("k4"), lambda_context)) == [(None, "unknown_api_key")]
    assert world.api.count() == FULL_LOAD, "inside MISS_REFRESH_SECONDS of the last load"
    world.clock.now += 30
    assert statuses(app.lambda_handler(batch("k4", "k1"), lambda_context)) == [("Gold", "enriched")] * 2
    assert world.api.count() == 2 * FULL_LOAD


def test_a_storm_of_unknown_keys_reloads_at_most_once_per_miss_gap(world, lambda_context):
    app.lambda_handler(batch("k1"), lambda_context)
    ghosts = [f"ghost{n:05d}" for n in range(5000)]
    for minute in range(5):
        for second in range(0, 60, 10):  # a batch of 5,000 distinct unknown keys every 10 s
            world.clock.now = 5000 + 60 * (minute + 1) + second
            response = app.lambda_handler(batch(*ghosts[:2500], *ghosts[2500:]), lambda_context)
            assert {obj["enrichment_status"] for obj in ok_objects(response)} == {"unknown_api_key"}
    assert world.api.count() == FULL_LOAD * (1 + 5), "one reload a minute, not one per key or record"


def test_the_lookup_budget_stops_a_slow_load_and_no_request_starts_after_it(monkeypatch, lambda_context, handler_logs):
    world = World(monkeypatch, budget=10)
    world.api.on_request = lambda: setattr(world.clock, "now", world.clock.now + 4)  # each request takes 4 s
    assert statuses(app.lambda_handler(batch("k1"), lambda_context)) == [(None, "lookup_unavailable")]
    # Requests start at 0, 4 and 8 s; the fourth, at 12 s, is refused before it is sent.
    assert world.api.count() == 3
    (warning,) = [line for line in log_lines(handler_logs) if line["level"] == "WARNING"]
    assert warning["failure"] == "budget_exhausted"
    assert warning["error"] == "lookup budget of 10 s used up after 3 requests"
    assert warning["duration_ms"] == 12_000


def test_the_budget_also_stops_retries(monkeypatch, lambda_context):
    world = World(monkeypatch, budget=10)
    world.fail(THROTTLED)
    world.api.on_request = lambda: setattr(world.clock, "now", world.clock.now + 6)
    assert statuses(app.lambda_handler(batch("k1"), lambda_context)) == [(None, "lookup_unavailable")]
    assert world.api.count() == 2, "the third attempt would start after the budget"


def test_a_batch_near_the_invocation_timeout_gets_a_smaller_budget(world, lambda_context, monkeypatch):
    monkeypatch.setattr(type(lambda_context), "get_remaining_time_in_millis", lambda _self: 30_000)
    world.api.on_request = lambda: setattr(world.clock, "now", world.clock.now + 2)
    assert statuses(app.lambda_handler(batch("k1"), lambda_context)) == [(None, "lookup_unavailable")]
    # 30 s left minus the 25 s kept for answering: a 5 s budget, so requests at 0, 2 and 4 s.
    assert world.api.count() == 3


def test_no_key_value_reaches_the_logs_under_faults_even_at_debug(world, lambda_context, handler_logs, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    logger.setLevel(logging.DEBUG)
    try:
        app.lambda_handler(batch("k1"), lambda_context)  # a good load: GetUsagePlanKeys returns values
        world.fail(DENIED, operation="GetUsagePlanKeys")
        world.clock.now += 900
        app.lambda_handler(batch("k2"), lambda_context)
    finally:
        logger.setLevel(logging.INFO)
    logged = everything_logged(handler_logs, capsys, caplog)
    assert "access denied" in logged and "GetUsagePlanKeys" in caplog.text
    for value in KEY_VALUES:
        assert value not in logged


# Answers the control plane should never give, but a proxy, a truncated read or a bug might.
NOT_JSON = b"<html><body>upstream proxy error</body></html>"
# A page of GetUsagePlanKeys cut off mid-item: it holds a raw key value, which must never be logged.
TRUNCATED = b'{"item":[{"id":"k1","type":"API_KEY","name":"Acme","value":"' + KEY_VALUES[0].encode()
UNREADABLE = "UnreadableResponseError: GetUsagePlanKeys answered with a body that is not a JSON object"


def add_malformed(world: World, operation: str, *items: Any) -> None:
    world.api.extra_items[operation] = list(items)


MALFORMED = {
    "a plan without an id": (lambda w: w.api.account.plans.insert(0, {"name": "Ghost"}), 1),
    "a plan whose id is not a string": (
        lambda w: w.api.account.plans.insert(0, {"id": 7, "apiStages": [{"apiId": "api1", "stage": "prod"}]}),
        1,
    ),
    "a null apiStages item": (lambda w: w.api.account.plans[0]["apiStages"].insert(0, None), 1),
    "an apiStages item without a stage": (lambda w: w.api.account.plans[0]["apiStages"].append({"apiId": "api2"}), 1),
    # GetUsagePlanKeys serves the extra item on each of the two plans.
    "a null usage-plan-key item": (lambda w: add_malformed(w, "GetUsagePlanKeys", None), 2),
    "a usage-plan-key item without an id": (lambda w: add_malformed(w, "GetUsagePlanKeys", {"name": "NoId"}), 2),
    "a null api-key item": (lambda w: add_malformed(w, "GetApiKeys", None), 1),
    "an api-key item without an id": (lambda w: add_malformed(w, "GetApiKeys", {"name": "NoId"}), 1),
}


@pytest.mark.parametrize(("malform", "skipped"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_item_is_skipped_and_counted_and_the_rest_of_the_answer_is_used(
    world, lambda_context, handler_logs, capsys, malform, skipped
):
    malform(world)
    response = app.lambda_handler(batch("k1", "k2", "k3"), lambda_context)
    assert [(obj["usage_plan_id"], obj["customer_id"], obj["enrichment_status"]) for obj in ok_objects(response)] == [
        ("pl1", "cust-1", "enriched"),
        ("pl1", "cust-2", "enriched"),
        (None, "cust-3", "unknown_api_key"),  # on a plan for the dev stage only
    ]
    assert world.api.count() == FULL_LOAD
    (loaded,) = [line for line in log_lines(handler_logs) if line["message"] == "usage plans loaded"]
    assert (loaded["plans"], loaded["keys"], loaded["skipped_items"]) == (2, 3, skipped)
    assert not [line for line in log_lines(handler_logs) if line["level"] != "INFO"]
    assert emf(capsys)["CacheLoadSkippedItems"] == [float(skipped)]


def test_a_clean_load_skips_nothing_and_emits_no_skipped_items_metric(world, lambda_context, handler_logs, capsys):
    app.lambda_handler(batch("k1"), lambda_context)
    (loaded,) = [line for line in log_lines(handler_logs) if line["message"] == "usage plans loaded"]
    assert loaded["skipped_items"] == 0
    assert "CacheLoadSkippedItems" not in emf(capsys)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (NOT_JSON, UNREADABLE),  # botocore alone would read this as an empty page
        (TRUNCATED, UNREADABLE),
        (b"", UNREADABLE),
        (b"\xff\xfe{}", UNREADABLE),
        (b"[]", UNREADABLE),
        (b'{"item": ["junk"]}', "AttributeError while reading the listings"),  # botocore's parser fails
    ],
    ids=["not JSON", "truncated, holding a key value", "empty", "not UTF-8", "a JSON array", "an unreadable item"],
)
def test_an_unreadable_answer_fails_the_load_as_other_once_without_its_payload_and_waits_for_the_gap(
    world, lambda_context, handler_logs, capsys, caplog, body, error
):
    caplog.set_level(logging.DEBUG)
    logger.setLevel(logging.DEBUG)
    try:
        world.fail(body, operation="GetUsagePlanKeys")
        response = app.lambda_handler(batch("k1", None), lambda_context)
        assert statuses(response) == [(None, "lookup_unavailable"), (None, "no_api_key")]
        # GetUsagePlans, then one GetUsagePlanKeys: an unreadable answer is not retried.
        assert [call.operation for call in world.api.calls] == ["GetUsagePlans", "GetUsagePlanKeys"]
        world.clock.now += 59
        app.lambda_handler(batch("k1"), lambda_context)
        assert world.api.count() == 2, "the attempt was recorded: no new load inside MISS_REFRESH_SECONDS"
    finally:
        logger.setLevel(logging.INFO)
    warnings = [line for line in log_lines(handler_logs) if line["level"] == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0]["message"] == (
        "usage plans could not be loaded (other); serving no snapshot: records are lookup_unavailable"
    )
    assert (warnings[0]["failure"], warnings[0]["error"]) == ("other", error)
    logged = everything_logged(handler_logs, capsys, caplog)
    emitted = emf_metrics(logged)
    assert [metrics.get("CacheLoadFailed_other") for metrics in emitted] == [[1.0], None]
    for payload in (*KEY_VALUES, "upstream proxy", "junk"):
        assert payload not in logged


def test_an_unreadable_answer_on_a_reload_keeps_serving_the_last_good_snapshot(world, lambda_context, handler_logs):
    app.lambda_handler(batch("k1"), lambda_context)
    world.fail(NOT_JSON, operation="GetUsagePlans")
    world.clock.now += 900  # the cache has expired
    response = app.lambda_handler(batch("k1", "k3", stage="dev"), lambda_context)
    assert statuses(response) == [(None, "unknown_api_key"), ("Free", "enriched")]
    assert world.api.count() == FULL_LOAD + 1
    (warning,) = [line for line in log_lines(handler_logs) if line["level"] == "WARNING"]
    assert warning["message"] == "usage plans could not be loaded (other); serving the last good snapshot"
    assert warning["error"] == "UnreadableResponseError: GetUsagePlans answered with a body that is not a JSON object"
    world.clock.now += 59
    assert statuses(app.lambda_handler(batch("k3", stage="dev"), lambda_context)) == [("Free", "enriched")]
    assert world.api.count() == FULL_LOAD + 1, "no new load inside MISS_REFRESH_SECONDS"
    world.heal()
    world.clock.now += 1
    assert statuses(app.lambda_handler(batch("k3", stage="dev"), lambda_context)) == [("Free", "enriched")]
    assert world.api.count() == 2 * FULL_LOAD + 1
