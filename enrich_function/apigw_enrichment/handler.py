"""Firehose transformer: adds the usage plan and customer to each API Gateway access-log line.

A thin handler: it reads the event, asks the cache for the directory once per batch, runs
each record through source -> format -> enrichment -> encoding (a JSON line by its own bytes,
any other line by the stage's format, ACCESS_LOG_FORMAT), keeps the answer under
Lambda's response limit (response.py), and answers every recordId exactly once, in order.
One record's failure never fails the batch.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from apigw_enrichment import state
from apigw_enrichment.config import DEFAULT_API_ID_FIELDS, DEFAULT_STAGE_FIELDS, ApiKeyValuePolicy
from apigw_enrichment.encoding.plain import PlainRecord, copy_data, plain_data, plain_line
from apigw_enrichment.encoding.splice import SplicePlanner, spliced_data
from apigw_enrichment.enrichment.directory import enrichment_for
from apigw_enrichment.enrichment.keys import CONFLICTING, KeyReader
from apigw_enrichment.failures import RecordError
from apigw_enrichment.fields import is_enriched
from apigw_enrichment.formats.json_line import members_are_plain, read_object, top_level_duplicates
from apigw_enrichment.response import Reingest, fit_response, records_of
from apigw_enrichment.sources.cloudwatch_logs import GZIP_MAGIC, read_envelope
from apigw_enrichment.sources.firehose import (
    answer_for,
    decode_base64,
    encode_base64,
    read_reingested,
    validate_event,
)
from apigw_enrichment.telemetry import BatchSummary, instrumented, observe_batch, observe_plans, plan_traffic

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from apigw_enrichment.answers import Answer
    from apigw_enrichment.config import Settings
    from apigw_enrichment.encoding.splice import Splice
    from apigw_enrichment.enrichment.directory import Enrichment
    from apigw_enrichment.enrichment.keys import LookupKey
    from apigw_enrichment.enrichment.usage_plans import CacheView, UsagePlanCache
    from apigw_enrichment.sources.log_groups import LogGroupStages

# The invocation's time is shared out so that a batch is always answered before the
# function's timeout (and far inside Firehose's 5 minutes): a load gets LOOKUP_BUDGET_SECONDS,
# or less if fewer than this reserve would be left: a request in flight when the budget ends
# (3 s connect + 5 s read), a retry backoff, then re-ingesting (response.py) and the answer.
ANSWER_RESERVE_SECONDS = 25.0


class Transformed(NamedTuple):
    """What transform_batch answers: every record's answer, the cache's view it used, and the
    batch's requests per (usage plan id, status code) for the per-plan metrics."""

    answers: list[Answer]
    view: CacheView
    traffic: Counter[tuple[str | None, str | None]]


