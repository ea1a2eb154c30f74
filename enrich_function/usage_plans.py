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

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from budget import BudgetExhaustedError, Deadline, metered
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

# The IAM resource each listing needs apigateway:GET on, to name it when it is denied.
_RESOURCE_PATHS = {"GetUsagePlans": "/usageplans", "GetUsagePlanKeys": "/usageplans/*/keys", "GetApiKeys": "/apikeys"}
_THROTTLING_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "LimitExceededException"}
)
_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})


class FailureKind(StrEnum):
    """Why a load failed: a fixed code, for a metric name and an alarm."""

    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    ACCESS_DENIED = "access_denied"
    BUDGET_EXHAUSTED = "budget_exhausted"
    OTHER = "other"


class DirectoryLoadError(Exception):
    """The listing failed (after botocore's retries). API Gateway's messages carry no key values."""

    def __init__(self, kind: FailureKind, detail: str, *, calls: int, missing_permission: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.calls = calls
        self.missing_permission = missing_permission


@dataclass(frozen=True, slots=True)
class FetchResult:
    directory: UsagePlanDirectory
    calls: int


def fetch_directory(client: APIGatewayClient, deadline: Deadline | None = None) -> FetchResult:
    """List every usage plan, every key on each plan, and every API key, all paged.

    Retries are botocore's (the client's retry mode); each request, retries included, is
    refused once `deadline` has passed. Any failure raises DirectoryLoadError.
    """
    with metered(client, "api-gateway", deadline) as meter:
        try:
            return FetchResult(_list_directory(client), meter.requests)
        except BudgetExhaustedError:
            budget = deadline.seconds if deadline is not None else 0
            detail = f"lookup budget of {budget:g} s used up after {meter.requests} requests"
            raise DirectoryLoadError(FailureKind.BUDGET_EXHAUSTED, detail, calls=meter.requests) from None
        except ClientError as error:
            raise _client_error(error, client, meter.requests) from None
        except BotoCoreError as error:
            timeout = isinstance(error, (ReadTimeoutError, ConnectTimeoutError))
            kind = FailureKind.TIMEOUT if timeout else FailureKind.OTHER
            raise DirectoryLoadError(kind, f"{type(error).__name__}: {error}", calls=meter.requests) from None


def _list_directory(client: APIGatewayClient) -> UsagePlanDirectory:
    plans: list[UsagePlanTypeDef] = []
    for plans_page in client.get_paginator("get_usage_plans").paginate(PaginationConfig=_PAGING):
        plans.extend(plans_page.get("items", []))

    plan_keys = []
    for plan in plans:
        keys: list[Customer] = []
        pages = client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"], PaginationConfig=_PAGING)
        for keys_page in pages:
            # Each item carries the key's raw `value`; only the id and name are kept.
            keys.extend(
                Customer(item["id"], item.get("name"), None) for item in keys_page.get("items", []) if "id" in item
            )
        plan_keys.append(PlanKeys(plan, tuple(keys)))

    api_keys: list[dict[str, str | None]] = []
    # includeValues stays False: the secret values are never requested.
    for api_keys_page in client.get_paginator("get_api_keys").paginate(includeValues=False, PaginationConfig=_PAGING):
        api_keys.extend(
            {"id": key.get("id"), "name": key.get("name"), "customerId": key.get("customerId")}
            for key in api_keys_page.get("items", [])
        )

    return build_directory(plan_keys, api_keys)


def _client_error(error: ClientError, client: APIGatewayClient, calls: int) -> DirectoryLoadError:
    info = error.response.get("Error", {})
    code = info.get("Code", "Unknown")
    detail = f"{code}: {info.get('Message', '')}".strip()
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _DENIED_CODES or status == 403:  # noqa: PLR2004 - HTTP Forbidden
        path = _RESOURCE_PATHS.get(error.operation_name, "/usageplans")
        permission = f"apigateway:GET on arn:{client.meta.partition}:apigateway:{client.meta.region_name}::{path}"
        return DirectoryLoadError(FailureKind.ACCESS_DENIED, detail, calls=calls, missing_permission=permission)
    if code in _THROTTLING_CODES or status == 429:  # noqa: PLR2004 - HTTP Too Many Requests
        return DirectoryLoadError(FailureKind.THROTTLED, detail, calls=calls)
    if status >= 500:  # noqa: PLR2004 - HTTP server errors
        return DirectoryLoadError(FailureKind.SERVER_ERROR, detail, calls=calls)
    return DirectoryLoadError(FailureKind.OTHER, detail, calls=calls)


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
    failure: FailureKind | None = None
    error: str | None = None
    missing_permission: str | None = None


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
    - A load may take at most `budget_seconds` (or the `time_left` a batch allows).
    """

    def __init__(
        self,
        fetch: Callable[[Deadline], FetchResult],
        *,
        ttl_seconds: float,
        miss_refresh_seconds: float,
        budget_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._miss_refresh = miss_refresh_seconds
        self._budget = budget_seconds
        self._clock = clock
        self._directory: UsagePlanDirectory | None = None
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._last_failed = False

    def view_for(self, keys: Collection[LookupKey], *, time_left: float | None = None) -> CacheView:
        """The directory for a batch with these keys, reloading first if the policy says so."""
        now = self._clock()
        trigger = self._reload_trigger(now, keys)
        report = None
        if trigger is not None:
            budget = self._budget if time_left is None else max(0.0, min(self._budget, time_left))
            report = self._load(trigger, budget)
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

    def _load(self, trigger: LoadTrigger, budget_seconds: float) -> LoadReport:
        started = self._clock()
        try:
            result = self._fetch(Deadline(budget_seconds, self._clock))
        except DirectoryLoadError as error:
            # The gap before the next attempt counts from when this one gave up.
            self._attempted_at = self._clock()
            self._last_failed = True
            return LoadReport(
                trigger,
                ok=False,
                duration_seconds=self._attempted_at - started,
                calls=error.calls,
                failure=error.kind,
                error=error.detail,
                missing_permission=error.missing_permission,
            )
        finished = self._clock()
        self._directory = result.directory
        self._loaded_at = self._attempted_at = finished
        self._last_failed = False
        return LoadReport(
            trigger,
            ok=True,
            duration_seconds=finished - started,
            calls=result.calls,
            plans=result.directory.plan_count,
            keys=result.directory.key_count,
        )
