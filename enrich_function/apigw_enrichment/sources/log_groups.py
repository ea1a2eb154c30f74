"""Which REST API stage writes to a CloudWatch log group: the API id and stage for lines whose
format leaves them out.

A subscription record names its log group, and a stage names its log group in
accessLogSettings.destinationArn. The account's REST APIs and their stages are listed once
(GetRestApis, paged, then GetStages for each API) and kept for the cache's time to live; only
when a subscription line lacks its API id or stage. A log group that two stages share says
nothing about which one wrote a line, so it maps to no stage. When the stages cannot be listed,
lines stay as they are, and listing is not tried again for a while.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from apigw_enrichment.budget import Deadline, metered
from apigw_enrichment.telemetry import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import PaginatorConfigTypeDef

Stage = tuple[str, str]  # (API id, stage name)

_PAGING: PaginatorConfigTypeDef = {"PageSize": 500}
# A log group's ARN as a stage's destinationArn gives it: ...:log-group:NAME, perhaps with ":*".
_LOG_GROUP_MARKER = ":log-group:"
# The gap after failed listings stops doubling here (it is capped at the TTL long before).
_MAX_DOUBLINGS = 16


def log_group_name(destination_arn: object) -> str | None:
    """The log group a CloudWatch Logs destinationArn names, or None for any other destination."""
    if not isinstance(destination_arn, str) or not destination_arn.startswith("arn:"):
        return None
    service = destination_arn.split(":", 3)[2:3]
    if service != ["logs"] or _LOG_GROUP_MARKER not in destination_arn:
        return None
    name = destination_arn.split(_LOG_GROUP_MARKER, 1)[1]
    name = name.removesuffix(":*")
    return name or None


def stages_by_log_group(stages: Iterable[tuple[str, str, object]]) -> dict[str, Stage]:
    """(API id, stage, destinationArn) triples as a map from log group to its only stage."""
    found: dict[str, set[Stage]] = {}
    for api_id, stage, destination in stages:
        name = log_group_name(destination)
        if name is not None:
            found.setdefault(name, set()).add((api_id, stage))
    return {name: next(iter(owners)) for name, owners in found.items() if len(owners) == 1}


def list_stages(client: APIGatewayClient, deadline: Deadline) -> dict[str, Stage]:
    """Every REST stage that logs to CloudWatch Logs, by log group. Raises on any failure."""
    triples: list[tuple[str, str, object]] = []
    with metered(client, "api-gateway", deadline):
        for page in client.get_paginator("get_rest_apis").paginate(PaginationConfig=_PAGING):
            # botocore checks an answer's shape only so far: an item may be null, a field of
            # another type. Such an item names no stage, and is left out.
            for api in _objects(page.get("items")):
                api_id = api.get("id")
                if not isinstance(api_id, str):
                    continue
                for stage in _objects(client.get_stages(restApiId=api_id).get("item")):
                    name = stage.get("stageName")
                    settings = stage.get("accessLogSettings")
                    if isinstance(name, str) and isinstance(settings, dict):
                        triples.append((api_id, name, settings.get("destinationArn")))
    return stages_by_log_group(triples)


def _objects(items: object) -> Iterator[Mapping[str, Any]]:
    """The items of an answer's list that are objects; none if it is not a list."""
    if isinstance(items, list):
        yield from (item for item in items if isinstance(item, dict))


@dataclass
class LogGroupStages:
    """The log-group map, listed on first need, kept for `ttl_seconds`; a failed listing is not
    tried again for `retry_seconds`, twice as long after each further failure in a row, up to
    `ttl_seconds`: a listing that cannot succeed (an account whose APIs take longer to list than
    the budget) costs one attempt a TTL, not one every `retry_seconds` for ever. Whatever a
    listing raises, it is a failed listing: no batch fails because of one."""

    fetch: Callable[[Deadline], dict[str, Stage]]
    ttl_seconds: float
    retry_seconds: float
    budget_seconds: float
    clock: Callable[[], float] = time.monotonic
    _stages: dict[str, Stage] = field(default_factory=dict)
    _next_listing: float | None = None
    _failures: int = 0  # failed listings in a row

    def stage_for(self, log_group: str, *, time_left: float | None = None) -> Stage | None:
        now = self.clock()
        if self._next_listing is None or now >= self._next_listing:
            self._list(now, time_left)
        return self._stages.get(log_group)

    def _list(self, now: float, time_left: float | None) -> None:
        budget = self.budget_seconds if time_left is None else max(0.0, min(self.budget_seconds, time_left))
        try:
            self._stages = self.fetch(Deadline(budget, self.clock))
        except Exception as error:  # noqa: BLE001 - an answer no one foresaw fails this listing, not the batch
            # Lines keep what they say; their enrichment needs no stage when the key is known.
            doubled = self.retry_seconds * 2 ** min(self._failures, _MAX_DOUBLINGS)
            gap = min(max(self.ttl_seconds, self.retry_seconds), doubled)
            self._failures += 1
            self._next_listing = now + gap
            logger.warning(
                "REST API stages could not be listed; subscription lines keep their own api id and stage",
                extra={"error": _error_code(error), "retry_in_seconds": gap},
            )
            return
        self._failures = 0
        self._next_listing = now + self.ttl_seconds
        logger.info("REST API stages listed", extra={"log_groups": len(self._stages)})


def _error_code(error: Exception) -> str:
    """The error's code or type, never its message (a parser's message may quote the answer)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__