def transform_batch(  # noqa: PLR0912, PLR0915 - the hot loop, kept in one function: no call per record it can spare
    event: KinesisFirehoseEvent,
    settings: Settings,
    cache: UsagePlanCache,
    *,
    time_left: float | None = None,
    stages: LogGroupStages | None = None,
) -> Transformed:
    """Answer every record of a Firehose event; never raises because of one record.

    `stages` maps a subscription record's log group to its stage, for lines that do not say.
    """
    answers: list[Answer] = []
    # Each readable record's answer, key, how to write its line, and its status code. Only
    # what the second pass needs is kept: parsed objects are let go as soon as read.
    parsed: list[tuple[Answer, LookupKey, Splice | PlainRecord, Any]] = []
    copies: list[tuple[Answer, list[PlainRecord]]] = []
    subscriptions: list[tuple[Answer, str, list[MessageLine]]] = []
    read_key = KeyReader(settings.api_id_fields, settings.stage_fields, settings.key_id_fields).read
    policy, names = settings.api_key_values, settings.key_value_fields
    plan_splice = SplicePlanner(policy, names).plan
    read_text = settings.log_format.read_text
    keeps_key_values = policy is ApiKeyValuePolicy.KEEP
    status_field = settings.status_field
    read_message = MessageReader(settings, read_key, plan_splice).read
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
            if raw[:2] == GZIP_MAGIC:  # a CloudWatch Logs subscription record: many lines
                subscription = _read_subscription(answer, raw, read_message)
                if subscription is not None:
                    subscriptions.append((answer, *subscription))
                continue
            # A copy this function put back into the stream is marked, which makes it no JSON.
            reingested = read_reingested(answer.original)
            if reingested is not None and all(is_enriched(line_obj) for _, line_obj in reingested):
                copies.append((answer, [PlainRecord(*line) for line in reingested]))
                continue
            # Not JSON: a line of the stage's format (CLF, CSV, XML...), or for a JSON format
            # a line that a quote in a user agent made invalid JSON.
            try:
                line = read_text(raw, error, keeps_key_values=keeps_key_values)
            except RecordError as text_error:
                answer.fail(text_error.reason)
                continue
            key = CONFLICTING if line.ambiguous else read_key(line.obj, line.duplicates)
            parsed.append((answer, key, PlainRecord(line.json, line.obj), line.obj.get(status_field)))
            continue
        splice = plan_splice(raw, obj, plain=plain)
        plan = PlainRecord(raw, obj) if splice is None else splice
        parsed.append((answer, read_key(obj, duplicates), plan, obj.get(status_field)))

    if subscriptions and stages is not None:
        _name_stages(subscriptions, stages, time_left)
    # One cache decision per batch, made before any record is answered.
    keys = {key for _, key, _, _ in parsed}
    keys.update(line.key for _, _, lines in subscriptions for line in lines)
    view = cache.view_for(keys, time_left=time_left)

    enrichments: dict[LookupKey, Enrichment] = {}  # each distinct caller is looked up once
    for answer, key, plan, _ in parsed:
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
    traffic = Counter(
        (enrichments[key].usage_plan_id, status if type(status) in _STATUS_TYPES else None)
        for answer, key, _, status in parsed
        if answer.status
    )
    for answer, _, message_lines in subscriptions:
        traffic.update(_write_lines(answer, message_lines, view, enrichments, settings))
    for answer, copy in copies:  # the function's own copies, back from the stream: as they are
        try:
            answer.data = copy_data(copy, policy, names)
        except RecordError as error:
            answer.fail(error.reason)
    return Transformed(answers, view, traffic)


def _read_subscription(
    answer: Answer, raw: bytes, read_message: Callable[[bytes], MessageLine]
) -> tuple[str, list[MessageLine]] | None:
    """A subscription record's log group and lines, read; None if it is answered already."""
    try:
        envelope = read_envelope(raw)
        if envelope.is_control:
            answer.drop()  # CloudWatch Logs checking that it can write here
            answer.line_statuses = Counter()  # a subscription record with no lines
            return None
        return envelope.log_group, [read_message(message) for message in envelope.messages]
    except RecordError as error:
        # Nothing is lost: the whole record is kept, as sent, under errors/.
        answer.fail(error.reason)
        return None


class MessageLine(NamedTuple):
    """One line of a subscription record, read: its key, how to write it (the bytes before
    the five fields, or a record for the plain path), its status code, and the members to
    add for an API id and stage the line does not name (filled in from its log group)."""

    key: LookupKey
    start: bytes | PlainRecord
    status: Any
    lacks: tuple[bool, bool]  # (no API id field, no stage field)
    named: bytes = b""


