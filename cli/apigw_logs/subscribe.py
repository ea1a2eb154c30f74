"""`apigw-logs subscribe`: forward CloudWatch Logs groups to the stack's stream, keeping their copy.

A stage has one access-log destination. One that logs to CloudWatch Logs (every HTTP and WebSocket
stage, and a REST stage that should keep its CloudWatch copy) reaches the stream through a
subscription filter on its log group: CloudWatch Logs puts the group's events into the stream,
assuming a role the stack creates for it (the `SubscriptionRoleArn` output, beside
`DeliveryStreamArn`).

For each log group named, subscribe checks that it exists (DescribeLogGroups by prefix, paged, the
exact name kept) and reads its subscription filters. A group with a filter to the stream already
is left alone; a group with two filters, the most CloudWatch Logs allows, is refused; any other
gets the filter `apigw-access-logs` (pattern "": every event) with PutSubscriptionFilter. The plan
says which API stages log to each group (listed as `audit` lists them, when they can be) and
warns about a group no stage logs to. As attach does, it shows the plan and the exact requests,
asks before sending them unless --yes, changes nothing with --dry-run, reports each group's
outcome, and exits 1 if any failed or was refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import boto3
import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from rich import box
from rich.table import Table
from rich.text import Text

from apigw_logs import stages
from apigw_logs.attach import Outcome, RefusedError, one_of, send_each, stage_failure
from apigw_logs.audit import echo_rich

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from apigw_logs.stages import Clients, StageRow

# boto3's CloudWatch Logs client: the pinned stubs (requirements-dev.in) have no mypy-boto3-logs,
# so it is untyped here, and each value read from it is converted where it is read.
LogsClient = Any

FILTER_NAME = "apigw-access-logs"  # the one filter subscribe puts, and looks for
FILTER_PATTERN = ""  # every event
MAX_FILTERS = 2  # CloudWatch Logs' limit of subscription filters on one log group
ROLE_OUTPUT = "SubscriptionRoleArn"  # the role CloudWatch Logs assumes to put records into the stream

# What CloudWatch Logs accepts as a log group's name.
NAME_LENGTH = 512
NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_\-/.#]+")
NOT_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_\-/.#]")

Action = Literal["subscribe", "replace", "unchanged", "refused"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where the filters send a group's events, and the role CloudWatch Logs assumes to do it."""

    destination_arn: str
    role_arn: str

    def request(self, log_group: str) -> dict[str, str]:
        """PutSubscriptionFilter's parameters for one group (distribution left to its default)."""
        return {
            "logGroupName": log_group,
            "filterName": FILTER_NAME,
            "filterPattern": FILTER_PATTERN,
            "destinationArn": self.destination_arn,
            "roleArn": self.role_arn,
        }


@dataclass(frozen=True, slots=True)
class SubscriptionFilter:
    name: str
    destination_arn: str
    pattern: str


