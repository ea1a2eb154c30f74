"""Firehose transformer: adds the usage plan and customer to each API Gateway access-log line.

A thin handler: it reads the event, asks the cache for the directory once per batch, runs
each record through source -> format -> enrichment -> encoding (a JSON line by its own bytes,
any other line by the stage's format, ACCESS_LOG_FORMAT), keeps the answer under
Lambda's response limit (response.py), and answers every recordId exactly once, in order.
One record's failure never fails the batch.
"""

from __future__ import annotations

import atexit
import gc
from collections import Counter
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import orjson
from orjson import JSONDecodeError, loads

from apigw_enrichment import state
from apigw_enrichment.answers import Answer, Entry
from apigw_enrichment.config import DEFAULT_API_ID_FIELDS, DEFAULT_STAGE_FIELDS, ApiKeyValuePolicy
from apigw_enrichment.encoding.plain import PlainRecord, copy_data, plain_data, plain_line
from apigw_enrichment.encoding.splice import NOT_PLAIN, SplicePlanner
from apigw_enrichment.encoding.usual import UsualLines
from apigw_enrichment.enrichment.directory import enrichment_for
from apigw_enrichment.enrichment.keys import CONFLICTING, KeyReader
from apigw_enrichment.failures import RecordError
from apigw_enrichment.fields import EnrichmentStatus, is_enriched
from apigw_enrichment.formats.json_line import read_object, top_level_duplicates
from apigw_enrichment.response import Reingest, fit_response
from apigw_enrichment.sources.cloudwatch_logs import (
    GZIP_MAGIC,
    MAX_ENVELOPE_BYTES,
    SubscriptionFailure,
    read_envelope,
)
from apigw_enrichment.sources.firehose import (
    answer_for,
    b64decode_validating,
    decode_refused,
    encode_base64,
    read_reingested,
    validate_event,
)
from apigw_enrichment.telemetry import BatchSummary, instrumented, observe_batch, observe_plans, plan_traffic

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from apigw_enrichment.config import Settings
    from apigw_enrichment.encoding.splice import Splice, Unproven
    from apigw_enrichment.enrichment.directory import Enrichment
    from apigw_enrichment.enrichment.keys import LookupKey
    from apigw_enrichment.enrichment.usage_plans import CacheView, UsagePlanCache
    from apigw_enrichment.sources.cloudwatch_logs import Envelope
    from apigw_enrichment.sources.firehose import FirehoseEvent
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


class Entries:
    """What transform_entries answers: every record's response entry, in order (a usual line's
    a plain dict, any other's an Answer), with the cache's view and the traffic."""

    __slots__ = ("_records", "entries", "traffic", "usual", "view")

    def __init__(
        self,
        entries: list[Entry],
        records: list[Mapping[str, Any]],
        usual: UsualLines,
        view: CacheView,
        traffic: Counter[tuple[str | None, str | None]],
    ) -> None:
        self.entries, self._records, self.usual = entries, records, usual
        self.view, self.traffic = view, traffic

    def materialize(self, index: int) -> Answer:
        """The Answer for record `index`, in place of its plain entry if it has one."""
        entry = self.entries[index]
        if isinstance(entry, Answer):
            return entry
        answer = self.entries[index] = self.usual.materialize(entry, self._records[index]["data"])
        return answer

    def answers(self) -> list[Answer]:
        """Every record's Answer (the local runner's and the tests' view: a copy a record)."""
        return [self.materialize(index) for index in range(len(self.entries))]


def transform_batch(
    event: FirehoseEvent,
    settings: Settings,
    cache: UsagePlanCache,
    *,
    time_left: float | None = None,
    stages: LogGroupStages | None = None,
) -> Transformed:
    """Answer every record of a Firehose event; never raises because of one record.

    `stages` maps a subscription record's log group to its stage, for lines that do not say.
    """
    read = transform_entries(event, settings, cache, time_left=time_left, stages=stages)
    return Transformed(read.answers(), read.view, read.traffic)


