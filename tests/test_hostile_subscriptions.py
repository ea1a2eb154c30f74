"""Hostile input against CloudWatch Logs subscription records, the usage-plan snapshot and the
targeted key lookups: each odd or hostile input fails alone, within bounded memory and calls,
and never fails the batch.

Tests marked xfail name a problem in a module that is not changed here (handler.py); each one
states the behaviour the fix must give, and passes once it does.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import itertools
import json
import tracemalloc
import zlib
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.budget import BudgetExhaustedError, Deadline
from apigw_enrichment.enrichment.directory import Customer, PlanKeys, build_directory
from apigw_enrichment.enrichment.keys import LookupKey
from apigw_enrichment.enrichment.loading import DirectoryLoader
from apigw_enrichment.enrichment.snapshot import (
    MAX_DIRECTORY_ENTRIES,
    MAX_SNAPSHOT_BYTES,
    SnapshotError,
    SnapshotProblem,
    decode_snapshot,
    encode_snapshot,
    read_snapshot_object,
)
from apigw_enrichment.enrichment.usage_plans import (
    FailureKind,
    FetchResult,
    KeyFound,
    UsagePlanCache,
    fetch_listing,
    look_up_key,
)
from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT
from apigw_enrichment.reingest import MAX_RECORD_BYTES, ReingestResult
from apigw_enrichment.response import fit_response, split_lines
from apigw_enrichment.sources.cloudwatch_logs import (
    MAX_ENVELOPE_BYTES,
    MAX_ENVELOPE_VALUES,
    SubscriptionFailure,
    read_envelope,
    values_at_most,
)
from apigw_enrichment.sources.firehose import REINGESTED_MARK, validate_event
from apigw_enrichment.sources.log_groups import LogGroupStages, list_stages
from apigw_logs.lambda_context import LocalContext
from apigw_logs.samples import ACCESS_LOG_GROUP, recommended_lines, subscription_record
from tests.support.clock import FakeClock
from tests.support.directory import KNOWN_API, KNOWN_KEY, KNOWN_STAGE, use_fixed_directory
from tests.support.events import ENRICHED_RECORD, decoded, firehose_event
from tests.support.fake_apigateway import FakeAccount, PagingApiGateway, RawBody

NOW = 1_790_000_000.0
RAW_KEY = "Zq9sEcReTvAlUe0123456789xyz"
# A format that logs neither the API id nor the stage: subscription lines get them from their log group.
KEY_ONLY = "$context.requestId $context.identity.apiKeyId $context.status"


def gzip_max(data: bytes) -> bytes:
    """gzip at level 9: what an attacker sends, repetitive JSON shrunk about a thousand times."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def peak_mb(call: Any) -> tuple[Any, float]:
    """What `call()` returns or raises, and the most memory Python allocated meanwhile, in MB."""
    tracemalloc.start()
    try:
        try:
            result: Any = call()
        except Exception as error:  # noqa: BLE001 - the test looks at what was raised
            result = error
        return result, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def line(n: int, **extra: Any) -> bytes:
    fields = {"request_id": f"req-{n}", "api_id": KNOWN_API, "stage": KNOWN_STAGE, "key_id": KNOWN_KEY, **extra}
    return json.dumps(fields, separators=(",", ":")).encode()


