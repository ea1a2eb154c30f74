"""`apigw-logs report`: the project's SQL, run by DuckDB over a local copy of the log bucket.

The reports are written once, in Athena's dialect (sql/*.sql). Here each is translated by sqlglot
to DuckDB's, its `bounds` CTE set to the window asked for, and run against two tables built from
the objects below PATH: `access_logs` (every `.json.gz` and `.json` object outside errors/) and
`processing_errors` (those under errors/processing-failed/, Firehose's error envelope).

Memory does not grow with the data: the tables live in a temporary on-disk DuckDB database with a
memory limit, and are filled one object at a time (DuckDB reads and decompresses each itself), so
that an object DuckDB cannot read is reported and skipped and the report goes on without it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
import duckdb
import sqlglot
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from sqlglot import exp

from apigw_enrichment.fields import (
    ERRORS_PREFIX,
    LOGS_PREFIX,
    PARTITION_FORMAT,
    PARTITION_KEY,
    EnrichmentStatus,
    log_columns,
)
from apigw_logs import queries

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

OBJECT_SUFFIXES = (".json.gz", ".json")
ERRORS_FOLDER = ERRORS_PREFIX.rstrip("/")
LOGS_FOLDER = LOGS_PREFIX.rstrip("/")
PROCESSING_FAILED = "processing-failed"  # Firehose's error-output-type for records the function failed
# The fields of Firehose's error envelope; the processing_errors table has them lower-cased, as
# Athena's JSON SerDe (case-insensitive) reads them.
PROCESSING_ERROR_FIELDS = (
    "attemptsMade",
    "arrivalTimestamp",
    "errorCode",
    "errorMessage",
    "attemptEndingTimestamp",
    "rawData",
    "lambdaArn",
)

MEMORY_LIMIT = "512MB"
# How timestamps leave DuckDB: fixed width, so that they sort as the timestamps do. (DuckDB would
# need pytz to hand a TIMESTAMP WITH TIME ZONE to Python; the strings are what the output wants.)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Epoch milliseconds that are a timestamp at all (years 1 to 9999): outside them a value is no
# request time, as an unparsable one is, instead of an error that would stop the whole query.
EPOCH_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)

Format = Literal["table", "json", "csv"]
FORMATS: tuple[Format, ...] = ("table", "json", "csv")

# Each section of the report, and the query that makes it.
SECTIONS = {
    "customers": "customer_report",
    "plans": "error_rate_by_plan",
    "resources": "top_resources_per_customer",
    "unknown_keys": "unknown_api_keys",
    "daily": "requests_per_customer_per_day",
    "hourly": "requests_per_customer_per_hour",
    "data_quality": "data_quality",
}
CUSTOMER_COLUMNS = (
    "customer_id",
    "customer_name",
    "usage_plan_id",
    "usage_plan_name",
    "requests",
    "client_errors",
    "server_errors",
    "latency_p50_ms",
    "latency_p95_ms",
)
PROCESSING_FAILED_OUTCOME = "processing_failed"

Row = dict[str, Any]


class ReportError(ValueError):
    """Bad input (a path, a time, no logs): reported in one line, without a traceback."""


@dataclass(frozen=True, slots=True)
class Window:
    """Requests counted: since <= request time < until (UTC); None is no bound."""

    since: datetime | None = None
    until: datetime | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"since": iso(self.since), "until": iso(self.until)}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date or time, with or without an offset (UTC if none)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ReportError(
            f"{option} {value!r}: not an ISO 8601 date or time (e.g. 2025-11-21 or 2025-11-21T09:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01 with a positive offset, 9999-12-31 with a negative one
        raise ReportError(f"{option} {value!r}: out of range once in UTC") from None


def window_of(since: str | None, until: str | None) -> Window:
    window = Window(parse_time(since, "--since"), parse_time(until, "--until"))
    if window.since is not None and window.until is not None and window.since >= window.until:
        raise ReportError(f"--since {since} is not before --until {until}: the window is empty")
    return window


# -- Finding the objects -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogObject:
    """One object of the bucket copy: which table it goes to, and its partition if its path names one."""

    path: Path
    table: Literal["access_logs", "processing_errors"]
    partition: str | None


def classify(path: Path) -> LogObject | None:
    """Where an object's records go, by its folders: errors/processing-failed/, other errors/, or logs."""
    folders = path.parent.parts
    partition = next(
        (part.removeprefix(f"{PARTITION_KEY}=") for part in reversed(folders) if part.startswith(f"{PARTITION_KEY}=")),
        None,
    )
    if ERRORS_FOLDER in folders:
        # The last errors/ folder: the path above the bucket copy may hold anything.
        after = folders[len(folders) - folders[::-1].index(ERRORS_FOLDER) :]
        if after[:1] == (PROCESSING_FAILED,):
            return LogObject(path, "processing_errors", partition)
        return None  # other kinds of error output (e.g. format conversion): not records of ours
    return LogObject(path, "access_logs", partition)