def transform_entries(  # noqa: PLR0912, PLR0915 - the hot loop, kept in one function: no call per record it can spare
    event: FirehoseEvent,
    settings: Settings,
    cache: UsagePlanCache,
    *,
    time_left: float | None = None,
    stages: LogGroupStages | None = None,
) -> Entries:
    """transform_batch, answering each usual line with a plain entry (what lambda_handler sends)."""
    answers: list[Entry] = []
    # Each readable record's answer, key, how to write its line, and its status code. Only
    # what the second pass needs is kept: parsed objects are let go as soon as read.
    parsed: list[tuple[Answer, LookupKey, Splice | PlainRecord, Any]] = []
    copies: list[tuple[Answer, list[PlainRecord]]] = []
    subscriptions: list[tuple[Answer, str, list[MessageLine]]] = []
    inflated = InflatedBudget(MAX_BATCH_INFLATED_BYTES)  # what the batch's envelopes may inflate to
    read_key = KeyReader(settings.api_id_fields, settings.stage_fields, settings.key_id_fields).read
    policy, names = settings.api_key_values, settings.key_value_fields
    planner = SplicePlanner(policy, names)
    plan_line = planner.plan_line
    read_text = settings.log_format.read_text
    keeps_key_values = policy is ApiKeyValuePolicy.KEEP
    status_field = settings.status_field
    read_message = MessageReader(settings, read_key, plan_line).read
    # Runs of usual lines are answered in one step (usual.py), with the directory the cache holds
    # now; each record the run stops at is the careful path's, below.
    usual = UsualLines(settings, read_key, cache.directory)
    answer_run, learn_shape = usual.answer_run, usual.learn
    # The records as they came (validate_event checked their shape): a Powertools wrapper
    # per record costs 0.35 us more. Each step's usual case is inlined (answer_for,
    # decode_base64, read_object): a Python call costs 60 ns.
    records = event.raw_event["records"]
    index = 0
    while True:
        index = answer_run(records, index, answers)
        if index == len(records):
            break
        record = records[index]  # the careful path's
        index += 1
        data = record.get("data", "")
        if type(data) is not str:  # answer_for decides (and fails it)
            answers.append(answer_for(record))
            continue
        try:
            raw: bytes | None = b64decode_validating(data, None, True)  # noqa: FBT003 - as decode_base64 calls it
        except ValueError:  # decode_base64 decides
            raw = None
        answer = Answer(record["recordId"], "Ok", "", data)
        answers.append(answer)
        if raw is None:
            try:
                raw = decode_refused(data)
            except RecordError as error:
                answer.fail(error.reason)
                continue
        try:
            obj = loads(raw)
        except JSONDecodeError:
            obj = None
        try:
            if type(obj) is not dict:  # orjson refused it, or read no object: read_object decides why
                obj = read_object(raw)
            # A line whose bytes hold a member the parser did not keep (a name twice) is read
            # again, carefully: the splice would keep both, and the key reader must see both.
            splice = plan_line(raw, obj)
            duplicates = top_level_duplicates(raw) if splice is NOT_PLAIN else None
        except RecordError as error:
            if raw[:2] == GZIP_MAGIC:  # a CloudWatch Logs subscription record: many lines
                subscription = _read_subscription(answer, raw, read_message, inflated)
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
        if splice is None or splice is NOT_PLAIN:
            plan: Splice | PlainRecord = PlainRecord(raw, obj)
        else:
            plan = splice
            learn_shape(obj)  # the lines after it may be answered in one step
        parsed.append((answer, read_key(obj, duplicates), plan, obj.get(status_field)))

    if subscriptions and stages is not None:
        started = stages.clock()
        _name_stages(subscriptions, stages, time_left)
        if time_left is not None:  # one budget for the batch: the load gets what the listing left
            time_left -= stages.clock() - started
    # One cache decision per batch, made before any record is answered.
    keys = set(map(_KEY_OF, parsed))
    keys.update(line.key for _, _, lines in subscriptions for line in lines)
    keys.update(usual.keys())
    view = cache.view_for(keys, time_left=time_left)
    if view.directory is not usual.directory:  # loaded, or keys looked up, for this batch
        usual.rewrite(view.directory)

    enrichments: dict[LookupKey, Enrichment] = {}  # each distinct caller is looked up once
    # ... and its status and the five fields as JSON, for the splice: a tuple, read in one step.
    writes: dict[LookupKey, tuple[EnrichmentStatus, bytes]] = {}
    unwritten: list[tuple[LookupKey, Any]] = []  # (key, status) of records the plain path could not write
    for answer, key, plan, status in parsed:
        write = writes.get(key)
        if write is None:
            enrichment = enrichments[key] = enrichment_for(key, view.directory)
            write = writes[key] = enrichment.status, enrichment.json_members
        # The status is a StrEnum: counted and logged as its value.
        if isinstance(plan, bytes):  # the usual case: a splice (spliced_data, inlined)
            answer.status, answer.data = write[0], encode_base64(plan + write[1])
            continue
        enrichment = enrichments[key]
        answer.status = write[0]
        try:
            answer.data = plain_data(plan, enrichment, policy, names)
        except RecordError as error:
            answer.fail(error.reason)
            unwritten.append((key, status))
    traffic = _traffic(parsed, unwritten, enrichments)
    traffic.update(usual.traffic())
    for answer, _, message_lines in subscriptions:
        traffic.update(_write_lines(answer, message_lines, view, enrichments, settings))
    for answer, copy in copies:  # the function's own copies, back from the stream: as they are
        try:
            answer.data = copy_data(copy, policy, names)
        except RecordError as error:
            answer.fail(error.reason)
    return Entries(answers, records, usual, view, traffic)


