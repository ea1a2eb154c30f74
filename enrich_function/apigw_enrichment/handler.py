"""Firehose transformer: adds the usage plan and customer to each API Gateway access-log line.

A thin handler: it reads the event, asks the cache for the directory once per batch,
runs each record through the pure parse -> enrich -> encode steps, keeps the answer under
Lambda's response limit (re-ingesting what does not fit), and answers every recordId
exactly once, in order. One record's failure never fails the batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent

from apigw_enrichment import state
from apigw_enrichment.budget import Deadline
from apigw_enrichment.enrich import PlainRecord, copy_data, enrichment_for, is_enriched, plain_data
from apigw_enrichment.records import (
    REINGESTED_MARK,
    FailureReason,
    KeyReader,
    LookupKey,
    RecordError,
    decode_base64,
    members_are_plain,
    read_record,
    read_reingested,
    top_level_duplicates,
)
from apigw_enrichment.reingest import ReingestResult, parse_stream_arn, put_records
from apigw_enrichment.response import RESPONSE_LIMIT_BYTES, answer_size, choose_overflow, entry_size
from apigw_enrichment.splice import SplicePlanner, spliced_data

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from apigw_enrichment.config import Settings
    from apigw_enrichment.directory import Enrichment
    from apigw_enrichment.splice import Splice
    from apigw_enrichment.usage_plans import CacheView, LoadReport, UsagePlanCache

logger = Logger()
metrics = Metrics()
tracer = Tracer()

Result = Literal["Ok", "Dropped", "ProcessingFailed"]

# The invocation's time is shared out so that a batch is always answered before the
# function's timeout (and far inside Firehose's 5 minutes):
# - a load gets LOOKUP_BUDGET_SECONDS, or less if fewer than this reserve would be left:
#   a request in flight when the budget ends (3 s connect + 5 s read), a retry backoff,
#   then the re-ingest below and the answer itself;
ANSWER_RESERVE_SECONDS = 25.0
# - re-ingesting what does not fit gets at most this, and always leaves REINGEST_RESERVE
#   for a PutRecordBatch in flight (3 s connect + 5 s read) and the answer.
REINGEST_BUDGET_SECONDS = 10.0
REINGEST_RESERVE_SECONDS = 12.0


class InvalidEventError(ValueError):
    """The event is not a Firehose transformation event, so no record can be answered."""


@dataclass(slots=True)
class Answer:
    """What one record is answered with, and why."""

    record_id: str
    result: Result
    data: str  # base64, as it goes into the response
    original: str  # base64, as Firehose sent it
    status: str | None = None  # Ok: the enrichment status; None if it passed through
    reason: FailureReason | None = None  # ProcessingFailed: why

    def fail(self, reason: FailureReason) -> None:
        # The original goes back untouched; Firehose keeps it under the error prefix.
        self.result, self.data, self.reason, self.status = "ProcessingFailed", self.original, reason, None

    def drop(self) -> None:
        # Its enriched copy is in the stream already: nothing to deliver from here.
        self.result, self.data = "Dropped", ""


@dataclass(slots=True)
class BatchSummary:
    """Counts for the batch's single log line and its metrics."""

    results: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    passed_through: int = 0
    response_bytes: int = 0

    @classmethod
    def of(cls, answers: Sequence[Answer], response_bytes: int) -> BatchSummary:
        statuses = Counter(a.status for a in answers if a.status is not None)
        failures = Counter(a.reason.value for a in answers if a.reason is not None)
        # What has neither passed through, already enriched (a failed answer has no status).
        passed_through = len(answers) - statuses.total() - failures.total()
        return cls(Counter(map(_RESULT_OF, answers)), statuses, failures, passed_through, response_bytes)


_RESULT_OF, _DATA_OF = attrgetter("result"), attrgetter("data")


