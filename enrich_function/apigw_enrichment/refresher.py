"""The directory refresher: a scheduled function that lists the account's usage plans and API keys
and writes the snapshot the transformers' cold starts read (enrichment/snapshot.py).

It is off the data path, so it can take its time: its own budget (most of its timeout), adaptive
retries that back off under throttling, and one run every few minutes however many transformers
start. A failed run writes nothing (the last snapshot stays, and ages) and fails the invocation,
so the function's Errors metric shows it.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from apigw_enrichment.budget import Deadline
from apigw_enrichment.config import SNAPSHOT_BUCKET_ENV, SNAPSHOT_KEY_ENV
from apigw_enrichment.enrichment.snapshot import encode_snapshot
from apigw_enrichment.enrichment.usage_plans import DirectoryLoadError, fetch_listing
from apigw_enrichment.telemetry import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_s3 import S3Client

# The listing may take all but this much of the invocation: writing the snapshot and answering.
WRITE_RESERVE_SECONDS = 20.0
# Adaptive retries wait out throttling (the account's 10 requests a second are shared with the
# user's deploys) instead of giving up after three tries, as the transformer must.
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=15, retries={"mode": "adaptive", "total_max_attempts": 10})


class RefreshError(RuntimeError):
    """The account could not be listed; no snapshot was written."""


def refresh(apigateway: APIGatewayClient, s3: S3Client, bucket: str, key: str, budget_seconds: float) -> dict[str, Any]:
    """List the account and write its snapshot; what was written, for the log and the test."""
    started = time.monotonic()
    try:
        listed = fetch_listing(apigateway, Deadline(budget_seconds))
    except DirectoryLoadError as error:
        metrics.add_metric(name="SnapshotRefreshFailures", unit=MetricUnit.Count, value=1)
        logger.error(
            "the usage plans could not be listed; the last snapshot stays",
            extra={"failure": error.kind.value, "error": error.detail, "calls": error.calls},
        )
        raise RefreshError(f"listing failed ({error.kind.value}) after {error.calls} requests") from None
    body = encode_snapshot(listed.plans, listed.api_keys, written_at=time.time())
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip")
    written = {
        "plans": len(listed.plans),
        "keys": len(listed.api_keys),
        "calls": listed.calls,
        "skipped_items": listed.skipped,
        "bytes": len(body),
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    metrics.add_metric(name="SnapshotWrites", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="SnapshotCalls", unit=MetricUnit.Count, value=listed.calls)
    metrics.add_metric(name="SnapshotBytes", unit=MetricUnit.Bytes, value=len(body))
    logger.info("usage-plan snapshot written", extra={**written, "location": f"s3://{bucket}/{key}"})
    return written


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def lambda_handler(_event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bucket, key = os.environ[SNAPSHOT_BUCKET_ENV], os.environ[SNAPSHOT_KEY_ENV]
    budget = max(1.0, context.get_remaining_time_in_millis() / 1000 - WRITE_RESERVE_SECONDS)
    apigateway = boto3.client("apigateway", config=_CLIENT_CONFIG)
    s3 = boto3.client("s3", config=_CLIENT_CONFIG)
    return refresh(apigateway, s3, bucket, key, budget)
