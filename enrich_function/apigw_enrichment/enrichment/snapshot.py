"""The account's usage plans and API keys as one compact object in the stack's bucket.

The directory refresher (refresher.py) lists the account on a schedule and writes this snapshot;
a transformer's cold start reads it with one S3 GET instead of listing the account itself. It
holds what the directory is built from, and nothing more: plan ids, names and API stages, and
for each key its id, name and customer id. Never a key value: the listings that write it never
ask for one (GetApiKeys includeValues=False), and the usage-plan keys' values are dropped as
they are read, as the transformer drops them.

Format: gzip of one JSON object, `{"version": 1, "written_at": <epoch seconds>, "plans": [...],
"apiKeys": [...]}`.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from apigw_enrichment.budget import BudgetExhaustedError, metered
from apigw_enrichment.enrichment.directory import Customer, PlanKeys, UsagePlanDirectory, build_directory

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from mypy_boto3_s3 import S3Client

    from apigw_enrichment.budget import Deadline

SNAPSHOT_VERSION = 1
# 300 plans and 10,000 keys (API Gateway's default account limits) make about 1 MB of JSON;
# anything that inflates past this bound is not a snapshot the refresher wrote.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


class SnapshotProblem(StrEnum):
    """Why a snapshot was not used: a fixed code for the cold start's log line and metric."""

    MISSING = "missing"
    UNREADABLE = "unreadable"
    STALE = "stale"


class SnapshotError(Exception):
    def __init__(self, problem: SnapshotProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Snapshot:
    directory: UsagePlanDirectory
    written_at: float  # epoch seconds


def encode_snapshot(plans: Sequence[PlanKeys], api_keys: Iterable[Mapping[str, Any]], written_at: float) -> bytes:
    """The snapshot's bytes: the listings' ids, names and stages, compact and compressed."""
    document = {
        "version": SNAPSHOT_VERSION,
        "written_at": written_at,
        "plans": [
            {
                "id": entry.plan.get("id"),
                "name": entry.plan.get("name"),
                "apiStages": [[stage["apiId"], stage["stage"]] for stage in entry.plan.get("apiStages", ())],
                "keys": [[customer.key_id, customer.name] for customer in entry.keys],
            }
            for entry in plans
        ],
        "apiKeys": [[key.get("id"), key.get("name"), key.get("customerId")] for key in api_keys],
    }
    return gzip.compress(orjson.dumps(document), compresslevel=6, mtime=0)


def decode_snapshot(data: bytes, *, now: float, max_age_seconds: float) -> Snapshot:
    """The directory a snapshot holds; SnapshotError if it cannot be read or is older than the bound."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        text = inflater.decompress(data, MAX_SNAPSHOT_BYTES + 1)
        document = orjson.loads(text)
    except (zlib.error, orjson.JSONDecodeError):
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot is not gzip of JSON") from None
    if len(text) > MAX_SNAPSHOT_BYTES or not inflater.eof:
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot is truncated or too large")
    if not isinstance(document, dict) or document.get("version") != SNAPSHOT_VERSION:
        raise SnapshotError(SnapshotProblem.UNREADABLE, f"the snapshot is not version {SNAPSHOT_VERSION}")
    written_at = document.get("written_at")
    if not isinstance(written_at, (int, float)) or isinstance(written_at, bool):
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot has no written_at time")
    age = now - written_at
    if age > max_age_seconds:
        detail = f"the snapshot is {age:.0f} s old (the bound is {max_age_seconds:g} s)"
        raise SnapshotError(SnapshotProblem.STALE, detail)
    try:
        plans = [_plan(item) for item in document["plans"]]
        api_keys = [
            {"id": _text(key_id), "name": _optional_text(name), "customerId": _optional_text(customer)}
            for key_id, name, customer in document["apiKeys"]
        ]
    except (KeyError, TypeError, ValueError):
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot's plans or keys are not as written") from None
    return Snapshot(build_directory(plans, api_keys), float(written_at))


def _plan(item: Mapping[str, Any]) -> PlanKeys:
    plan = {
        "id": _text(item["id"]),
        "name": _optional_text(item["name"]),
        "apiStages": [{"apiId": _text(api_id), "stage": _text(stage)} for api_id, stage in item["apiStages"]],
    }
    keys = tuple(Customer(_text(key_id), _optional_text(name), None) for key_id, name in item["keys"])
    return PlanKeys(plan, keys)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def read_snapshot_object(
    s3: S3Client, bucket: str, key: str, *, now: float, max_age_seconds: float, deadline: Deadline | None = None
) -> Snapshot:
    """The snapshot in the bucket: one GET. SnapshotError if it is missing, unreadable or stale."""
    try:
        with metered(s3, "s3", deadline):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        if code in {"NoSuchKey", "404", "NotFound"}:
            raise SnapshotError(SnapshotProblem.MISSING, f"no snapshot at s3://{bucket}/{key}") from None
        raise SnapshotError(SnapshotProblem.UNREADABLE, f"{code} reading s3://{bucket}/{key}") from None
    except (BotoCoreError, BudgetExhaustedError) as error:
        raise SnapshotError(SnapshotProblem.UNREADABLE, f"{type(error).__name__} reading s3://{bucket}/{key}") from None
    return decode_snapshot(body, now=now, max_age_seconds=max_age_seconds)
