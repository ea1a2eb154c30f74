"""Measure one warm batch: records, median handler time, response size and peak RSS.

    .venv/bin/python scripts/measure_batch.py 1     # a 1 MB batch (the processor buffer)

Realistic seed-format records (200 keys over 5 plans, a browser user agent) against the paged
fake account from the tests. Run it in a fresh process per size: peak RSS is the process's.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "enrich_function"), str(ROOT / "tests"), str(ROOT / "scripts")]
os.environ.update(
    POWERTOOLS_SERVICE_NAME="measure", POWERTOOLS_METRICS_NAMESPACE="measure", POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true",
)  # fmt: skip
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)


def batch(size_bytes: float) -> dict[str, Any]:
    records, total, n = [], 0, 0
    while total < size_bytes:
        key = n % 200
        line = json.dumps({
            "api_id": f"api{key // 40:04d}", "api_key": f"secretValueForkey{key:06d}0000000000",
            "key_id": f"key{key:06d}", "ip": "203.0.113.9", "method": "GET", "uri": f"/orders/{n}",
            "response_size": "512", "response_status": "200", "resource_id": "abc123",
            "request_id": f"c0ffee00-0000-4000-8000-{n:012d}", "request_latency": "42",
            "request_time": "21/Nov/2025:00:00:01 +0000", "stage": "prod", "user_agent": USER_AGENT,
        }).encode()  # fmt: skip
        records.append(
            {"recordId": f"4963{n:052d}", "approximateArrivalTimestamp": 1, "data": base64.b64encode(line).decode()}
        )
        total += len(line)
        n += 1
    return {"invocationId": "i", "deliveryStreamArn": "arn:aws:firehose:us-east-1:1:deliverystream/amazon-apigateway-m",
            "region": "us-east-1", "records": records}  # fmt: skip


def main() -> None:
    size_mb = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    from fake_apigateway import PagingApiGateway, big_account  # noqa: PLC0415
    from local_invoke import LocalContext  # noqa: PLC0415

    import app  # noqa: PLC0415 - after the environment above
    import state  # noqa: PLC0415
    from usage_plans import UsagePlanCache, fetch_directory  # noqa: PLC0415

    fake = PagingApiGateway(big_account(5, 40, keys_per_other_plan=40))
    client = fake.client()
    state.use_cache(
        UsagePlanCache(lambda deadline: fetch_directory(client, deadline), ttl_seconds=900, miss_refresh_seconds=60)
    )
    event = batch(size_mb * 1_000_000)
    times = []
    for _ in range(8):  # the first run loads the cache and warms up; the median is of the other 7
        started = time.perf_counter()
        response = app.lambda_handler(event, LocalContext())
        times.append(time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{size_mb:g} MB batch: {len(event['records'])} records, "
        f"warm median {statistics.median(times[1:]) * 1000:.1f} ms, "
        f"response {len(json.dumps(response)) / 1e6:.2f} MB, peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
