"""The one owner of what lives for an execution environment: settings, clients, cache.

Everything is created lazily on first use, so tests can start moto (or swap in a fake
fetch) before any client exists, and `reset()` gives each test a cold start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from apigw_enrichment.config import SNAPSHOT_BUCKET_ENV, SNAPSHOT_KEY_ENV, Settings
from apigw_enrichment.enrichment.loading import DirectoryLoader
from apigw_enrichment.enrichment.usage_plans import UsagePlanCache
from apigw_enrichment.sources.log_groups import LogGroupStages, list_stages

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_s3 import S3Client


# Region and endpoint come from the standard AWS settings (AWS_REGION,
# AWS_ENDPOINT_URL_API_GATEWAY...). Retries are botocore's standard mode: exponential
# backoff with jitter (1 s base for throttling) and a retry quota, so a throttled control
# plane is not hammered. Short timeouts keep one hung request from eating the budget.
_CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
)


@dataclass
class _State:
    settings: Settings | None = None
    client: APIGatewayClient | None = None
    cache: UsagePlanCache | None = None
    firehose: dict[str, FirehoseClient] = field(default_factory=dict)
    stages: LogGroupStages | None = None
    s3: S3Client | None = None


_state = _State()


def settings() -> Settings:
    if _state.settings is None:
        _state.settings = Settings.from_env(os.environ)
    return _state.settings


def apigateway_client() -> APIGatewayClient:
    if _state.client is None:
        _state.client = boto3.client("apigateway", config=_CLIENT_CONFIG)
    return _state.client


def firehose_client(region: str) -> FirehoseClient:
    """A client for re-ingesting into the stream, in the stream's region (from the event)."""
    if region not in _state.firehose:
        _state.firehose[region] = boto3.client("firehose", region_name=region, config=_CLIENT_CONFIG)
    return _state.firehose[region]


def s3_client() -> S3Client:
    """For the refresher's snapshot: one GET a cache load."""
    if _state.s3 is None:
        _state.s3 = boto3.client("s3", config=_CLIENT_CONFIG)
    return _state.s3


def usage_plan_cache() -> UsagePlanCache:
    """Loads from the refresher's snapshot when the stack names one (DIRECTORY_SNAPSHOT_BUCKET and
    _KEY) and it is fresh, else by listing; a key it does not know is looked up alone."""
    if _state.cache is None:
        current = settings()
        bucket, key = os.environ.get(SNAPSHOT_BUCKET_ENV, ""), os.environ.get(SNAPSHOT_KEY_ENV, "")
        location = (bucket, key) if bucket and key else None
        loader = DirectoryLoader(apigateway_client, s3_client, location, current.snapshot_max_age_seconds)
        _state.cache = UsagePlanCache(
            loader,
            ttl_seconds=current.cache_ttl_seconds,
            miss_refresh_seconds=current.miss_refresh_seconds,
            budget_seconds=current.lookup_budget_seconds,
            look_up=loader.look_up,
        )
    return _state.cache


def log_group_stages() -> LogGroupStages:
    """Which stage logs to which CloudWatch log group: listed only when a subscription line
    lacks its API id or stage, then kept as long as the usage plans are."""
    if _state.stages is None:
        current = settings()
        _state.stages = LogGroupStages(
            lambda deadline: list_stages(apigateway_client(), deadline),
            ttl_seconds=current.cache_ttl_seconds,
            retry_seconds=current.miss_refresh_seconds,
            budget_seconds=current.lookup_budget_seconds,
        )
    return _state.stages


def use_stages(stages: LogGroupStages) -> None:
    """Install a log-group map built elsewhere (a test's fake listing)."""
    _state.stages = stages


def use_cache(cache: UsagePlanCache) -> None:
    """Install a cache built elsewhere (a test's fake fetch, or a benchmark's)."""
    _state.cache = cache


def reset() -> None:
    """Forget everything, as a new execution environment would."""
    _state.settings = None
    _state.client = None
    _state.cache = None
    _state.firehose = {}
    _state.stages = None
    _state.s3 = None