_KEY_OF, _STATUS_OF = itemgetter(1), itemgetter(3)


def _traffic(
    parsed: list[tuple[Answer, LookupKey, Splice | PlainRecord, Any]],
    unwritten: list[tuple[LookupKey, Any]],
    enrichments: Mapping[LookupKey, Enrichment],
) -> Counter[tuple[str | None, str | None]]:
    """Requests per (usage plan id, status code) among the records answered with a status:
    counted once per distinct (caller, status code as logged, its type) by C-level Counter, then
    each pair named by its plan. (The type keeps 404 and 404.0 apart: equal as keys, but only
    one is a status code.)"""
    statuses = list(map(_STATUS_OF, parsed))
    try:
        pairs = Counter(zip(map(_KEY_OF, parsed), statuses, map(type, statuses), strict=True))
        pairs.subtract((key, status, type(status)) for key, status in unwritten)
    except TypeError:  # a status no set can hold (a list, an object): one record at a time
        pairs = Counter(
            (key, status if type(status) in _STATUS_TYPES else None, str)
            for (answer, key, _, status) in parsed
            if answer.status
        )
    traffic: Counter[tuple[str | None, str | None]] = Counter()
    for (key, status, kind), count in pairs.items():
        if count:
            traffic[enrichments[key].usage_plan_id, status if kind in _STATUS_TYPES else None] += count
    return traffic


# Every line of a batch's subscription records is held until the batch is answered: their
# inflated envelopes together may come to this much. Measured (tests/test_hostile_subscriptions.py,
# make bench): real envelopes cost about 3x their inflated bytes while answered, and the stack's
# 0.4 MB processor buffer of the largest inflates to about 4.4 MB, under half this bound; the
# worst shape (one line of many MiB) costs about 20x, so at most some 240 MB of the function's 512.
# Past the bound, each further subscription record fails on its own, kept as sent.
MAX_BATCH_INFLATED_BYTES = 12 * 1024 * 1024


class InflatedBudget:
    """How many inflated envelope bytes the batch has left."""

    __slots__ = ("left",)

    def __init__(self, total: int) -> None:
        self.left = total


def _read_subscription(
    answer: Answer, raw: bytes, read_message: Callable[[bytes], MessageLine], inflated: InflatedBudget
) -> tuple[str, list[MessageLine]] | None:
    """A subscription record's log group and lines, read; None if it is answered already."""
    try:
        envelope = _inflated_within(raw, inflated)
        if envelope.is_control:
            answer.drop()  # CloudWatch Logs checking that it can write here
            answer.line_statuses = Counter()  # a subscription record with no lines
            return None
        return envelope.log_group, [read_message(message) for message in envelope.messages]
    except RecordError as error:
        # Nothing is lost: the whole record is kept, as sent, under errors/.
        answer.fail(error.reason)
        return None


