"""A local copy of the log bucket, written as Firehose writes it, with records whose every value is known.

`Request` is one enriched access-log record as the function writes it (every value a string, the
five fields added); `write_object` puts lines into a gzipped object under logs/dt=.../ (or any
folder), and `expected_*` count the same records in plain Python, for the report to be checked
against numbers it did not make.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apigw_enrichment.fields import ERRORS_PREFIX, LOGS_PREFIX, PARTITION_FORMAT, PARTITION_KEY, log_columns

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class Request:
    """One logged request, and what the function added to it."""

    at: datetime  # the request time (UTC)
    status: int = 200
    latency_ms: int = 20
    customer: tuple[str | None, str] | None = ("cust-acme-001", "Acme Corp")  # id (None: the key has none), name
    plan: tuple[str, str] | None = ("pl0gold001", "Gold")  # id, name
    enrichment_status: str = "enriched"
    method: str = "GET"
    resource_path: str = "/orders"
    key_id: str = "k7x2m9p4q1"

    def record(self) -> dict[str, Any]:
        epoch_ms = int(self.at.timestamp() * 1000)
        record: dict[str, Any] = {
            "request_id": f"req-{epoch_ms}-{self.status}-{self.latency_ms}",
            "extended_request_id": "-",
            "request_time": self.at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "request_time_epoch": str(epoch_ms),
            "api_id": "a1b2c3d4e5",
            "stage": "prod",
            "resource_path": self.resource_path,
            "path": self.resource_path,
            "method": self.method,
            "protocol": "HTTP/1.1",
            "status": str(self.status),
            "response_length": "42",
            "response_latency": str(self.latency_ms),
            "integration_latency": str(max(self.latency_ms - 5, 0)),
            "key_id": self.key_id,
            "source_ip": "198.51.100.7",
            "user_agent": "curl/8.5.0",
            "error_message": "-",
            "usage_plan_id": self.plan[0] if self.plan else None,
            "usage_plan_name": self.plan[1] if self.plan else None,
            "customer_id": self.customer[0] if self.customer else None,
            "customer_name": self.customer[1] if self.customer else None,
            "enrichment_status": self.enrichment_status,
        }
        assert set(record) == set(log_columns())
        return record

    @property
    def partition(self) -> str:
        return self.at.strftime(PARTITION_FORMAT)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def lines_of(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def write_object(folder: Path, name: str, records: Iterable[dict[str, Any]], *, gzipped: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    data = lines_of(records)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def logs_folder(bucket: Path, partition: str) -> Path:
    return bucket / LOGS_PREFIX / f"{PARTITION_KEY}={partition}"


def write_requests(bucket: Path, requests: Iterable[Request], *, partition: str | None = None) -> list[Path]:
    """One object per partition (by each request's own hour unless one is given), as Firehose would."""
    by_partition: dict[str, list[Request]] = {}
    for request in requests:
        by_partition.setdefault(partition or request.partition, []).append(request)
    return [
        write_object(
            logs_folder(bucket, key), f"stream-1-{key}-{index}.json.gz", (request.record() for request in batch)
        )
        for index, (key, batch) in enumerate(sorted(by_partition.items()))
    ]


def processing_failure(arrived: datetime, raw: bytes = b"not json") -> dict[str, Any]:
    """A record Firehose kept under errors/processing-failed/: its error envelope, as Firehose writes it."""
    import base64  # noqa: PLC0415 - only this helper needs it

    return {
        "attemptsMade": 1,
        "arrivalTimestamp": int(arrived.timestamp() * 1000),
        "errorCode": "Lambda.ProcessingFailed",
        "errorMessage": "The record was not valid JSON",
        "attemptEndingTimestamp": int(arrived.timestamp() * 1000) + 250,
        "rawData": base64.b64encode(raw).decode(),
        "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:enrich:$LATEST",
    }


def errors_folder(bucket: Path, kind: str, partition: str) -> Path:
    return bucket / ERRORS_PREFIX / kind / f"{PARTITION_KEY}={partition}"


# -- The same numbers, counted in plain Python ----------------------------------------------------


def in_window(request: Request, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or request.at >= since) and (until is None or request.at < until)


def expected_totals(requests: Iterable[Request], failures: int = 0) -> dict[str, int]:
    requests = list(requests)
    statuses = Counter(request.enrichment_status for request in requests)
    return {
        "requests": len(requests),
        "enriched": statuses["enriched"],
        "no_api_key": statuses["no_api_key"],
        "unknown_api_key": statuses["unknown_api_key"],
        "lookup_unavailable": statuses["lookup_unavailable"],
        "conflicting_identity": statuses["conflicting_identity"],
        "other": 0,
        "processing_failed": failures,
    }


def expected_customers(requests: Iterable[Request]) -> list[dict[str, Any]]:
    """customer_report.sql's rows, without the latency percentiles (approximate in both engines).

    A customer is its customerId, or, for a key without one, the key's name; its name is the
    first of its keys' names.
    """
    groups: dict[tuple[Any, ...], list[Request]] = {}
    for request in requests:
        if request.enrichment_status == "enriched":
            customer_id, name = request.customer or (None, None)
            key = (customer_id if customer_id is not None else ("name", name), *(request.plan or (None, None)))
            groups.setdefault(key, []).append(request)
    rows = [
        {
            "customer_id": group[0].customer[0] if group[0].customer else None,
            "customer_name": min(r.customer[1] for r in group if r.customer) if group[0].customer else None,
            "usage_plan_id": key[1],
            "usage_plan_name": key[2],
            "requests": len(group),
            "client_errors": sum(400 <= r.status <= 499 for r in group),
            "server_errors": sum(500 <= r.status <= 599 for r in group),
        }
        for key, group in groups.items()
    ]
    return sorted(rows, key=lambda row: (-row["requests"], row["customer_id"] or "", row["usage_plan_id"] or ""))


def latencies_by_customer(requests: Iterable[Request]) -> dict[tuple[Any, Any], list[int]]:
    latencies: dict[tuple[Any, Any], list[int]] = {}
    for request in requests:
        if request.enrichment_status == "enriched":
            key = ((request.customer or (None,))[0], (request.plan or (None,))[0])
            latencies.setdefault(key, []).append(request.latency_ms)
    return latencies


def plausible_quantile(values: list[int], q: float, reported: float) -> bool:
    """Whether an approximate quantile lies between the exact ones a tenth either side of q."""
    ordered = sorted(values)
    last = len(ordered) - 1
    low = ordered[max(0, math.floor((q - 0.1) * last))]
    high = ordered[min(last, math.ceil((q + 0.1) * last))]
    return low <= reported <= high
