"""The `apigw-logs` command: a click group, and one short command per subcommand.

Each subcommand's work lives in a module of its own beside this one (invoke.py for `invoke`);
a command here only declares its arguments and hands them over (report.py for `report`). The ones
to come, `audit` and `attach`, will each be a module beside invoke.py and a command below.
"""

from __future__ import annotations

from pathlib import Path

import click

from apigw_logs import delete_bucket, demo, invoke, report


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


def main() -> None:
    cli(prog_name="apigw-logs")
