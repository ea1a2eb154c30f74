"""The `apigw-logs` command: a click group, and one short command per subcommand.

Each subcommand's work lives in a module of its own beside this one (invoke.py for `invoke`);
a command here only declares its arguments and hands them over (report.py for `report`). The
AWS-facing onboarding commands share stages.py, which lists a region's stages: audit.py for
`audit`, attach.py for `attach` and `detach`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from apigw_logs import attach, audit, delete_bucket, demo, invoke, report, subscribe

if TYPE_CHECKING:
    from collections.abc import Callable


class BadInput(click.ClickException):
    """A bad event or account file: one line on stderr, exit status 2 (as for a usage error)."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Tools for API Gateway access logs enriched with the usage plan and customer."""


@cli.command(name="invoke")
@click.argument("events", metavar="[EVENT]...", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--account",
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="Account file to seed the emulated API Gateway with.  [default: events/demo_account.json]",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also show the handler's own log lines and EMF metrics, on stderr (its warnings and errors show anyway).",
)
def invoke_command(events: tuple[Path, ...], account: Path | None, *, verbose: bool) -> None:
    """Run the real handler locally over Firehose event files.

    The handler runs as Lambda runs it, against an emulated API Gateway (moto, in-process, seeded
    from the account file): nothing reaches AWS. Prints a table of each file's records (result,
    enrichment status or failure reason, enriched line), then a summary. With no EVENT, runs the
    sample events in events/.
    """
    try:
        invoke.run(events, account, verbose=verbose)
    except invoke.InputError as error:
        raise BadInput(str(error)) from None


@cli.command(name="report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--since", metavar="ISO8601", help="Count requests made at or after this time (UTC if no offset).")
@click.option("--until", metavar="ISO8601", help="Count requests made before this time (UTC if no offset).")
@click.option(
    "--format",
    "output",
    type=click.Choice(report.FORMATS),
    default="table",
    show_default=True,
    help="table: for people; json: every section; csv: the customers, for a billing spreadsheet.",
)
@click.option(
    "--html",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one self-contained page (charts and tables) that opens offline.",
)
def report_command(path: Path, since: str | None, until: str | None, output: report.Format, html: Path | None) -> None:
    """Report on a local copy of the log bucket: requests, errors and latency per customer and plan.

    PATH is the copy (e.g. from `aws s3 sync s3://BUCKET ./copy`) or any folder below it. Every
    .json.gz and .json object below it is read, except those under errors/ (the records under
    errors/processing-failed/ are counted as failures). The project's SQL (the queries Athena runs)
    runs locally in DuckDB. Requests are counted by request time, not by the object's hour.
    """
    try:
        report.run(path, since, until, output, html)
    except report.ReportError as error:
        raise BadInput(str(error)) from None


@cli.command(name="demo")
@click.option(
    "--out",
    metavar="DIR",
    default=str(demo.DEFAULT_OUT),
    show_default=True,
    help="Folder to write the stream's objects to (logs/ and errors/); a previous demo's output there is replaced.",
)
@click.option(
    "--requests",
    metavar="N",
    default=str(demo.DEFAULT_REQUESTS),
    show_default=True,
    help="Requests in the day of traffic.",
)
def demo_command(out: str, requests: str) -> None:
    """Run the whole job locally: a day of traffic, through the real handler, into a bucket's layout.

    Generates a day of API Gateway access-log lines for the demo account (the same every run),
    sends them through the real handler in Firehose's batches against an emulated API Gateway,
    and writes what the stream would deliver: gzipped enriched lines under DIR/logs/dt=.../ and
    the records that failed under DIR/errors/processing-failed/dt=.../. Nothing reaches AWS.
    Prints a summary, then the per-customer report.
    """
    try:
        count = int(requests.replace(",", "").replace("_", ""))
    except ValueError:
        raise BadInput(f"--requests: {requests!r} is not a whole number") from None
    out_dir = Path(out)
    try:
        summary = demo.run(out_dir, count)
        demo.print_summary(summary, out_dir)
        demo.show_report(out_dir)
    except invoke.InputError as error:
        raise BadInput(str(error)) from None


@cli.command(name="delete-bucket")
@click.argument("bucket")
@click.option("--region", help="The bucket's region.  [default: your AWS profile's]")
@click.option("--yes", "assume_yes", is_flag=True, help="Do not ask for confirmation.")
def delete_bucket_command(bucket: str, region: str | None, *, assume_yes: bool) -> None:
    """Delete a versioned bucket: every object version and delete marker, then the bucket.

    For the stack's log bucket, which `sam delete` keeps and `aws s3 rb --force` cannot delete
    (it removes only current versions). Asks you to type the bucket's name unless --yes. Reads
    only the listing, never an object's contents.
    """
    status = delete_bucket.delete(bucket, region=region, assume_yes=assume_yes)
    if status:
        raise SystemExit(status)


REGION_HELP = "The region of the APIs.  [default: your AWS profile's]"
STAGE_HELP = "A stage to change, as API_ID/STAGE (e.g. a1b2c3d4e5/prod); repeat for more."
DRY_RUN_HELP = "Show the stages and the patch, and change nothing."
YES_HELP = "Do not ask for confirmation."


