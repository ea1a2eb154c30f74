"""Loading the account's usage plans from API Gateway, and the cache that holds them.

The only module that talks to the control plane. Its cost grows with the number of
*pages* listed (500 items a page), never with the number of records in a batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from directory import Customer, PlanKeys, UsagePlanDirectory, build_directory

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import PaginatorConfigTypeDef, UsagePlanTypeDef

    from records import LookupKey

# The API's own default page is 25 items; 500 is its maximum.
PAGE_SIZE = 500
_PAGING: PaginatorConfigTypeDef = {"PageSize": PAGE_SIZE}

# botocore logs whole response bodies at DEBUG, and GetUsagePlanKeys returns raw key
# values. Keep that logger above DEBUG whatever level the function runs at.
logging.getLogger("botocore.parsers").setLevel(logging.INFO)


@dataclass(frozen=True, slots=True)
class FetchResult:
    directory: UsagePlanDirectory
    calls: int


def fetch_directory(client: APIGatewayClient) -> FetchResult:
    """List every usage plan, every key on each plan, and every API key, all paged."""
    calls = 0
    plans: list[UsagePlanTypeDef] = []
    for plans_page in client.get_paginator("get_usage_plans").paginate(PaginationConfig=_PAGING):
        calls += 1
        plans.extend(plans_page.get("items", []))

    plan_keys = []
    for plan in plans:
        keys: list[Customer] = []
        pages = client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"], PaginationConfig=_PAGING)
        for keys_page in pages:
            calls += 1
            # Each item carries the key's raw `value`; only the id and name are kept.
            keys.extend(
                Customer(item["id"], item.get("name"), None) for item in keys_page.get("items", []) if "id" in item
            )
        plan_keys.append(PlanKeys(plan, tuple(keys)))

    api_keys: list[dict[str, str | None]] = []
    # includeValues stays False: the secret values are never requested.
    for api_keys_page in client.get_paginator("get_api_keys").paginate(includeValues=False, PaginationConfig=_PAGING):
        calls += 1
        api_keys.extend(
            {"id": key.get("id"), "name": key.get("name"), "customerId": key.get("customerId")}
            for key in api_keys_page.get("items", [])
        )

    return FetchResult(build_directory(plan_keys, api_keys), calls)


class LoadTrigger(StrEnum):
    COLD_START = "cold_start"
    EXPIRED = "expired"
    UNKNOWN_KEY = "unknown_key"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What one cache load did: for the batch's log line and metrics."""

    trigger: LoadTrigger
    ok: bool
    duration_seconds: float
    calls: int = 0
    plans: int = 0
    keys: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CacheView:
    """The directory to answer one batch with (None: nothing could be loaded yet)."""

    directory: UsagePlanDirectory | None
    age_seconds: float | None
    load: LoadReport | None


class UsagePlanCache:
    """Holds the last good directory and decides when to reload it.

    - The first batch of an execution environment loads it.
    - A directory older than `ttl_seconds` is reloaded before answering.
    - A batch with a (api, stage, key) the directory does not know reloads it first, at
      most once every `miss_refresh_seconds`, so a storm of unknown keys costs one load.
    - A failed load keeps the last good directory (stale-while-error); the next attempt
      waits `miss_refresh_seconds`.
    """

    def __init__(
        self,
        fetch: Callable[[], FetchResult],
        *,
        ttl_seconds: float,
        miss_refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._miss_refresh = miss_refresh_seconds
        self._clock = clock
        self._directory: UsagePlanDirectory | None = None
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._last_failed = False

    def view_for(self, keys: Collection[LookupKey]) -> CacheView:
        now = self._clock()
        trigger = self._reload_trigger(now, keys)
        report = self._load(trigger) if trigger is not None else None
        age = None if self._loaded_at is None else self._clock() - self._loaded_at
        return CacheView(self._directory, age, report)

    def _reload_trigger(self, now: float, keys: Collection[LookupKey]) -> LoadTrigger | None:
        if self._attempted_at is None:
            return LoadTrigger.COLD_START
        since_attempt = now - self._attempted_at
        if self._last_failed:
            return LoadTrigger.RETRY if since_attempt >= self._miss_refresh else None
        if self._loaded_at is None or now - self._loaded_at >= self._ttl:
            return LoadTrigger.EXPIRED
        if since_attempt >= self._miss_refresh and self._has_unknown(keys):
            return LoadTrigger.UNKNOWN_KEY
        return None

    def _has_unknown(self, keys: Collection[LookupKey]) -> bool:
        directory = self._directory
        if directory is None:
            return False
        return any(key.key_id is not None and not directory.knows(key.api_id, key.stage, key.key_id) for key in keys)

    def _load(self, trigger: LoadTrigger) -> LoadReport:
        started = self._clock()
        self._attempted_at = started
        try:
            result = self._fetch()
        except (ClientError, BotoCoreError) as error:
            self._last_failed = True
            return LoadReport(trigger, ok=False, duration_seconds=self._clock() - started, error=_describe(error))
        finished = self._clock()
        self._directory = result.directory
        self._loaded_at = finished
        self._last_failed = False
        return LoadReport(
            trigger,
            ok=True,
            duration_seconds=finished - started,
            calls=result.calls,
            plans=result.directory.plan_count,
            keys=result.directory.key_count,
        )


def _describe(error: ClientError | BotoCoreError) -> str:
    """A one-line description of a control-plane failure (API Gateway errors carry no key values)."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Unknown')}: {info.get('Message', '')}".strip()
    return f"{type(error).__name__}: {error}"
