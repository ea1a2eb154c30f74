"""A small fake of API Gateway's usage-plan and API-key listings that pages like the real API.

moto returns every item in one page, so it cannot show that the loader follows `position`
tokens or asks for 500 items a page. This fake answers at botocore's `before-send` hook, in
the real wire format (items under "item", the next token under "position"), so the real
paginators, serializers and parsers all run. It answers every request itself: nothing is
sent anywhere. Each request is recorded, so tests can assert exact call counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

if TYPE_CHECKING:
    from collections.abc import Callable

# What a test's failure hook returns for a request: an HTTP error (status, error code,
# message), an exception to raise as the HTTP layer would (e.g. ReadTimeoutError), or a
# body to answer 200 with as it is (one that is not JSON, or that botocore cannot read).
Fault = tuple[int, str, str] | Exception | bytes

REAL_DEFAULT_PAGE = 25
REAL_MAX_PAGE = 500


@dataclass
class FakeAccount:
    plans: list[dict[str, Any]] = field(default_factory=list)
    keys_by_plan: dict[str, list[str]] = field(default_factory=dict)
    api_keys: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_key(self, key_id: str, name: str, customer_id: str | None, value: str | None = None) -> None:
        self.api_keys[key_id] = {
            "id": key_id,
            "name": name,
            "customerId": customer_id,
            "enabled": True,
            "value": value or f"secretValueFor{key_id}0000000000",
        }

    def add_plan(self, plan_id: str, name: str, stages: list[tuple[str, str]], key_ids: list[str]) -> None:
        self.plans.append({"id": plan_id, "name": name, "apiStages": [{"apiId": a, "stage": s} for a, s in stages]})
        self.keys_by_plan[plan_id] = list(key_ids)


@dataclass
class Call:
    operation: str
    limit: int
    position: str | None


class PagingApiGateway:
    """Serves a FakeAccount to a boto3 API Gateway client, one page per request."""

    def __init__(self, account: FakeAccount) -> None:
        self.account = account
        self.calls: list[Call] = []
        # A test can make request N (1-based, retries included) of an operation fail.
        self.failure: Callable[[int, str], Fault | None] = lambda _n, _op: None
        # ...and make each request take time on a fake clock.
        self.on_request: Callable[[], None] = lambda: None
        # Items served as they are after the account's own, by operation: malformed ones
        # (null, or an object missing its id). GetUsagePlanKeys adds them to every plan.
        self.extra_items: dict[str, list[Any]] = {}

    def client(self) -> Any:
        client = boto3.client(
            "apigateway",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.attach(client)
        return client

    def attach(self, client: Any) -> None:
        client.meta.events.register_first("before-send.api-gateway", self._answer)

    def count(self, operation: str | None = None) -> int:
        return sum(1 for call in self.calls if operation is None or call.operation == operation)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        limit = int(query.get("limit", REAL_DEFAULT_PAGE))
        position = query.get("position")
        parts = url.path.strip("/").split("/")
        if parts == ["usageplans"] and "keyId" in query:  # the plans one key is on
            operation = "GetUsagePlans"
            items = [plan for plan in self.account.plans if query["keyId"] in self.account.keys_by_plan[plan["id"]]]
        elif parts == ["usageplans"]:
            operation, items = "GetUsagePlans", self.account.plans
        elif len(parts) == 2 and parts[0] == "apikeys":  # GetApiKey: one key, not a page
            return self._one_key(parts[1], include_value=query.get("includeValue") == "true")
        elif len(parts) == 3 and parts[0] == "usageplans" and parts[2] == "keys":
            operation = "GetUsagePlanKeys"
            items = [
                {
                    "id": key_id,
                    "type": "API_KEY",
                    "name": self.account.api_keys[key_id]["name"],
                    "value": self.account.api_keys[key_id]["value"],
                }
                for key_id in self.account.keys_by_plan.get(parts[1], [])
            ]
        elif parts == ["apikeys"]:
            operation = "GetApiKeys"
            include_values = query.get("includeValues") == "true"
            items = [
                {k: v for k, v in key.items() if include_values or k != "value"}
                for key in self.account.api_keys.values()
            ]
        else:
            return _response(404, {"message": f"the fake does not serve {url.path}"}, "NotFoundException")
        items = [*items, *self.extra_items.get(operation, [])]
        self.calls.append(Call(operation, limit, position))
        self.on_request()
        failure = self.failure(len(self.calls), operation)
        if isinstance(failure, Exception):
            raise failure
        if isinstance(failure, bytes):
            return _raw_response(200, failure)
        if failure is not None:
            status, code, message = failure
            return _response(status, {"message": message}, code)
        start = int(position or 0)
        page = min(limit, REAL_MAX_PAGE)
        body: dict[str, Any] = {"item": items[start : start + page]}
        if start + page < len(items):
            body["position"] = str(start + page)
        return _response(200, body)

    def _one_key(self, key_id: str, *, include_value: bool) -> AWSResponse:
        self.calls.append(Call("GetApiKey", 0, None))
        self.on_request()
        failure = self.failure(len(self.calls), "GetApiKey")
        if isinstance(failure, Exception):
            raise failure
        if failure is not None and not isinstance(failure, bytes):
            status, code, message = failure
            return _response(status, {"message": message}, code)
        key = self.account.api_keys.get(key_id)
        if key is None:
            return _response(404, {"message": "Invalid API Key identifier specified"}, "NotFoundException")
        return _response(200, {k: v for k, v in key.items() if include_value or k != "value"})


def _response(status: int, body: dict[str, Any], error_code: str | None = None) -> AWSResponse:
    return _raw_response(status, json.dumps(body).encode(), error_code)


def _raw_response(status: int, body: bytes, error_code: str | None = None) -> AWSResponse:
    headers = HTTPHeaders()  # what botocore's own HTTP layer hands AWSResponse
    headers["Content-Type"] = "application/json"
    if error_code:
        headers["x-amzn-ErrorType"] = error_code
    return AWSResponse("https://apigateway.us-east-1.amazonaws.com", status, headers, RawBody(body))


class RawBody:
    """The raw body object AWSResponse reads from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content


def big_account(plan_count: int, keys_on_first_plan: int, *, keys_per_other_plan: int = 0) -> FakeAccount:
    """plan_count plans on one API stage each; the first plan holds keys_on_first_plan keys."""
    account = FakeAccount()
    key_number = 0
    for plan_number in range(plan_count):
        count = keys_on_first_plan if plan_number == 0 else keys_per_other_plan
        key_ids = []
        for _ in range(count):
            key_id = f"key{key_number:06d}"
            account.add_key(key_id, f"Customer {key_number}", f"cust-{key_number}")
            key_ids.append(key_id)
            key_number += 1
        account.add_plan(f"plan{plan_number:04d}", f"Plan {plan_number}", [(f"api{plan_number:04d}", "prod")], key_ids)
    return account
