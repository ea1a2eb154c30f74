"""Loading the account's usage plans from API Gateway, and the cache that holds them.

The only module that talks to the control plane. Its cost grows with the number of
*pages* listed (500 items a page), never with the number of records in a batch.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from apigw_enrichment.budget import BudgetExhaustedError, Deadline, RequestMeter, metered
from apigw_enrichment.enrichment.directory import Customer, PlanKeys, UsagePlanDirectory, build_directory

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

    from botocore.model import OperationModel
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import PaginatorConfigTypeDef

    from apigw_enrichment.enrichment.keys import LookupKey

_MINUTE = 60.0

# The API's own default page is 25 items; 500 is its maximum.
PAGE_SIZE = 500
_PAGING: PaginatorConfigTypeDef = {"PageSize": PAGE_SIZE}

# botocore logs whole response bodies at DEBUG, and GetUsagePlanKeys returns raw key
# values. Keep that logger above DEBUG whatever level the function runs at.
logging.getLogger("botocore.parsers").setLevel(logging.INFO)

# The IAM resource each listing needs apigateway:GET on, to name it when it is denied.
_RESOURCE_PATHS = {
    "GetUsagePlans": "/usageplans",
    "GetUsagePlanKeys": "/usageplans/*/keys",
    "GetApiKeys": "/apikeys",
    "GetApiKey": "/apikeys/*",
}
# What an API key id can be: API Gateway gives short ids of letters and digits (`k7x2m9p4q1`).
_KEY_ID = re.compile(r"[A-Za-z0-9]{1,128}", re.ASCII)
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


class UnreadableResponseError(Exception):
    """A successful answer whose body is not a JSON object (botocore would read it as an empty page)."""

    def __init__(self, operation: str) -> None:
        # Never the body: a GetUsagePlanKeys page holds raw key values.
        super().__init__(f"{operation} answered with a body that is not a JSON object")


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
    calls: int  # control-plane requests
    # Items left out because they could not be read (see _Listing); the rest was used.
    skipped: int = 0
    # Where the directory came from: "listing" (the control plane) or "snapshot" (the bucket).
    source: str = "listing"
    # Why a snapshot was not used, when one was looked for and the account was listed instead.
    snapshot_problem: str | None = None
    # How old what was read is: 0 for a listing, the snapshot's age for a snapshot. A key
    # created since then may be missing from it.
    age_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Listed:
    """The account's usage plans (with their keys) and API keys, as listed; values removed."""

    plans: list[PlanKeys]
    api_keys: list[dict[str, str | None]]
    calls: int
    skipped: int = 0


def fetch_directory(client: APIGatewayClient, deadline: Deadline | None = None) -> FetchResult:
    """List every usage plan, every key on each plan, and every API key, all paged.

    Retries are botocore's (the client's retry mode); each request, retries included, is
    refused once `deadline` has passed. Any failure raises DirectoryLoadError; an item of an
    answer that cannot be read is skipped and counted, and the rest of the answer is used.
    """
    listed = fetch_listing(client, deadline)
    return FetchResult(build_directory(listed.plans, listed.api_keys), listed.calls, listed.skipped)


def fetch_listing(client: APIGatewayClient, deadline: Deadline | None = None) -> Listed:
    """What fetch_directory lists, before it is built into a directory (the refresher writes it)."""
    with _control_plane(client, deadline) as meter:
        listing = _Listing(client)
        plans, api_keys = listing.listed()
        return Listed(plans, api_keys, meter.requests, listing.skipped)


@contextmanager
def _control_plane(client: APIGatewayClient, deadline: Deadline | None) -> Iterator[RequestMeter]:
    """Meter and bound the block's requests, and turn any failure into a DirectoryLoadError."""
    with metered(client, "api-gateway", deadline) as meter, _bodies_checked(client):
        try:
            yield meter
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
        except UnreadableResponseError as error:
            raise DirectoryLoadError(
                FailureKind.OTHER, f"UnreadableResponseError: {error}", calls=meter.requests
            ) from None
        except Exception as error:  # noqa: BLE001 - an answer no one foresaw (or a bug here) fails this load, not the batch
            # Only the type: the message of a parser's error or a KeyError may quote the answer.
            detail = f"{type(error).__name__} while reading the listings"
            raise DirectoryLoadError(FailureKind.OTHER, detail, calls=meter.requests) from None


@dataclass(frozen=True, slots=True)
class KeyFound:
    """One API key looked up alone: its customer (None: no such key), and the plans it is on."""

    key_id: str
    customer: Customer | None
    plans: tuple[Mapping[str, Any], ...] = ()


