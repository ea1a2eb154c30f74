"""The splice (the five fields appended to a record's own bytes and base64) against the plain
path (parse, add, serialize again), on the same input, odd input included."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.encoding.plain import PlainRecord, plain_data
from apigw_enrichment.encoding.splice import NOT_PLAIN, SplicePlanner, spliced_data
from apigw_enrichment.enrichment.directory import LOOKUP_UNAVAILABLE, NO_API_KEY, Enrichment
from apigw_enrichment.enrichment.masking import mask_value
from apigw_enrichment.fields import ENRICHMENT_FIELDS, EnrichmentStatus
from apigw_enrichment.formats.json_line import members_are_plain, read_object
from apigw_enrichment.sources.firehose import decode_base64, encode_base64

EVENTS = Path(__file__).resolve().parents[3] / "events"
KEY = "demoAcmeKeyValue000000000000a1f3"
ENRICHMENTS = [
    Enrichment(EnrichmentStatus.ENRICHED, "plan-1", "Gold — ünïcode", "cust-1", 'Acme "Rockets"'),
    NO_API_KEY,
    LOOKUP_UNAVAILABLE,
    None,  # a re-ingested copy: passes through (the plain path only)
]
POLICIES = list(ApiKeyValuePolicy)

ODD_INPUT = [
    b'{"api_id":"a1","stage":"prod","api_key":"' + KEY.encode() + b'","key_id":"k1","ua":"curl/8"}',  # recommended
    b'{"api_id": "a1", "api_key": "' + KEY.encode() + b'", "key_id": "k1", "stage": "prod"}',  # spaced: "name": "value"
    b'{"api_key" :\t"' + KEY.encode() + b'" ,"key_id":"k1"}',  # odd whitespace around the colon
    b'{"key_id":"k1","api_key":"' + KEY.encode() + b'"}',  # the key value last
    b'{"api_key":"' + KEY.encode() + b'"}',  # and only
    b"{}",
    b"{ }",
    b'  {"key_id":"k1"}',  # whitespace before
    b'{"key_id":"k1"}\n',  # a trailing newline
    b'{"key_id":"k1"}\r\n\n  ',
    b'{"key_id":"k1",\n"stage":"prod"}',  # a line break between members
    b'{"key_id":"k1","msg":"line one\\nline two"}',  # an escaped one inside a string
    b'{"key_id":"k1","api_key":"' + KEY.encode() + b'","path":"/a\\\\b"}',  # a backslash anywhere
    b'{"api\\u005fkey":"' + KEY.encode() + b'","key_id":"k1"}',  # the name itself escaped
    b'{"note":"\\"api_key\\":\\"x\\"","api_key":"' + KEY.encode() + b'"}',  # the name inside another string
    b'{"label":"api_key","api_key":"' + KEY.encode() + b'"}',  # as a value elsewhere
    b'{"inner":{"api_key":"nested-secret-1234"},"api_key":"' + KEY.encode() + b'"}',  # also nested
    b'{"inner":{"api_key":"nested-secret-1234"}}',  # only nested: not the record's key field
    b'{"api_key":"first-secret-00001","api_key":"' + KEY.encode() + b'"}',  # duplicate: the last wins
    b'{"api_key":"' + KEY.encode() + b'","api_key":"' + KEY.encode() + b'"}',  # duplicate, same value
    b'{"inner":{"api_key":"' + KEY.encode() + b'"},"api_key":"' + KEY.encode() + b'"}',  # nested, same value
    b'{"api_key":"' + KEY.encode() + b'","apiKey":"otherSecretValue0000"}',  # both key fields
    b'{"apiKey":"' + KEY.encode() + b'"}',
    b'{"api_key":12345678901234567890}',  # not a string
    b'{"api_key":null}',
    b'{"api_key":{"v":"x"}}',
    b'{"api_key":"-"}',
    b'{"api_key":""}',
    b'{"api_key":"****a1f3"}',  # already masked
    b'{"api_key":"short"}',
    b'{"api_key":"\xc3\xa9t\xc3\xa9-secret-value-\xe2\x82\xac\xe2\x82\xac"}',  # non-ASCII
    b'{"api_key":"' + KEY.encode() + b'","sep":"\xe2\x80\xa8"}',  # U+2028 inside a string
    b'{"n":123456789012345678901234567890,"f":1.0e2,"g":-0,"h":1E-7}',  # numbers kept as written
    b'{"enrichment_status":"mine","key_id":"k1"}',  # one of the five names already there
    b'{"usage_plan_id":null,"key_id":"k1"}',
    b'{"a":[1,{"b":[]}],"c":true,"d":false,"e":null}',
    b'{"s":"\\ud800","key_id":"k1"}',  # a lone surrogate (escaped): only the stdlib reads it
    b'{"api_key":"\\ud800-secret-value-xyz"}',  # in the key value, first
    b'{"api_key":"secret-value-xyz-\\udfff"}',  # and last: what would be kept after masking
    b'{"x":"' + b"y" * 3000 + b'","api_key":"' + KEY.encode() + b'"}',  # long
    # A duplicated key field whose last value needs no masking: the earlier raw value must not stay.
    b'{"api_key":"' + KEY.encode() + b'","api_key":"-"}',
    b'{"api_key":"' + KEY.encode() + b'","api_key":""}',
    b'{"api_key":"' + KEY.encode() + b'","api_key":null}',
    b'{"api_key":"' + KEY.encode() + b'","api_key":"****a1f3"}',
    b'{"apiKey":"' + KEY.encode() + b'","key_id":"k1","apiKey":"-"}',
    b'{"api_key" : "' + KEY.encode() + b'", "api_key" : "-"}',  # with whitespace
    b'{"api\\u005fkey":"' + KEY.encode() + b'","api_key":"-"}',  # the first one escaped
    b'{"api_key":"' + KEY.encode() + b'","api\\u005fkey":"-"}',  # the last one escaped
    b'{"inner":{"api_key":"' + KEY.encode() + b'"},"api_key":"-"}',  # nested, and plain at the top
    b'{"label":"api_key","api_key":"' + KEY.encode() + b'"}',  # the name as a value, first
    b'{"api_key":"' + KEY.encode() + b'","label":"api_key"}',  # and after
    b'{"a":[{"apiKey":"' + KEY.encode() + b'"}],"key_id":"k1"}',  # in an array
    b'{"api_key":"' + KEY.encode() + b'","b":1,"c":2,"api_key":"-","d":"x"}',  # counted quotes balance
]

# Every raw value the inputs above hold; none may leave under mask or drop.
SECRETS = (KEY, "first-secret-00001", "otherSecretValue0000", "nested-secret-1234", "été-secret-value-€€")


def plain_line(raw: bytes, enrichment: Enrichment | None, policy: ApiKeyValuePolicy) -> bytes:
    return decode_base64(plain_data(PlainRecord(raw, read_object(raw)), enrichment, policy))


def spliced(raw: bytes, enrichment: Enrichment | None, policy: ApiKeyValuePolicy) -> str | None:
    """The splice's base64 for raw, or None where it hands over to the plain path."""
    if enrichment is None:
        return None  # a re-ingested copy passes through the plain path only
    obj = read_object(raw)
    plan = SplicePlanner(policy).plan(raw, obj, plain=members_are_plain(raw, obj))
    if plan is None:
        return None
    return spliced_data(plan, enrichment.json_members)


