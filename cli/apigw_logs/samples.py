"""Writes the sample Firehose events in events/ from the readable access-log lines below.

Run `make events` (python -m apigw_logs.samples) after changing a line here; a test fails if
events/ and this file differ. The recommended-format records are made by filling in the
recommended format itself (apigw_enrichment.fields, which the template's AccessLogFormat output
is checked against), so that format is proven to give JSON the function reads.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

ROOT = Path(__file__).resolve().parents[2]  # the repository (an editable install runs from it)
STREAM_ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-access-logs"
ARRIVAL_MS = 1763683200000  # 2025-11-21T00:00:00Z

# Key values from events/demo_account.json (fake), as a format that logs the raw key writes them.
ACME, GLOBEX, UMBRELLA, INITECH = (
    ("k7x2m9p4q1", "demoAcmeKeyValue000000000000a1f3"),
    ("k3n8v5b2z6", "demoGlobexKeyValue0000000000b2e4"),
    ("k5j6h2g8f4", "demoUmbrellaKeyValue00000000c3d5"),
    ("k9r4t1w7y3", "demoInitechKeyValue000000000d4c6"),
)
ORDERS, CATALOG = "a1b2c3d4e5", "f6g7h8i9j0"


def raw_key_line(n: int, api_id: str, stage: str, key: tuple[str, str] | None, request: str) -> dict[str, str]:
    """A record in a format that logs the raw key (`api_key`), as some guides recommend."""
    key_id, key_value = key or ("-", "-")
    method, uri = request.split(" ", 1)
    return {
        "api_id": api_id,
        "api_key": key_value,
        "key_id": key_id,
        "ip": f"203.0.113.{10 + n}",
        "method": method,
        "uri": uri,
        "response_size": str(120 + 17 * n),
        "response_status": "200",
        "resource_id": "r3s0urc3",
        "request_id": f"c0ffee00-0000-4000-8000-{n:012d}",
        "request_latency": str(20 + 3 * n),
        "request_time": f"21/Nov/2025:00:00:{n:02d} +0000",
        "stage": stage,
    }


RAW_KEY_FORMAT = [
    raw_key_line(1, ORDERS, "prod", ACME, "GET /orders/1001"),  # enriched: Gold
    raw_key_line(2, ORDERS, "prod", GLOBEX, "POST /orders"),  # enriched: Free
    raw_key_line(3, CATALOG, "prod", UMBRELLA, "GET /items?q=lamp"),  # enriched: Gold
    raw_key_line(4, ORDERS, "staging", UMBRELLA, "GET /orders/7"),  # enriched: Sandbox
    raw_key_line(5, ORDERS, "prod", INITECH, "GET /orders/5"),  # unknown_api_key, customer known
    raw_key_line(6, ORDERS, "prod", ("zz9unknown", "demoNoSuchKeyValue00000000000000"), "GET /orders"),  # unknown
    raw_key_line(7, ORDERS, "prod", None, "GET /health"),  # no_api_key
]

CAMEL_CASE = [
    {"requestId": "camel-0001", "apiId": ORDERS, "stage": "prod", "identityApiKeyId": ACME[0], "status": 200},
    {"requestId": "camel-0002", "apiId": CATALOG, "stage": "prod", "identityApiKeyId": UMBRELLA[0], "status": 404},
    {"requestId": "camel-0003", "apiId": ORDERS, "stage": "prod", "identityApiKeyId": "", "status": 401},
]
# One camelCase line arrives with a trailing newline already: the output still ends in exactly one.
CAMEL_CASE_RAW_TAIL = b"\n"

CONTEXT_VALUES: Mapping[str, str] = {
    "requestId": "5e1f0a7c-9b2d-4c3e-8f6a-000000000001",
    "extendedRequestId": "Xy1AbFzLIAMFkZw=",
    "requestTime": "21/Nov/2025:00:00:01 +0000",
    "requestTimeEpoch": "1763683201000",
    "apiId": ORDERS,
    "stage": "prod",
    "resourcePath": "/orders/{id}",
    "path": "/prod/orders/1001",
    "httpMethod": "GET",
    "protocol": "HTTP/1.1",
    "status": "200",
    "responseLength": "512",
    "responseLatency": "43",
    "integration.latency": "38",
    "identity.apiKeyId": ACME[0],
    "identity.sourceIp": "198.51.100.7",
    "identity.userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "error.messageString": '"-"',
}


def recommended_lines(access_log_format: str) -> list[bytes]:
    """Fill the template's format the way API Gateway would, for a few callers."""
    variants: Sequence[Mapping[str, str]] = (
        {},
        {"identity.apiKeyId": GLOBEX[0], "requestId": "5e1f0a7c-9b2d-4c3e-8f6a-000000000002", "httpMethod": "POST"},
        {"identity.apiKeyId": "-", "requestId": "5e1f0a7c-9b2d-4c3e-8f6a-000000000003", "status": "403"},
        {
            "apiId": CATALOG,
            "identity.apiKeyId": UMBRELLA[0],
            "requestId": "5e1f0a7c-9b2d-4c3e-8f6a-000000000004",
            "status": "502",
            "error.messageString": '"Internal server error"',
        },
    )
    return [fill_format(access_log_format, {**CONTEXT_VALUES, **variant}).encode() for variant in variants]


