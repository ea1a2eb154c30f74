"""Every API Gateway stage in a region, with its access-log settings, for `audit` and `attach`.

REST stages are read through `apigateway` (GetRestApis, paged by `position`; GetStages, which
returns an API's stages in one answer and has no paginator), HTTP and WebSocket stages through
`apigatewayv2` (GetApis and GetStages, both paged by `nextToken`). Each stage becomes a StageRow:
where its access logs go (none, CloudWatch Logs or Firehose, told by the destination ARN) and what
its format is and logs (by the function's own classifier, apigw_enrichment.formats.template).

The clients retry throttling through botocore's standard retry mode. Requests go one at a time,
so a run sends at most about as many a second as the round trip allows; the account's limit on
control-plane reads is shared with every other caller, and a 429 is retried with backoff and
jitter. (Adaptive mode would also slow the client down after the first 429, but it starts that
from no measured rate, at half a request a second; the standard mode's backoff is enough here.)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from apigw_enrichment.formats.template import API_KEY, API_KEY_ID, FormatKind, format_kind, logged_variables

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mypy_boto3_apigateway.client import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import RestApiResponseTypeDef, RestApiTypeDef, StageResponseTypeDef
    from mypy_boto3_apigateway.type_defs import StageTypeDef as RestStageTypeDef
    from mypy_boto3_apigatewayv2.client import ApiGatewayV2Client
    from mypy_boto3_apigatewayv2.type_defs import ApiTypeDef, GetApiResponseTypeDef, GetStageResponseTypeDef
    from mypy_boto3_apigatewayv2.type_defs import StageTypeDef as V2StageTypeDef
    from mypy_boto3_cloudformation.client import CloudFormationClient

ApiType = Literal["REST", "HTTP", "WEBSOCKET"]
AccessLogging = Literal["none", "cloudwatch", "firehose"]

MAX_ATTEMPTS = 10
RETRIES = Config(retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS})  # the first, and 9 retries
REST_PAGE_SIZE = 500  # the most GetRestApis returns in one page

# The stack's outputs that attach and audit read (template.yaml's Outputs).
STREAM_OUTPUT = "DeliveryStreamArn"
FORMAT_OUTPUT = "AccessLogFormat"

THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
CREDENTIALS_REFUSED = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"}
)
NOT_FOUND = "NotFoundException"


class AwsError(Exception):
    """A failure to report as one line: the message says what went wrong and what to do."""


@dataclass(frozen=True, slots=True)
class AccessLog:
    """A stage's access-log settings: where its lines go and the format they are written in."""

    destination_arn: str | None = None
    format: str | None = None

    @property
    def logging(self) -> AccessLogging:
        """Told by the destination's service: API Gateway takes only Firehose and CloudWatch Logs ARNs."""
        if not self.destination_arn:
            return "none"
        return "firehose" if arn_service(self.destination_arn) == "firehose" else "cloudwatch"

    @property
    def format_kind(self) -> FormatKind | None:
        return format_kind(self.format) if self.format else None

    @property
    def logs_api_key_id(self) -> bool:
        return API_KEY_ID in logged_variables(self.format or "")

    @property
    def logs_raw_api_key(self) -> bool:
        return API_KEY in logged_variables(self.format or "")


@dataclass(frozen=True, slots=True)
class StageRow:
    """One stage of one API, as `audit` reports it."""

    api_id: str
    api_name: str
    api_type: ApiType
    stage: str
    access_log: AccessLog
    # REST: the stage-wide (*/*) level; WebSocket: the default route's; HTTP APIs have none.
    execution_logging: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """How --stage names it: API_ID/STAGE."""
        return f"{self.api_id}/{self.stage}"

    def as_json(self, stack_stream_arn: str | None = None) -> dict[str, Any]:
        """The row of `audit --format json`; points_at_stack is null unless a stack was given."""
        kind = self.access_log.format_kind
        return {
            "api_id": self.api_id,
            "api_name": self.api_name,
            "api_type": self.api_type,
            "stage": self.stage,
            "access_logging": self.access_log.logging,
            "destination_arn": self.access_log.destination_arn,
            "format_kind": None if kind is None else str(kind),
            "logs_api_key_id": self.access_log.logs_api_key_id,
            "logs_raw_api_key": self.access_log.logs_raw_api_key,
            "execution_logging": self.execution_logging,
            "tags": dict(self.tags),
            "points_at_stack": None
            if stack_stream_arn is None
            else self.access_log.destination_arn == stack_stream_arn,
        }