def key_field_values(line: bytes) -> list[object]:
    """Every value of a member named api_key or apiKey in the line, at any depth, duplicates included."""
    found: list[object] = []

    def pairs(members: list[tuple[str, object]]) -> dict[str, object]:
        found.extend(value for name, value in members if name in {"api_key", "apiKey"})
        return dict(members)

    json.loads(line, object_pairs_hook=pairs)
    return found


def assert_no_raw_key_value(line: bytes, policy: ApiKeyValuePolicy, secrets: tuple[str, ...] = ()) -> None:
    """Under mask and drop, no key field leaves with a raw value, wherever it stands; and none
    of `secrets` (values the input held only in key fields) is anywhere in the line."""
    if policy is ApiKeyValuePolicy.KEEP:
        return
    values = key_field_values(line)
    if policy is ApiKeyValuePolicy.DROP:
        assert values == [], line
    assert all(mask_value(value) == value for value in values), line
    text = line.decode("utf-8", "surrogatepass")
    assert not any(secret in text or secret.encode() in line for secret in secrets), line


def assert_same_as_plain(
    raw: bytes, enrichment: Enrichment | None, policy: ApiKeyValuePolicy, secrets: tuple[str, ...] = ()
) -> bool:
    """Check the splice against the plain path; return whether the splice was taken."""
    assert_no_raw_key_value(plain_line(raw, enrichment, policy), policy, secrets)
    data = spliced(raw, enrichment, policy)
    if data is None:
        return False
    assert_no_raw_key_value(decode_base64(data), policy, secrets)
    line = decode_base64(data)
    # Its base64 is exactly the standard encoding of the line, kept characters and all.
    assert data == encode_base64(line)
    # One line of valid UTF-8 JSON ending in exactly one newline ...
    assert line.endswith(b"\n")
    assert b"\n" not in line[:-1]
    assert b"\r" not in line
    line.decode("utf-8")
    # ... that reads as the very object the plain path writes, members in the same order.
    ours, theirs = json.loads(line), json.loads(plain_line(raw, enrichment, policy))
    assert ours == theirs
    assert list(ours) == list(theirs)
    # Each of the five is written once: a reader that keeps the first of two never sees another.
    names = [name for name, _ in json.loads(line, object_pairs_hook=lambda pairs: pairs)]
    assert all(names.count(name) == 1 for name in ENRICHMENT_FIELDS if enrichment is not None)
    return True