def reasons(event: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [
        (answer.result, None if answer.reason is None else answer.reason.value)
        for answer in app.handle(event, LocalContext())
    ]


# --- gzip bombs: what an envelope may cost before it is read ---


def dense_envelope(size: int = MAX_ENVELOPE_BYTES - 1024) -> bytes:
    """An envelope inside the 16 MiB bound whose `owner` holds millions of empty objects."""
    count = (size - 200) // 3
    return (
        b'{"messageType":"DATA_MESSAGE","logGroup":"g","owner":['
        + b"{}," * count
        + b'{}],"logEvents":[{"id":"0","timestamp":1,"message":"x"}]}'
    )


def test_a_16_kb_record_of_densely_packed_json_fails_alone_without_the_memory_to_parse_it(fixed_directory):
    """16 MiB of `[{},{},...]` gzips to 16 kB and took 620 MB to parse: more than the function's
    512 MB, so one such record crashed the invocation and every record beside it."""
    bomb = gzip_max(dense_envelope())
    assert len(bomb) < 20_000
    failure, peak = peak_mb(lambda: read_envelope(bomb))
    assert getattr(failure, "reason", None) is SubscriptionFailure.ENVELOPE_TOO_LARGE
    assert peak < 64, f"{peak:.0f} MB to refuse a {len(bomb):,}-byte record"
    assert reasons(firehose_event([bomb, line(1)])) == [("ProcessingFailed", "envelope_too_large"), ("Ok", None)]


def test_an_envelope_of_a_million_tiny_events_fails_alone(fixed_directory):
    events = b'{"message":"{}"},' * 980_000
    bomb = gzip_max(b'{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[' + events + b'{"message":"{}"}]}')
    failure, peak = peak_mb(lambda: read_envelope(bomb))
    assert getattr(failure, "reason", None) is SubscriptionFailure.ENVELOPE_TOO_LARGE
    assert peak < 64


@pytest.mark.parametrize(
    "unit",
    [b"{},", b"[],", b'"ab",', b"1000,", b"1.5,", b'{"a":1},', b"null,"],
    ids=["objects", "arrays", "strings", "integers", "floats", "small objects", "nulls"],
)
def test_whatever_an_envelope_within_the_bounds_holds_it_parses_in_under_100_mb(unit):
    """The largest envelope of each shape that is parsed: within the value bound, or (not counted)
    within 2 MiB, whichever is larger."""
    per_unit = values_at_most(unit * 10) / 10
    count = max(int(MAX_ENVELOPE_VALUES / per_unit), (2 * 1024 * 1024 - 200) // len(unit)) - 100
    body = (
        b'{"messageType":"DATA_MESSAGE","logGroup":"g","owner":[' + unit * count + b'0],"logEvents":[{"message":"x"}]}'
    )
    assert values_at_most(body) <= MAX_ENVELOPE_VALUES or len(body) <= 2 * 1024 * 1024
    envelope, peak = peak_mb(lambda: read_envelope(gzip.compress(body)))
    assert envelope.messages == (b"x",)
    assert peak < 100, f"{peak:.0f} MB"


def test_envelopes_as_cloudwatch_logs_writes_them_are_far_inside_the_value_bound():
    """About 1 MB of recommended-format lines, the most CloudWatch Logs puts in one envelope, counts
    an eighth of the bound: the bound refuses only what CloudWatch Logs does not write."""
    lines = recommended_lines(RECOMMENDED_ACCESS_LOG_FORMAT)
    text = gzip.decompress(subscription_record((lines * 400)[:1400]))
    assert len(text) > 1_000_000
    assert values_at_most(text) * 8 < MAX_ENVELOPE_VALUES


def test_a_small_batch_of_envelopes_each_one_huge_line_is_answered_within_bounded_memory(fixed_directory):
    huge = line(1, user_agent="A" * (MAX_ENVELOPE_BYTES - 4096))
    envelope = json.dumps(
        {
            "messageType": "DATA_MESSAGE",
            "logGroup": "g",
            "logEvents": [{"id": "0" * 56, "timestamp": 1, "message": huge.decode()}],
        },
        separators=(",", ":"),
    ).encode()
    record = gzip_max(envelope)
    event = firehose_event([record] * 4)
    assert len(json.dumps(event)) < 100_000

    def answer() -> None:
        answers, _, _ = app.transform_batch(validate_event(event), state.settings(), state.usage_plan_cache())
        fit_response(answers, lambda payloads: ReingestResult((False,) * len(payloads), 0, 0, 0))

    _, peak = peak_mb(answer)
    assert peak < 256, f"a {len(json.dumps(event)):,}-byte event took {peak:.0f} MB"


def test_past_the_batchs_inflated_bound_each_further_subscription_record_fails_alone(fixed_directory):
    """Envelopes that inflate, together, past what one batch may hold: the first are answered,
    each later one fails on its own (kept as sent), and a direct line after them is answered."""
    big = line(1, user_agent="A" * (3 * 1024 * 1024))
    record = subscription_record([big])
    event = validate_event(firehose_event([record] * 6 + [line(2)]))
    answers, _, _ = app.transform_batch(event, state.settings(), state.usage_plan_cache())
    reasons = [answer.reason for answer in answers]
    assert reasons[:3] == [None, None, None]
    assert "batch_too_large" in reasons[3:6] and reasons[-1] is None
    assert all(a.data == a.original for a in answers if a.reason is not None)


# --- messages and envelopes of odd shapes: each record fails alone or is answered line by line ---

ODD_MESSAGES = [
    "\x1e" + json.dumps({**ENRICHED_RECORD, "api_key": RAW_KEY}),  # looks like one of the function's copies
    gzip.compress(line(1)).decode("latin-1"),  # a message that is itself gzip
    line(1).decode() + "\n" + line(2).decode(),  # two lines in one message
    line(1).decode()[:-1] + ',"ua":"a\\u2028b\\u0000c"}',
    line(1).decode()[:-1] + ',"ua":"a\u2028b\rc"}',
    line(1).decode() + "\r\n",
    line(1).decode()[:-1] + ',"nested":{"deeper":[{"api_key":"' + RAW_KEY + '"}]}}',
    line(1).decode()[:-1] + ',"api_key":"' + RAW_KEY + '","api\\u005fkey":"' + RAW_KEY + '"}',
    '{"api_key":"' + RAW_KEY + '","api_key":"' + RAW_KEY[::-1] + '","key_id":"' + KNOWN_KEY + '"}',
    "",
    "\x00",
]


@pytest.mark.parametrize("message", ODD_MESSAGES)
def test_an_odd_message_gives_one_masked_line_or_fails_its_record_alone(fixed_directory, handler_logs, message):
    record = subscription_record([line(1).decode(), message])
    response = app.lambda_handler(firehose_event([record, line(9)]), LocalContext())
    (_, result, data), (_, last, _) = decoded(response)
    assert last == "Ok"
    if result == "Ok":
        lines = data.split(b"\n")
        assert lines[-1] == b"" and len(lines) == 3, "one line a message, each ending in one newline"
        assert all(isinstance(json.loads(text), dict) for text in lines[:-1])
        assert b"\r" not in data
    else:
        assert (result, data) == ("ProcessingFailed", base64.b64encode(record))
    assert RAW_KEY not in json.dumps(response) or result == "ProcessingFailed"
    assert RAW_KEY[::-1] not in json.dumps(response) or result == "ProcessingFailed"
    assert RAW_KEY not in handler_logs.getvalue()


@pytest.mark.parametrize(
    "envelope",
    [
        {"messageType": "DATA_MESSAGE", "logGroup": ["g"], "logEvents": [{"message": "x"}]},
        {"messageType": "DATA_MESSAGE", "logGroup": {"g": 1}, "logEvents": [{"message": "x"}]},
        {"messageType": ["DATA_MESSAGE"], "logGroup": "g", "logEvents": [{"message": "x"}]},
        {"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": [{"message": "x"}, 5, "y"]},
        {"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": [{"message": ["x"]}]},
        {"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": {"message": "x"}},
    ],
)
def test_an_envelope_with_fields_of_the_wrong_type_fails_alone(fixed_directory, envelope):
    record = gzip.compress(json.dumps(envelope).encode())
    assert reasons(firehose_event([record, line(2)])) == [("ProcessingFailed", "invalid_envelope"), ("Ok", None)]


def test_concatenated_gzip_members_fail_alone_and_duplicate_names_read_as_the_parser_keeps_them(fixed_directory):
    two_members = subscription_record([line(1)]) + subscription_record([line(2)])
    duplicated = gzip.compress(
        b'{"messageType":"CONTROL_MESSAGE","messageType":"DATA_MESSAGE","logGroup":"g",'
        b'"logEvents":[{"message":' + json.dumps(line(3).decode()).encode() + b"}]}"
    )
    assert reasons(firehose_event([two_members, duplicated])) == [
        ("ProcessingFailed", "invalid_envelope"),
        ("Ok", None),
    ]


@pytest.mark.parametrize(
    "status",
    [["500"], {"code": 500}, True, 500.0, 10**30, "5" * 5000, "\u0665\u0660\u0660", None, "", 503],
    ids=repr,
)
def test_a_status_of_any_type_never_fails_the_batch_nor_its_metrics(fixed_directory, capsys, status):
    messages = [json.dumps({**json.loads(line(1)), "status": status}), line(2, status="404").decode()]
    response = app.lambda_handler(firehose_event([subscription_record(messages)]), LocalContext())
    assert [record["result"] for record in response["records"]] == ["Ok"]
    out = capsys.readouterr().out
    assert '"UsagePlan":"pl0gold001"' in out and '"Requests":[2.0]' in out


def test_per_plan_metrics_name_plans_never_keys_however_many_callers(fixed_directory, capsys):
    messages = [line(n, key_id=f"caller{n:05d}").decode() for n in range(300)] + [line(300).decode()]
    app.lambda_handler(firehose_event([subscription_record(messages)]), LocalContext())
    dimensions = {
        document["UsagePlan"]
        for text in capsys.readouterr().out.splitlines()
        if text.startswith("{") and "UsagePlan" in (document := json.loads(text))
    }
    assert dimensions == {"pl0gold001", "(none)"}


# --- copies going back: split between lines, and coming back through the function ---


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=12),
    st.integers(1, 60),
    st.booleans(),
)
def test_split_lines_cuts_only_after_newlines_and_keeps_every_byte(lengths, limit, trailing_newline):
    data = b"\n".join(b"x" * length for length in lengths) + (b"\n" if trailing_newline and lengths else b"")
    pieces = split_lines(data, limit)
    assert b"".join(pieces) == data
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        assert piece.endswith(b"\n") or last
        if len(piece) > limit:  # only a single line longer than the limit stands alone over it
            assert piece.count(b"\n") <= 1 and piece.rstrip(b"\n").count(b"\n") == 0


