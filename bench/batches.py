"""The benchmark's batches: realistic access-log records, and the account they belong to.

Every record is the template's recommended format (its `AccessLogFormat` output) filled the
way API Gateway fills it, with the raw key logged too (`"api_key":"$context.identity.apiKey"`,
as a format that logs the raw key does), so masking is on the measured path. 200 distinct keys sit
over 5 plans; a few requests carry no key, as health checks do. Generation is seeded: every
run, and every process, measures the same bytes.
"""

from __future__ import annotations

import base64
import itertools
import random
from typing import TYPE_CHECKING, Any

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT
from apigw_logs.samples import STREAM_ARN, fill_format, subscription_record
from tests.support.fake_apigateway import FakeAccount

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

MB = 1_000_000
SIZES_MB = (1, 2, 3)  # the processor's default buffer, 2 MB, and its largest
KEY_COUNT = 200
PLANS = ("Free", "Basic", "Pro", "Business", "Enterprise")
NO_KEY_SHARE = 0.02
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "curl/8.11.0",
    "aws-sdk-java/2.29.15 Linux/5.10.228 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 vendor/Amazon.com_Inc.",
    "Go-http-client/2.0",
    "PostmanRuntime/7.42.0",
)
RESOURCES = (
    ("GET", "/orders/{id}", "/orders/{n}"),
    ("GET", "/orders", "/orders"),
    ("POST", "/orders", "/orders"),
    ("GET", "/items", "/items"),
    ("GET", "/items/{id}", "/items/{n}"),
    ("PUT", "/customers/{id}/address", "/customers/{n}/address"),
    ("DELETE", "/carts/{id}", "/carts/{n}"),
)
STATUSES = ("200",) * 16 + ("201", "204", "400", "403", "404", "429", "500", "502")


def api_id(plan_number: int) -> str:
    return f"api{plan_number:02d}bench"


def key_id(number: int) -> str:
    return f"bkey{number:06d}"


def key_value(number: int) -> str:
    # Shaped like a real key (40 characters); fake, and only ever in these generated batches.
    return f"BenchFakeKeyValue{number:06d}abcdefghijklmnopq"


def account() -> FakeAccount:
    """5 plans, each on its own API's prod stage, with 40 of the 200 keys each."""
    fake = FakeAccount()
    per_plan = KEY_COUNT // len(PLANS)
    for plan_number, plan_name in enumerate(PLANS):
        keys = [key_id(n) for n in range(plan_number * per_plan, (plan_number + 1) * per_plan)]
        for n in range(plan_number * per_plan, (plan_number + 1) * per_plan):
            fake.add_key(key_id(n), f"Customer {n}", f"cust-{n:06d}", key_value(n))
        fake.add_plan(f"plan{plan_number}", plan_name, [(api_id(plan_number), "prod")], keys)
    return fake


# The same request as a CLF line: the console's CLF example, with the API, stage, key id and
# raw key added (what this project needs to attribute a line) and the user agent at the end.
CLF_FORMAT = (
    '$context.identity.sourceIp - - [$context.requestTime] "$context.httpMethod $context.path $context.protocol" '
    "$context.status $context.responseLength $context.requestId $context.apiId $context.stage "
    '$context.identity.apiKeyId $context.identity.apiKey "$context.identity.userAgent"'
)


def access_log_format() -> str:
    """The recommended format, with the raw key logged beside its id."""
    recommended = RECOMMENDED_ACCESS_LOG_FORMAT
    marker = '"key_id":'
    if marker not in recommended:
        raise SystemExit("bench: the recommended format has no key_id field to log the raw key beside")
    return recommended.replace(marker, '"api_key":"$context.identity.apiKey",' + marker, 1)