class MessageReader:
    """Reads one message of a subscription record as a direct record's line is read."""

    __slots__ = ("_api_id_fields", "_keeps", "_plan_splice", "_read_key", "_read_text", "_stage_fields", "_status")

    def __init__(
        self,
        settings: Settings,
        read_key: Callable[[Mapping[str, Any], Mapping[str, list[Any]] | None], LookupKey],
        plan_splice: Callable[..., Splice | None],
    ) -> None:
        self._read_key, self._plan_splice = read_key, plan_splice
        self._read_text = settings.log_format.read_text
        self._keeps = settings.api_key_values is ApiKeyValuePolicy.KEEP
        self._status = settings.status_field
        self._api_id_fields, self._stage_fields = settings.api_id_fields, settings.stage_fields

    def read(self, raw: bytes) -> MessageLine:
        """Raises RecordError if the line cannot be read."""
        try:
            obj = read_object(raw)
            plain = members_are_plain(raw, obj)
            duplicates = None if plain else top_level_duplicates(raw)
        except RecordError as error:
            line = self._read_text(raw, error, keeps_key_values=self._keeps)
            key = CONFLICTING if line.ambiguous else self._read_key(line.obj, line.duplicates)
            return MessageLine(key, PlainRecord(line.json, line.obj), line.obj.get(self._status), self._lacks(line.obj))
        splice = self._plan_splice(raw, obj, plain=plain)
        if splice is None:
            start: bytes | PlainRecord = PlainRecord(raw, obj)
        else:  # the splice, in bytes: the line up to where it changes, then the change
            kept, middle = splice
            start = raw[: kept // 4 * 3] + middle
        return MessageLine(self._read_key(obj, duplicates), start, obj.get(self._status), self._lacks(obj))

    def _lacks(self, obj: Mapping[str, Any]) -> tuple[bool, bool]:
        return (
            all(name not in obj for name in self._api_id_fields),
            all(name not in obj for name in self._stage_fields),
        )


def _name_stages(
    subscriptions: list[tuple[Answer, str, list[MessageLine]]], stages: LogGroupStages, time_left: float | None
) -> None:
    """Give lines that do not name their API or stage those of the stage logging to their group."""
    for _, log_group, lines in subscriptions:
        if not any(line.lacks[0] or line.lacks[1] for line in lines):
            continue
        stage = stages.stage_for(log_group, time_left=time_left)
        if stage is None:
            continue
        for index, line in enumerate(lines):
            lacks_api, lacks_stage = line.lacks
            if not (lacks_api or lacks_stage) or line.key.conflicting:
                continue
            members = {}
            key = line.key
            if lacks_api:
                members[_API_ID_MEMBER] = stage[0]
                key = key._replace(api_id=stage[0])
            if lacks_stage:
                members[_STAGE_MEMBER] = stage[1]
                key = key._replace(stage=stage[1])
            lines[index] = line._replace(key=key, named=orjson.dumps(members)[1:-1] + b",")


# A status code as logged: "200" (the recommended format quotes it) or 200. Anything else
# (a list, an object) counts as a request with no status.
_STATUS_TYPES = frozenset({str, int})

# The members a filled-in API id and stage are written as: the recommended format's names.
_API_ID_MEMBER, _STAGE_MEMBER = DEFAULT_API_ID_FIELDS[0], DEFAULT_STAGE_FIELDS[0]


def _write_lines(
    answer: Answer,
    lines: list[MessageLine],
    view: CacheView,
    enrichments: dict[LookupKey, Enrichment],
    settings: Settings,
) -> Counter[tuple[str | None, str | None]]:
    """A subscription record's answer: its lines, enriched, one after another, each ending in
    exactly one newline. One line that cannot be written fails the record, which Firehose keeps.
    Returns the record's requests per (usage plan id, status code)."""
    out: list[bytes] = []
    statuses: Counter[str] = Counter()
    seen: Counter[tuple[str | None, str | None]] = Counter()
    policy, names = settings.api_key_values, settings.key_value_fields
    for line in lines:
        enrichment = enrichments.get(line.key)
        if enrichment is None:
            enrichment = enrichments[line.key] = enrichment_for(line.key, view.directory)
        if isinstance(line.start, bytes):
            written = line.start + enrichment.json_members
        else:
            try:
                written = plain_line(line.start, enrichment, policy, names)
            except RecordError as error:
                answer.fail(error.reason)
                return Counter()
        if line.named:  # after the opening brace: every line written here is a JSON object
            written = b"{" + line.named + written[1:]
        out.append(written)
        statuses[enrichment.status] += 1
        seen[enrichment.usage_plan_id, line.status if type(line.status) in _STATUS_TYPES else None] += 1
    answer.data = encode_base64(b"".join(out))
    answer.line_statuses = statuses
    return seen


def handle(event: dict[str, Any], context: LambdaContext) -> list[Answer]:
    """Everything an invocation does, up to the answers: what lambda_handler returns, with each
    failure's reason (the local runner shows them)."""
    firehose_event = validate_event(event)
    # A load may use the invocation's time only up to a reserve kept for answering.
    time_left = context.get_remaining_time_in_millis() / 1000 - ANSWER_RESERVE_SECONDS
    answers, view, traffic = transform_batch(
        firehose_event, state.settings(), state.usage_plan_cache(), time_left=time_left, stages=state.log_group_stages()
    )
    fit = fit_response(answers, Reingest(event.get("deliveryStreamArn"), context))
    observe_batch(BatchSummary.of(answers, fit.response_bytes), view, fit.reingested)
    observe_plans(plan_traffic(traffic))
    return answers


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"records": records_of(handle(event, context))}