def test_a_marked_multi_line_copy_with_raw_keys_comes_back_masked_on_every_line(fixed_directory):
    enriched = [json.dumps({**ENRICHED_RECORD, "api_key": RAW_KEY, "n": n}) for n in range(3)]
    nested = json.dumps({**ENRICHED_RECORD, "api_key": "-", "inner": {"apiKey": RAW_KEY}})
    copy = REINGESTED_MARK + "\n".join([*enriched, nested]).encode() + b"\n"
    ((_, result, data),) = decoded(app.lambda_handler(firehose_event([copy]), LocalContext()))
    assert result == "Ok" and RAW_KEY.encode() not in data
    assert [json.loads(text)["n"] for text in data.split(b"\n")[:3]] == [0, 1, 2]


def test_a_subscription_record_too_large_for_one_copy_goes_back_in_pieces_that_pass_through_again(fixed_directory):
    messages = [line(n, user_agent="y" * 900).decode() for n in range(3000)]
    event = firehose_event([subscription_record(messages)])
    answers, _, _ = app.transform_batch(validate_event(event), state.settings(), state.usage_plan_cache())
    sent: list[bytes] = []

    def reingest(payloads: list[bytes]) -> ReingestResult:
        sent.extend(payloads)
        return ReingestResult((True,) * len(payloads), 1, 1, 0)

    fit_response(answers, reingest, limit=1000)
    assert answers[0].result == "Dropped" and len(sent) > 1
    assert all(len(payload) <= MAX_RECORD_BYTES and payload.endswith(b"\n") for payload in sent)
    again = decoded(app.lambda_handler(firehose_event(sent), LocalContext()))
    assert b"".join(data for _, _, data in again) == b"".join(payload[1:] for payload in sent)


