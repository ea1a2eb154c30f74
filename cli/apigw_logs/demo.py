"""`apigw-logs demo`: the whole job on one machine. A day of the demo account's traffic goes through
the real handler as Firehose would send it, and out into a folder laid out as the stream lays out
its bucket.

1. traffic.py makes the day's access-log lines (seeded: the same every run).
2. Each line reaches the stream a moment after its request. The stream's processor buffer
   (0.4 MB or 60 s, whichever is first: the template's BufferSizeInMBs and BufferIntervalInSeconds)
   makes the Firehose events. Each event goes once through the instrumented handler, against the
   emulated account, exactly as `apigw-logs invoke` runs it.
3. The S3 buffer (64 MB or 300 s, and never across an arrival hour) makes the objects. Ok records
   are gzipped JSON lines under logs/dt=<arrival hour>/. Records that failed go under
   errors/processing-failed/dt=<arrival hour>/, one Firehose error record a line.
4. `apigw-logs report` reads the folder: its tables, and its page at DIR/report.html.

Nothing reaches AWS. The handler's log lines and metrics stay hidden, as with `invoke`.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import random
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from apigw_enrichment.fields import ERRORS_PREFIX, LOGS_PREFIX, PARTITION_FORMAT, PARTITION_KEY
from apigw_logs import report, traffic
from apigw_logs.invoke import InputError, emulated_handler, read_account
from apigw_logs.lambda_context import LocalContext
from apigw_logs.samples import STREAM_ARN

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from apigw_enrichment.answers import Answer

DEFAULT_OUT = Path("demo-output")
DEFAULT_REQUESTS = traffic.DEFAULT_REQUESTS
MAX_REQUESTS = 1_000_000  # a day held in memory: about 1 GB at this size
MARKER = ".apigw-logs-demo"  # says a folder holds a demo's output, which the next run may replace

MB = 1_000_000
PROCESSOR_BUFFER_BYTES = 400_000  # 0.4 MB (tests/test_template.py checks it against the template)
PROCESSOR_BUFFER_MS = 60_000
S3_BUFFER_BYTES = 64 * MB
S3_BUFFER_MS = 300_000
HOUR_MS = 3_600_000

STREAM_NAME = STREAM_ARN.rsplit("/", 1)[1]
STREAM_VERSION = 1
PROCESSING_FAILED = "processing-failed"  # Firehose's !{firehose:error-output-type} for these
LAMBDA_ARN = LocalContext().invoked_function_arn
ERROR_CODE = "Lambda.ProcessingFailedStatus"
ERROR_MESSAGE = "ProcessingFailed status set for record"


@dataclass(frozen=True, slots=True)
class Arrival:
    """A line as it reaches the stream."""

    arrival_ms: int  # approximateArrivalTimestamp
    data: bytes


@dataclass(frozen=True, slots=True)
class Batch:
    """One invocation: the records of a processor buffer, and when the buffer was sent."""

    records: list[Arrival]
    sent_ms: int


@dataclass(slots=True)
class Summary:
    requests: int
    malformed: int
    batches: int = 0
    results: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    objects: Counter[str] = field(default_factory=Counter)  # by top-level prefix: logs/, errors/
    hours: set[str] = field(default_factory=set)


def arrivals(lines: Sequence[traffic.LogLine], *, seed: int = traffic.SEED) -> list[Arrival]:
    """Each line reaches the stream 0.1 s to a few seconds after its request, in arrival order."""
    rng = random.Random(seed)  # noqa: S311 - the same day every run, not security
    reached = [Arrival(line.time_ms + 100 + round(400 * rng.lognormvariate(0, 0.8)), line.data) for line in lines]
    reached.sort(key=lambda arrival: arrival.arrival_ms)
    return reached


def processor_batches(records: Sequence[Arrival]) -> Iterator[Batch]:
    """The processor buffer: a batch is sent at 0.4 MB of data, or 60 s after its first record."""
    batch: list[Arrival] = []
    size = 0
    for record in records:
        if batch and record.arrival_ms - batch[0].arrival_ms >= PROCESSOR_BUFFER_MS:
            yield Batch(batch, batch[0].arrival_ms + PROCESSOR_BUFFER_MS)
            batch, size = [], 0
        if batch and size + len(record.data) > PROCESSOR_BUFFER_BYTES:
            yield Batch(batch, batch[-1].arrival_ms)
            batch, size = [], 0
        batch.append(record)
        size += len(record.data)
    if batch:
        yield Batch(batch, batch[0].arrival_ms + PROCESSOR_BUFFER_MS)


def firehose_event(batch: Batch, first_record: int) -> dict[str, Any]:
    """The event Firehose sends, shaped as the sample events in events/ are."""
    return {
        "invocationId": str(uuid.UUID(int=first_record, version=4)),
        "deliveryStreamArn": STREAM_ARN,
        "region": STREAM_ARN.split(":")[3],
        "records": [
            {
                "recordId": f"49630000000000000000000000000000000000000000{first_record + i:012d}",
                "approximateArrivalTimestamp": record.arrival_ms,
                "data": base64.b64encode(record.data).decode("ascii"),
            }
            for i, record in enumerate(batch.records)
        ],
    }


class S3Writer:
    """The stream's S3 buffer for one prefix: an object at 64 MB, 300 s, or a new arrival hour."""

    def __init__(self, root: Path, prefix: str, rng: random.Random) -> None:
        self._root, self._prefix, self._rng = root, prefix, rng
        self._chunks: list[bytes] = []
        self._size = 0
        self._first_ms = 0
        self.written: list[Path] = []

    def add(self, arrival_ms: int, data: bytes) -> None:
        if self._chunks and (
            arrival_ms // HOUR_MS != self._first_ms // HOUR_MS
            or arrival_ms - self._first_ms >= S3_BUFFER_MS
            or self._size + len(data) > S3_BUFFER_BYTES
        ):
            self.flush()
        if not self._chunks:
            self._first_ms = arrival_ms
        self._chunks.append(data)
        self._size += len(data)

    def flush(self) -> None:
        if not self._chunks:
            return
        first = dt.datetime.fromtimestamp(self._first_ms / 1000, tz=dt.UTC)
        suffix = uuid.UUID(int=self._rng.getrandbits(128), version=4)
        name = f"{STREAM_NAME}-{STREAM_VERSION}-{first:%Y-%m-%d-%H-%M-%S}-{suffix}"
        folder = self._root / self._prefix / f"{PARTITION_KEY}={first.strftime(PARTITION_FORMAT)}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.json.gz"
        path.write_bytes(gzip.compress(b"".join(self._chunks), compresslevel=6, mtime=0))
        self.written.append(path)
        self._chunks, self._size = [], 0


