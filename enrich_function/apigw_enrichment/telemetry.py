"""What the function tells its operators: Powertools' logger, metrics and tracer, and the one
log line and the metrics each batch, cache load and re-ingest produces. Nothing per record, and
never a payload.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, is_not, itemgetter, not_
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from apigw_enrichment.answers import Answer, Entry
    from apigw_enrichment.enrichment.usage_plans import CacheView, LoadReport, LookupReport
    from apigw_enrichment.reingest import ReingestResult

logger = Logger()

metrics = Metrics()


def tracing_on(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether X-Ray traces are made: as Powertools decides, in Lambda (LAMBDA_TASK_ROOT) unless
    POWERTOOLS_TRACE_DISABLED, nor under `sam local` or Chalice's local mode."""
    disabled = resolve_truthy_env_var_choice(env=environ.get(constants.TRACER_DISABLED_ENV, "false"))
    local = bool(environ.get(constants.SAM_LOCAL_ENV) or environ.get(constants.CHALICE_LOCAL_ENV))
    return bool(environ.get(constants.LAMBDA_TASK_ROOT_ENV)) and not disabled and not local


# Only where it traces: Powertools' Tracer imports the X-Ray SDK, whose recorder, outside Lambda,
# builds a botocore client at import (80 ms) to poll sampling rules no one here asks for. Where it
# traces, botocore alone is patched (the AWS calls of both functions that import this module, the
# transformer's and the refresher's), not every library the SDK knows (patch_all imports sqlite3
# and tries a dozen more).
tracer = Tracer(auto_patch=False) if tracing_on() else None
if tracer is not None:
    tracer.patch(("botocore",))


def instrumented[T](handler: Callable[[dict[str, Any], LambdaContext], T]) -> Callable[[dict[str, Any], Any], T]:
    """`handler` with the function's telemetry around it: the invocation's context in every log
    line, the batch's metrics flushed as EMF, and an X-Ray trace where it traces (the response
    is not captured: it is the log payload). The context is any object with LambdaContext's
    attributes."""
    logged = logger.inject_lambda_context(log_event=False)(handler)
    if tracer is None:
        return metrics.log_metrics(logged)
    return metrics.log_metrics(tracer.capture_lambda_handler(capture_response=False)(logged))


@dataclass(slots=True)
class BatchSummary:
    """Counts for the batch's single log line and its metrics."""

    results: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    passed_through: int = 0
    response_bytes: int = 0

    @classmethod
    def of(cls, answers: Sequence[Entry], response_bytes: int, usual: Counter[str] | None = None) -> BatchSummary:
        """A subscription record's lines are counted by status one by one. `usual`: the statuses
        of the plain entries among `answers` (usual lines', counted with their callers)."""
        # By C-level maps: a batch holds thousands. Only an Answer says more than its entry.
        told = cast("list[Answer]", list(compress(answers, map(is_not, map(type, answers), repeat(dict)))))
        statuses = Counter(map(_STATUS_OF, told))
        statuses.pop(None, None)
        if usual:
            statuses.update(usual)
        # Only an answer with no status can have failed (fail() clears it) or be a subscription
        # record (its lines have theirs): the rest is counted from those few.
        unstated = list(compress(told, map(not_, map(_STATUS_OF, told))))
        failures = Counter(a.reason.value for a in unstated if a.reason is not None)
        for answer in unstated:
            if answer.line_statuses:
                statuses.update(answer.line_statuses)
        # What has passed through, already enriched: no status, no failure, and not a
        # subscription record (whose lines have their statuses; a control message has none).
        passed_through = sum(1 for a in unstated if a.reason is None and a.line_statuses is None)
        return cls(Counter(map(_RESULT_OF, answers)), statuses, failures, passed_through, response_bytes)


_RESULT_OF, _STATUS_OF = itemgetter("result"), attrgetter("status")


def observe_batch(summary: BatchSummary, view: CacheView, reingested: ReingestResult | None) -> None:
    if view.load is not None:
        _observe_load(view.load, serving_snapshot=view.directory is not None)
    if view.lookups is not None:
        _observe_lookups(view.lookups)
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


# The dimension of the per-plan metrics, and its value for requests on no plan. A plan id is
# letters and digits, so no plan can be called this.
USAGE_PLAN_DIMENSION = "UsagePlan"
NO_PLAN = "(none)"


@dataclass(frozen=True, slots=True)
class PlanTraffic:
    """One usage plan's requests in a batch, and how many were client (4xx) and server (5xx) errors."""

    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0


def plan_traffic(counts: Mapping[tuple[str | None, str | None], int]) -> dict[str, PlanTraffic]:
    """Requests per (usage plan id, status code as logged), as each plan's traffic."""
    by_plan: dict[str, list[int]] = {}
    for (plan_id, status), count in counts.items():
        totals = by_plan.setdefault(plan_id or NO_PLAN, [0, 0, 0])
        totals[0] += count
        code = str(status) if status is not None else ""
        if len(code) == 3 and code.isdigit():  # noqa: PLR2004 - an HTTP status code has three digits
            if code[0] == "4":
                totals[1] += count
            elif code[0] == "5":
                totals[2] += count
    return {plan: PlanTraffic(*totals) for plan, totals in by_plan.items()}


def observe_plans(traffic: Mapping[str, PlanTraffic]) -> None:
    """Per-plan Requests, ClientErrors and ServerErrors, as EMF with the UsagePlan dimension:
    one metric set per plan in the batch, so as many series as the account has plans, never
    one per customer or key."""
    for plan, counts in sorted(traffic.items()):
        plan_metrics = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
        plan_metrics.add_dimension(name=USAGE_PLAN_DIMENSION, value=plan)
        plan_metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=counts.requests)
        plan_metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=counts.client_errors)
        plan_metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=counts.server_errors)
        plan_metrics.flush_metrics()


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


def _observe_lookups(lookups: LookupReport) -> None:
    """Unknown keys looked up alone: how many, what it cost, and what the caps held back."""
    metrics.add_metric(name="KeyLookups", unit=MetricUnit.Count, value=lookups.keys)
    metrics.add_metric(name="KeyLookupCalls", unit=MetricUnit.Count, value=lookups.calls)
    details = {
        "keys": lookups.keys,
        "found": lookups.found,
        "calls": lookups.calls,
        "deferred": lookups.deferred,
        "duration_ms": round(lookups.duration_seconds * 1000, 1),
    }
    if lookups.failure is not None:
        metrics.add_metric(name="KeyLookupFailures", unit=MetricUnit.Count, value=1)
        logger.warning(
            "unknown API keys could not be looked up (%s); they stay unknown_api_key for now",
            lookups.failure,
            extra={**details, "failure": lookups.failure, "error": lookups.error},
        )
        return
    logger.info("unknown API keys looked up", extra=details)


def _observe_load(load: LoadReport, *, serving_snapshot: bool) -> None:
    metrics.add_metric(name="CacheLoads", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CacheLoadDuration", unit=MetricUnit.Milliseconds, value=load.duration_seconds * 1000)
    metrics.add_metric(name="CacheLoadCalls", unit=MetricUnit.Count, value=load.calls)
    details: dict[str, object] = {
        "trigger": load.trigger.value,
        "calls": load.calls,
        "duration_ms": round(load.duration_seconds * 1000, 1),
        "source": load.source,
    }
    if load.snapshot_problem is not None:
        # The refresher's snapshot was missing, unreadable or stale: this load listed the account.
        metrics.add_metric(name="SnapshotMisses", unit=MetricUnit.Count, value=1)
        details["snapshot_problem"] = load.snapshot_problem
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