# --- the log-group listing: a malformed answer, a listing that cannot finish ---


def apigateway_answering(bodies: dict[str, Any]) -> Any:
    """A real boto3 client whose requests are answered with these bodies, by operation."""
    client = boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    def answer(request: Any, **_: Any) -> AWSResponse:
        path = request.url.split("?")[0]
        operation = "GetStages" if path.endswith("/stages") else "GetRestApis"
        if "/apikeys/" in path:
            operation = "GetApiKey"
        elif "/usageplans" in path:
            operation = "GetUsagePlans"
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/json"
        return AWSResponse(request.url, 200, headers, RawBody(json.dumps(bodies[operation]).encode()))

    client.meta.events.register_first("before-send.api-gateway", answer)
    return client


@pytest.mark.parametrize(
    "bodies",
    [
        {"GetRestApis": {"item": [None]}, "GetStages": {"item": []}},
        {"GetRestApis": {"item": [{"id": KNOWN_API}]}, "GetStages": {"item": [None]}},
        {"GetRestApis": {"item": [{"id": KNOWN_API}]}, "GetStages": {"item": [{"stageName": "prod"}, 7]}},
    ],
    ids=["a null API", "a null stage", "a stage that is a number"],
)
def test_a_malformed_stage_listing_fails_the_listing_never_the_batch(monkeypatch, bodies):
    monkeypatch.setenv("ACCESS_LOG_FORMAT", KEY_ONLY)
    use_fixed_directory()
    client, calls = apigateway_answering(bodies), []

    def fetch(deadline: Deadline) -> Any:
        calls.append(1)
        return list_stages(client, deadline)

    stages = LogGroupStages(fetch, ttl_seconds=900, retry_seconds=60, budget_seconds=10)
    record = subscription_record([f"req-1 {KNOWN_KEY} 200", f"req-2 {KNOWN_KEY} 500"])
    for _ in range(3):
        answers, _, _ = app.transform_batch(
            validate_event(firehose_event([record])), state.settings(), state.usage_plan_cache(), stages=stages
        )
        assert [answer.result for answer in answers] == ["Ok"]
    assert calls == [1], "listed once, then kept (or not tried again within the gap)"


def test_a_stage_listing_that_cannot_finish_is_tried_less_and_less_often():
    """An account whose REST APIs take longer to list than the budget: each attempt spends the
    whole budget on requests (about 100 at 10 a second) and fails. Tried every MissRefreshSeconds
    for ever, that is a steady storm of control-plane calls from each environment."""
    clock, attempts = FakeClock(), []

    def fetch(_deadline: Deadline) -> Any:
        attempts.append(clock())
        raise BudgetExhaustedError

    stages = LogGroupStages(fetch, ttl_seconds=900, retry_seconds=60, budget_seconds=10, clock=clock)
    for _ in range(360):  # a batch every 10 s for an hour
        assert stages.stage_for(ACCESS_LOG_GROUP) is None
        clock.advance(10)
    assert len(attempts) <= 8, f"{len(attempts)} listings in an hour"
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] == 60 and max(gaps) == 900