def error_record(record: Arrival, answer: Answer, attempt_ending_ms: int) -> bytes:
    """A record that failed processing, as Firehose writes it under errors/processing-failed/."""
    return (
        json.dumps(
            {
                "attemptsMade": 1,
                "arrivalTimestamp": record.arrival_ms,
                "errorCode": ERROR_CODE,
                "errorMessage": ERROR_MESSAGE,
                "attemptEndingTimestamp": attempt_ending_ms,
                "rawData": answer.original,
                "lambdaArn": LAMBDA_ARN,
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def prepare_out(out: Path) -> None:
    """Make `out` ready: a new or empty folder, or a previous demo's output (replaced)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, not a folder (--out names the folder to write the output to)")
    try:
        if out.is_dir() and any(out.iterdir()):
            if not (out / MARKER).is_file():
                raise InputError(f"{out}: not empty, and not a previous demo's output; choose another --out")
            for name in (LOGS_PREFIX, ERRORS_PREFIX):
                shutil.rmtree(out / name, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("apigw-logs demo writes here and may replace logs/ and errors/\n", encoding="utf-8")
    except OSError as problem:
        reason = problem.strerror or type(problem).__name__
        raise InputError(f"{out}: cannot write the output there ({reason})") from None


def run(out: Path = DEFAULT_OUT, requests: int = DEFAULT_REQUESTS) -> Summary:
    """Generate the day, transform it batch by batch through the handler, write the stream's objects."""
    if not 1 <= requests <= MAX_REQUESTS:
        raise InputError(f"--requests: {requests} is out of range (1 to {MAX_REQUESTS:,})")
    prepare_out(out)
    account_path, account = read_account(None)
    day = traffic.generate(requests)
    records = arrivals(day.lines)
    summary = Summary(day.requests, day.malformed)
    rng = random.Random(traffic.SEED + 1)  # noqa: S311 - the objects' names, the same every run
    logs = S3Writer(out, LOGS_PREFIX, rng)
    errors = S3Writer(out, f"{ERRORS_PREFIX}{PROCESSING_FAILED}/", rng)
    with emulated_handler(account, account_path) as handle:
        first = 0
        for batch in processor_batches(records):
            answers = handle(firehose_event(batch, first))
            first += len(batch.records)
            summary.batches += 1
            deliver(batch, answers, logs.add, errors.add, summary)
    logs.flush()
    errors.flush()
    summary.objects.update({LOGS_PREFIX: len(logs.written), ERRORS_PREFIX: len(errors.written)})
    summary.hours = {path.parent.name for path in logs.written}
    return summary


def deliver(
    batch: Batch,
    answers: Sequence[Answer],
    to_logs: Callable[[int, bytes], None],
    to_errors: Callable[[int, bytes], None],
    summary: Summary,
) -> None:
    """What the stream does with the handler's answers: Ok to logs/, ProcessingFailed to errors/."""
    attempt_ending_ms = batch.sent_ms + 250  # the invocation's time, roughly
    for record, answer in zip(batch.records, answers, strict=True):
        summary.results[answer.result] += 1
        if answer.result == "Ok":
            summary.statuses[str(answer.status)] += 1
            to_logs(record.arrival_ms, base64.b64decode(answer.data))
        elif answer.result == "ProcessingFailed":
            to_errors(record.arrival_ms, error_record(record, answer, attempt_ending_ms))
        # Dropped: a record re-ingested because the answer was too large; not at a 0.4 MB buffer.


def print_summary(summary: Summary, out: Path) -> None:
    def counts(counter: Counter[str]) -> str:
        return ", ".join(f"{name} {count:,}" for name, count in sorted(counter.items()))

    click.echo(f"== demo: a day of the demo account's API traffic ({traffic.DAY}, UTC) through the real handler")
    click.echo(f"  generated:  {summary.requests:,} requests and {summary.malformed} malformed lines")
    click.echo(f"  batches:    {summary.batches:,} Firehose events (the processor buffer: 0.4 MB or 60 s)")
    click.echo(f"  by result:  {counts(summary.results)}")
    click.echo(f"  by status:  {counts(summary.statuses)}")
    click.echo(
        f"  objects:    {summary.objects[LOGS_PREFIX]:,} under {LOGS_PREFIX} ({len(summary.hours)} hourly partitions),"
        f" {summary.objects[ERRORS_PREFIX]:,} under {ERRORS_PREFIX}{PROCESSING_FAILED}/"
    )
    click.echo(f"  output:     {out}/  (laid out as the stream's bucket)")
    click.echo("  one record at a time, with the reason for each failure: apigw-logs invoke")


def show_report(out: Path) -> None:
    """The per-customer report of the demo's output, as `apigw-logs report DIR --html DIR/report.html`."""
    html = out / "report.html"
    click.echo(f"== report: apigw-logs report {out} --html {html}")
    try:
        report.run(out, None, None, "table", html)
    except report.ReportError as error:
        raise click.ClickException(f"report: {error}") from None
    click.echo(f"  the report as a page: {html}")