def is_object(name: str) -> bool:
    return name.endswith(OBJECT_SUFFIXES) and not name.startswith(".")


def walk(root: Path) -> Iterator[Path]:
    def fail(error: OSError) -> None:
        raise ReportError(f"{error.filename}: {error.strerror or error}")

    for folder, folders, names in os.walk(root, onerror=fail):
        folders.sort()
        for name in sorted(names):
            if not is_object(name):
                continue
            path = Path(folder, name)
            # Only a regular file (or a link to one) is an object: opening a FIFO would wait forever.
            if path.is_file():
                yield path
            else:
                click.echo(f"Warning: skipped {path}: not a regular file", err=True)


def find_objects(root: Path) -> list[LogObject]:
    """Every object below root (or root itself, an object), each checked readable."""
    if not root.exists():
        raise ReportError(f"{root}: no such file or folder")
    root = root.absolute()
    paths = [root] if root.is_file() else list(walk(root))
    objects = [obj for obj in map(classify, paths) if obj is not None]
    if not any(obj.table == "access_logs" for obj in objects):
        raise ReportError(
            f"{root}: no access logs here (no {' or '.join(OBJECT_SUFFIXES)} object outside {ERRORS_PREFIX};"
            f" a copy of the bucket holds them under {LOGS_PREFIX})"
        )
    for obj in objects:
        try:
            with obj.path.open("rb"):
                pass
        except OSError as error:
            raise ReportError(f"{obj.path}: cannot be read ({error.strerror or error})") from None
    return objects


# -- The local database --------------------------------------------------------------------------


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def epoch_ms_to_partition(column: str) -> str:
    """SQL: the partition (PARTITION_FORMAT, UTC) of an epoch-milliseconds text column; NULL if none."""
    low, high = EPOCH_MS_RANGE
    value = f"try_cast({quoted(column)} AS BIGINT)"
    return f"CASE WHEN {value} BETWEEN {low} AND {high} THEN strftime(epoch_ms({value}), '{PARTITION_FORMAT}') END"


