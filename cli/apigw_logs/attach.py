"""`apigw-logs attach` and `apigw-logs detach`: set or remove REST stages' access-log settings.

attach points each stage's access logs at a Firehose stream (the stack's, or any
`amazon-apigateway-` stream) in a format the function can read; detach removes the settings and
prints what they were, so that they can be restored. Both look every stage up first, show what
each has now and the patch (UpdateStage patchOperations) they will send, ask before sending it
unless --yes, and change nothing with --dry-run. A stage that cannot be looked up or changed
(no such stage, access denied, throttled past the retries) is reported on its own line and the
others go on; the summary names each stage's outcome, and the exit status is 1 if any failed.

Only REST stages can send access logs to Firehose: HTTP and WebSocket stages log to CloudWatch
Logs only, so they are refused with that reason.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from rich import box
from rich.table import Table
from rich.text import Text

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT
from apigw_enrichment.formats.template import API_KEY, TemplateError, compile_format, logged_variables
from apigw_logs import stages
from apigw_logs.audit import echo_rich

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_apigateway.type_defs import PatchOperationTypeDef

    from apigw_logs.stages import Clients, StageRow

STREAM_PREFIX = "amazon-apigateway-"  # API Gateway sends access logs only to streams named so
ONBOARDING = "docs/onboarding.md"
STACK_TAG = "aws:cloudformation:stack-name"  # CloudFormation's own tag on what a stack creates
DETACH_PATCH: list[PatchOperationTypeDef] = [{"op": "remove", "path": "/accessLogSettings"}]


class RefusedError(ValueError):
    """Input attach or detach will not act on; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where attach points the stages, and the format it sets."""

    arn: str
    format: str

    def is_set_on(self, row: StageRow) -> bool:
        return (row.access_log.destination_arn, row.access_log.format) == (self.arn, self.format)

    def patch(self) -> list[PatchOperationTypeDef]:
        return [
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": self.arn},
            {"op": "replace", "path": "/accessLogSettings/format", "value": self.format},
        ]


@dataclass(frozen=True, slots=True)
class Change:
    row: StageRow
    patch: list[PatchOperationTypeDef]


@dataclass
class Outcome:
    """What became of each stage named or found, for the summary and the exit status."""

    verb: str  # "attached", "detached"
    done: list[str] = field(default_factory=list)
    dry_run: list[str] = field(default_factory=list)
    not_confirmed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def fail(self, ref: str, reason: str) -> None:
        click.echo(f"error: {ref}: {reason}", err=True)
        self.failed.append(ref)

    def summary(self) -> str:
        groups = (
            (self.verb, self.done),
            ("not sent (dry run)", self.dry_run),
            ("not sent (not confirmed)", self.not_confirmed),
            ("unchanged", self.unchanged),
        )
        parts = [f"{name} {len(refs)} ({', '.join(refs)})" for name, refs in groups if refs]
        parts.append(f"failed {len(self.failed)}" + (f" ({', '.join(self.failed)})" if self.failed else ""))
        return "summary: " + ", ".join(parts)

    @property
    def status(self) -> int:
        return 1 if self.failed or self.not_confirmed else 0


# -- Checking the input --------------------------------------------------------------------------


def parse_refs(values: Sequence[str]) -> list[tuple[str, str]]:
    """Each --stage API_ID/STAGE as (api id, stage name), once each, in order."""
    refs: dict[tuple[str, str], None] = {}
    for value in values:
        api_id, _, stage = value.partition("/")
        if not api_id or not stage:
            raise RefusedError(f"--stage {value!r}: expected API_ID/STAGE, e.g. a1b2c3d4e5/prod")
        refs[api_id, stage] = None
    return list(refs)


def check_destination(arn: str) -> None:
    """Refuse what API Gateway would refuse as a Firehose access-log destination."""
    parsed = stages.parse_arn(arn)
    resource = parsed.resource if parsed else ""
    if parsed is None or parsed.service != "firehose" or not resource.startswith("deliverystream/"):
        raise RefusedError(
            f"{arn!r} is not a Firehose delivery stream ARN"
            f" (arn:aws:firehose:REGION:ACCOUNT:deliverystream/{STREAM_PREFIX}NAME)"
        )
    name = resource.removeprefix("deliverystream/")
    if not name.startswith(STREAM_PREFIX):
        raise RefusedError(
            f"the stream {name!r}: API Gateway sends access logs only to streams named {STREAM_PREFIX}..."
        )


def check_format(template: str, *, force: bool) -> None:
    """Refuse a format the function cannot read, and one that logs the raw key unless forced."""
    try:
        compile_format(template)
    except TemplateError as error:
        raise RefusedError(f"the access-log format: {error}") from None
    if API_KEY not in logged_variables(template):
        return
    if not force:
        raise RefusedError(
            f"the access-log format logs {API_KEY}, the API key itself, so the logs would hold secrets:"
            " log $context.identity.apiKeyId instead, or pass --force"
        )
    click.echo(
        f"warning: the format logs {API_KEY}, the API key itself (--force): the function masks it unless"
        " ApiKeyValues=keep, but a record that fails processing is kept as sent, key and all, under errors/",
        err=True,
    )


def one_of(first: tuple[str, bool], second: tuple[str, bool]) -> None:
    """Exactly one of two options given."""
    (first_name, first_given), (second_name, second_given) = first, second
    if first_given == second_given:
        which = "not both" if first_given else "one is required"
        raise RefusedError(f"give {first_name} or {second_name} ({which})")


# -- Looking up, asking and sending --------------------------------------------------------------


def stage_failure(error: ClientError | BotoCoreError) -> str:
    """explain()'s line for one stage; missing credentials stop the whole run instead."""
    if isinstance(error, NoCredentialsError):
        raise error
    return stages.explain(error)


