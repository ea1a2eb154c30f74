"""Firehose events built from lines, the sample events, and responses read back."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def firehose_event(lines: list[bytes | str]) -> dict[str, Any]:
    """A Firehose transformation event; bytes are base64-encoded, a str is put in `data` as is."""
    return {
        "invocationId": "test-invocation",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-test",
        "region": "us-east-1",
        "records": [
            {
                "recordId": f"record-{index:05d}",
                "approximateArrivalTimestamp": 1763683200000,
                "data": line if isinstance(line, str) else base64.b64encode(line).decode("ascii"),
            }
            for index, line in enumerate(lines)
        ],
    }


def decoded(response: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """(recordId, result, data) for each response record; Ok data decoded, other data as sent back."""
    return [
        (r["recordId"], r["result"], base64.b64decode(r["data"]) if r["result"] == "Ok" else r["data"].encode())
        for r in response["records"]
    ]


def ok_objects(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(data) for _, result, data in decoded(response) if result == "Ok"]


# A record as the function writes it: its fields, a masked key, then the five.
ENRICHED_RECORD = {
    "api_id": "a1",
    "key_id": "k1",
    "api_key": "****a1f3",
    "usage_plan_id": "p1",
    "usage_plan_name": "Gold",
    "customer_id": None,
    "customer_name": "Acme",
    "enrichment_status": "enriched",
}