@dataclass(frozen=True, slots=True)
class StackOutputs:
    """What the stack tells a stage to log to, and how."""

    delivery_stream_arn: str
    access_log_format: str


@dataclass(frozen=True, slots=True)
class Clients:
    region: str
    apigateway: APIGatewayClient
    apigatewayv2: ApiGatewayV2Client
    cloudformation: CloudFormationClient


class Arn(NamedTuple):
    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(text: str) -> Arn | None:
    """arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, or None for text that is no ARN."""
    scheme, *parts = text.split(":", len(Arn._fields))
    return Arn(*parts) if scheme == "arn" and len(parts) == len(Arn._fields) else None


def arn_service(text: str) -> str:
    arn = parse_arn(text)
    return arn.service if arn else ""


def known_regions(session: boto3.session.Session) -> set[str]:
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("apigateway", partition_name=partition)
    }


def connect(region: str | None) -> Clients:
    """The three clients, in `region` or the profile's; raises AwsError for no or an unknown region.

    An unknown region is refused here, at once: its endpoint would not resolve, and botocore
    would retry the connection with backoff before it gave up.
    """
    session = boto3.session.Session(region_name=region)
    name = session.region_name
    if not name:
        raise AwsError(NO_REGION)
    if name not in known_regions(session):
        raise AwsError(f"unknown region {name!r}: API Gateway has no endpoint there that botocore knows of")
    return Clients(
        name,
        session.client("apigateway", config=RETRIES),
        session.client("apigatewayv2", config=RETRIES),
        session.client("cloudformation", config=RETRIES),
    )


NO_CREDENTIALS = "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
NO_REGION = "no region: pass --region, or set AWS_REGION or a region in your AWS profile"


def explain(error: ClientError | BotoCoreError) -> str:
    """One line for an AWS failure, without the stack trace."""
    if isinstance(error, ClientError):
        return client_error_line(error)
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, NoRegionError):
        return NO_REGION
    return " ".join(str(error).split())


def client_error_line(error: ClientError) -> str:
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    if code in THROTTLED:
        template = "throttled ({operation}), still after {attempts} attempts: try again later"
    elif code in DENIED:
        template = "access denied ({operation}): your credentials may not call it (see docs/onboarding.md)"
    elif code in CREDENTIALS_REFUSED:
        template = "your AWS credentials were refused ({operation}: {code}): check your profile or session"
    elif code == NOT_FOUND:
        template = "not found ({operation}): {message}"
    else:
        template = "{code} ({operation}): {message}"
    return template.format(
        operation=error.operation_name,
        code=code or "error",
        message=" ".join(str(details.get("Message", "")).split()),
        attempts=error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1,
    )


@contextlib.contextmanager
def aws_errors() -> Iterator[None]:
    """Turn botocore's exceptions into AwsError, with explain()'s line."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise AwsError(explain(error)) from None


def is_not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == NOT_FOUND


# -- Rows ----------------------------------------------------------------------------------------


def rest_row(api: RestApiTypeDef | RestApiResponseTypeDef, stage: RestStageTypeDef | StageResponseTypeDef) -> StageRow:
    settings = stage.get("accessLogSettings", {})
    return StageRow(
        api_id=api.get("id", ""),
        api_name=api.get("name", ""),
        api_type="REST",
        stage=stage.get("stageName", ""),
        access_log=AccessLog(settings.get("destinationArn") or None, settings.get("format") or None),
        execution_logging=stage.get("methodSettings", {}).get("*/*", {}).get("loggingLevel", "OFF"),
        tags=stage.get("tags", {}),
    )


def v2_row(api: ApiTypeDef | GetApiResponseTypeDef, stage: V2StageTypeDef | GetStageResponseTypeDef) -> StageRow:
    settings = stage.get("AccessLogSettings", {})
    websocket = api["ProtocolType"] == "WEBSOCKET"
    return StageRow(
        api_id=api.get("ApiId", ""),
        api_name=api["Name"],
        api_type="WEBSOCKET" if websocket else "HTTP",
        stage=stage["StageName"],
        access_log=AccessLog(settings.get("DestinationArn") or None, settings.get("Format") or None),
        execution_logging=stage.get("DefaultRouteSettings", {}).get("LoggingLevel", "OFF") if websocket else None,
        tags=stage.get("Tags", {}),
    )


# -- Listing -------------------------------------------------------------------------------------


def rest_stages(apigateway: APIGatewayClient) -> Iterator[StageRow]:
    """Every REST API's stages, one API at a time."""
    pages = apigateway.get_paginator("get_rest_apis").paginate(PaginationConfig={"PageSize": REST_PAGE_SIZE})
    for page in pages:
        for api in page.get("items", []):
            # GetStages has no paginator: it answers with all of an API's stages at once.
            for stage in apigateway.get_stages(restApiId=api.get("id", "")).get("item", []):
                yield rest_row(api, stage)