def test_a_stage_listing_failing_in_an_unforeseen_way_is_a_failed_listing_retried_after_the_gap():
    clock, attempts = FakeClock(), []

    def fetch(_deadline: Deadline) -> Any:
        attempts.append(clock())
        if len(attempts) == 1:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "a body no one foresaw")
        return {ACCESS_LOG_GROUP: (KNOWN_API, KNOWN_STAGE)}

    stages = LogGroupStages(fetch, ttl_seconds=900, retry_seconds=60, budget_seconds=10, clock=clock)
    assert stages.stage_for(ACCESS_LOG_GROUP) is None
    clock.advance(59)
    assert stages.stage_for(ACCESS_LOG_GROUP) is None and len(attempts) == 1
    clock.advance(1)
    assert stages.stage_for(ACCESS_LOG_GROUP) == (KNOWN_API, KNOWN_STAGE)


def test_the_stage_listing_and_the_usage_plan_load_share_the_batch_s_one_budget(monkeypatch):
    monkeypatch.setenv("ACCESS_LOG_FORMAT", KEY_ONLY)
    clock, budgets = FakeClock(), []

    def slow_listing(deadline: Deadline) -> Any:
        clock.advance(deadline.seconds)  # the listing uses all it is given, then fails
        raise BudgetExhaustedError

    def load(deadline: Deadline) -> FetchResult:
        budgets.append(deadline.seconds)
        return FetchResult(build_directory([], []), 0)

    stages = LogGroupStages(slow_listing, ttl_seconds=900, retry_seconds=60, budget_seconds=35, clock=clock)
    cache = UsagePlanCache(load, ttl_seconds=900, miss_refresh_seconds=60, budget_seconds=35, clock=clock)
    event = validate_event(firehose_event([subscription_record([f"req-1 {KNOWN_KEY} 200"])]))
    app.transform_batch(event, state.settings(), cache, time_left=35.0, stages=stages)
    assert clock() + budgets[0] <= 35.0, f"the load was given {budgets[0]:g} s after the listing took {clock():g} s"


def test_a_filled_in_api_id_never_duplicates_a_member_the_line_has(monkeypatch):
    monkeypatch.setenv("ACCESS_LOG_FORMAT", KEY_ONLY)
    monkeypatch.setenv("API_ID_FIELD", "apiId")
    use_fixed_directory()
    state.use_stages(
        LogGroupStages(
            lambda _deadline: {ACCESS_LOG_GROUP: (KNOWN_API, KNOWN_STAGE)},
            ttl_seconds=900,
            retry_seconds=60,
            budget_seconds=10,
        )
    )
    message = json.dumps({"request_id": "r1", "api_id": "not-an-api", "stage": KNOWN_STAGE, "key_id": KNOWN_KEY})
    ((_, result, data),) = decoded(app.lambda_handler(firehose_event([subscription_record([message])]), LocalContext()))
    assert result == "Ok"
    pairs = json.loads(data, object_pairs_hook=lambda items: items)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), data


# --- the snapshot: whatever the object holds, a cold start survives it and lists instead ---


def snapshot(document: Any, *, level: int = 6) -> bytes:
    return gzip.compress(json.dumps(document).encode(), compresslevel=level, mtime=0)


def document(**overrides: Any) -> dict[str, Any]:
    plans = [{"id": "plan01", "name": "Gold", "apiStages": [[KNOWN_API, KNOWN_STAGE]], "keys": [[KNOWN_KEY, "A"]]}]
    return {"version": 1, "written_at": NOW, "plans": plans, "apiKeys": [[KNOWN_KEY, "A", "cust"]], **overrides}


def small_account() -> FakeAccount:
    account = FakeAccount()
    account.add_key(KNOWN_KEY, "Acme Corp", "cust-acme", value=RAW_KEY)
    account.add_plan("plan01", "Gold", [(KNOWN_API, KNOWN_STAGE)], [KNOWN_KEY])
    return account


class FakeBody:
    """An S3 object's body of `size` bytes (a gzip header, then zeros), made only as far as it is read."""

    def __init__(self, size: int) -> None:
        self.size, self.handed_out = size, 0

    def read(self, amount: int | None = None) -> bytes:
        count = self.size - self.handed_out if amount is None else min(amount, self.size - self.handed_out)
        self.handed_out += count
        return (b"\x1f\x8b\x08\x00" + bytes(count))[:count]

    def close(self) -> None:
        pass