def transform_batch(
    event: KinesisFirehoseEvent, settings: Settings, cache: UsagePlanCache, *, time_left: float | None = None
) -> tuple[list[Answer], CacheView]:
    """Answer every record of a Firehose event; never raises because of one record."""
    answers: list[Answer] = []
    # Each readable record's answer, key and how to write its line.
    # Only what the second pass needs is kept: parsed objects are let go as soon as read.
    parsed: list[tuple[Answer, LookupKey, Splice | PlainRecord]] = []
    copies: list[tuple[Answer, PlainRecord]] = []
    read_key = KeyReader(settings.api_id_fields, settings.stage_fields, settings.key_id_fields).read
    policy = settings.api_key_values
    plan_splice = SplicePlanner(policy).plan
    # The records as they came (validate_event checked their shape): a Powertools wrapper
    # per record costs 0.35 us more, a twenty-fifth of what answering one takes.
    for record in event.raw_event["records"]:
        answer = _answer_for(record)
        answers.append(answer)
        if answer.reason is not None:
            continue
        try:
            raw, obj = read_record(answer.original)
            # A line whose bytes hold a member the parser did not keep (a name twice) is read
            # again, carefully: the splice would keep both, and the key reader must see both.
            plain = members_are_plain(raw, obj)
            duplicates = None if plain else top_level_duplicates(raw)
        except RecordError as error:
            # A copy this function put back into the stream is marked, which makes it no JSON.
            reingested = read_reingested(answer.original)
            if reingested is None or not is_enriched(reingested[1]):
                answer.fail(error.reason)
                continue
            copies.append((answer, PlainRecord(*reingested)))
            continue
        key = read_key(obj, duplicates)
        splice = plan_splice(raw, obj, plain=plain)
        parsed.append((answer, key, PlainRecord(raw, obj) if splice is None else splice))

    # One cache decision per batch, made before any record is answered.
    view = cache.view_for({key for _, key, _ in parsed}, time_left=time_left)

    enrichments: dict[LookupKey, Enrichment] = {}  # each distinct caller is looked up once
    for answer, key, plan in parsed:
        enrichment = enrichments.get(key)
        if enrichment is None:
            enrichment = enrichments[key] = enrichment_for(key, view.directory)
        answer.status = enrichment.status  # a StrEnum: counted and logged as its value
        if isinstance(plan, tuple):  # the usual case: a splice
            answer.data = spliced_data(answer.original, plan, enrichment.json_members)
            continue
        try:
            answer.data = plain_data(plan, enrichment, policy)
        except RecordError as error:
            answer.fail(error.reason)
    for answer, copy in copies:  # the function's own copies, back from the stream: as they are
        try:
            answer.data = copy_data(copy, policy)
        except RecordError as error:
            answer.fail(error.reason)
    return answers, view


def _answer_for(record: Mapping[str, Any]) -> Answer:
    data = record.get("data", "")
    if isinstance(data, str):
        return Answer(record["recordId"], "Ok", "", data)
    # Not a string: nothing to decode, and nothing to echo back either.
    answer = Answer(record["recordId"], "Ok", "", "")
    answer.fail(FailureReason.INVALID_BASE64)
    return answer


@dataclass(frozen=True, slots=True)
class Fit:
    """The serialized size of the answer, and what re-ingesting took (None: all fitted)."""

    response_bytes: int
    reingested: ReingestResult | None


def fit_response(
    answers: Sequence[Answer], reingest: Callable[[list[bytes]], ReingestResult], limit: int = RESPONSE_LIMIT_BYTES
) -> Fit:
    """Keep the serialized response within `limit`, changing answers in place.

    Ok records that do not fit are put back into the stream, enriched. Each one Firehose
    accepts is answered Dropped; any other fails with its original data, so Firehose keeps
    it under the error prefix. Nothing is dropped that is not safely in the stream.
    """
    size = _answer_size(answers)
    if size <= limit:  # the usual case
        return Fit(size, None)
    candidates = [a for a in answers if a.result == "Ok"]
    fixed = [entry_size(a.record_id, a.result, a.data) for a in answers if a.result != "Ok"]
    sizes = [(entry_size(a.record_id, "Ok", a.data), entry_size(a.record_id, "Dropped", "")) for a in candidates]
    leaves = choose_overflow(fixed, sizes, limit)
    overflow = [a for a, out in zip(candidates, leaves, strict=True) if out]
    if not overflow:  # only answers that are not Ok, and they stay as they are
        return Fit(size, None)
    result = _move_out(overflow, reingest)
    # Firehose refused some copies, which now fail with their (larger) original data: make
    # room by moving more Ok records out, last first, counting each as failing too.
    kept = [a for a, out in zip(candidates, leaves, strict=True) if not out]
    more = _room_for(answers, kept, limit)
    if more:
        result = result.merged(_move_out(more, reingest))
    return Fit(_answer_size(answers), result)