class Store:
    """The two tables, in a temporary on-disk DuckDB database that spills to disk past its memory limit."""

    def __init__(self, folder: Path) -> None:
        self.connection = duckdb.connect(str(folder / "report.duckdb"))
        spill = folder / "spill"
        spill.mkdir()
        self._links = folder / "links"
        self._links.mkdir()
        for statement in (
            "SET TimeZone = 'UTC'",
            f"SET memory_limit = '{MEMORY_LIMIT}'",
            "SET temp_directory = '" + spill.as_posix().replace("'", "''") + "'",
            "SET preserve_insertion_order = false",
        ):
            self.connection.execute(statement)
        columns = log_columns()
        self.connection.execute(
            "CREATE TABLE access_logs ("
            + ", ".join(f"{quoted(name)} VARCHAR" for name in (*columns, PARTITION_KEY))
            + ")"
        )
        self.connection.execute(
            "CREATE TABLE processing_errors ("
            + ", ".join(f"{quoted(name.lower())} VARCHAR" for name in (*PROCESSING_ERROR_FIELDS, PARTITION_KEY))
            + ")"
        )
        # Every column declared as text: DuckDB's guess from a sample breaks on "-" and empty columns.
        # (The statements are made of this module's constants; the path and partition are parameters.)
        self._statements = {
            "access_logs": (
                "INSERT INTO access_logs SELECT "  # noqa: S608 - constants only, as said above
                + ", ".join(quoted(name) for name in columns)
                + f", coalesce($partition, {epoch_ms_to_partition('request_time_epoch')})"
                + " FROM read_json($path, columns = $columns, format = 'newline_delimited', compression = 'auto')",
                dict.fromkeys(columns, "VARCHAR"),
            ),
            "processing_errors": (
                "INSERT INTO processing_errors SELECT "  # noqa: S608 - as above
                + ", ".join(f"{quoted(name)} AS {quoted(name.lower())}" for name in PROCESSING_ERROR_FIELDS)
                + f", coalesce($partition, {epoch_ms_to_partition('arrivalTimestamp')})"
                + " FROM read_json($path, columns = $columns, format = 'newline_delimited', compression = 'auto')",
                dict.fromkeys(PROCESSING_ERROR_FIELDS, "VARCHAR"),
            ),
        }

    def ingest(self, obj: LogObject) -> None:
        """Add one object's records to its table, all or none (one statement). Raises duckdb.Error."""
        statement, columns = self._statements[obj.table]
        # read_json takes its path as a glob: a name holding * ? [ would read other objects, or none.
        # A link with a plain name (its suffix kept, for the compression) reads exactly this one.
        link = self._links / f"object{''.join(obj.path.suffixes[-2:])}"
        link.unlink(missing_ok=True)
        link.symlink_to(obj.path)
        self.connection.execute(statement, {"path": str(link), "columns": columns, "partition": obj.partition})

    def query(self, sql: str) -> list[Row]:
        cursor = self.connection.execute(sql)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, map(plain, values), strict=True)) for values in cursor.fetchall()]

    def timestamp_columns(self, sql: str) -> set[str]:
        return {
            str(name)
            for name, type_name, *_ in self.connection.execute(f"DESCRIBE {sql}").fetchall()
            if str(type_name).startswith("TIMESTAMP")
        }

    def close(self) -> None:
        self.connection.close()


