"""Stages of every kind in moto's API Gateway, and a stubbed stack, for the audit and attach tests.

moto keeps a REST stage's accessLogSettings and methodSettings as UpdateStage patches them, and an
HTTP or WebSocket stage's AccessLogSettings as CreateStage is given them: so each stage here is
made the way a user's would be. moto cannot deploy this project's stack, so its DescribeStacks is
answered by botocore's Stubber (stub_stack).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from botocore.stub import Stubber

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT
from apigw_logs import stages
from tests.support.fake_apigateway import _response

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pytest
    from botocore.awsrequest import AWSResponse

    from tests.support.fake_stages import HttpFault

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's
STACK_NAME = "apigw-access-log-enrichment"
PARTNER_STACK = "partner-api"  # the stack that made the partner API's prod stage
STREAM_ARN = f"arn:aws:firehose:{REGION}:{ACCOUNT_ID}:deliverystream/amazon-apigateway-access-logs"
OTHER_STREAM_ARN = f"arn:aws:firehose:{REGION}:{ACCOUNT_ID}:deliverystream/amazon-apigateway-other"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:api-gateway-access-logs"

CLF_FORMAT = (
    "$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime]"
    ' "$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength'
    " $context.requestId $context.identity.apiKeyId"
)
CSV_FORMAT = "$context.identity.sourceIp,$context.requestTime,$context.httpMethod,$context.status,$context.requestId"
XML_FORMAT = (
    '<request id="$context.requestId"> <ip>$context.identity.sourceIp</ip> <status>$context.status</status> </request>'
)
RAW_KEY_FORMAT = '{"requestId":"$context.requestId","apiKey":"$context.identity.apiKey","status":"$context.status"}'


@dataclass(frozen=True)
class Settings:
    destination_arn: str
    format: str


def rest_api(apigateway: Any, name: str, stage_settings: Mapping[str, Settings | None], **extra: Any) -> str:
    """A REST API with one method, deployed to each stage; extra: tags and logging_level per stage."""
    api_id: str = apigateway.create_rest_api(name=name)["id"]
    root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
    apigateway.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apigateway.create_deployment(restApiId=api_id)["id"]
    for stage, settings in stage_settings.items():
        apigateway.create_stage(
            restApiId=api_id, stageName=stage, deploymentId=deployment, tags=extra.get("tags", {}).get(stage, {})
        )
        patch = []
        if settings is not None:
            patch += [
                {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": settings.destination_arn},
                {"op": "replace", "path": "/accessLogSettings/format", "value": settings.format},
            ]
        if stage in extra.get("logging_level", {}):
            patch.append({"op": "replace", "path": "/*/*/logging/loglevel", "value": extra["logging_level"][stage]})
        if patch:
            apigateway.update_stage(restApiId=api_id, stageName=stage, patchOperations=patch)
    return api_id


def v2_api(apigatewayv2: Any, name: str, protocol: str, stage: str, settings: Settings | None) -> str:
    extra = {"RouteSelectionExpression": "$request.body.action"} if protocol == "WEBSOCKET" else {}
    api_id: str = apigatewayv2.create_api(Name=name, ProtocolType=protocol, **extra)["ApiId"]
    access_log = {} if settings is None else {"DestinationArn": settings.destination_arn, "Format": settings.format}
    apigatewayv2.create_stage(
        ApiId=api_id, StageName=stage, **({"AccessLogSettings": access_log} if access_log else {})
    )
    return api_id


def seed(apigateway: Any, apigatewayv2: Any) -> dict[str, str]:
    """Nine stages of three kinds, six of them logging (one made by a stack); each API's id by its name."""
    return {
        "shop": rest_api(
            apigateway,
            "shop",
            {"prod": Settings(STREAM_ARN, RECOMMENDED_ACCESS_LOG_FORMAT), "dev": None},
            tags={"prod": {"team": "payments", "env": "prod"}},
            logging_level={"prod": "INFO"},
        ),
        "legacy": rest_api(
            apigateway,
            "legacy",
            {"prod": Settings(LOG_GROUP_ARN, CLF_FORMAT), "qa": Settings(OTHER_STREAM_ARN, CSV_FORMAT)},
        ),
        "partner": rest_api(
            apigateway,
            "partner",
            {"prod": Settings(LOG_GROUP_ARN, XML_FORMAT), "beta": Settings(STREAM_ARN, RAW_KEY_FORMAT)},
            tags={"prod": {"aws:cloudformation:stack-name": PARTNER_STACK}},
        ),
        "orders": v2_api(
            apigatewayv2, "orders", "HTTP", "$default", Settings(LOG_GROUP_ARN, RECOMMENDED_ACCESS_LOG_FORMAT)
        ),
        "internal": v2_api(apigatewayv2, "internal", "HTTP", "prod", None),
        "chat": v2_api(apigatewayv2, "chat", "WEBSOCKET", "prod", None),
    }


def stub_stack(
    monkeypatch: pytest.MonkeyPatch, outputs: Mapping[str, str] | None = None, error_code: str | None = None
) -> None:
    """Answer the stack's DescribeStacks with these outputs (or this error), once, via Stubber."""
    connect = stages.connect

    def connect_with_stack(region: str | None) -> stages.Clients:
        clients = connect(region)
        stubber = Stubber(clients.cloudformation)
        if error_code is not None:
            stubber.add_client_error(
                "describe_stacks",
                service_error_code=error_code,
                service_message=f"Stack with id {STACK_NAME} does not exist",
                expected_params={"StackName": STACK_NAME},
            )
        else:
            stack = {
                "StackName": STACK_NAME,
                "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in (outputs or {}).items()],
            }
            stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK_NAME})
        stubber.activate()
        return clients

    monkeypatch.setattr(stages, "connect", connect_with_stack)


STACK_OUTPUTS = {
    stages.STREAM_OUTPUT: STREAM_ARN,
    stages.FORMAT_OUTPUT: RECOMMENDED_ACCESS_LOG_FORMAT,
    "LogBucketName": "apigw-access-log-enrichment-logbucket-abc",
}


def table_rows(text: str) -> list[list[str]]:
    """A piped rich table's header and rows, each as its non-empty cells (parted by 2+ spaces)."""
    lines = text.splitlines()
    rule = next(number for number, line in enumerate(lines) if line.lstrip().startswith("─"))
    rows = [lines[rule - 1]]
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        rows.append(line)
    return [re.split(r"\s{2,}", line.strip()) for line in rows]


def fail_updates(monkeypatch: pytest.MonkeyPatch, faults: Mapping[str, HttpFault]) -> None:
    """Answer UpdateStage for these stages (API_ID/STAGE) with an HTTP error, every attempt, as
    the real API would (so botocore's retries run); moto answers the rest. moto has no way to deny
    or throttle one stage."""
    connect = stages.connect

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        _, api_id, _, stage = urlsplit(request.url).path.strip("/").split("/")
        fault = faults.get(f"{api_id}/{unquote(stage)}")
        if fault is None:
            return None
        # botocore hands before-send to every handler and uses the first answer: moto's handler
        # would still apply the patch, unless the request names no endpoint it serves.
        request.url = "https://refused.invalid/"
        status, code, message = fault
        return _response(status, {"message": message}, code)

    def connect_with_faults(region: str | None) -> stages.Clients:
        clients = connect(region)
        clients.apigateway.meta.events.register_first("before-send.api-gateway.UpdateStage", answer)
        return clients

    monkeypatch.setattr(stages, "connect", connect_with_faults)