def _move_out(overflow: Sequence[Answer], reingest: Callable[[list[bytes]], ReingestResult]) -> ReingestResult:
    # The enriched line, decoded again: only for the few records that leave.
    # Marked, so that the copy passes through unchanged when it comes back (not enriched twice).
    result = reingest([REINGESTED_MARK + decode_base64(a.data) for a in overflow])
    for answer, accepted in zip(overflow, result.accepted, strict=True):
        if accepted:
            answer.drop()
        else:
            answer.fail(FailureReason.RESPONSE_FULL)
    return result


def _room_for(answers: Sequence[Answer], kept: Sequence[Answer], limit: int) -> list[Answer]:
    """The Ok records, last first, that must leave so the answer fits even if all of them fail.

    A record that fails goes back as it came, smaller than enriched; if every record did,
    the answer would be no bigger than the event Firehose sent.
    """
    size = _answer_size(answers)
    chosen = []
    for answer in reversed(kept):
        if size <= limit:
            break
        saving = entry_size(answer.record_id, "Ok", answer.data) - entry_size(
            answer.record_id, "ProcessingFailed", answer.original
        )
        if saving > 0:
            chosen.append(answer)
            size -= saving
    return chosen


def _answer_size(answers: Sequence[Answer]) -> int:
    return answer_size([a.record_id for a in answers], map(_RESULT_OF, answers), map(_DATA_OF, answers))


def validate_event(event: Any) -> KinesisFirehoseEvent:
    """Check the event's shape; a record can only be answered if it has a recordId."""
    if not isinstance(event, Mapping) or not isinstance(event.get("records"), list):
        raise InvalidEventError("not a Firehose transformation event: expected an object with a 'records' list")
    for index, record in enumerate(event["records"]):
        # (`type() is dict` first: the runtime's records are dicts, and an ABC check is slow.)
        if not (type(record) is dict or isinstance(record, Mapping)) or type(record.get("recordId")) is not str:
            raise InvalidEventError(f"record {index} has no 'recordId' string, so it cannot be answered")
    return KinesisFirehoseEvent(dict(event))


def instrumented[T](handler: Callable[[dict[str, Any], LambdaContext], T]) -> Callable[[dict[str, Any], Any], T]:
    """`handler` with the function's telemetry around it: the invocation's context in every log
    line, the batch's metrics flushed as EMF, and an X-Ray trace (the response is not captured:
    it is the log payload). The context is any object with LambdaContext's attributes."""
    traced = tracer.capture_lambda_handler(capture_response=False)(
        logger.inject_lambda_context(log_event=False)(handler)
    )
    return metrics.log_metrics(traced)