def v2_stages(apigatewayv2: ApiGatewayV2Client) -> Iterator[StageRow]:
    """Every HTTP and WebSocket API's stages, one API at a time."""
    stage_pages = apigatewayv2.get_paginator("get_stages")
    for page in apigatewayv2.get_paginator("get_apis").paginate():
        for api in page.get("Items", []):
            for stages in stage_pages.paginate(ApiId=api.get("ApiId", "")):
                for stage in stages.get("Items", []):
                    yield v2_row(api, stage)


def all_stages(clients: Clients) -> Iterator[StageRow]:
    """Every stage in the region: REST, then HTTP and WebSocket. Raises botocore's errors."""
    yield from rest_stages(clients.apigateway)
    yield from v2_stages(clients.apigatewayv2)


API_TYPES: tuple[ApiType, ...] = ("REST", "HTTP", "WEBSOCKET")


def sort_key(row: StageRow) -> tuple[int, str, str, str]:
    """REST stages first, then HTTP, then WebSocket; by API name, then stage, within each."""
    return (API_TYPES.index(row.api_type), row.api_name.casefold(), row.api_id, row.stage)


def find_stage(clients: Clients, api_id: str, stage: str) -> StageRow:
    """One stage by its API id and name, whatever its API's type. Raises AwsError when there is
    no such API or stage, and botocore's errors for any other failure."""
    try:
        api = clients.apigateway.get_rest_api(restApiId=api_id)
    except ClientError as error:
        if not is_not_found(error):
            raise
    else:
        with not_found(f"the REST API {api_id} ({api.get('name', '')}) has no stage {stage!r}"):
            return rest_row(api, clients.apigateway.get_stage(restApiId=api_id, stageName=stage))
    # Not a REST API: HTTP and WebSocket APIs have ids of the same kind.
    with not_found(f"no REST, HTTP or WebSocket API has the id {api_id!r} in {clients.region}"):
        v2_api = clients.apigatewayv2.get_api(ApiId=api_id)
    with not_found(f"the {v2_api['ProtocolType']} API {api_id} ({v2_api['Name']}) has no stage {stage!r}"):
        return v2_row(v2_api, clients.apigatewayv2.get_stage(ApiId=api_id, StageName=stage))


@contextlib.contextmanager
def not_found(message: str) -> Iterator[None]:
    """A NotFoundException becomes AwsError(message); other errors pass."""
    try:
        yield
    except ClientError as error:
        if is_not_found(error):
            raise AwsError(message) from None
        raise


# -- The stack -----------------------------------------------------------------------------------


def stack_outputs(cloudformation: CloudFormationClient, stack_name: str) -> StackOutputs:
    """The stream ARN and format from the stack's outputs; raises AwsError if either is missing."""
    with aws_errors():
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {
        output["OutputKey"]: output["OutputValue"]
        for stack in stacks[:1]
        for output in stack.get("Outputs", [])
        if "OutputKey" in output and "OutputValue" in output
    }
    missing = [name for name in (STREAM_OUTPUT, FORMAT_OUTPUT) if not outputs.get(name)]
    if missing:
        raise AwsError(
            f"the stack {stack_name!r} has no {' or '.join(missing)} output: is it this project's stack, deployed?"
        )
    return StackOutputs(outputs[STREAM_OUTPUT], outputs[FORMAT_OUTPUT])