def look_up(clients: Clients, refs: Sequence[tuple[str, str]], outcome: Outcome, refusal: str) -> list[StageRow]:
    """The REST stages among `refs`; each other one is a failure, with its reason."""
    rows = []
    for api_id, stage in refs:
        try:
            row = stages.find_stage(clients, api_id, stage)
        except stages.AwsError as error:
            outcome.fail(f"{api_id}/{stage}", str(error))
            continue
        except (ClientError, BotoCoreError) as error:
            outcome.fail(f"{api_id}/{stage}", stage_failure(error))
            continue
        if row.api_type != "REST":
            outcome.fail(row.ref, f"{row.api_type} API stage: {refusal}")
            continue
        rows.append(row)
    return rows


def confirmed(question: str) -> bool:
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort:  # no answer (end of input, or ^C)
        click.echo(err=True)
        return False


def carry_out(clients: Clients, changes: Sequence[Change], outcome: Outcome, *, dry_run: bool, assume_yes: bool) -> int:
    """Send each change unless dry_run or not confirmed, then the summary; the exit status."""

    def send(change: Change) -> None:
        clients.apigateway.update_stage(
            restApiId=change.row.api_id, stageName=change.row.stage, patchOperations=change.patch
        )

    return send_each(
        [(change.row.ref, change) for change in changes],
        send,
        stage_failure,
        f"Send this patch to {len(changes)} stage(s) in {clients.region}?",
        outcome,
        dry_run=dry_run,
        assume_yes=assume_yes,
    )