def fill_format(access_log_format: str, values: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SystemExit(f"samples: no sample value for $context.{name}; add one to CONTEXT_VALUES")
        return values[name]

    return re.sub(r"\$context\.([A-Za-z0-9_.]*[A-Za-z0-9_])", substitute, access_log_format)


MALFORMED: list[tuple[str, bytes | str]] = [
    # (what it is, raw bytes; or a str that is put in `data` as it is, not base64-encoded)
    ("valid record between bad ones", json.dumps(raw_key_line(8, ORDERS, "prod", ACME, "GET /orders/8")).encode()),
    ("not base64", "this is not base64!"),
    ("not UTF-8", b'\xff\xfe{"api_id": "a1b2c3d4e5"}'),
    ("empty", b""),
    ("truncated JSON", b'{"api_id": "a1b2c3d4e5", "stage": "pro'),
    ("a JSON array", b'[{"api_id": "a1b2c3d4e5"}]'),
    ("a JSON string", b'"GET /orders 200"'),
    ("CLF, not JSON", b'198.51.100.7 - - [21/Nov/2025:00:00:09 +0000] "GET /orders HTTP/1.1" 200 512 c0ffee'),
]


def event(records: Sequence[bytes | str], first: int) -> dict[str, Any]:
    return {
        "invocationId": f"00000000-0000-4000-8000-{first:012d}",
        "deliveryStreamArn": STREAM_ARN,
        "region": "us-east-1",
        "records": [
            {
                # Firehose record ids are long decimal strings; these are made up but look the part.
                "recordId": f"4963000000000000000000000000000000000000000000{first + i:010d}",
                "approximateArrivalTimestamp": ARRIVAL_MS + 1000 * i,
                "data": data if isinstance(data, str) else base64.b64encode(data).decode("ascii"),
            }
            for i, data in enumerate(records)
        ],
    }


# The log group a stage of the orders API writes its access logs to (its destinationArn).
ACCESS_LOG_GROUP = "/aws/apigateway/orders-prod-access-logs"


def subscription_record(
    messages: Sequence[bytes | str],
    *,
    log_group: str = ACCESS_LOG_GROUP,
    message_type: str = "DATA_MESSAGE",
    first_id: int = 0,
) -> bytes:
    """A record as a CloudWatch Logs subscription filter writes it to Firehose: gzip of the envelope."""
    envelope = {
        "messageType": message_type,
        "owner": "123456789012" if message_type == "DATA_MESSAGE" else "CloudwatchLogs",
        "logGroup": log_group,
        "logStream": "c0ffee0000000000000000000000abcd" if message_type == "DATA_MESSAGE" else "",
        "subscriptionFilters": ["apigw-access-logs"],
        "logEvents": [
            {
                # CloudWatch Logs event ids are 56-digit decimal strings.
                "id": f"{first_id + index:056d}",
                "timestamp": ARRIVAL_MS + index,
                "message": message.decode("utf-8") if isinstance(message, bytes) else message,
            }
            for index, message in enumerate(messages)
        ],
    }
    return gzip.compress(json.dumps(envelope, separators=(",", ":")).encode(), mtime=0)


CONTROL_MESSAGE = "CWL CONTROL MESSAGE: Checking health of destination Firehose."


def compact(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def build_events() -> dict[str, dict[str, Any]]:
    access_log_format = RECOMMENDED_ACCESS_LOG_FORMAT
    camel = [compact(line) for line in CAMEL_CASE]
    camel[0] += CAMEL_CASE_RAW_TAIL
    return {
        "raw_key_format.json": event([compact(line) for line in RAW_KEY_FORMAT], 1),
        "recommended_format.json": event(recommended_lines(access_log_format), 101),
        "camel_case.json": event(camel, 201),
        "malformed.json": event([data for _, data in MALFORMED], 301),
        # One stream takes both: subscription records (a control message first, as CloudWatch
        # Logs sends when a filter is created) and a line straight from a stage.
        "cloudwatch_logs_subscription.json": event(
            [
                subscription_record([CONTROL_MESSAGE], log_group="", message_type="CONTROL_MESSAGE"),
                subscription_record(recommended_lines(access_log_format)),
                subscription_record([compact(line) for line in RAW_KEY_FORMAT[:3]], first_id=4),
                compact(RAW_KEY_FORMAT[3]),
            ],
            401,
        ),
    }


def render(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, indent=2) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "events", help="folder to write to (default: events/)")
    args = parser.parse_args()
    for name, payload in build_events().items():
        path = args.out / name
        path.write_text(render(payload), encoding="utf-8")
        click.echo(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