def look_up_key(client: APIGatewayClient, key_id: str, deadline: Deadline | None = None) -> tuple[KeyFound, int]:
    """GetApiKey and GetUsagePlans(keyId): a key the directory does not know, in a few calls.

    Returns what was found and the number of requests. A key API Gateway does not have is
    found as None (a negative answer, to be remembered). Raises DirectoryLoadError otherwise.
    """
    if not could_be_key_id(key_id):
        return KeyFound(key_id, None), 0
    with _control_plane(client, deadline) as meter:
        listing = _Listing(client)
        try:
            # includeValue stays False: the secret value is never requested.
            item = client.get_api_key(apiKey=key_id, includeValue=False)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                return KeyFound(key_id, None), meter.requests
            raise
        if item.get("id") != key_id:  # an answer about another key says nothing of this one
            return KeyFound(key_id, None), meter.requests
        customer = Customer(key_id, _string(item, "name"), _string(item, "customerId"))
        pages = client.get_paginator("get_usage_plans").paginate(keyId=key_id, PaginationConfig=_PAGING)
        plans = tuple(
            {"id": plan_id, "name": _string(plan, "name"), "apiStages": listing.stages(plan)}
            for plan in listing.items(pages)
            if (plan_id := listing.item_id(plan)) is not None
        )
        return KeyFound(key_id, customer, plans), meter.requests


def could_be_key_id(key_id: str) -> bool:
    """Whether `key_id` is letters and digits, as every id API Gateway gives is. Any other (a
    lone surrogate, a slash, 100 kB) names no key, and asking would only fail the request: a
    failed lookup pauses every lookup for a while, and one bad line must not hold back others."""
    return _KEY_ID.fullmatch(key_id) is not None


@contextmanager
def _bodies_checked(client: APIGatewayClient) -> Iterator[None]:
    """Fail a listing whose successful answer is not a JSON object, instead of reading it as empty.

    botocore reads a body that is not JSON as an empty page: a proxy's error page or a
    truncated read would otherwise load an empty directory over the last good one.
    """
    event, hook_id = "before-parse.api-gateway", "usage-plans-body-check"
    client.meta.events.register(event, _check_body, unique_id=hook_id)
    try:
        yield
    finally:
        client.meta.events.unregister(event, unique_id=hook_id)


def _check_body(operation_model: OperationModel, response_dict: Mapping[str, Any], **_: object) -> None:
    if response_dict["status_code"] >= 300:  # noqa: PLR2004 - redirects and errors are botocore's to read
        return
    try:
        body = json.loads(response_dict["body"].decode("utf-8"))  # as botocore decodes it
    except ValueError:  # not UTF-8, or not JSON (an empty body included)
        raise UnreadableResponseError(operation_model.name) from None
    if not isinstance(body, dict):
        raise UnreadableResponseError(operation_model.name)


