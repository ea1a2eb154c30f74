"""A fake of API Gateway's stage listings that pages like the real APIs, for `audit` and `attach`.

moto answers GetRestApis and GetApis in one page, so it cannot show that the listing follows the
tokens. This fake answers at botocore's `before-send` hook, as fake_apigateway.py does, in each
API's wire format: REST (`apigateway`) pages GetRestApis by `position` (items under "item") and
answers GetStages whole; HTTP and WebSocket (`apigatewayv2`) page GetApis and GetStages by
`nextToken` (items under "items"). The real paginators, serializers, parsers and retry handlers
all run; nothing is sent anywhere. Each request is recorded, retries included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_apigateway import REAL_DEFAULT_PAGE, REAL_MAX_PAGE, Call, _response

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.awsrequest import AWSResponse

V2_DEFAULT_PAGE = 25  # the fake's, for GetApis and GetStages without maxResults

# What a test's failure hook returns for a request: (HTTP status, error code, message).
HttpFault = tuple[int, str, str]
THROTTLED: HttpFault = (429, "TooManyRequestsException", "Too Many Requests")
DENIED: HttpFault = (403, "AccessDeniedException", "User is not authorized to perform apigateway:GET")


@dataclass(frozen=True)
class FakeApi:
    api_id: str
    name: str
    protocol: str  # REST, HTTP or WEBSOCKET
    stages: tuple[str, ...]
    destination_arn: str | None = None  # every stage's, if any

    def stage(self, name: str) -> dict[str, Any]:
        """A stage on the wire: both APIs name its members alike."""
        stage: dict[str, Any] = {"stageName": name}
        if self.destination_arn:
            stage["accessLogSettings"] = {"destinationArn": self.destination_arn, "format": "$context.requestId"}
        return stage


class PagingStages:
    """Serves REST and HTTP/WebSocket APIs, with their stages, to boto3 clients, a page a request."""

    def __init__(self, apis: list[FakeApi] | None = None) -> None:
        self.rest: dict[str, FakeApi] = {}
        self.v2: dict[str, FakeApi] = {}
        self.serve(apis or [])
        self.calls: list[Call] = []
        # A test can make request N (1-based, retries included) of an operation fail.
        self.failure: Callable[[int, str], HttpFault | None] = lambda _n, _op: None

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()  # api-gateway, apigatewayv2
        client.meta.events.register_first(f"before-send.{service}", self._answer)

    def serve(self, apis: list[FakeApi]) -> None:
        self.rest = {api.api_id: api for api in apis if api.protocol == "REST"}
        self.v2 = {api.api_id: api for api in apis if api.protocol != "REST"}

    def count(self, operation: str | None = None) -> int:
        return sum(1 for call in self.calls if operation is None or call.operation == operation)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if parts == ["restapis"]:
            items = [{"id": api.api_id, "name": api.name} for api in self.rest.values()]
            return self._page("GetRestApis", items, query, ("item", "position", "limit", REAL_DEFAULT_PAGE))
        if len(parts) == 3 and parts[0] == "restapis" and parts[2] == "stages" and parts[1] in self.rest:
            api = self.rest[parts[1]]
            items = [api.stage(name) for name in api.stages]
            return self._page("GetStages", items, query, ("item", "position", "limit", REAL_MAX_PAGE))
        if parts == ["v2", "apis"]:
            items = [{"apiId": api.api_id, "name": api.name, "protocolType": api.protocol} for api in self.v2.values()]
            return self._page("v2:GetApis", items, query, ("items", "nextToken", "maxResults", V2_DEFAULT_PAGE))
        if len(parts) == 4 and parts[:2] == ["v2", "apis"] and parts[3] == "stages" and parts[2] in self.v2:
            api = self.v2[parts[2]]
            items = [api.stage(name) for name in api.stages]
            return self._page("v2:GetStages", items, query, ("items", "nextToken", "maxResults", V2_DEFAULT_PAGE))
        return _response(404, {"message": f"the fake does not serve {url.path}"}, "NotFoundException")

    def _page(
        self, operation: str, items: list[dict[str, Any]], query: dict[str, str], wire: tuple[str, str, str, int]
    ) -> AWSResponse:
        """One page of `items`: wire is (items member, token, page-size parameter, default page size)."""
        member, token, size, default = wire
        start = int(query.get(token, 0))
        page = min(int(query.get(size, default)), REAL_MAX_PAGE)
        self.calls.append(Call(operation, page, query.get(token)))
        failure = self.failure(len(self.calls), operation)
        if failure is not None:
            status, code, message = failure
            return _response(status, {"message": message}, code)
        body: dict[str, Any] = {member: items[start : start + page]}
        if start + page < len(items):
            body[token] = str(start + page)
        return _response(200, body)


def many_apis(rest: int, http: int, stages_per_http_api: int, destination_arn: str) -> list[FakeApi]:
    """`rest` REST APIs with a prod stage (every other one logging), and `http` HTTP APIs with
    `stages_per_http_api` unlogged stages each."""
    apis = [
        FakeApi(f"rest{n:04d}", f"rest api {n:04d}", "REST", ("prod",), destination_arn if n % 2 == 0 else None)
        for n in range(rest)
    ]
    apis += [
        FakeApi(f"http{n:04d}", f"http api {n:04d}", "HTTP", tuple(f"s{s:03d}" for s in range(stages_per_http_api)))
        for n in range(http)
    ]
    return apis