@pytest.mark.parametrize("raw", ODD_INPUT, ids=range(len(ODD_INPUT)))
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("enrichment", ENRICHMENTS, ids=["enriched", "no_key", "unavailable", "passes"])
def test_the_splice_writes_what_the_plain_path_writes_or_leaves_it_to_the_plain_path(raw, policy, enrichment):
    assert_same_as_plain(raw, enrichment, policy, SECRETS)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"key_id":"k1","api_key":"' + KEY.encode() + b'","path":"/a\\\\b"}',
        b'{"api\\u005fkey":"' + KEY.encode() + b'","key_id":"k1"}',
        b'{"note":"\\"api_key\\":\\"x\\"","api_key":"' + KEY.encode() + b'"}',
        b'{"inner":{"api_key":"nested-secret-1234"},"api_key":"' + KEY.encode() + b'"}',
        b'{"api_key":"first-secret-00001","api_key":"' + KEY.encode() + b'"}',
        b'{"api_key":"' + KEY.encode() + b'","api_key":"' + KEY.encode() + b'"}',
        b'{"inner":{"api_key":"' + KEY.encode() + b'"},"api_key":"' + KEY.encode() + b'"}',
        b'{"api_key":"' + KEY.encode() + b'","apiKey":"otherSecretValue0000"}',
        b'{"api_key":12345678901234567890}',
        b'{"api_key":"' + KEY.encode() + b'","api_key":"-"}',
        b'{"api_key":"-","api_key":"-"}',
        b'{"a":"x","b":1,"b":2}',
        b'{"inner":{"api_key":"-"}}',
        b'{"key_id":"k1",\n"stage":"prod"}',
        b'  {"key_id":"k1"}',
        b'{"enrichment_status":"mine","key_id":"k1"}',
    ],
)
def test_where_it_cannot_prove_the_result_the_splice_hands_over_to_the_plain_path(raw):
    assert spliced(raw, NO_API_KEY, ApiKeyValuePolicy.MASK) is None


def test_drop_is_left_to_the_plain_path_but_a_record_with_no_key_field_still_splices():
    assert spliced(ODD_INPUT[0], NO_API_KEY, ApiKeyValuePolicy.DROP) is None
    assert spliced(b'{"key_id":"k1"}', NO_API_KEY, ApiKeyValuePolicy.DROP) is not None