class _Listing:
    """The three listings, read into a directory. An item that cannot be read is skipped and counted.

    botocore checks an answer's shape only so far: a list item may be null, and a field may
    be missing or of another type. Any item that is not an object, a plan or key without a
    string id, and an API stage without a string apiId and stage, is left out and counted;
    a name or customer id that is not a string is read as absent.
    """

    def __init__(self, client: APIGatewayClient) -> None:
        self._client = client
        self.skipped = 0

    def listed(self) -> tuple[list[PlanKeys], list[dict[str, str | None]]]:
        plans = []
        for plan in self.items(self._client.get_paginator("get_usage_plans").paginate(PaginationConfig=_PAGING)):
            plan_id = self.item_id(plan)
            if plan_id is not None:
                readable = {"id": plan_id, "name": _string(plan, "name"), "apiStages": self.stages(plan)}
                plans.append(PlanKeys(readable, self._plan_keys(plan_id)))

        # includeValues stays False: the secret values are never requested.
        pages = self._client.get_paginator("get_api_keys").paginate(includeValues=False, PaginationConfig=_PAGING)
        api_keys = [
            {"id": key_id, "name": _string(key, "name"), "customerId": _string(key, "customerId")}
            for key in self.items(pages)
            if (key_id := self.item_id(key)) is not None
        ]
        return plans, api_keys

    def _plan_keys(self, plan_id: str) -> tuple[Customer, ...]:
        paginator = self._client.get_paginator("get_usage_plan_keys")
        pages = paginator.paginate(usagePlanId=plan_id, PaginationConfig=_PAGING)
        # Each item carries the key's raw `value`; only the id and name are kept.
        return tuple(
            Customer(key_id, _string(item, "name"), None)
            for item in self.items(pages)
            if (key_id := self.item_id(item)) is not None
        )

    def stages(self, plan: Mapping[str, Any]) -> list[dict[str, str]]:
        stages = []
        for stage in self._objects(plan.get("apiStages", ())):
            api_id, name = _string(stage, "apiId"), _string(stage, "stage")
            if api_id is None or name is None:
                self.skipped += 1
            else:
                stages.append({"apiId": api_id, "stage": name})
        return stages

    def items(self, pages: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        return self._objects(item for page in pages for item in page.get("items", ()))

    def _objects(self, items: Iterable[object]) -> Iterator[dict[str, Any]]:
        for item in items:
            if isinstance(item, dict):
                yield item
            else:
                self.skipped += 1

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        item_id = _string(item, "id")
        if item_id is None:
            self.skipped += 1
        return item_id


def _string(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) else None


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
    skipped: int = 0
    failure: FailureKind | None = None
    error: str | None = None
    missing_permission: str | None = None
    source: str = "listing"
    snapshot_problem: str | None = None


@dataclass(frozen=True, slots=True)
class LookupReport:
    """What one batch's targeted lookups of unknown keys did."""

    keys: int  # looked up
    found: int  # of which API Gateway has
    calls: int
    duration_seconds: float
    deferred: int = 0  # unknown keys left for a later batch (the per-batch or per-minute cap)
    failure: FailureKind | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CacheView:
    """The directory to answer one batch with (None: nothing could be loaded yet)."""

    directory: UsagePlanDirectory | None
    age_seconds: float | None
    load: LoadReport | None
    lookups: LookupReport | None = None


# Targeted lookups of keys the directory does not know, in place of a full reload: at most this
# many keys a batch (two or more requests each), and this many a minute for the environment.
# API Gateway allows the account 10 requests a second, shared with the user's deploys: 10 keys a
# minute is 20 requests, and the default 10 environments (ReservedConcurrency) together make at
# most 200 a minute, about 3 a second, a third of the account's rate.
LOOKUPS_PER_BATCH = 5
LOOKUPS_PER_MINUTE = 10


class UsagePlanCache:
    """Holds the last good directory and decides when to reload it.

    - The first batch of an execution environment loads it.
    - A directory older than `ttl_seconds` is reloaded before answering.
    - A batch with a (api, stage, key) the directory does not know reloads it first, at
      most once every `miss_refresh_seconds`, so a storm of unknown keys costs one load.
    - A failed load keeps the last good directory (stale-while-error); the next attempt
      waits `miss_refresh_seconds`.
    - A load may take at most `budget_seconds` (or the `time_left` a batch allows).
    - Whatever a load raises, it is a failed load: no batch ever fails because of one.
    """

    def __init__(
        self,
        fetch: Callable[[Deadline], FetchResult],
        *,
        ttl_seconds: float,
        miss_refresh_seconds: float,
        budget_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        look_up: Callable[[str, Deadline], tuple[KeyFound, int]] | None = None,
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
        # With `look_up`, a key the directory does not know is looked up alone (bounded) instead
        # of reloading everything; each key is asked about at most once per miss_refresh_seconds.
        self._look_up = look_up
        self._asked: dict[str, float] = {}  # key id -> when it was last looked up (found or not)
        # When the directory's contents were current: a key it does not know is asked about only
        # miss_refresh_seconds after that (a listing just made knows every key there is).
        self._current_at = -math.inf
        self._recent: deque[float] = deque()  # when each lookup of the last minute started
        self._lookups_paused_until = 0.0

    @property
    def directory(self) -> UsagePlanDirectory | None:
        """The directory held now, as a batch starts (view_for may change it)."""
        return self._directory

    def view_for(self, keys: Collection[LookupKey], *, time_left: float | None = None) -> CacheView:
        """The directory for a batch with these keys, reloading first if the policy says so."""
        now = self._clock()
        trigger = self._reload_trigger(now, keys)
        budget = self._budget if time_left is None else max(0.0, min(self._budget, time_left))
        report = lookups = None
        if trigger is not None:
            report = self._load(trigger, budget)
        elif self._look_up is not None and self._directory is not None:
            lookups = self._look_up_unknown(now, keys, budget)
        age = None if self._loaded_at is None else self._clock() - self._loaded_at
        return CacheView(self._directory, age, report, lookups)

    def _reload_trigger(self, now: float, keys: Collection[LookupKey]) -> LoadTrigger | None:
        if self._attempted_at is None:
            return LoadTrigger.COLD_START
        since_attempt = now - self._attempted_at
        if self._last_failed:
            return LoadTrigger.RETRY if since_attempt >= self._miss_refresh else None
        if self._loaded_at is None or now - self._loaded_at >= self._ttl:
            return LoadTrigger.EXPIRED
        if self._look_up is None and since_attempt >= self._miss_refresh and self._has_unknown(keys):
            return LoadTrigger.UNKNOWN_KEY
        return None

    def _has_unknown(self, keys: Collection[LookupKey]) -> bool:
        directory = self._directory
        if directory is None:
            return False
        return any(key.key_id is not None and directory.may_learn(key.api_id, key.stage, key.key_id) for key in keys)

    def _look_up_unknown(self, now: float, keys: Collection[LookupKey], budget: float) -> LookupReport | None:
        """Look up, each alone, the keys of this batch the directory does not know, within the caps."""
        directory, look_up = self._directory, self._look_up
        if directory is None or look_up is None:  # pragma: no cover - view_for checks both
            return None
        unknown = sorted(
            {
                key.key_id
                for key in keys
                if key.key_id is not None
                and directory.may_learn(key.api_id, key.stage, key.key_id)
                and could_be_key_id(key.key_id)
                and now - max(self._asked.get(key.key_id, -math.inf), self._current_at) >= self._miss_refresh
            }
        )
        if not unknown or now < self._lookups_paused_until:
            return None
        while self._recent and now - self._recent[0] >= _MINUTE:
            self._recent.popleft()
        room = min(LOOKUPS_PER_BATCH, LOOKUPS_PER_MINUTE - len(self._recent))
        chosen, deferred = unknown[: max(0, room)], max(0, len(unknown) - max(0, room))
        if not chosen:
            return LookupReport(0, 0, 0, 0.0, deferred=deferred)
        deadline = Deadline(budget, self._clock)
        found: list[tuple[Customer, tuple[Mapping[str, Any], ...]]] = []
        calls = 0
        failure: DirectoryLoadError | None = None
        for key_id in chosen:
            self._recent.append(now)
            self._asked[key_id] = now
            try:
                answer, used = look_up(key_id, deadline)
            except Exception as error:  # noqa: BLE001 - whatever a lookup raises fails the lookups, not the batch
                if isinstance(error, DirectoryLoadError):
                    calls += error.calls
                    failure = error
                else:  # only the type: its message may quote what was being read
                    failure = DirectoryLoadError(FailureKind.OTHER, f"{type(error).__name__} looking up a key", calls=0)
                # Throttled or denied: the rest wait, and so does everyone for the gap.
                self._lookups_paused_until = self._clock() + self._miss_refresh
                break
            calls += used
            if answer.customer is not None:
                found.append((answer.customer, answer.plans))
        if found:
            self._directory = directory.with_keys(found)
        return LookupReport(
            keys=len(chosen),
            found=len(found),
            calls=calls,
            duration_seconds=self._clock() - now,
            deferred=deferred,
            failure=None if failure is None else failure.kind,
            error=None if failure is None else failure.detail,
        )

    def _load(self, trigger: LoadTrigger, budget_seconds: float) -> LoadReport:
        started = self._clock()
        try:
            result = self._fetch(Deadline(budget_seconds, self._clock))
        except DirectoryLoadError as error:
            return self._failed(trigger, started, error)
        except Exception as error:  # noqa: BLE001 - a bug anywhere in loading must fail this load, not every batch
            # Only the type: its message may quote what was being read.
            detail = f"{type(error).__name__} while loading the usage plans"
            return self._failed(trigger, started, DirectoryLoadError(FailureKind.OTHER, detail, calls=0))
        finished = self._clock()
        self._directory = result.directory
        self._loaded_at = self._attempted_at = finished
        self._last_failed = False
        self._asked.clear()  # a fresh directory: any key it does not know may be asked about again
        self._current_at = finished - result.age_seconds
        return LoadReport(
            trigger,
            ok=True,
            duration_seconds=finished - started,
            calls=result.calls,
            plans=result.directory.plan_count,
            keys=result.directory.key_count,
            skipped=result.skipped,
            source=result.source,
            snapshot_problem=result.snapshot_problem,
        )

    def _failed(self, trigger: LoadTrigger, started: float, error: DirectoryLoadError) -> LoadReport:
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
