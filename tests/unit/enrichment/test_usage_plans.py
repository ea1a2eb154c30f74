"""When the usage-plan cache loads, reloads, and keeps serving: a fake fetch and a fake clock."""

from __future__ import annotations

import pytest

from apigw_enrichment.budget import Deadline
from apigw_enrichment.enrichment.directory import Customer, PlanKeys, build_directory
from apigw_enrichment.enrichment.keys import LookupKey
from apigw_enrichment.enrichment.usage_plans import (
    DirectoryLoadError,
    FailureKind,
    FetchResult,
    LoadReport,
    LoadTrigger,
    UsagePlanCache,
)
from tests.support.clock import FakeClock

KNOWN = LookupKey("api1", "prod", "k1")
UNKNOWN = LookupKey("api1", "prod", "k-new")
NO_KEY = LookupKey("api1", "prod", None)


class Fetch:
    """Counts loads; can be told to fail, or to start knowing a new key."""

    def __init__(self) -> None:
        self.loads = 0
        self.error: BaseException | None = None
        self.keys = ["k1"]
        self.budgets: list[float] = []

    def __call__(self, deadline: Deadline) -> FetchResult:
        self.loads += 1
        self.budgets.append(deadline.seconds)
        if self.error is not None:
            raise self.error
        plan = PlanKeys(
            {"id": "p", "name": "P", "apiStages": [{"apiId": "api1", "stage": "prod"}]},
            tuple(Customer(k, k, None) for k in self.keys),
        )
        return FetchResult(build_directory([plan], []), calls=3)


def make(ttl=900.0, miss=60.0, budget=10.0):
    clock, fetch = FakeClock(1000.0), Fetch()
    cache = UsagePlanCache(fetch, ttl_seconds=ttl, miss_refresh_seconds=miss, budget_seconds=budget, clock=clock)
    return cache, clock, fetch


THROTTLED = DirectoryLoadError(FailureKind.THROTTLED, "TooManyRequestsException: Too Many Requests", calls=3)


def test_the_first_batch_loads_and_warm_batches_with_known_keys_do_not():
    cache, clock, fetch = make()
    first = cache.view_for([KNOWN])
    assert first.load is not None and first.load.trigger is LoadTrigger.COLD_START and first.load.ok
    assert first.load.calls == 3
    for _ in range(100):
        clock.now += 5
        assert cache.view_for([KNOWN, NO_KEY]).load is None
    assert fetch.loads == 1


def test_an_expired_cache_reloads_before_answering():
    cache, clock, fetch = make(ttl=900)
    cache.view_for([KNOWN])
    clock.now += 899
    assert cache.view_for([KNOWN]).load is None
    clock.now += 1
    view = cache.view_for([KNOWN])
    assert view.load is not None and view.load.trigger is LoadTrigger.EXPIRED
    assert view.age_seconds == 0
    assert fetch.loads == 2


def test_an_unknown_key_reloads_first_but_at_most_once_per_miss_refresh_window():
    cache, clock, fetch = make(miss=60)
    cache.view_for([KNOWN])
    fetch.keys = ["k1", "k-new"]  # the key is created after cold start
    clock.now += 59
    view = cache.view_for([UNKNOWN])
    assert view.load is None, "too soon after the last load"
    assert view.directory is not None and not view.directory.knows("api1", "prod", "k-new")
    clock.now += 1
    view = cache.view_for([UNKNOWN])
    assert view.load is not None and view.load.trigger is LoadTrigger.UNKNOWN_KEY
    assert view.directory is not None and view.directory.knows("api1", "prod", "k-new")
    assert fetch.loads == 2


def test_a_storm_of_unknown_keys_costs_one_load_per_window():
    cache, clock, fetch = make(miss=60)
    cache.view_for([KNOWN])
    storm = [LookupKey("api1", "prod", f"ghost-{n}") for n in range(5000)]
    for _ in range(600):  # ten minutes of batches, one a second
        clock.now += 1
        cache.view_for(storm)
    assert fetch.loads == 1 + 10


def test_a_failed_reload_keeps_serving_the_last_good_directory():
    cache, clock, fetch = make(ttl=900, miss=60)
    good = cache.view_for([KNOWN]).directory
    fetch.error = THROTTLED
    clock.now += 900
    view = cache.view_for([KNOWN])
    assert view.load is not None and not view.load.ok
    assert view.load.error == "TooManyRequestsException: Too Many Requests"
    assert (view.load.failure, view.load.calls) == (FailureKind.THROTTLED, 3)
    assert view.directory is good
    assert view.age_seconds == 900
    clock.now += 30
    assert cache.view_for([KNOWN]).load is None, "no retry before the miss-refresh gap"
    fetch.error = None
    clock.now += 30
    view = cache.view_for([KNOWN])
    assert view.load is not None and view.load.trigger is LoadTrigger.RETRY and view.load.ok
    assert fetch.loads == 3


def test_with_nothing_loaded_a_failed_cold_start_serves_no_directory_and_retries_later():
    cache, clock, fetch = make(miss=60)
    fetch.error = DirectoryLoadError(FailureKind.TIMEOUT, "ConnectTimeoutError: ...", calls=3)
    view = cache.view_for([KNOWN])
    assert view.directory is None and view.age_seconds is None
    assert view.load is not None and view.load.failure is FailureKind.TIMEOUT
    clock.now += 59
    assert cache.view_for([KNOWN]).load is None
    clock.now += 1
    fetch.error = None
    assert cache.view_for([KNOWN]).directory is not None
    assert fetch.loads == 2


def test_a_fetch_that_raises_anything_else_is_a_failed_load_of_kind_other_and_waits_for_the_gap():
    cache, clock, fetch = make(ttl=900, miss=60)
    good = cache.view_for([KNOWN]).directory
    fetch.error = KeyError("rawValueAcme0000000000000000001")  # a bug, quoting what it was reading
    clock.now += 900
    view = cache.view_for([KNOWN])
    assert view.load == LoadReport(
        LoadTrigger.EXPIRED,
        ok=False,
        duration_seconds=0,
        failure=FailureKind.OTHER,
        error="KeyError while loading the usage plans",
    )
    assert view.directory is good, "the last good directory is still served"
    clock.now += 59
    assert cache.view_for([KNOWN]).load is None, "the attempt was recorded: no retry before the miss-refresh gap"
    fetch.error = None
    clock.now += 1
    view = cache.view_for([KNOWN])
    assert view.load is not None and view.load.trigger is LoadTrigger.RETRY and view.load.ok
    assert fetch.loads == 3


def test_an_interrupt_during_a_load_is_not_caught():
    cache, _clock, fetch = make()
    fetch.error = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        cache.view_for([KNOWN])


def test_a_load_gets_the_budget_or_the_time_the_batch_has_left_whichever_is_less():
    cache, clock, fetch = make(ttl=0, budget=10)
    cache.view_for([KNOWN])
    clock.now += 1
    cache.view_for([KNOWN], time_left=25)
    clock.now += 1
    cache.view_for([KNOWN], time_left=4)
    clock.now += 1
    cache.view_for([KNOWN], time_left=-3)
    assert fetch.budgets == [10, 10, 4, 0]


def test_a_deadline_expires_on_its_clock():
    clock = FakeClock(1000.0)
    deadline = Deadline(10, clock)
    clock.now += 9.9
    assert not deadline.expired()
    clock.now += 0.1
    assert deadline.expired()
