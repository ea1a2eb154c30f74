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
from apigw_enrichment.sources.cloudwatch_logs import values_at_most

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from mypy_boto3_s3 import S3Client

    from apigw_enrichment.budget import Deadline

SNAPSHOT_VERSION = 1
# 300 plans and 10,000 keys (API Gateway's default account limits) make about 0.75 MB of JSON
# and 0.13 MB of gzip. A cold start reads the snapshot in a function of 512 MB, so what it may
# cost is bounded before any of it is parsed or built, and anything past a bound is read as
# unreadable (the cold start lists the account instead):
# - the object, and what it inflates to, at most MAX_SNAPSHOT_BYTES;
MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024
# - at most MAX_SNAPSHOT_VALUES JSON values (values_at_most: 10,000 keys count some 150,000),
#   at most about 90 MB once parsed, however dense (16 MiB of `[{},{},...]` would take 600 MB);
MAX_SNAPSHOT_VALUES = 1_000_000
# - at most MAX_DIRECTORY_ENTRIES (API stage, key) pairs: a plan's stages times its keys, which
#   the directory holds one by one (some 110 bytes each), and which a few kB of JSON can
#   multiply into millions (1,000 stages and 2,000 keys on one plan: 7.5 kB, 2,000,000 pairs);
MAX_DIRECTORY_ENTRIES = 1_000_000
# - written at most this long after now: a snapshot from the future would never be stale.
MAX_CLOCK_SKEW_SECONDS = 300.0


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
    except zlib.error:
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot is not gzip") from None
    # A truncated member, or bytes after it: either way not what the refresher wrote.
    if len(text) > MAX_SNAPSHOT_BYTES or not inflater.eof or inflater.unused_data:
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot is truncated or too large")
    if values_at_most(text) > MAX_SNAPSHOT_VALUES:
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot holds too many values")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot is not gzip of JSON") from None
    del text
    if not isinstance(document, dict) or document.get("version") != SNAPSHOT_VERSION:
        raise SnapshotError(SnapshotProblem.UNREADABLE, f"the snapshot is not version {SNAPSHOT_VERSION}")
    written_at = document.get("written_at")
    if not isinstance(written_at, (int, float)) or isinstance(written_at, bool):
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot has no written_at time")
    age = now - written_at
    if age > max_age_seconds:
        detail = f"the snapshot is {age:.0f} s old (the bound is {max_age_seconds:g} s)"
        raise SnapshotError(SnapshotProblem.STALE, detail)
    if age < -MAX_CLOCK_SKEW_SECONDS:
        detail = f"the snapshot is written {-age:.0f} s after now (clocks differ by seconds at most)"
        raise SnapshotError(SnapshotProblem.UNREADABLE, detail)
    try:
        plans = [_plan(item) for item in _list(document["plans"])]
        api_keys = [
            {"id": _text(key_id), "name": _optional_text(name), "customerId": _optional_text(customer)}
            for key_id, name, customer in map(_tuple_of_3, _list(document["apiKeys"]))
        ]
    except (KeyError, TypeError, ValueError):
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot's plans or keys are not as written") from None
    if sum(len(entry.plan["apiStages"]) * len(entry.keys) for entry in plans) > MAX_DIRECTORY_ENTRIES:
        raise SnapshotError(SnapshotProblem.UNREADABLE, "the snapshot's plans pair too many stages and keys")
    return Snapshot(build_directory(plans, api_keys), float(written_at))


def _plan(item: object) -> PlanKeys:
    if not isinstance(item, dict):
        raise TypeError
    plan = {
        "id": _text(item["id"]),
        "name": _optional_text(item["name"]),
        "apiStages": [
            {"apiId": _text(api_id), "stage": _text(stage)} for api_id, stage in map(_pair, _list(item["apiStages"]))
        ],
    }
    keys = tuple(
        Customer(_text(key_id), _optional_text(name), None) for key_id, name in map(_pair, _list(item["keys"]))
    )
    return PlanKeys(plan, keys)


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError
    return value


def _pair(value: object) -> tuple[Any, Any]:
    """A two-item list as the refresher writes it (not any iterable that unpacks to two)."""
    items = _list(value)
    if len(items) != 2:  # noqa: PLR2004 - a pair
        raise ValueError
    return items[0], items[1]


def _tuple_of_3(value: object) -> tuple[Any, Any, Any]:
    items = _list(value)
    if len(items) != 3:  # noqa: PLR2004 - id, name, customer id
        raise ValueError
    return items[0], items[1], items[2]


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
            stream = s3.get_object(Bucket=bucket, Key=key)["Body"]
            try:
                # Never more than the bound: an object of gigabytes is not read whole to learn it is too large.
                body = stream.read(MAX_SNAPSHOT_BYTES + 1)
            finally:
                stream.close()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        if code in {"NoSuchKey", "404", "NotFound"}:
            raise SnapshotError(SnapshotProblem.MISSING, f"no snapshot at s3://{bucket}/{key}") from None
        raise SnapshotError(SnapshotProblem.UNREADABLE, f"{code} reading s3://{bucket}/{key}") from None
    except (BotoCoreError, BudgetExhaustedError) as error:
        raise SnapshotError(SnapshotProblem.UNREADABLE, f"{type(error).__name__} reading s3://{bucket}/{key}") from None
    if len(body) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(
            SnapshotProblem.UNREADABLE, f"s3://{bucket}/{key} is larger than {MAX_SNAPSHOT_BYTES} bytes"
        )
    return decode_snapshot(body, now=now, max_age_seconds=max_age_seconds)
