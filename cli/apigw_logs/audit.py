"""`apigw-logs audit`: every stage in a region, where its access logs go, and the share that log.

The KPI is the share of stages with an access-log destination (CloudWatch Logs or Firehose), in
percent, rounded to one place; with no stages at all it is 100 (no stage is unlogged), so that a
`--fail-under` gate passes in an empty region. The gate compares that rounded figure, the one
printed. Output: a table (for people), JSON (the contract: `stages` and `kpi`) or CSV (the rows).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from apigw_logs import stages
from apigw_logs.report import spreadsheet_safe

if TYPE_CHECKING:
    from collections.abc import Sequence

    from apigw_logs.stages import Clients, StackOutputs, StageRow

Format = Literal["table", "json", "csv"]
FORMATS: tuple[Format, ...] = ("table", "json", "csv")
PIPED_WIDTH = 240  # a piped table is one row per line, as wide as its rows need up to this

# The CSV's columns are the JSON rows' keys, in their order.
CSV_COLUMNS = tuple(stages.StageRow("", "", "REST", "", stages.AccessLog()).as_json())
CLOUDWATCH_ONLY = "HTTP and WebSocket stages send access logs only to CloudWatch Logs, never to Firehose"
RAW_KEY_NOTE = (
    "RAW KEY: the format logs $context.identity.apiKey, the API key itself, so the logs hold secrets:"
    " log $context.identity.apiKeyId instead"
)


@dataclass(frozen=True, slots=True)
class Audit:
    region: str
    rows: Sequence[StageRow]
    stack: StackOutputs | None = None

    @property
    def logged(self) -> int:
        return sum(row.access_log.logging != "none" for row in self.rows)

    @property
    def percent(self) -> float:
        return round(100 * self.logged / len(self.rows), 1) if self.rows else 100.0

    def kpi(self) -> dict[str, Any]:
        return {"stages": len(self.rows), "with_access_logging": self.logged, "percent": self.percent}

    def row_json(self, row: StageRow) -> dict[str, Any]:
        return row.as_json(None if self.stack is None else self.stack.delivery_stream_arn)

    def as_json(self) -> dict[str, Any]:
        return {"stages": [self.row_json(row) for row in self.rows], "kpi": self.kpi()}


def collect(clients: Clients, *, progress: bool) -> list[StageRow]:
    """Every stage, sorted; a status line counts them on stderr when it is a terminal."""
    if not progress:
        return sorted(stages.all_stages(clients), key=stages.sort_key)
    rows: list[StageRow] = []
    console = Console(stderr=True, highlight=False)
    with console.status(f"listing stages in {clients.region}…") as status:
        for row in stages.all_stages(clients):
            rows.append(row)
            status.update(f"listing stages in {clients.region}: {len(rows)} so far ({row.api_type} {row.ref})")
    return sorted(rows, key=stages.sort_key)


# -- Output --------------------------------------------------------------------------------------


def echo_rich(*parts: RenderableType) -> None:
    """Print rich renderables: styled in a terminal; piped, plain text without trailing padding."""
    if sys.stdout.isatty():
        Console(highlight=False).print(Group(*parts))
        return
    buffer = io.StringIO()
    Console(file=buffer, width=PIPED_WIDTH, color_system=None, highlight=False).print(Group(*parts))
    for line in buffer.getvalue().splitlines():
        click.echo(line.rstrip())


def key_cell(row: StageRow) -> Text:
    if row.access_log.logs_raw_api_key:
        return Text("RAW KEY", style="bold red")
    return Text("key id" if row.access_log.logs_api_key_id else "")


def stack_cell(audit: Audit, row: StageRow) -> Text:
    if audit.stack is None or row.access_log.destination_arn != audit.stack.delivery_stream_arn:
        return Text("")
    if row.access_log.format != audit.stack.access_log_format:
        return Text("yes, another format", style="yellow")
    return Text("yes", style="green")


LOGGING_STYLES = {"none": "red", "cloudwatch": "", "firehose": "green"}


def table(audit: Audit) -> Table:
    grid = Table(title=f"Stages in {audit.region}", title_justify="left", box=box.SIMPLE_HEAD, header_style="bold")
    columns = ["api", "api id", "type", "stage", "access logs", "format", "key", "exec logs", "tags", "note"]
    if audit.stack is not None:
        columns.insert(5, "this stack")
    for column in columns:
        grid.add_column(column)
    for row in audit.rows:
        kind = row.access_log.format_kind
        # Text, not markup: names and tags may hold brackets.
        cells = [
            Text(row.api_name),
            Text(row.api_id),
            Text(row.api_type),
            Text(row.stage),
            Text(row.access_log.logging, style=LOGGING_STYLES[row.access_log.logging]),
            Text(str(kind) if kind else ""),
            key_cell(row),
            Text(row.execution_logging or ""),
            Text(", ".join(f"{name}={value}" for name, value in sorted(row.tags.items()))),
            Text("CloudWatch Logs only" if row.api_type != "REST" else ""),
        ]
        if audit.stack is not None:
            cells.insert(5, stack_cell(audit, row))
        grid.add_row(*cells)
    return grid


def kpi_line(audit: Audit) -> str:
    if not audit.rows:
        return f"Access logging: no stages in {audit.region} (100.0%: none is unlogged)"
    return f"Access logging: {audit.logged} of {len(audit.rows)} stages ({audit.percent}%)"


def print_table(audit: Audit) -> None:
    parts: list[RenderableType] = [table(audit)] if audit.rows else []
    if any(row.api_type != "REST" for row in audit.rows):
        parts.append(Text(f"CloudWatch Logs only: {CLOUDWATCH_ONLY} (see docs/onboarding.md)."))
    if any(row.access_log.logs_raw_api_key for row in audit.rows):
        parts.append(Text(f"{RAW_KEY_NOTE}.", style="red"))
    parts.append(Text(kpi_line(audit), style="bold"))
    echo_rich(*parts)


def print_json(audit: Audit) -> None:
    click.echo(json.dumps(audit.as_json(), indent=2, ensure_ascii=False))


def csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else spreadsheet_safe(value)


def print_csv(audit: Audit) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in audit.rows:
        data = audit.row_json(row)
        writer.writerow([csv_value(data[column]) for column in CSV_COLUMNS])


def run(region: str | None, output: Format, fail_under: float | None, stack_name: str | None) -> int:
    """List, print and gate; the exit status (1 for an AWS failure or a KPI under --fail-under)."""
    try:
        clients = stages.connect(region)
        stack = stages.stack_outputs(clients.cloudformation, stack_name) if stack_name else None
        with stages.aws_errors():
            rows = collect(clients, progress=sys.stderr.isatty())
    except stages.AwsError as error:
        click.echo(f"error: {error}", err=True)
        return 1
    audit = Audit(clients.region, rows, stack)
    try:
        {"json": print_json, "csv": print_csv, "table": print_table}[output](audit)
        sys.stdout.flush()
    except OSError as error:  # a closed pipe, a full disk
        click.echo(f"error: cannot write the audit: {error.strerror or error}", err=True)
        return 1
    if fail_under is not None and audit.percent < fail_under:
        click.echo(
            f"failed: {audit.percent}% of stages log access in {audit.region}, under --fail-under {fail_under:g}",
            err=True,
        )
        return 1
    return 0