@pytest.mark.parametrize("name", ["raw_key_format.json", "recommended_format.json", "camel_case.json"])
def test_the_sample_events_take_the_splice(name):
    # GIVEN the records API Gateway writes in each supported format
    records = json.loads((EVENTS / name).read_text())["records"]
    for record in records:
        raw = base64.b64decode(record["data"])
        # THEN every one is spliced, and matches the plain path
        assert assert_same_as_plain(raw, ENRICHMENTS[0], ApiKeyValuePolicy.MASK), raw


def test_a_masked_key_keeps_the_base64_of_everything_before_it():
    raw = ODD_INPUT[0]
    data = spliced(raw, ENRICHMENTS[0], ApiKeyValuePolicy.MASK)
    assert data is not None
    original = base64.b64encode(raw).decode()
    value_at = raw.index(KEY.encode())
    kept = value_at // 3 * 4
    assert data[:kept] == original[:kept]
    assert KEY.encode() not in decode_base64(data)
    assert b'"api_key":"****a1f3"' in decode_base64(data)


# Generated records: objects of every JSON type, sometimes with a key field or one of the
# five names, written compactly, with spaces, or indented across lines.
names = st.sampled_from(["api_key", "apiKey", "key_id", "stage", "usage_plan_id", "x", "é", "a b"]) | st.text(
    max_size=6
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(names, children, max_size=3),
    max_leaves=8,
)
key_values = st.sampled_from([KEY, "-", "", "****a1f3", "short"]) | st.text()
objects = st.dictionaries(names, values | key_values, max_size=8)
writers = st.sampled_from(
    [
        orjson.dumps,
        lambda obj: json.dumps(obj).encode(),
        lambda obj: json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        lambda obj: json.dumps(obj, indent=1).encode(),
        lambda obj: b"  " + json.dumps(obj, separators=(",", ":")).encode() + b"\r\n",
    ]
)


@settings(max_examples=300)
@given(objects, writers, st.sampled_from(ENRICHMENTS), st.sampled_from(POLICIES))
def test_generated_records_splice_to_what_the_plain_path_writes(obj, write, enrichment, policy):
    try:
        raw = write(obj)
        read_object(raw)
    except Exception:  # noqa: BLE001 - what a writer or the reader refuses is not the splice's input
        return
    assert_same_as_plain(raw, enrichment, policy)


@settings(max_examples=300)
@given(objects, st.sampled_from(ENRICHMENTS[:3]), st.sampled_from(POLICIES))
def test_a_line_as_orjson_writes_it_splices_to_the_plain_paths_very_bytes(obj, enrichment, policy):
    """plan_line's usual case, a line exactly as orjson writes its object: where it splices, the
    line is byte for byte the plain path's (which writes orjson's serialization again), nested
    values, numbers and all; and the key reader would see no name twice."""
    try:
        raw = orjson.dumps(obj)
        parsed = read_object(raw)
    except Exception:  # noqa: BLE001 - what orjson refuses to write or read is not this test's input
        return
    assert enrichment is not None
    splice = SplicePlanner(policy).plan_line(raw, parsed)
    if isinstance(splice, bytes):
        assert decode_base64(spliced_data(splice, enrichment.json_members)) == plain_line(raw, enrichment, policy)


@pytest.mark.parametrize("raw", ODD_INPUT, ids=range(len(ODD_INPUT)))
@pytest.mark.parametrize("policy", POLICIES)
def test_plan_line_proves_what_members_are_plain_proves_or_more(raw, policy):
    """plan_line answers NOT_PLAIN only for a line members_are_plain refuses, and plans every
    line members_are_plain accepts as plan() does, or (a line exactly as orjson writes it) to
    the plain path's very bytes."""
    obj = read_object(raw)
    splice = SplicePlanner(policy).plan_line(raw, obj)
    if members_are_plain(raw, obj):
        assert splice is not NOT_PLAIN
    expected = SplicePlanner(policy).plan(raw, obj, plain=members_are_plain(raw, obj))
    if splice is not NOT_PLAIN and splice != expected:
        assert isinstance(splice, bytes)
        assert decode_base64(spliced_data(splice, ENRICHMENTS[0].json_members)) == plain_line(
            raw, ENRICHMENTS[0], policy
        )