class FakeS3:
    def __init__(self, body: Any = None, error: Exception | None = None) -> None:
        self.body, self.error = body, error
        self.meta = boto3.client("s3", region_name="us-east-1").meta

    def get_object(self, **_: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return {"Body": self.body}


def listed_instead(s3: Any, *, clock: float = NOW) -> FetchResult:
    """What a cold start loads with this S3 client and the small account's listings behind it."""
    fake = PagingApiGateway(small_account())
    loader = DirectoryLoader(fake.client, lambda: s3, ("bucket", "directory/usage-plans.json.gz"), 900, lambda: clock)
    return loader(Deadline(10))


def test_a_snapshot_object_of_gigabytes_is_not_read_whole_and_the_account_is_listed():
    body = FakeBody(5 * 1024**3)
    result = listed_instead(FakeS3(body))
    assert (result.source, result.snapshot_problem) == ("listing", "unreadable")
    assert body.handed_out <= MAX_SNAPSHOT_BYTES + 1
    assert result.directory.knows(KNOWN_API, KNOWN_STAGE, KNOWN_KEY)


def test_a_snapshot_of_a_few_kilobytes_that_inflates_to_millions_of_objects_is_refused_in_bounded_memory():
    bomb = gzip_max(b'{"version":1,"written_at":%d,"plans":[' % NOW + b"{}," * 5_000_000 + b'{}],"apiKeys":[]}')
    assert len(bomb) < 20_000
    failure, peak = peak_mb(lambda: decode_snapshot(bomb, now=NOW, max_age_seconds=900))
    assert isinstance(failure, SnapshotError) and failure.problem is SnapshotProblem.UNREADABLE
    assert peak < 64, f"{peak:.0f} MB"


def test_a_snapshot_pairing_millions_of_stages_and_keys_is_refused_and_the_account_is_listed():
    """One plan on 1,000 stages with 2,000 keys: 7.5 kB of gzip, and 2,000,000 directory entries
    (217 MB) once built; 4,000 of each is 30 kB and 1.7 GB."""
    stages = [[f"api{number:07d}", "prod"] for number in range(1000)]
    keys = [[f"k{number:09d}", None] for number in range(2000)]
    data = snapshot(document(plans=[{"id": "p", "name": "P", "apiStages": stages, "keys": keys}]), level=9)
    assert len(data) < 10_000 and len(stages) * len(keys) > MAX_DIRECTORY_ENTRIES
    failure, peak = peak_mb(lambda: decode_snapshot(data, now=NOW, max_age_seconds=900))
    assert isinstance(failure, SnapshotError) and failure.problem is SnapshotProblem.UNREADABLE
    assert peak < 64
    result = listed_instead(FakeS3(io.BytesIO(data)))
    assert (result.source, result.snapshot_problem) == ("listing", "unreadable")


def test_a_snapshot_written_in_the_future_is_not_taken_for_fresh():
    """A snapshot stamped ten years ahead would be fresh for ten years: a stale copy put back, or a
    clock gone wrong, would stand in for the account long after the refresher stopped."""
    data = snapshot(document(written_at=NOW + 10 * 365 * 86400))
    with pytest.raises(SnapshotError) as failure:
        decode_snapshot(data, now=NOW, max_age_seconds=900)
    assert failure.value.problem is SnapshotProblem.UNREADABLE
    assert decode_snapshot(snapshot(document(written_at=NOW + 5)), now=NOW, max_age_seconds=900)
    assert listed_instead(FakeS3(io.BytesIO(data))).source == "listing"


@pytest.mark.parametrize(
    "overrides",
    [
        {"plans": {"plan01": {}}},
        {"apiKeys": "abc"},
        {"apiKeys": [{"id": KNOWN_KEY, "name": "A", "customerId": "c"}]},
        {"apiKeys": [[KNOWN_KEY, "A"]]},
        {"plans": [{"id": "p", "name": "P", "apiStages": [{"apiId": KNOWN_API, "stage": KNOWN_STAGE}], "keys": []}]},
        {"plans": [{"id": "p", "name": "P", "apiStages": ["ab"], "keys": []}]},
        {"plans": [{"id": "p", "name": "P", "apiStages": [], "keys": [{"a": 1, "b": 2}]}]},
        {"plans": [{"id": None, "name": "P", "apiStages": [], "keys": []}]},
        {"plans": [{"id": "p", "name": 5, "apiStages": [], "keys": []}]},
        {"written_at": -1e308},
        {"written_at": "now"},
        {"written_at": True},
        {"version": 2},
    ],
)
def test_a_snapshot_of_another_shape_is_unreadable_or_stale_never_read_as_something_else(overrides):
    with pytest.raises(SnapshotError):
        decode_snapshot(snapshot(document(**overrides)), now=NOW, max_age_seconds=900)


def test_bytes_after_the_snapshot_s_gzip_member_make_it_unreadable():
    with pytest.raises(SnapshotError) as failure:
        decode_snapshot(snapshot(document()) + snapshot(document()), now=NOW, max_age_seconds=900)
    assert failure.value.problem is SnapshotProblem.UNREADABLE


json_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
snapshot_like = st.fixed_dictionaries(
    {"version": st.just(1), "written_at": st.just(NOW)},
    optional={
        "plans": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": json_anything,
                    "name": json_anything,
                    "apiStages": st.lists(st.lists(json_anything, max_size=3), max_size=3) | json_anything,
                    "keys": st.lists(st.lists(json_anything, max_size=3), max_size=3) | json_anything,
                },
            )
            | json_anything,
            max_size=3,
        )
        | json_anything,
        "apiKeys": st.lists(st.lists(json_anything, max_size=4) | json_anything, max_size=3) | json_anything,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshot_like)
