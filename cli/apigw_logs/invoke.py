"""`apigw-logs invoke`: run the real transformer over Firehose event files, with no Docker and no AWS account.

API Gateway is emulated in-process by moto and seeded from an account file (by default
events/demo_account.json). Each event file gets a table of its records: the result, the
enrichment status (or the reason a record failed) and the enriched line; then a summary. The
handler's own log lines (the structured batch summary) and its EMF metrics, what would go to
CloudWatch, are hidden unless asked for (its warnings and errors always show), and go to stderr.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from apigw_logs.lambda_context import LocalContext

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from apigw_enrichment.answers import Answer

SAMPLE_EVENTS = ("raw_key_format.json", "recommended_format.json", "camel_case.json", "malformed.json")

RESULT_STYLES = {"Ok": "green", "Dropped": "yellow", "ProcessingFailed": "red"}


class InputError(ValueError):
    """Bad input (an event or account file): reported in one line, without a traceback."""


@dataclass(frozen=True, slots=True)
class Row:
    """One record's answer as the table shows it."""

    result: str
    status: str  # Ok: the enrichment status; otherwise what became of the record, or why it failed
    line: str  # Ok: the enriched line; otherwise where the record went


def isolate_from_aws(region: str, *, verbose: bool) -> None:
    """Make sure nothing here can reach a real AWS account, and configure Powertools."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_API_GATEWAY", "AWS_CONFIG_FILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's documented fake credentials
        AWS_SESSION_TOKEN="testing",  # noqa: S106 - as above
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        POWERTOOLS_TRACE_DISABLED="true",
    )
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "apigw-access-log-enrichment")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ApiGatewayAccessLogs")
    if not verbose:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"


def load_event(path: Path) -> dict[str, Any]:
    from apigw_logs.emulator import read_json_file  # noqa: PLC0415 - moto loads with it; see run()

    event = read_json_file(path, "event file", InputError)
    if not isinstance(event, dict):
        raise InputError(f"{path}: not a Firehose transformation event (expected a JSON object)")
    return event


def rows_of(answers: Sequence[Answer]) -> list[Row]:
    """Each record's answer as the handler gave it, with the handler's own reason for a failure."""
    rows: list[Row] = []
    for answer in answers:
        if answer.result == "Ok":
            # One line, or a CloudWatch Logs subscription record's lines: a row each.
            lines = base64.b64decode(answer.data).decode("utf-8").split("\n")[:-1]
            rows.extend(Row(answer.result, json.loads(line)["enrichment_status"], line) for line in lines)
        elif answer.result == "Dropped" and answer.line_statuses is not None:
            rows.append(Row(answer.result, "control message", "(CloudWatch Logs checking the stream: none to deliver)"))
        elif answer.result == "Dropped":
            rows.append(Row(answer.result, "re-ingested", "(did not fit the response; the stream accepted its copy)"))
        else:
            reason = "?" if answer.reason is None else answer.reason.value
            rows.append(Row(answer.result, reason, "(kept as it came, under the stream's errors/ prefix)"))
    return rows


def results_table(rows: Sequence[Row]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold", row_styles=["", "dim"])
    table.add_column("result", min_width=16, no_wrap=True)
    table.add_column("status / reason", min_width=17, no_wrap=True)
    table.add_column("enriched line", overflow="fold")
    for row in rows:
        # Text, not markup: a log line may hold anything, brackets included.
        table.add_row(Text(row.result, style=RESULT_STYLES.get(row.result, "")), Text(row.status), Text(row.line))
    return table


def print_table(rows: Sequence[Row]) -> None:
    table = Padding(results_table(rows), (0, 0, 0, 2), expand=False)
    if sys.stdout.isatty():
        # In a terminal the table fits its width: a long line folds within its column.
        Console(highlight=False).print(table)
        return
    # Piped or redirected: one row per line, each enriched line whole (for grep and jq), plain
    # text, and without the padding that would trail the shorter rows.
    width = 64 + max((len(row.line) for row in rows), default=0)  # the line, and room for the rest
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False).print(table)
    for line in buffer.getvalue().splitlines():
        click.echo(line.rstrip())


@contextlib.contextmanager
def emulated_handler(
    account: Mapping[str, Any], account_path: Path, *, verbose: bool = False
) -> Iterator[Callable[[dict[str, Any]], list[Answer]]]:
    """The real handler, as Lambda runs it, against the account emulated in-process (moto).

    Yields a function that runs one Firehose event through it and returns each record's
    Answer. Nothing can reach AWS meanwhile; the handler's log lines (and its EMF metrics,
    with `verbose`) go to stderr.
    """
    isolate_from_aws(account.get("region", "us-east-1"), verbose=verbose)

    # Imported here: moto takes a second to import (--help needs none of it), and the handler
    # must see the isolated environment.
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from apigw_enrichment import handler as app  # noqa: PLC0415
    from apigw_enrichment import state  # noqa: PLC0415
    from apigw_enrichment.config import ConfigError  # noqa: PLC0415
    from apigw_enrichment.telemetry import instrumented, logger, metrics  # noqa: PLC0415
    from apigw_logs.emulator import AccountFileError, seed_account  # noqa: PLC0415

    # The settings the environment gives (ACCESS_LOG_FORMAT, API_KEY_VALUES...), read now: in
    # Lambda a bad one fails the first batch; here it is bad input, said in one line.
    try:
        state.settings()
    except ConfigError as error:
        raise InputError(str(error)) from None

    # The handler as Lambda runs it (logging context, metrics, tracing), answering with the
    # Answer objects themselves: each failure keeps the reason the handler counted.
    handle = instrumented(app.handle)

    def run_event(event: dict[str, Any]) -> list[Answer]:
        # EMF metrics are printed by Powertools; send them to stderr with the logs.
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return handle(event, LocalContext())
        finally:
            # Without --verbose metrics are disabled, and Powertools then never clears them: at a
            # hundred values a metric it would print them anyway. Each event's go, unpublished.
            metrics.clear_metrics()

    previous_stream = logger.registered_handler.setStream(sys.stderr)  # type: ignore[attr-defined]
    try:
        with mock_aws():
            try:
                seed_account(boto3.client("apigateway"), account)
            except (AccountFileError, BotoCoreError) as error:  # BotoCoreError: a region boto3 refuses
                raise InputError(f"{account_path}: {error}") from None
            yield run_event
    finally:
        logger.registered_handler.setStream(previous_stream)  # type: ignore[attr-defined]


def read_account(account_path: Path | None) -> tuple[Path, dict[str, Any]]:
    """The account file (by default the demo account) and what it holds."""
    from apigw_logs.emulator import DEMO_ACCOUNT, AccountFileError, load_account  # noqa: PLC0415 - see run()

    account_path = DEMO_ACCOUNT if account_path is None else account_path
    try:
        return account_path, load_account(account_path)
    except AccountFileError as error:
        raise InputError(str(error)) from None


def run(event_paths: Sequence[Path], account_path: Path | None = None, *, verbose: bool = False) -> None:
    """Run the handler over each event file (or the sample events) against an emulated account."""
    from apigw_logs.emulator import EVENTS  # noqa: PLC0415 - moto loads with it; see emulated_handler()

    account_path, account = read_account(account_path)
    event_paths = list(event_paths) or [EVENTS / name for name in SAMPLE_EVENTS]
    events = [(path, load_event(path)) for path in event_paths]
    results: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    with emulated_handler(account, account_path, verbose=verbose) as handle:
        from apigw_enrichment.sources.firehose import InvalidEventError, validate_event  # noqa: PLC0415

        for path, event in events:
            try:
                validate_event(event)
            except InvalidEventError as error:
                raise InputError(f"{path}: {error}") from None
            click.echo(f"== {path}: {len(event['records'])} records")
            sys.stdout.flush()
            answers = handle(event)
            rows = rows_of(answers)
            results.update(answer.result for answer in answers)  # records; statuses are lines'
            statuses.update(row.status for row in rows if row.result == "Ok")
            print_table(rows)
    click.echo("== summary")
    click.echo("  by result: " + ", ".join(f"{name} {count}" for name, count in sorted(results.items())))
    click.echo("  by status: " + ", ".join(f"{name} {count}" for name, count in sorted(statuses.items())))