def plain(value: Any) -> Any:
    """A value as JSON has it (DuckDB gives DECIMAL for some arithmetic)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# -- The queries ---------------------------------------------------------------------------------


def bound(moment: datetime | None) -> exp.Expr:
    value = exp.null() if moment is None else exp.Literal.string(moment.isoformat(sep=" "))
    return exp.cast(value, exp.DataType.build("TIMESTAMPTZ", dialect="duckdb"))


def localize(sql: str, window: Window) -> exp.Expr:
    """The Trino query, as a tree to write as DuckDB's: the window set, and no epoch that fails it.

    - The `bounds` CTE's select list becomes the window's two literals (typed NULLs for none).
    - from_unixtime(x) becomes from_unixtime(x if x is a timestamp at all, else NULL): DuckDB
      fails the whole query on one out-of-range epoch; here such a record has no request time.
    - count_if(c) becomes count_if(coalesce(c, false)), Trino's 0 where DuckDB would give NULL.
    """
    tree = sqlglot.parse_one(sql, read="trino")
    ctes = [cte for cte in tree.find_all(exp.CTE) if cte.alias == "bounds"]
    if len(ctes) != 1:
        raise ValueError("a report has one `bounds` CTE")
    ctes[0].this.set(
        "expressions",
        [exp.alias_(bound(window.since), "since"), exp.alias_(bound(window.until), "until")],
    )
    low, high = (limit / 1000 for limit in EPOCH_MS_RANGE)
    for node in list(tree.find_all(exp.UnixToTime)):
        seconds = node.this
        node.set(
            "this",
            exp.Case(
                ifs=[
                    exp.If(
                        this=exp.Between(
                            this=seconds.copy(), low=exp.Literal.number(low), high=exp.Literal.number(high)
                        ),
                        true=seconds.copy(),
                    )
                ]
            ),
        )
    # count_if counts the rows whose condition is true: Trino gives 0 when none is, DuckDB NULL
    # when every condition is NULL (a status that is not a number). Make the condition false.
    for counted in list(tree.find_all(exp.CountIf)):
        counted.set("this", exp.Coalesce(this=counted.this.copy(), expressions=[exp.false()]))
    return tree


def as_text(tree: exp.Expr, columns: set[str]) -> exp.Expr:
    """The outermost select's timestamp columns as ISO 8601 text (UTC, the session's time zone)."""
    for projection in tree.expressions:
        if projection.alias_or_name in columns:
            value = projection.this if isinstance(projection, exp.Alias) else projection
            text = exp.Anonymous(this="strftime", expressions=[value.copy(), exp.Literal.string(TIMESTAMP_FORMAT)])
            projection.replace(exp.alias_(text, projection.alias_or_name))
    return tree


def run_query(store: Store, name: str, window: Window) -> list[Row]:
    tree = localize(queries.source(name), window)
    columns = store.timestamp_columns(tree.sql(dialect="duckdb"))
    return store.query(as_text(tree, columns).sql(dialect="duckdb"))


# -- The report ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Skipped:
    path: Path
    reason: str


@dataclass(slots=True)
class Report:
    window: Window
    objects: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    sections: dict[str, list[Row]] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        """Records by outcome: every enrichment status, records that failed processing, and the rest."""
        counts = {str(row["outcome"]): int(row["records"]) for row in self.sections.get("data_quality", [])}
        statuses = [status.value for status in EnrichmentStatus]
        requests = sum(count for outcome, count in counts.items() if outcome != PROCESSING_FAILED_OUTCOME)
        return {
            "requests": requests,
            **{status: counts.get(status, 0) for status in statuses},
            # No status, or one this function does not write (the line did not come through it).
            "other": sum(
                count for outcome, count in counts.items() if outcome not in {*statuses, PROCESSING_FAILED_OUTCOME}
            ),
            PROCESSING_FAILED_OUTCOME: counts.get(PROCESSING_FAILED_OUTCOME, 0),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "window": self.window.as_json(),
            "totals": self.totals(),
            **{
                name: [
                    {column: row[column] for column in CUSTOMER_COLUMNS} if name == "customers" else row
                    for row in self.sections.get(name, [])
                ]
                for name in SECTIONS
            },
            "objects": {
                "read": self.objects - len(self.skipped),
                "skipped": [{"path": str(item.path), "reason": item.reason} for item in self.skipped],
            },
        }


def one_line(error: BaseException, path: Path) -> str:
    """DuckDB's message, first line, without the path it repeats."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0].strip()
    return text.removesuffix(f": {path}").removesuffix(f' "{path}"').strip() or type(error).__name__


def ingest_all(
    store: Store, objects: Sequence[LogObject], warn: Callable[[str], None], advance: Callable[[], None]
) -> list[Skipped]:
    skipped = []
    for obj in objects:
        try:
            store.ingest(obj)
        except duckdb.Error as error:
            item = Skipped(obj.path, one_line(error, obj.path))
            skipped.append(item)
            warn(f"skipped {item.path}: {item.reason}")
        advance()
    return skipped


def build(root: Path, window: Window, *, progress: bool = False) -> Report:
    """Read the objects below root into a temporary database and run every report over it."""
    objects = find_objects(root)
    report = Report(window, objects=len(objects))
    with tempfile.TemporaryDirectory(prefix="apigw-logs-report-") as folder:
        store = Store(Path(folder))
        try:
            report.skipped = read_objects(store, objects, progress=progress)
            logs = {obj.path for obj in objects if obj.table == "access_logs"}
            if logs <= {item.path for item in report.skipped}:
                raise ReportError(f"{root}: none of the {len(logs)} access-log objects could be read")
            for section, name in SECTIONS.items():
                report.sections[section] = run_query(store, name, window)
        except duckdb.Error as error:
            raise ReportError(f"the local database failed: {one_line(error, root)}") from None
        finally:
            store.close()
    return report


