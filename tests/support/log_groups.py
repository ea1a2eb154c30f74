"""Log groups, a stream and a role in moto, and faults moto cannot make, for the subscribe tests.

moto's PutSubscriptionFilter checks that a Firehose destination exists, so the stack's stream
(api_stages.STREAM_ARN) is created in moto's Firehose, with the role CloudWatch Logs would assume
in moto's IAM. The stack itself is answered by api_stages.stub_stack, with SUBSCRIPTION_OUTPUTS.
moto neither denies nor throttles, and never pages: fail_logs answers chosen CloudWatch Logs
requests with an HTTP error at botocore's `before-send` hook, as the real service would (so the
retries run), and paging is shown with botocore's Stubber in the tests.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3

from apigw_logs import stages, subscribe
from tests.support.api_stages import ACCOUNT_ID, REGION, STREAM_ARN
from tests.support.fake_apigateway import _response

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest
    from botocore.awsrequest import AWSResponse

    from tests.support.fake_stages import HttpFault

ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/apigw-access-log-enrichment-SubscriptionRole"
# The stages of api_stages.seed that log to CloudWatch Logs log to this group (its LOG_GROUP_ARN).
STAGES_GROUP = "api-gateway-access-logs"
QUIET_GROUP = "/aws/lambda/no-stage-logs-here"  # no stage logs to it

SUBSCRIPTION_OUTPUTS = {
    stages.STREAM_OUTPUT: STREAM_ARN,
    subscribe.ROLE_OUTPUT: ROLE_ARN,
    "LogBucketName": "apigw-access-log-enrichment-logbucket-abc",
}

THROTTLED_LOGS: HttpFault = (400, "ThrottlingException", "Rate exceeded")
DENIED_LOGS: HttpFault = (
    400,
    "AccessDeniedException",
    "User is not authorized to perform: iam:PassRole on resource: " + ROLE_ARN,
)


def stream_arn(name: str) -> str:
    return f"arn:aws:firehose:{REGION}:{ACCOUNT_ID}:deliverystream/{name}"


def create_streams(*names: str) -> None:
    """The role, and a Firehose stream of each name (to S3), in moto; call inside mock_aws."""
    iam = boto3.client("iam", region_name=REGION)
    role_name = ROLE_ARN.rpartition("/")[2]
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    firehose = boto3.client("firehose", region_name=REGION)
    for name in names:
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            ExtendedS3DestinationConfiguration={"RoleARN": ROLE_ARN, "BucketARN": "arn:aws:s3:::apigw-logs-test"},
        )


def filters(logs: Any, group: str) -> list[dict[str, Any]]:
    """The group's subscription filters as moto keeps them, without their creation times."""
    found = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    return [{key: value for key, value in item.items() if key != "creationTime"} for item in found]


def wrap_logs(monkeypatch: pytest.MonkeyPatch, register: Callable[[Any], None]) -> None:
    """Let `register` hook into each CloudWatch Logs client subscribe creates."""
    connect_logs = subscribe.connect_logs

    def connect_with_hooks(region: str) -> Any:
        client = connect_logs(region)
        register(client)
        return client

    monkeypatch.setattr(subscribe, "connect_logs", connect_with_hooks)


def record_puts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every PutSubscriptionFilter's parameters, as subscribe passed them, in order."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    wrap_logs(
        monkeypatch,
        lambda client: client.meta.events.register(
            "provide-client-params.cloudwatch-logs.PutSubscriptionFilter", record
        ),
    )
    return sent


def fail_logs(monkeypatch: pytest.MonkeyPatch, operation: str, fault: HttpFault, group: str | None = None) -> None:
    """Answer `operation` (for `group`, or for every group) with an HTTP error, every attempt."""

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        body = json.loads(request.body or b"{}")
        if group is not None and group not in {body.get("logGroupName"), body.get("logGroupNamePrefix")}:
            return None
        # Every before-send handler runs and the first answer is used: moto's would still act on
        # the request, unless it names no endpoint moto serves.
        request.url = "https://refused.invalid/"
        status, code, message = fault
        return _response(status, {"__type": code, "message": message}, code)

    wrap_logs(
        monkeypatch,
        lambda client: client.meta.events.register_first(f"before-send.cloudwatch-logs.{operation}", answer),
    )


def deny_stage_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer the REST APIs' listing (GetRestApis) with access denied, as for a caller without apigateway:GET."""
    connect = stages.connect

    def answer(request: Any, **_: Any) -> AWSResponse:
        request.url = "https://refused.invalid/"
        return _response(403, {"message": "not authorized to perform apigateway:GET"}, "AccessDeniedException")

    def connect_denied(region: str | None) -> stages.Clients:
        clients = connect(region)
        clients.apigateway.meta.events.register_first("before-send.api-gateway.GetRestApis", answer)
        return clients

    monkeypatch.setattr(stages, "connect", connect_denied)