def record_line(log_format: str, n: int, rng: random.Random) -> bytes:

    method, resource, path = rng.choice(RESOURCES)
    path = path.replace("{n}", str(rng.randrange(1, 99_999)))
    keyed = rng.random() >= NO_KEY_SHARE
    number = rng.randrange(KEY_COUNT)
    plan_number = number // (KEY_COUNT // len(PLANS))
    status = rng.choice(STATUSES)
    latency = rng.randrange(8, 900)
    values: Mapping[str, str] = {
        "requestId": f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{n % 4096:03x}-8000-{n:012d}",
        "extendedRequestId": f"{rng.getrandbits(64):016X}=",
        "requestTime": f"21/Nov/2025:{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d} +0000",
        "requestTimeEpoch": str(1763683200000 + n * 17),
        "apiId": api_id(plan_number),
        "stage": "prod",
        "resourcePath": resource,
        "path": f"/prod{path}",
        "httpMethod": method,
        "protocol": "HTTP/1.1",
        "status": status,
        "responseLength": str(rng.randrange(0, 4096)),
        "responseLatency": str(latency),
        "integration.latency": str(max(1, latency - rng.randrange(1, 8))),
        "identity.apiKey": key_value(number) if keyed else "-",
        "identity.apiKeyId": key_id(number) if keyed else "-",
        "identity.sourceIp": f"{rng.choice(('198.51', '203.0'))}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "identity.userAgent": rng.choice(USER_AGENTS),
        "error.messageString": error_message(status),
    }
    return fill_format(log_format, values).encode()


def error_message(status: str) -> str:
    """$context.error.messageString: already quoted, as API Gateway writes it."""
    if status < "400":
        return '"-"'
    return '"Forbidden"' if status == "403" else '"Internal server error"'


def batch(size_mb: float, *, seed: int = 2026, log_format: str | None = None) -> dict[str, Any]:
    """A Firehose transformation event whose records' data add up to `size_mb` (decoded), each
    line in `log_format` (by default the recommended format with the raw key)."""

    log_format = log_format or access_log_format()
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    lines = (record_line(log_format, n, rng) for n in itertools.count())
    return firehose_batch(lines, size_mb, record_prefix="49660", invocation=f"8000-{int(size_mb * 1000):012d}")


def firehose_batch(datas: Iterator[bytes], size_mb: float, *, record_prefix: str, invocation: str) -> dict[str, Any]:
    """A Firehose transformation event of records taken from `datas` until their data adds up to `size_mb`."""
    records: list[dict[str, Any]] = []
    total = 0
    while total < size_mb * MB:
        data = next(datas)
        records.append(
            {
                "recordId": f"{record_prefix}{len(records):051d}",
                "approximateArrivalTimestamp": 1763683200000 + len(records),
                "data": base64.b64encode(data).decode("ascii"),
            }
        )
        total += len(data)
    return {
        "invocationId": f"00000000-0000-4000-{invocation}",
        "deliveryStreamArn": STREAM_ARN,
        "region": "us-east-1",
        "records": records,
    }


def data_bytes(event: Mapping[str, Any]) -> int:
    """The decoded size of the records' data: what the batch's size counts."""
    return sum(len(base64.b64decode(record["data"])) for record in event["records"])


def subscription_batch(size_mb: float, events_per_record: int, *, seed: int = 2026) -> dict[str, Any]:
    """A Firehose event of CloudWatch Logs subscription records, as the stream receives them
    when a stage logs to CloudWatch Logs: each record gzip of an envelope of `events_per_record`
    lines in the recommended format, the records' compressed data adding up to `size_mb`, as
    the processor's buffer counts it."""

    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security

    def records() -> Iterator[bytes]:
        for first in itertools.count(0, events_per_record):
            lines = [record_line(RECOMMENDED_ACCESS_LOG_FORMAT, first + i, rng) for i in range(events_per_record)]
            yield subscription_record(lines, first_id=first + events_per_record)

    return firehose_batch(records(), size_mb, record_prefix="49661", invocation=f"8001-{int(size_mb * 1000):012d}")