def warn_plain(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def read_objects(store: Store, objects: Sequence[LogObject], *, progress: bool) -> list[Skipped]:
    if not progress:
        return ingest_all(store, objects, warn_plain, lambda: None)
    console = Console(stderr=True, highlight=False)
    columns = (TextColumn("reading"), BarColumn(), MofNCompleteColumn(), TextColumn("objects"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("reading", total=len(objects))

        def warn(message: str) -> None:
            bar.console.print(Text(f"Warning: {message}", style="yellow"))

        return ingest_all(store, objects, warn, lambda: bar.advance(task))


# -- Output --------------------------------------------------------------------------------------


def print_json(report: Report) -> None:
    click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))


# A spreadsheet runs a cell that starts with one of these as a formula; names come from API keys.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, quoted so that it stays text."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def print_csv(report: Report) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CUSTOMER_COLUMNS)
    writer.writerows(
        [spreadsheet_safe(row[column]) for column in CUSTOMER_COLUMNS] for row in report.sections["customers"]
    )


def cell(value: Any) -> Text:
    # Text, not markup: a customer's name may hold brackets.
    return Text("" if value is None else str(value))


def table_of(title: str, rows: Iterable[Row], columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, header_style="bold")
    for column in columns:
        numeric = column in {"requests", "records", "client_errors", "server_errors"} or column.endswith(
            ("_ms", "_rate")
        )
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(cell(row[column]) for column in columns))
    return table


def print_tables(report: Report) -> None:
    data = report.as_json()
    window = data["window"]
    read = data["objects"]["read"]
    span = (
        "every request"
        if window["since"] is None and window["until"] is None
        else f"requests from {window['since'] or 'the first'} until {window['until'] or 'the last'}"
    )
    totals = [{"outcome": outcome, "records": count} for outcome, count in data["totals"].items()]
    plans = ("usage_plan_id", "usage_plan_name", "requests", "client_errors", "server_errors")
    unknown = ("api_id", "stage", "key_id", "customer_id", "customer_name", "requests", "first_seen", "last_seen")
    parts = (
        Text(
            f"{span[:1].upper()}{span[1:]} (by request time, UTC); objects read: {read}, skipped: {len(report.skipped)}"
        ),
        table_of("Totals", totals, ("outcome", "records")),
        table_of("Customers", data["customers"], CUSTOMER_COLUMNS),
        table_of("Plans", data["plans"], (*plans, "client_error_rate", "server_error_rate")),
        table_of("Unknown API keys", data["unknown_keys"], unknown),
    )
    if sys.stdout.isatty():
        console = Console(highlight=False)
        for part in parts:
            console.print(part)
        return
    # Piped or redirected: plain text, each table whole, without the padding that trails its rows.
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None, highlight=False)
    for part in parts:
        console.print(part)
    for line in buffer.getvalue().splitlines():
        click.echo(line.rstrip())


def write_html(report: Report, target: Path) -> None:
    from apigw_logs import report_html  # noqa: PLC0415 - matplotlib loads only when a page is asked for

    page = report_html.render(report.as_json())
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as error:
        raise ReportError(f"{target}: cannot be written ({error.strerror or error})") from None


def run(path: Path, since: str | None, until: str | None, output: Format, html: Path | None) -> None:
    window = window_of(since, until)
    report = build(path, window, progress=sys.stderr.isatty())
    if html is not None:
        write_html(report, html)
    try:
        {"json": print_json, "csv": print_csv, "table": print_tables}[output](report)
        sys.stdout.flush()
    except OSError as error:  # a full disk, a closed pipe
        raise ReportError(f"cannot write the report: {error.strerror or error}") from None
