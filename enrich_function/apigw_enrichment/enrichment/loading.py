"""Where a cache load gets the directory: the refresher's snapshot if there is a fresh one, else
the account's listings; and the targeted lookup of one unknown key.

The cache (usage_plans.UsagePlanCache) decides when to load; this decides from where. A cold
start with a fresh snapshot makes one S3 GET and no control-plane call.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from apigw_enrichment.enrichment.snapshot import SnapshotError, SnapshotProblem, read_snapshot_object
from apigw_enrichment.enrichment.usage_plans import FetchResult, KeyFound, fetch_directory, look_up_key
from apigw_enrichment.telemetry import logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_s3 import S3Client

    from apigw_enrichment.budget import Deadline


class DirectoryLoader:
    """A cache's fetch: the snapshot at `location` (bucket, key) when it is no older than
    `max_age_seconds`, else the listings. Clients are made on first use."""

    def __init__(
        self,
        apigateway: Callable[[], APIGatewayClient],
        s3: Callable[[], S3Client],
        location: tuple[str, str] | None,
        max_age_seconds: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._apigateway, self._s3 = apigateway, s3
        self._location = location
        self._max_age = max_age_seconds
        self._wall_clock = wall_clock

    def __call__(self, deadline: Deadline) -> FetchResult:
        problem = None
        if self._location is not None:
            bucket, key = self._location
            now = self._wall_clock()
            try:
                snapshot = read_snapshot_object(
                    self._s3(), bucket, key, now=now, max_age_seconds=self._max_age, deadline=deadline
                )
            except Exception as error:  # noqa: BLE001 - whatever reading the snapshot raises, the account is listed
                if isinstance(error, SnapshotError):
                    problem, detail = error.problem.value, error.detail
                else:  # only the type: its message may quote what was being read
                    problem, detail = SnapshotProblem.UNREADABLE.value, f"{type(error).__name__} reading the snapshot"
                message = "usage-plan snapshot not used (%s); listing the account instead"
                logger.warning(message, problem, extra={"detail": detail})
            else:
                age = max(0.0, now - snapshot.written_at)
                return FetchResult(snapshot.directory, 0, source="snapshot", age_seconds=age)
        result = fetch_directory(self._apigateway(), deadline)
        return replace(result, snapshot_problem=problem)

    def look_up(self, key_id: str, deadline: Deadline) -> tuple[KeyFound, int]:
        """One key the directory does not know, asked about alone (a few calls)."""
        return look_up_key(self._apigateway(), key_id, deadline)