def test_whatever_a_snapshot_holds_reading_it_gives_a_directory_or_a_snapshot_error(document_):
    try:
        result = decode_snapshot(snapshot(document_), now=NOW, max_age_seconds=900)
    except SnapshotError:
        return
    assert result.directory.plan_count == len(document_["plans"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_whatever_bytes_the_snapshot_object_holds_reading_it_gives_a_directory_or_a_snapshot_error(data):
    for candidate in (data, gzip.compress(data)):
        with contextlib.suppress(SnapshotError):
            decode_snapshot(candidate, now=NOW, max_age_seconds=900)


def test_reading_the_snapshot_failing_in_an_unforeseen_way_still_lists_the_account():
    result = listed_instead(FakeS3(error=RuntimeError("an S3 answer no one foresaw")))
    assert (result.source, result.snapshot_problem) == ("listing", "unreadable")
    assert result.directory.knows(KNOWN_API, KNOWN_STAGE, KNOWN_KEY)


def test_the_snapshot_holds_no_key_value_even_of_keys_listed_with_their_values():
    account = small_account()
    fake = PagingApiGateway(account)
    fake.extra_items["GetApiKeys"] = [{"id": "k2", "name": "B", "value": RAW_KEY + "2", "customerId": None}]
    listed = fetch_listing(fake.client())
    text = gzip.decompress(encode_snapshot(listed.plans, listed.api_keys, NOW))
    assert RAW_KEY.encode() not in text


def test_read_snapshot_object_reads_the_refresher_s_own_object():
    data = snapshot(document())
    found = read_snapshot_object(FakeS3(io.BytesIO(data)), "b", "k", now=NOW, max_age_seconds=900)
    assert found.directory.knows(KNOWN_API, KNOWN_STAGE, KNOWN_KEY)


# --- targeted lookups: a hostile key id costs nothing and holds back no one ---


def lookup_cache(fake: PagingApiGateway, clock: FakeClock, directory: Any = None) -> UsagePlanCache:
    loader = DirectoryLoader(fake.client, lambda: None, None, 900)
    known = directory if directory is not None else build_directory([], [])
    return UsagePlanCache(
        lambda _deadline: FetchResult(known, 0, source="snapshot", age_seconds=300),
        ttl_seconds=900,
        miss_refresh_seconds=60,
        clock=clock,
        look_up=loader.look_up,
    )


@pytest.mark.parametrize("bad_id", ["!\ud800", "a/../b", "x" * 10_000, "..", "key id", "ключ"])
def test_a_key_id_no_api_key_can_have_costs_no_call_and_holds_back_no_other_lookup(bad_id):
    """A lone surrogate could not even be put in the request: the lookup failed, and every lookup
    paused for MissRefreshSeconds. One such line a minute kept every new key unknown."""
    account = small_account()
    fake, clock = PagingApiGateway(account), FakeClock()
    cache = lookup_cache(fake, clock)
    cache.view_for(set())
    for minute in range(3):
        view = cache.view_for({LookupKey(KNOWN_API, KNOWN_STAGE, bad_id), LookupKey(KNOWN_API, KNOWN_STAGE, KNOWN_KEY)})
        assert view.lookups is None or view.lookups.failure is None
        clock.advance(61 if minute else 1)
    assert fake.count("GetApiKey") == 1, "the real key, once; the other never"
    assert view.directory is not None and view.directory.knows(KNOWN_API, KNOWN_STAGE, KNOWN_KEY)
    assert look_up_key(fake.client(), bad_id) == (KeyFound(bad_id, None), 0)


def test_a_lookup_failing_in_an_unforeseen_way_fails_the_lookups_not_the_batch():
    def look_up(_key_id: str, _deadline: Deadline) -> Any:
        raise RuntimeError("no client could be made")

    clock = FakeClock()
    cache = UsagePlanCache(
        lambda _deadline: FetchResult(build_directory([], []), 0, source="snapshot", age_seconds=300),
        ttl_seconds=900,
        miss_refresh_seconds=60,
        clock=clock,
        look_up=look_up,
    )
    cache.view_for(set())
    view = cache.view_for({LookupKey(KNOWN_API, KNOWN_STAGE, KNOWN_KEY)})
    assert view.lookups is not None and view.lookups.failure is FailureKind.OTHER
    assert view.lookups.error is not None and "no client" not in view.lookups.error


def test_a_known_key_on_lines_without_their_stage_is_not_looked_up_again_and_again():
    """Such a line can be given its key's customer and nothing more, which the directory has:
    asking again each minute was two wasted calls a key, for ever."""
    plan = PlanKeys({"id": "plan01", "name": "Gold", "apiStages": [{"apiId": KNOWN_API, "stage": KNOWN_STAGE}]}, ())
    directory = build_directory([plan], [{"id": KNOWN_KEY, "name": "Acme", "customerId": "c"}])
    fake, clock = PagingApiGateway(small_account()), FakeClock()
    cache = lookup_cache(fake, clock, directory)
    cache.view_for(set())
    for _ in range(10):
        cache.view_for({LookupKey(None, None, KNOWN_KEY), LookupKey(KNOWN_API, None, KNOWN_KEY)})
        clock.advance(61)
    assert fake.count() == 0
    # A key the directory does not have at all is still asked about: its customer is worth knowing.
    cache.view_for({LookupKey(None, None, "newkey01")})
    assert fake.count("GetApiKey") == 1


def test_an_answer_about_another_key_is_not_taken_for_the_key_asked_about():
    client = apigateway_answering(
        {"GetApiKey": {"id": "someoneelse", "name": "Acme", "customerId": "cust-acme"}, "GetUsagePlans": {"item": []}}
    )
    found, _ = look_up_key(client, "k7x2m9p4q2")
    assert found.customer is None


def test_a_get_api_key_answer_missing_fields_or_plans_with_malformed_stages_fail_nothing():
    client = apigateway_answering(
        {
            "GetApiKey": {"id": KNOWN_KEY},
            "GetUsagePlans": {
                "item": [
                    {"id": "plan01", "apiStages": [{"apiId": KNOWN_API}, None, {"apiId": 5, "stage": "prod"}]},
                    {"id": None},
                    None,
                    {"id": "plan02", "name": "Free", "apiStages": [{"apiId": KNOWN_API, "stage": KNOWN_STAGE}]},
                ]
            },
        }
    )
    found, _ = look_up_key(client, KNOWN_KEY)
    assert found.customer == Customer(KNOWN_KEY, None, None)
    assert [plan["id"] for plan in found.plans] == ["plan01", "plan02"]
    directory = build_directory([], []).with_keys([(found.customer, found.plans)])
    assert directory.lookup(KNOWN_API, KNOWN_STAGE, KNOWN_KEY).usage_plan_id == "plan02"


def test_a_throttled_lookup_still_pauses_the_others():
    account = small_account()
    fake, clock = PagingApiGateway(account), FakeClock()
    fake.failure = lambda _n, operation: (
        (429, "TooManyRequestsException", "slow down") if operation == "GetApiKey" else None
    )
    cache = lookup_cache(fake, clock)
    cache.view_for(set())
    view = cache.view_for({LookupKey(KNOWN_API, KNOWN_STAGE, KNOWN_KEY)})
    assert view.lookups is not None and view.lookups.failure is FailureKind.THROTTLED
    clock.advance(30)
    assert cache.view_for({LookupKey(KNOWN_API, KNOWN_STAGE, "otherkey1")}).lookups is None


@pytest.fixture
def fixed_directory() -> None:
    use_fixed_directory()


def test_a_denied_stage_listing_keeps_lines_and_logs_only_the_error_code(monkeypatch, handler_logs):
    monkeypatch.setenv("ACCESS_LOG_FORMAT", KEY_ONLY)
    use_fixed_directory()

    def denied(_deadline: Deadline) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": RAW_KEY}}, "GetRestApis")

    state.use_stages(LogGroupStages(denied, ttl_seconds=900, retry_seconds=60, budget_seconds=10))
    response = app.lambda_handler(firehose_event([subscription_record([f"req-1 {KNOWN_KEY} 200"])]), LocalContext())
    assert [record["result"] for record in response["records"]] == ["Ok"]
    assert "AccessDeniedException" in handler_logs.getvalue() and RAW_KEY not in handler_logs.getvalue()