@dataclass(frozen=True, slots=True)
class LogGroup:
    name: str
    arn: str  # without the ":*" DescribeLogGroups' `arn` ends with
    filters: tuple[SubscriptionFilter, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """What subscribe does to one log group, and why."""

    group: LogGroup
    stages: tuple[StageRow, ...] | None  # None: the stages could not be listed
    action: Action
    reason: str = ""


# -- Checking the input --------------------------------------------------------------------------


def check_names(values: Sequence[str]) -> list[str]:
    """The log groups' names, once each, in order; refuses a name CloudWatch Logs cannot have."""
    for value in values:
        if not 1 <= len(value) <= NAME_LENGTH:
            raise RefusedError(f"LOG_GROUP {value!r}: a log group's name is 1 to {NAME_LENGTH} characters")
        if not NAME_CHARACTERS.fullmatch(value):
            bad = NOT_NAME_CHARACTER.search(value)
            character = bad.group() if bad else ""
            hint = ": give the log group's name, not its ARN" if value.startswith("arn:") else ""
            raise RefusedError(
                f"LOG_GROUP {value!r}: a log group's name has only letters, digits and _ - / . #"
                f" (not {character!r}){hint}"
            )
    return list(dict.fromkeys(values))


def check_target(target: Target) -> None:
    """Refuse a destination that is no Firehose stream, and a role that is no IAM role."""
    stream = stages.parse_arn(target.destination_arn)
    if stream is None or stream.service != "firehose" or not stream.resource.startswith("deliverystream/"):
        raise RefusedError(
            f"{target.destination_arn!r} is not a Firehose delivery stream ARN"
            " (arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME)"
        )
    role = stages.parse_arn(target.role_arn)
    if role is None or role.service != "iam" or not role.resource.startswith("role/"):
        raise RefusedError(f"{target.role_arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")


def given_target(destination_arn: str | None, role_arn: str | None, *, stack_given: bool) -> Target | None:
    """The target from --destination-arn and --role-arn, checked; None with --stack-name."""
    one_of(("--stack-name", stack_given), ("--destination-arn", destination_arn is not None))
    if stack_given:
        if role_arn is not None:
            raise RefusedError("--role-arn goes with --destination-arn: with --stack-name the role is the stack's")
        return None
    if role_arn is None:
        raise RefusedError("--destination-arn needs --role-arn: the role CloudWatch Logs assumes to write to it")
    target = Target(destination_arn or "", role_arn)
    check_target(target)
    return target


# -- Reading the stack, the groups and the stages ------------------------------------------------


def stack_target(clients: Clients, stack_name: str) -> Target:
    """The stack's stream and subscription role (its outputs); raises AwsError if either is missing."""
    with stages.aws_errors():
        stacks = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {
        output["OutputKey"]: output["OutputValue"]
        for stack in stacks[:1]
        for output in stack.get("Outputs", [])
        if "OutputKey" in output and "OutputValue" in output
    }
    missing = [name for name in (stages.STREAM_OUTPUT, ROLE_OUTPUT) if not outputs.get(name)]
    if missing:
        raise stages.AwsError(
            f"the stack {stack_name!r} has no {' or '.join(missing)} output:"
            " is it this project's stack, deployed from the current template?"
        )
    target = Target(outputs[stages.STREAM_OUTPUT], outputs[ROLE_OUTPUT])
    check_target(target)
    return target


def connect_logs(region: str) -> LogsClient:
    """CloudWatch Logs in the region the other clients use, retrying as they do."""
    return boto3.session.Session(region_name=region).client("logs", config=stages.RETRIES)


def without_wildcard(arn: str) -> str:
    """A log group's ARN as API Gateway and DescribeLogGroups' logGroupArn write it: no ":*"."""
    return arn.removesuffix(":*")


def find_log_group(logs: LogsClient, name: str) -> LogGroup | None:
    """The group of exactly this name, with its filters; None if there is none.

    DescribeLogGroups takes a prefix, so every page of the groups it starts is read until the
    name itself turns up.
    """
    pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
    for page in pages:
        for group in page.get("logGroups", []):
            if group.get("logGroupName") == name:
                arn = str(group.get("logGroupArn") or without_wildcard(str(group.get("arn", ""))))
                return LogGroup(name, arn, tuple(subscription_filters(logs, name)))
    return None


def subscription_filters(logs: LogsClient, name: str) -> Iterable[SubscriptionFilter]:
    for page in logs.get_paginator("describe_subscription_filters").paginate(logGroupName=name):
        for item in page.get("subscriptionFilters", []):
            yield SubscriptionFilter(
                str(item.get("filterName", "")), str(item.get("destinationArn", "")), str(item.get("filterPattern", ""))
            )


def look_up(logs: LogsClient, names: Sequence[str], region: str, outcome: Outcome) -> list[LogGroup]:
    """The log groups among `names`; each missing or unreadable one is a failure, with its reason."""
    groups = []
    for name in names:
        try:
            group = find_log_group(logs, name)
        except (ClientError, BotoCoreError) as error:
            outcome.fail(name, stage_failure(error))
            continue
        if group is None:
            outcome.fail(name, f"no log group of this name in {region}")
            continue
        groups.append(group)
    return groups


def stages_by_log_group(clients: Clients) -> dict[str, list[StageRow]] | None:
    """Every stage logging to CloudWatch Logs, by its log group's ARN; None (said in one line)
    if the stages cannot be listed, which is no reason to stop."""
    by_group: dict[str, list[StageRow]] = {}
    try:
        for row in stages.all_stages(clients):
            if row.access_log.logging == "cloudwatch" and row.access_log.destination_arn:
                by_group.setdefault(without_wildcard(row.access_log.destination_arn), []).append(row)
    except (ClientError, BotoCoreError) as error:
        if isinstance(error, NoCredentialsError):
            raise
        click.echo(
            f"warning: cannot list the API stages, so the plan does not say which log to each group:"
            f" {stages.explain(error)}",
            err=True,
        )
        return None
    return by_group


# -- Planning ------------------------------------------------------------------------------------


def plan(group: LogGroup, rows: Sequence[StageRow] | None, target: Target) -> Plan:
    found = tuple(sorted(rows, key=stages.sort_key)) if rows is not None else None
    if any(item.destination_arn == target.destination_arn for item in group.filters):
        return Plan(group, found, "unchanged")
    if any(item.name == FILTER_NAME for item in group.filters):
        # PutSubscriptionFilter with the name of a filter the group has updates that filter.
        return Plan(group, found, "replace")
    if len(group.filters) >= MAX_FILTERS:
        names = ", ".join(item.name for item in group.filters)
        reason = (
            f"it has {len(group.filters)} subscription filters ({names}), the most CloudWatch Logs allows:"
            " remove one, or leave this group out"
        )
        return Plan(group, found, "refused", reason)
    return Plan(group, found, "subscribe")


def short_destination(arn: str) -> str:
    """A filter's destination in a few words: its service and name (firehose amazon-apigateway-x)."""
    parsed = stages.parse_arn(arn)
    if parsed is None:
        return arn
    return f"{parsed.service} {re.split(r'[/:]', parsed.resource, maxsplit=1)[-1]}"


def filters_cell(group: LogGroup) -> Text:
    if not group.filters:
        return Text("none")
    return Text("; ".join(f"{item.name}: {short_destination(item.destination_arn)}" for item in group.filters))


def stages_cell(found: tuple[StageRow, ...] | None) -> Text:
    if found is None:
        return Text("unknown", style="yellow")
    if not found:
        return Text("none", style="yellow")
    return Text(", ".join(f"{row.ref} ({row.api_type})" for row in found))


ACTIONS: dict[Action, tuple[str, str]] = {
    "subscribe": (f"add filter {FILTER_NAME}", "green"),
    "replace": (f"replace filter {FILTER_NAME}", "yellow"),
    "unchanged": ("none: already subscribed", ""),
    "refused": (f"refused: {MAX_FILTERS} filters already", "red"),
}


def plan_table(plans: Sequence[Plan]) -> Table:
    grid = Table(box=box.SIMPLE_HEAD, header_style="bold")
    for column in ("log group", "stages", "filters now", "action"):
        grid.add_column(column)
    for item in plans:
        text, style = ACTIONS[item.action]
        grid.add_row(Text(item.group.name), stages_cell(item.stages), filters_cell(item.group), Text(text, style=style))
    return grid


def warn(plans: Sequence[Plan], target: Target, region: str) -> None:
    for item in plans:
        if item.stages == ():
            click.echo(
                f"warning: {item.group.name}: no API stage in {region} logs to this group, so it may not hold"
                " access logs",
                err=True,
            )
        if item.action == "replace":
            current = next(each for each in item.group.filters if each.name == FILTER_NAME)
            click.echo(
                f"warning: {item.group.name}: its filter {FILTER_NAME} sends to {current.destination_arn};"
                f" it will send to {target.destination_arn} instead",
                err=True,
            )


# -- Sending -------------------------------------------------------------------------------------


def put_failure(error: ClientError | BotoCoreError) -> str:
    """stage_failure's line; access denied names the permissions PutSubscriptionFilter needs."""
    line = stage_failure(error)
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in stages.DENIED:
        line += "; it needs logs:PutSubscriptionFilter on the group and iam:PassRole on the role"
    return line


def carry_out(
    logs: LogsClient,
    requests: Sequence[dict[str, str]],
    region: str,
    outcome: Outcome,
    *,
    dry_run: bool,
    assume_yes: bool,
) -> int:
    """Send each request unless dry_run or not confirmed, then the summary; the exit status."""
    return send_each(
        [(request["logGroupName"], request) for request in requests],
        lambda request: logs.put_subscription_filter(**request),
        put_failure,
        f"Put this subscription filter on {len(requests)} log group(s) in {region}?",
        outcome,
        dry_run=dry_run,
        assume_yes=assume_yes,
    )


def subscribe(
    region: str | None,
    *,
    log_groups: Sequence[str],
    stack_name: str | None,
    destination_arn: str | None,
    role_arn: str | None,
    dry_run: bool,
    assume_yes: bool,
) -> int:
    """Forward log groups to a stream with a subscription filter; the exit status. Raises
    RefusedError for bad input."""
    names = check_names(log_groups)
    given = given_target(destination_arn, role_arn, stack_given=stack_name is not None)
    outcome = Outcome("subscribed")
    try:
        clients = stages.connect(region)
        target = given or stack_target(clients, stack_name or "")
        logs = connect_logs(clients.region)
        with stages.aws_errors():
            groups = look_up(logs, names, clients.region, outcome)
            if not groups:
                click.echo("no log group to subscribe")
                click.echo(outcome.summary())
                return outcome.status
            by_group = stages_by_log_group(clients)
            plans = [plan(group, None if by_group is None else by_group.get(group.arn, []), target) for group in groups]
            click.echo(f"Subscription filters to {target.destination_arn}, for these log groups in {clients.region}:")
            echo_rich(plan_table(plans))
            warn(plans, target, clients.region)
            for item in plans:
                if item.action == "refused":
                    outcome.fail(item.group.name, item.reason)
                elif item.action == "unchanged":
                    outcome.unchanged.append(item.group.name)
            requests = [target.request(item.group.name) for item in plans if item.action in {"subscribe", "replace"}]
            if requests:
                click.echo("The request (PutSubscriptionFilter) for each log group:")
                click.echo(json.dumps(requests, indent=2, ensure_ascii=False))
            return carry_out(logs, requests, clients.region, outcome, dry_run=dry_run, assume_yes=assume_yes)
    except stages.AwsError as error:
        click.echo(f"error: {error}", err=True)
        return 1
