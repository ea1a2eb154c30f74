"""Firehose transformer: adds the usage plan and customer to each API Gateway access-log line.

A thin handler: it reads the event, asks the cache for the directory once per batch, runs
each record through source -> format -> enrichment -> encoding (a JSON line by its own bytes,
any other line by the stage's format, ACCESS_LOG_FORMAT), keeps the answer under
Lambda's response limit (response.py), and answers every recordId exactly once, in order.
One record's failure never fails the batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigw_enrichment import state
from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.encoding.plain import PlainRecord, copy_data, plain_data
from apigw_enrichment.encoding.splice import SplicePlanner, spliced_data
from apigw_enrichment.enrichment.directory import enrichment_for
from apigw_enrichment.enrichment.keys import CONFLICTING, KeyReader
from apigw_enrichment.failures import RecordError
from apigw_enrichment.fields import is_enriched
from apigw_enrichment.formats.json_line import members_are_plain, read_object, top_level_duplicates
from apigw_enrichment.response import Reingest, fit_response, records_of
from apigw_enrichment.sources.firehose import answer_for, decode_base64, read_reingested, validate_event
from apigw_enrichment.telemetry import BatchSummary, instrumented, observe_batch

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from apigw_enrichment.answers import Answer
    from apigw_enrichment.config import Settings
    from apigw_enrichment.encoding.splice import Splice
    from apigw_enrichment.enrichment.directory import Enrichment
    from apigw_enrichment.enrichment.keys import LookupKey
    from apigw_enrichment.enrichment.usage_plans import CacheView, UsagePlanCache

# The invocation's time is shared out so that a batch is always answered before the
# function's timeout (and far inside Firehose's 5 minutes): a load gets LOOKUP_BUDGET_SECONDS,
# or less if fewer than this reserve would be left: a request in flight when the budget ends
# (3 s connect + 5 s read), a retry backoff, then re-ingesting (response.py) and the answer.
ANSWER_RESERVE_SECONDS = 25.0


def transform_batch(  # noqa: PLR0915 - the hot loop, kept in one function: no call per record it can spare
    event: KinesisFirehoseEvent, settings: Settings, cache: UsagePlanCache, *, time_left: float | None = None
) -> tuple[list[Answer], CacheView]:
    """Answer every record of a Firehose event; never raises because of one record."""
    answers: list[Answer] = []
    # Each readable record's answer, key and how to write its line. Only what the second
    # pass needs is kept: parsed objects are let go as soon as read.
    parsed: list[tuple[Answer, LookupKey, Splice | PlainRecord]] = []
    copies: list[tuple[Answer, PlainRecord]] = []
    read_key = KeyReader(settings.api_id_fields, settings.stage_fields, settings.key_id_fields).read
    policy, names = settings.api_key_values, settings.key_value_fields
    plan_splice = SplicePlanner(policy, names).plan
    read_text = settings.log_format.read_text
    keeps_key_values = policy is ApiKeyValuePolicy.KEEP
    # The records as they came (validate_event checked their shape): a Powertools wrapper
    # per record costs 0.35 us more, a twenty-fifth of what answering one takes.
    for record in event.raw_event["records"]:
        answer = answer_for(record)
        answers.append(answer)
        if answer.reason is not None:
            continue
        try:
            raw = decode_base64(answer.original)
        except RecordError as error:
            answer.fail(error.reason)
            continue
        try:
            obj = read_object(raw)
            # A line whose bytes hold a member the parser did not keep (a name twice) is read
            # again, carefully: the splice would keep both, and the key reader must see both.
            plain = members_are_plain(raw, obj)
            duplicates = None if plain else top_level_duplicates(raw)
        except RecordError as error:
            # A copy this function put back into the stream is marked, which makes it no JSON.
            reingested = read_reingested(answer.original)
            if reingested is not None and is_enriched(reingested[1]):
                copies.append((answer, PlainRecord(*reingested)))
                continue
            # Not JSON: a line of the stage's format (CLF, CSV, XML...), or for a JSON format
            # a line that a quote in a user agent made invalid JSON.
            try:
                line = read_text(raw, error, keeps_key_values=keeps_key_values)
            except RecordError as text_error:
                answer.fail(text_error.reason)
                continue
            key = CONFLICTING if line.ambiguous else read_key(line.obj, line.duplicates)
            parsed.append((answer, key, PlainRecord(line.json, line.obj)))
            continue
        splice = plan_splice(raw, obj, plain=plain)
        parsed.append((answer, read_key(obj, duplicates), PlainRecord(raw, obj) if splice is None else splice))

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
            answer.data = plain_data(plan, enrichment, policy, names)
        except RecordError as error:
            answer.fail(error.reason)
    for answer, copy in copies:  # the function's own copies, back from the stream: as they are
        try:
            answer.data = copy_data(copy, policy, names)
        except RecordError as error:
            answer.fail(error.reason)
    return answers, view


def handle(event: dict[str, Any], context: LambdaContext) -> list[Answer]:
    """Everything an invocation does, up to the answers: what lambda_handler returns, with each
    failure's reason (the local runner shows them)."""
    firehose_event = validate_event(event)
    # A load may use the invocation's time only up to a reserve kept for answering.
    time_left = context.get_remaining_time_in_millis() / 1000 - ANSWER_RESERVE_SECONDS
    answers, view = transform_batch(firehose_event, state.settings(), state.usage_plan_cache(), time_left=time_left)
    fit = fit_response(answers, Reingest(event.get("deliveryStreamArn"), context))
    observe_batch(BatchSummary.of(answers, fit.response_bytes), view, fit.reingested)
    return answers


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"records": records_of(handle(event, context))}