def handle(event: dict[str, Any], context: LambdaContext) -> list[Answer]:
    """Everything an invocation does, up to the answers: what lambda_handler returns, with each
    failure's reason (the local runner shows them)."""
    firehose_event = validate_event(event)
    # A load may use the invocation's time only up to a reserve kept for answering.
    time_left = context.get_remaining_time_in_millis() / 1000 - ANSWER_RESERVE_SECONDS
    answers, view = transform_batch(firehose_event, state.settings(), state.usage_plan_cache(), time_left=time_left)
    fit = fit_response(answers, Reingest(event.get("deliveryStreamArn"), context))
    _observe(BatchSummary.of(answers, fit.response_bytes), view, fit.reingested)
    return answers


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Plain dicts, in the shape KinesisFirehoseDataTransformationRecord.asdict() gives (a test
    # checks): the class checks and copies each record again, 0.6 us more a record.
    return {"records": [{"recordId": a.record_id, "result": a.result, "data": a.data} for a in handle(event, context)]}


class Reingest:
    """Puts records back into the invocation's stream, within one budget for the invocation.

    fit_response may call it twice (a second time to make room when Firehose refused copies);
    the budget is counted from the first call, so a hanging endpoint costs REINGEST_BUDGET_SECONDS
    once, not once a call.
    """

    def __init__(self, stream_arn: object, context: LambdaContext) -> None:
        self._stream = parse_stream_arn(stream_arn)
        self._context = context
        self._deadline: Deadline | None = None

    def __call__(self, payloads: list[bytes]) -> ReingestResult:
        if self._stream is None:
            return ReingestResult((False,) * len(payloads), 0, 0, 0, "the event has no valid deliveryStreamArn")
        if self._deadline is None:
            remaining = self._context.get_remaining_time_in_millis() / 1000
            self._deadline = Deadline(max(0.0, min(REINGEST_BUDGET_SECONDS, remaining - REINGEST_RESERVE_SECONDS)))
        return put_records(state.firehose_client(self._stream.region), self._stream.name, payloads, self._deadline)


def _observe(summary: BatchSummary, view: CacheView, reingested: ReingestResult | None) -> None:
    if view.load is not None:
        _observe_load(view.load, serving_snapshot=view.directory is not None)
    for result, count in summary.results.items():
        metrics.add_metric(name=f"Records{result}", unit=MetricUnit.Count, value=count)
    for status, count in summary.statuses.items():
        metrics.add_metric(name=f"Status_{status}", unit=MetricUnit.Count, value=count)
    for reason, count in summary.failures.items():
        metrics.add_metric(name=f"Failed_{reason}", unit=MetricUnit.Count, value=count)
    if summary.passed_through:
        metrics.add_metric(name="RecordsAlreadyEnriched", unit=MetricUnit.Count, value=summary.passed_through)
    metrics.add_metric(name="ResponseBytes", unit=MetricUnit.Bytes, value=summary.response_bytes)
    details: dict[str, object] = {
        "records": sum(summary.results.values()),
        "results": dict(summary.results),
        "statuses": dict(summary.statuses),
        "failure_reasons": dict(summary.failures),
        "already_enriched": summary.passed_through,
        "response_bytes": summary.response_bytes,
        "cache_age_seconds": None if view.age_seconds is None else round(view.age_seconds, 3),
        "cache_loaded": view.load is not None and view.load.ok,
    }
    if reingested is not None:
        _observe_reingest(reingested)
        details["reingested"] = reingested.accepted_count
    logger.info("batch transformed", extra=details)


def _observe_reingest(result: ReingestResult) -> None:
    failed = len(result.accepted) - result.accepted_count
    metrics.add_metric(name="RecordsReingested", unit=MetricUnit.Count, value=result.accepted_count)
    metrics.add_metric(name="ReingestRequests", unit=MetricUnit.Count, value=result.requests)
    details = {
        "overflow": len(result.accepted),
        "accepted": result.accepted_count,
        "failed": failed,
        "too_large": result.too_large,
        "requests": result.requests,
        "rounds": result.rounds,
    }
    if failed:
        metrics.add_metric(name="ReingestFailures", unit=MetricUnit.Count, value=failed)
        logger.warning(
            "records that did not fit the response could not all be re-ingested; those failed processing",
            extra={**details, "error": result.error},
        )
    else:
        logger.info("records that did not fit the response were re-ingested", extra=details)


def _observe_load(load: LoadReport, *, serving_snapshot: bool) -> None:
    metrics.add_metric(name="CacheLoads", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CacheLoadDuration", unit=MetricUnit.Milliseconds, value=load.duration_seconds * 1000)
    metrics.add_metric(name="CacheLoadCalls", unit=MetricUnit.Count, value=load.calls)
    details: dict[str, object] = {
        "trigger": load.trigger.value,
        "calls": load.calls,
        "duration_ms": round(load.duration_seconds * 1000, 1),
    }
    if load.ok:
        if load.skipped:
            # Items of the answer that could not be read: the rest was loaded.
            metrics.add_metric(name="CacheLoadSkippedItems", unit=MetricUnit.Count, value=load.skipped)
        extra = {**details, "plans": load.plans, "keys": load.keys, "skipped_items": load.skipped}
        logger.info("usage plans loaded", extra=extra)
        return
    metrics.add_metric(name="CacheLoadFailures", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"CacheLoadFailed_{load.failure}", unit=MetricUnit.Count, value=1)
    serving = "the last good snapshot" if serving_snapshot else "no snapshot: records are lookup_unavailable"
    details.update(failure=load.failure, error=load.error, serving=serving)
    if load.missing_permission is not None:
        # A misconfigured role: say exactly what to grant, once per load, not per record.
        logger.error(
            "access denied: the function's role needs %s; serving %s",
            load.missing_permission,
            serving,
            extra={**details, "missing_permission": load.missing_permission},
        )
        return
    logger.warning("usage plans could not be loaded (%s); serving %s", load.failure, serving, extra=details)