def send_each[T](
    items: Sequence[tuple[str, T]],
    send: Callable[[T], object],
    failure: Callable[[ClientError | BotoCoreError], str],
    question: str,
    outcome: Outcome,
    *,
    dry_run: bool,
    assume_yes: bool,
) -> int:
    """Send each (name, item) unless dry_run or not confirmed (`question`), reporting each one's
    outcome by name, then the summary; the exit status. Shared by attach, detach and subscribe."""
    names = [name for name, _ in items]
    if not items:
        click.echo("nothing to send")
    elif dry_run:
        click.echo("dry run: nothing changed")
        outcome.dry_run += names
    elif not assume_yes and not confirmed(question):
        click.echo("not confirmed: nothing changed", err=True)
        outcome.not_confirmed += names
    else:
        for name, item in items:
            try:
                send(item)
            except (ClientError, BotoCoreError) as error:
                outcome.fail(name, failure(error))
                continue
            outcome.done.append(name)
            click.echo(f"{outcome.verb} {name}")
    click.echo(outcome.summary())
    return outcome.status


# -- attach --------------------------------------------------------------------------------------

HTTP_REFUSAL = (
    "it can send access logs only to CloudWatch Logs, not to Firehose;"
    f" forward its log group with a CloudWatch Logs subscription instead (see {ONBOARDING})"
)


def stack_destination(clients: Clients, stack_name: str, *, force: bool) -> Destination:
    """The stack's stream and format, checked as a given ARN and format are."""
    outputs = stages.stack_outputs(clients.cloudformation, stack_name)
    destination = Destination(outputs.delivery_stream_arn, outputs.access_log_format)
    check(destination, force=force)
    return destination


def check(destination: Destination, *, force: bool) -> None:
    check_destination(destination.arn)
    check_format(destination.format, force=force)


def plan_table(rows: Sequence[StageRow], destination: Destination) -> Table:
    grid = Table(box=box.SIMPLE_HEAD, header_style="bold")
    for column in ("stage", "api", "access logs now", "format now", "change"):
        grid.add_column(column)
    for row in rows:
        current = row.access_log
        kind = current.format_kind
        change = "none: already set" if destination.is_set_on(row) else "replace" if current.destination_arn else "set"
        grid.add_row(
            Text(row.ref),
            Text(row.api_name),
            Text(f"{current.logging}: {current.destination_arn}" if current.destination_arn else "none"),
            Text(str(kind) if kind else ""),
            Text(change),
        )
    return grid


def warn_replacements(rows: Sequence[StageRow], destination: Destination) -> None:
    for row in rows:
        if row.access_log.logging == "cloudwatch":
            click.echo(
                f"warning: {row.ref}: its CloudWatch Logs destination {row.access_log.destination_arn} will be"
                " replaced: a stage has one access-log destination. To keep it, leave this stage out and"
                f" forward its log group with a CloudWatch Logs subscription (see {ONBOARDING})",
                err=True,
            )
        elif row.access_log.logging == "firehose" and row.access_log.destination_arn != destination.arn:
            click.echo(f"warning: {row.ref}: its stream {row.access_log.destination_arn} will be replaced", err=True)


def warn_if_in_a_template(rows: Sequence[StageRow]) -> None:
    """A stage a stack created drifts from its template when changed here: say so."""
    for row in rows:
        if STACK_TAG in row.tags:
            click.echo(
                f"warning: {row.ref}: the CloudFormation stack {row.tags[STACK_TAG]!r} created this stage, so this"
                " change drifts from its template; set AccessLogSetting in the template instead"
                f" (see {ONBOARDING}#stages-defined-in-code)",
                err=True,
            )