def _inflated_within(raw: bytes, inflated: InflatedBudget) -> Envelope:
    """The record's envelope, counted against what the batch may still inflate."""
    limit = min(MAX_ENVELOPE_BYTES, inflated.left)
    try:
        envelope = read_envelope(raw, limit)
    except RecordError as error:
        if error.reason is SubscriptionFailure.ENVELOPE_TOO_LARGE and limit < MAX_ENVELOPE_BYTES:
            raise RecordError(SubscriptionFailure.BATCH_TOO_LARGE) from None
        raise
    inflated.left -= envelope.size
    return envelope


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

    __slots__ = ("_api_id_fields", "_keeps", "_plan_line", "_read_key", "_read_text", "_stage_fields", "_status")

    def __init__(
        self,
        settings: Settings,
        read_key: Callable[[Mapping[str, Any], Mapping[str, list[Any]] | None], LookupKey],
        plan_line: Callable[[bytes, Mapping[str, Any]], Splice | Literal[Unproven.NOT_PLAIN] | None],
    ) -> None:
        self._read_key, self._plan_line = read_key, plan_line
        self._read_text = settings.log_format.read_text
        self._keeps = settings.api_key_values is ApiKeyValuePolicy.KEEP
        self._status = settings.status_field
        self._api_id_fields, self._stage_fields = settings.api_id_fields, settings.stage_fields

    def read(self, raw: bytes) -> MessageLine:
        """Raises RecordError if the line cannot be read."""
        try:
            obj = read_object(raw)
            splice = self._plan_line(raw, obj)
            duplicates = top_level_duplicates(raw) if splice is NOT_PLAIN else None
        except RecordError as error:
            line = self._read_text(raw, error, keeps_key_values=self._keeps)
            key = CONFLICTING if line.ambiguous else self._read_key(line.obj, line.duplicates)
            return MessageLine(key, PlainRecord(line.json, line.obj), line.obj.get(self._status), self._lacks(line.obj))
        start = PlainRecord(raw, obj) if splice is None or splice is NOT_PLAIN else splice
        return MessageLine(self._read_key(obj, duplicates), start, obj.get(self._status), self._lacks(obj))

    def _lacks(self, obj: Mapping[str, Any]) -> tuple[bool, bool]:
        # A member is filled in only where the line has none of its names, nor a member already
        # called what it would be written as (two members of one name are no one's to pick).
        return (
            _API_ID_MEMBER not in obj and all(name not in obj for name in self._api_id_fields),
            _STAGE_MEMBER not in obj and all(name not in obj for name in self._stage_fields),
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
            # Half a pair is filled in only where the other half agrees with the group's stage.
            if (not lacks_stage and line.key.stage != stage[1]) or (not lacks_api and line.key.api_id != stage[0]):
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
    return answer_entries(event, context).answers()


def answer_entries(event: dict[str, Any], context: LambdaContext) -> Entries:
    """Everything an invocation does: every record's entry, kept within the response limit, and
    the batch's metrics and log line."""
    with collector_paused():
        firehose_event = validate_event(event)
        # A load may use the invocation's time only up to a reserve kept for answering.
        time_left = context.get_remaining_time_in_millis() / 1000 - ANSWER_RESERVE_SECONDS
        read = transform_entries(
            firehose_event,
            state.settings(),
            state.usage_plan_cache(),
            time_left=time_left,
            stages=state.log_group_stages(),
        )
        reingest = Reingest(event.get("deliveryStreamArn"), context)
        fit = fit_response(read.entries, reingest, materialize=read.materialize)
        summary = BatchSummary.of(read.entries, fit.response_bytes, read.usual.statuses())
        observe_batch(summary, read.view, fit.reingested)
        observe_plans(plan_traffic(read.traffic))
        return read


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector, paused while a batch is answered.

    A batch makes some ten objects a record that the collector tracks (answers, parsed
    objects, tuples), most of them alive until the answer is returned, and no reference cycle
    among them: the collector would walk them several times a batch for nothing (0.7 ms of a
    25 ms 2 MB batch, measured). Reference counting frees everything as before; a cycle made
    meanwhile (by a library, say) is collected once the collector runs again.
    """
    if not gc.isenabled():  # paused already, by the caller or by a test
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@instrumented
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The entries are the response's records as they are: plain dicts, or Answers (dicts too).
    return {"records": answer_entries(event, context).entries}


# Everything imported so far (the modules, Powertools, botocore's and orjson's tables) lives as
# long as the execution environment: frozen out of the collector's sight, so that its later
# passes walk only what batches make (0.9 ms a 2 MB batch less, measured: every tenth batch's
# pass walked the whole process). Reference counting still frees any of it, and at exit it is
# handed back, so that the interpreter's last collection finalizes it as usual.
gc.freeze()
atexit.register(gc.unfreeze)
