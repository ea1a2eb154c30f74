"""What the handler is measured against: the floor, and the naive transformer peers write."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


def floor(event: Mapping[str, Any]) -> dict[str, Any]:
    """The least any transformer must do: decode each record, end it in a newline, encode it
    again, and build the response list. With the fastest primitives the stdlib has."""
    records = []
    for record in event["records"]:
        raw = binascii.a2b_base64(record["data"])
        data = binascii.b2a_base64(raw + b"\n", newline=False).decode("ascii")
        records.append({"recordId": record["recordId"], "result": "Ok", "data": data})
    return {"records": records}


def naive(event: Mapping[str, Any], customers: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The usual transformer: stdlib json.loads, add the plan and customer, json.dumps, base64.

    `customers` maps a key id to (usage plan id, customer id): the lookup a peer's cache gives.
    No masking, no validation, no response-size check: this is the reference, not a product.
    """
    records = []
    for record in event["records"]:
        obj = json.loads(base64.b64decode(record["data"]))
        plan, customer = customers.get(obj.get("key_id"), (None, None))
        obj["usage_plan_id"] = plan
        obj["customer_id"] = customer
        data = base64.b64encode((json.dumps(obj) + "\n").encode()).decode()
        records.append({"recordId": record["recordId"], "result": "Ok", "data": data})
    return {"records": records}
