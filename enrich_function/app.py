"""Firehose transformer: adds the usage plan and customer to each API Gateway access-log line.

A thin handler: it reads the event, asks the cache for the directory once per batch,
runs each record through the pure parse -> enrich -> encode steps, and answers every
recordId exactly once, in order. One record's failure never fails the batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent

import state
from enrich import enrich_object, enrichment_for
from records import (
    FailureReason,
    LookupKey,
    RecordError,
    decode_base64,
    encode_base64,
    encode_line,
    lookup_key,
    parse_object,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event import (
        KinesisFirehoseDataTransformationRecord,
        KinesisFirehoseRecord,
    )
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from config import Settings
    from usage_plans import CacheView, LoadReport, UsagePlanCache

logger = Logger()
metrics = Metrics()
tracer = Tracer()

Result = Literal["Ok", "Dropped", "ProcessingFailed"]

# Time kept back from a load for the rest of the batch: a request already in flight when
# the budget runs out (3 s connect + 5 s read), one retry backoff, and the answer itself.
ANSWER_RESERVE_SECONDS = 20.0


class InvalidEventError(ValueError):
    """The event is not a Firehose transformation event, so no record can be answered."""


@dataclass(slots=True)
class _Parsed:
    record: KinesisFirehoseRecord
    obj: dict[str, Any]
    key: LookupKey


@dataclass(slots=True)
class BatchSummary:
    """Counts for the batch's single log line and its metrics."""

    results: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)


def transform_batch(
    event: KinesisFirehoseEvent, settings: Settings, cache: UsagePlanCache, *, time_left: float | None = None
) -> tuple[list[KinesisFirehoseDataTransformationRecord], BatchSummary, CacheView]:
    """Answer every record of a Firehose event; never raises because of one record."""
    summary = BatchSummary()
    answers: list[KinesisFirehoseDataTransformationRecord | _Parsed] = []
    for record in event.records:
        try:
            obj = parse_object(decode_base64(_data(record)))
        except RecordError as error:
            answers.append(_failed(record, error.reason, summary))
            continue
        key = lookup_key(obj, settings.api_id_fields, settings.stage_fields, settings.key_id_fields)
        answers.append(_Parsed(record, obj, key))

    # One cache decision per batch, made before any record is answered.
    view = cache.view_for([item.key for item in answers if isinstance(item, _Parsed)], time_left=time_left)

    response = []
    for item in answers:
        if not isinstance(item, _Parsed):
            response.append(item)
            continue
        enrichment = enrichment_for(item.key, view.directory)
        try:
            line = encode_line(enrich_object(item.obj, enrichment, settings.api_key_values))
        except RecordError as error:
            response.append(_failed(item.record, error.reason, summary))
            continue
        summary.results["Ok"] += 1
        summary.statuses[enrichment.status.value] += 1
        response.append(item.record.build_data_transformation_response(result="Ok", data=encode_base64(line)))
    return response, summary, view


def _failed(
    record: KinesisFirehoseRecord, reason: FailureReason, summary: BatchSummary
) -> KinesisFirehoseDataTransformationRecord:
    summary.results["ProcessingFailed"] += 1
    summary.failures[reason.value] += 1
    # The original data goes back untouched; Firehose keeps it under the error prefix.
    return record.build_data_transformation_response(result="ProcessingFailed", data=_data(record))


def _data(record: KinesisFirehoseRecord) -> str:
    data = record.raw_event.get("data", "")
    return data if isinstance(data, str) else ""


def validate_event(event: Any) -> KinesisFirehoseEvent:
    """Check the event's shape; a record can only be answered if it has a recordId."""
    if not isinstance(event, Mapping) or not isinstance(event.get("records"), list):
        raise InvalidEventError("not a Firehose transformation event: expected an object with a 'records' list")
    for index, record in enumerate(event["records"]):
        if not isinstance(record, Mapping) or not isinstance(record.get("recordId"), str):
            raise InvalidEventError(f"record {index} has no 'recordId' string, so it cannot be answered")
        if not isinstance(record.get("data", ""), str):
            raise InvalidEventError(f"record {index} has a 'data' that is not a base64 string")
    return KinesisFirehoseEvent(dict(event))


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # the response is the log payload
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    firehose_event = validate_event(event)
    # A load may use the invocation's time only up to a reserve kept for answering.
    time_left = context.get_remaining_time_in_millis() / 1000 - ANSWER_RESERVE_SECONDS
    response, summary, view = transform_batch(
        firehose_event, state.settings(), state.usage_plan_cache(), time_left=time_left
    )
    _observe(summary, view, len(response))
    return {"records": [record.asdict() for record in response]}


def _observe(summary: BatchSummary, view: CacheView, record_count: int) -> None:
    if view.load is not None:
        _observe_load(view.load, serving_snapshot=view.directory is not None)
    for result, count in summary.results.items():
        metrics.add_metric(name=f"Records{result}", unit=MetricUnit.Count, value=count)
    for status, count in summary.statuses.items():
        metrics.add_metric(name=f"Status_{status}", unit=MetricUnit.Count, value=count)
    for reason, count in summary.failures.items():
        metrics.add_metric(name=f"Failed_{reason}", unit=MetricUnit.Count, value=count)
    logger.info(
        "batch transformed",
        extra={
            "records": record_count,
            "results": dict(summary.results),
            "statuses": dict(summary.statuses),
            "failure_reasons": dict(summary.failures),
            "cache_age_seconds": None if view.age_seconds is None else round(view.age_seconds, 3),
            "cache_loaded": view.load is not None and view.load.ok,
        },
    )


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
        logger.info("usage plans loaded", extra={**details, "plans": load.plans, "keys": load.keys})
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