@cli.command(name="audit")
@click.option("--region", metavar="REGION", help=REGION_HELP)
@click.option(
    "--format",
    "output",
    type=click.Choice(audit.FORMATS),
    default="table",
    show_default=True,
    help="table: for people; json: the stages and the KPI; csv: the stages.",
)
@click.option(
    "--fail-under",
    metavar="PERCENT",
    type=click.FloatRange(0, 100),
    help="Exit with status 1 (after the report) if fewer than PERCENT % of the stages log access.",
)
@click.option("--stack-name", metavar="NAME", help="Mark the stages whose access logs go to this stack's stream.")
def audit_command(region: str | None, output: audit.Format, fail_under: float | None, stack_name: str | None) -> None:
    """List every API Gateway stage in a region and where its access logs go.

    REST, HTTP and WebSocket stages, each with its access-log destination (none, CloudWatch Logs
    or Firehose), its format's kind, whether the format logs the API key id or the raw key (a
    secret), its execution-logging level and its tags; then the KPI, the share of stages that log
    access (100 % when there are no stages). Reads only; changes nothing.
    """
    status = audit.run(region, output, fail_under, stack_name)
    if status:
        raise SystemExit(status)


def exit_with[**P](command: Callable[P, int], *args: P.args, **kwargs: P.kwargs) -> None:
    """Run a command that changes stages or log groups: input it refuses is a usage error (exit 2),
    and a non-zero status (something failed or was not confirmed) is the exit status."""
    try:
        status = command(*args, **kwargs)
    except attach.RefusedError as error:
        raise BadInput(str(error)) from None
    if status:
        raise SystemExit(status)


@cli.command(name="attach")
@click.option("--stack-name", metavar="NAME", help="Attach to this stack's stream, in its format (its outputs).")
@click.option("--destination-arn", metavar="ARN", help="Attach to this Firehose stream (amazon-apigateway-...).")
@click.option(
    "--log-format",
    metavar="FMT",
    help="With --destination-arn: the access-log format.  [default: the recommended format]",
)
@click.option("--stage", "stage_values", metavar="API_ID/STAGE", multiple=True, help=STAGE_HELP)
@click.option("--all-unlogged", is_flag=True, help="Every REST stage in the region with no access logs.")
@click.option("--region", metavar="REGION", help=REGION_HELP)
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.option("--yes", "assume_yes", is_flag=True, help=YES_HELP)
@click.option("--force", is_flag=True, help="Allow a format that logs the raw API key ($context.identity.apiKey).")
def attach_command(
    stack_name: str | None,
    destination_arn: str | None,
    log_format: str | None,
    stage_values: tuple[str, ...],
    region: str | None,
    *,
    all_unlogged: bool,
    dry_run: bool,
    assume_yes: bool,
    force: bool,
) -> None:
    """Point REST stages' access logs at a Firehose stream: the stack's, or another.

    Give --stack-name or --destination-arn, and --stage (repeatable) or --all-unlogged. Shows each
    stage's current settings and the patch, then asks before sending it unless --yes. HTTP and
    WebSocket stages are refused (they log only to CloudWatch Logs); so are formats the function
    cannot read, and formats that log the raw API key unless --force.
    """
    exit_with(
        attach.attach,
        region,
        stack_name=stack_name,
        destination_arn=destination_arn,
        log_format=log_format,
        stage_values=stage_values,
        all_unlogged=all_unlogged,
        dry_run=dry_run,
        assume_yes=assume_yes,
        force=force,
    )


@cli.command(name="detach")
@click.option("--stage", "stage_values", metavar="API_ID/STAGE", multiple=True, help=STAGE_HELP)
@click.option("--region", metavar="REGION", help=REGION_HELP)
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.option("--yes", "assume_yes", is_flag=True, help=YES_HELP)
def detach_command(stage_values: tuple[str, ...], region: str | None, *, dry_run: bool, assume_yes: bool) -> None:
    """Remove REST stages' access-log settings, printing what they were first.

    For each stage, prints its destination and whole format, and the command that restores them;
    then asks before removing them unless --yes.
    """
    exit_with(attach.detach, region, stage_values=stage_values, dry_run=dry_run, assume_yes=assume_yes)


@cli.command(name="subscribe")
@click.argument("log_groups", metavar="LOG_GROUP...", nargs=-1, required=True)
@click.option("--stack-name", metavar="NAME", help="Subscribe to this stack's stream, with its role (its outputs).")
@click.option("--destination-arn", metavar="ARN", help="Subscribe to this Firehose stream (with --role-arn).")
@click.option(
    "--role-arn", metavar="ARN", help="With --destination-arn: the role CloudWatch Logs assumes to write to it."
)
@click.option("--region", metavar="REGION", help="The region of the log groups.  [default: your AWS profile's]")
@click.option("--dry-run", is_flag=True, help="Show the log groups and the requests, and change nothing.")
@click.option("--yes", "assume_yes", is_flag=True, help=YES_HELP)
def subscribe_command(
    log_groups: tuple[str, ...],
    stack_name: str | None,
    destination_arn: str | None,
    role_arn: str | None,
    region: str | None,
    *,
    dry_run: bool,
    assume_yes: bool,
) -> None:
    """Forward CloudWatch Logs groups to a Firehose stream with a subscription filter, keeping them.

    For stages that log to CloudWatch Logs. Give --stack-name, or --destination-arn and --role-arn.
    Each LOG_GROUP (its name) gets the filter apigw-access-logs, every event, unless a filter
    already sends it to the stream; a group with two filters, the most allowed, is refused. Shows
    each group's filters and the stages that log to it, then asks before sending unless --yes.
    """
    exit_with(
        subscribe.subscribe,
        region,
        log_groups=log_groups,
        stack_name=stack_name,
        destination_arn=destination_arn,
        role_arn=role_arn,
        dry_run=dry_run,
        assume_yes=assume_yes,
    )


def main() -> None:
    cli(prog_name="apigw-logs")