def attach(
    region: str | None,
    *,
    stack_name: str | None,
    destination_arn: str | None,
    log_format: str | None,
    stage_values: Sequence[str],
    all_unlogged: bool,
    dry_run: bool,
    assume_yes: bool,
    force: bool,
) -> int:
    """Point stages' access logs at a stream; the exit status. Raises RefusedError for bad input."""
    one_of(("--stack-name", stack_name is not None), ("--destination-arn", destination_arn is not None))
    one_of(("--stage", bool(stage_values)), ("--all-unlogged", all_unlogged))
    if stack_name is not None and log_format is not None:
        raise RefusedError("--log-format goes with --destination-arn: with --stack-name the format is the stack's")
    refs = parse_refs(stage_values)
    given = None
    if destination_arn is not None:  # checked before anything is asked of AWS
        given = Destination(destination_arn, RECOMMENDED_ACCESS_LOG_FORMAT if log_format is None else log_format)
        check(given, force=force)
    outcome = Outcome("attached")
    try:
        clients = stages.connect(region)
        destination = given or stack_destination(clients, stack_name or "", force=force)
        with stages.aws_errors():
            if all_unlogged:
                rows = [row for row in stages.rest_stages(clients.apigateway) if row.access_log.logging == "none"]
            else:
                rows = look_up(clients, refs, outcome, HTTP_REFUSAL)
            if not rows:
                click.echo("no REST stage to attach" + (" without access logs" if all_unlogged else ""))
                click.echo(outcome.summary())
                return outcome.status
            click.echo(f"Access logs to {destination.arn}, for these stages in {clients.region}:")
            echo_rich(plan_table(rows, destination))
            warn_replacements(rows, destination)
            warn_if_in_a_template(rows)
            click.echo("The patch (UpdateStage patchOperations) sent to each stage:")
            click.echo(json.dumps(destination.patch(), indent=2, ensure_ascii=False))
            changes = [Change(row, destination.patch()) for row in rows if not destination.is_set_on(row)]
            outcome.unchanged += [row.ref for row in rows if destination.is_set_on(row)]
            return carry_out(clients, changes, outcome, dry_run=dry_run, assume_yes=assume_yes)
    except stages.AwsError as error:
        click.echo(f"error: {error}", err=True)
        return 1


# -- detach --------------------------------------------------------------------------------------

V2_DETACH_REFUSAL = "detach changes REST stages only (set an HTTP or WebSocket stage's access logs in apigatewayv2)"


def restore_command(row: StageRow, region: str) -> str:
    """The AWS CLI command that puts the stage's settings back as they are now."""
    settings = (("destinationArn", row.access_log.destination_arn), ("format", row.access_log.format))
    patch = [
        {"op": "replace", "path": f"/accessLogSettings/{name}", "value": value}
        for name, value in settings
        if value is not None
    ]
    return (
        f"aws apigateway update-stage --region {region} --rest-api-id {shlex.quote(row.api_id)}"
        f" --stage-name {shlex.quote(row.stage)} --patch-operations {shlex.quote(json.dumps(patch))}"
    )


def show_current(row: StageRow, region: str) -> None:
    """Everything a stage's access-log settings hold now, whole (the format is not folded)."""
    click.echo(f"{row.ref} ({row.api_name}):")
    click.echo(f"  destination: {row.access_log.destination_arn or '-'}")
    click.echo(f"  format: {row.access_log.format or '-'}")
    click.echo(f"  to restore: {restore_command(row, region)}")


def detach(region: str | None, *, stage_values: Sequence[str], dry_run: bool, assume_yes: bool) -> int:
    """Remove stages' access-log settings after printing them; the exit status."""
    if not stage_values:
        raise RefusedError("give --stage API_ID/STAGE at least once")
    refs = parse_refs(stage_values)
    outcome = Outcome("detached")
    try:
        clients = stages.connect(region)
        with stages.aws_errors():
            changes = []
            for row in look_up(clients, refs, outcome, V2_DETACH_REFUSAL):
                if row.access_log.destination_arn is None and row.access_log.format is None:
                    click.echo(f"{row.ref} ({row.api_name}): no access-log settings, nothing to remove")
                    outcome.unchanged.append(row.ref)
                    continue
                show_current(row, clients.region)
                changes.append(Change(row, DETACH_PATCH))
            warn_if_in_a_template([change.row for change in changes])
            if changes:
                click.echo(f"The patch (UpdateStage patchOperations) sent to each stage: {json.dumps(DETACH_PATCH)}")
            return carry_out(clients, changes, outcome, dry_run=dry_run, assume_yes=assume_yes)
    except stages.AwsError as error:
        click.echo(f"error: {error}", err=True)
        return 1
