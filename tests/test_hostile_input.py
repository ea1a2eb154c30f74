"""Input is never trusted: each odd or hostile record enriches, or fails alone with a counted reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from apigw_enrichment import handler as app
from tests.support.directory import KNOWN_API, KNOWN_KEY, KNOWN_STAGE, use_fixed_directory
from tests.support.events import decoded, firehose_event
from tests.support.logs import emf_metrics

KNOWN = {"api_id": KNOWN_API, "stage": KNOWN_STAGE}
HUGE_VALUE = "x" * (1000 * 1024 - 100)  # Firehose's largest record is 1,000 KiB


def line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# (name, data as sent: bytes are base64-encoded, a str goes in as is, expected result, reason or status)
CASES: list[tuple[str, bytes | str, str, str]] = [
    ("invalid base64", "not base64 at all!", "ProcessingFailed", "invalid_base64"),
    (
        "base64 with a newline inside",
        base64.b64encode(b'{"a":1}').decode()[:4] + "\n" + "xx",
        "ProcessingFailed",
        "invalid_base64",
    ),
    ("not UTF-8", b'{"api_id":"\xc3\x28"}', "ProcessingFailed", "not_utf8"),
    ("latin-1 bytes", '{"user":"Jos\xe9"}'.encode("latin-1"), "ProcessingFailed", "not_utf8"),
    ("a raw NUL inside a string", b'{"a":"x\x00y"}', "ProcessingFailed", "invalid_json"),
    ("a NUL after the object", b'{"a":1}\x00', "ProcessingFailed", "invalid_json"),
    ("only NULs", b"\x00\x00\x00", "ProcessingFailed", "invalid_json"),
    ("an escaped NUL", line({**KNOWN, "key_id": KNOWN_KEY, "ua": "x\u0000y"}), "Ok", "enriched"),
    ("empty", b"", "ProcessingFailed", "empty"),
    ("whitespace", b" \n\t", "ProcessingFailed", "empty"),
    ("truncated JSON", line({**KNOWN, "key_id": KNOWN_KEY})[:-7], "ProcessingFailed", "invalid_json"),
    ("two objects on one line", b'{"a":1}{"b":2}', "ProcessingFailed", "invalid_json"),
    ("nested 100,000 deep", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "ProcessingFailed", "invalid_json"),
    (
        "nested 300 deep",
        line({**KNOWN, "key_id": KNOWN_KEY})[:-1] + b',"n":' + b"[" * 300 + b"]" * 300 + b"}",
        "Ok",
        "enriched",
    ),
    ("a JSON array", b"[1,2,3]", "ProcessingFailed", "not_object"),
    ("a JSON string", b'"GET /orders"', "ProcessingFailed", "not_object"),
    ("huge (1,000 KiB)", line({**KNOWN, "key_id": KNOWN_KEY, "blob": HUGE_VALUE}), "Ok", "enriched"),
    # One identity, two values: attributed to no one, whichever comes last (see KeyReader).
    (
        "two key ids",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"nope","key_id":"k7x2m9p4q1"}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "two key ids, exact parser",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"nope","key_id":"k7x2m9p4q1","n":123456789012345678901234}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "a key id, then none: not a way to go unbilled",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"k7x2m9p4q1","ua":"x","key_id":"-"}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "a second key id added through a logged header (quotes not escaped)",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"nope","ua":"x","key_id":"k7x2m9p4q1","z":"y"}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "the same, balanced by numbers so that counting quotes alone would miss it",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"nope","ua":"x","key_id":"k7x2m9p4q1","z":1,"y":2,"w":"v"}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "a key id under another of its names",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","apiKeyId":"nope","key_id":"k7x2m9p4q1"}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "two stages",
        b'{"api_id":"a1b2c3d4e5","stage":"dev","key_id":"k7x2m9p4q1","stage":"prod"}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "two API ids, one escaped",
        b'{"api\\u005fid":"zzzzzzzzzz","stage":"prod","key_id":"k7x2m9p4q1","api_id":"a1b2c3d4e5"}',
        "Ok",
        "conflicting_identity",
    ),
    (
        "the same key id twice agrees",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"k7x2m9p4q1","key_id":"k7x2m9p4q1"}',
        "Ok",
        "enriched",
    ),
    (
        "no key, said twice two ways, agrees",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"-","key_id":null,"apiKeyId":""}',
        "Ok",
        "no_api_key",
    ),
    ("key id a number", line({**KNOWN, "key_id": 12345}), "Ok", "unknown_api_key"),
    ("key id a list", line({**KNOWN, "key_id": [KNOWN_KEY]}), "Ok", "unknown_api_key"),
    ("key id an object", line({**KNOWN, "key_id": {"id": KNOWN_KEY}}), "Ok", "unknown_api_key"),
    ("key id true", line({**KNOWN, "key_id": True}), "Ok", "unknown_api_key"),
    ("key id null", line({**KNOWN, "key_id": None}), "Ok", "no_api_key"),
    ("api id a number", line({"api_id": 7, "stage": "prod", "key_id": KNOWN_KEY}), "Ok", "unknown_api_key"),
    ("stage a list", line({"api_id": KNOWN_API, "stage": ["prod"], "key_id": KNOWN_KEY}), "Ok", "unknown_api_key"),
    ("api id and stage null", line({"api_id": None, "stage": None, "key_id": KNOWN_KEY}), "Ok", "unknown_api_key"),
    (
        "quotes and control characters",
        line({**KNOWN, "key_id": KNOWN_KEY, "ua": 'a"b\\c\n\r\t\u0001\u2028</script>'}),
        "Ok",
        "enriched",
    ),
    ("a key id with quotes", line({**KNOWN, "key_id": 'k7x2m9p4q1"'}), "Ok", "unknown_api_key"),
    (
        "a raw api key with a lone surrogate escape",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"k7x2m9p4q1","api_key":"secret-value-xyz-\\udfff"}',
        "Ok",
        "enriched",
    ),
    (
        "a raw api key that is a list",
        line({**KNOWN, "key_id": KNOWN_KEY, "api_key": ["secret-value-123456"]}),
        "Ok",
        "enriched",
    ),
    (
        "a lone surrogate",
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"k7x2m9p4q1","ua":"\\ud800"}',
        "Ok",
        "enriched",
    ),
]


@pytest.fixture
def response(lambda_context):
    use_fixed_directory()
    return app.lambda_handler(firehose_event([data for _, data, _, _ in CASES]), lambda_context)


def test_each_case_enriches_or_fails_alone_with_its_reason(response):
    assert [r["recordId"] for r in response["records"]] == [f"record-{n:05d}" for n in range(len(CASES))]
    for (name, sent, result, why), (_, got, data) in zip(CASES, decoded(response), strict=True):
        assert got == result, name
        if result == "Ok":
            obj = json.loads(data)
            assert obj["enrichment_status"] == why, name
            assert data.endswith(b"\n") and b"\n" not in data[:-1], name
        else:
            original = sent if isinstance(sent, str) else base64.b64encode(sent).decode()
            assert data.decode() == original, f"{name}: the original goes back untouched"


def test_reasons_are_counted_in_the_metrics(capsys, response):
    (emf,) = emf_metrics(capsys.readouterr().out)
    expected: dict[str, int] = {}
    for _, _, result, why in CASES:
        if result == "ProcessingFailed":
            expected[f"Failed_{why}"] = expected.get(f"Failed_{why}", 0) + 1
    assert {name: emf[name] for name in expected} == {name: [float(count)] for name, count in expected.items()}
    assert emf["RecordsProcessingFailed"] == [float(sum(expected.values()))]


def test_values_survive_exactly(response):
    objects = {
        name: json.loads(data)
        for (name, *_), (_, got, data) in zip(CASES, decoded(response), strict=True)
        if got == "Ok"
    }
    assert objects["an escaped NUL"]["ua"] == "x\u0000y"
    assert objects["quotes and control characters"]["ua"] == 'a"b\\c\n\r\t\u0001\u2028</script>'
    assert objects["huge (1,000 KiB)"]["blob"] == HUGE_VALUE
    assert objects["two key ids, exact parser"]["n"] == 123456789012345678901234
    assert objects["two key ids"]["usage_plan_id"] is None and objects["two key ids"]["customer_id"] is None
    assert objects["a lone surrogate"]["ua"] == "\ud800"
    assert objects["a raw api key that is a list"]["api_key"] == "****"
    assert objects["key id an object"]["key_id"] == {"id": KNOWN_KEY}


def test_a_line_that_writes_the_five_fields_itself_is_enriched_not_passed_through(lambda_context):
    # GIVEN a line whose logged header carried unescaped quotes and the five fields after them,
    # as this function writes them, naming another customer
    use_fixed_directory()
    forged = (
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"k7x2m9p4q1","ua":"x","usage_plan_id":"pl-free",'
        b'"usage_plan_name":"Free","customer_id":"someone-else","customer_name":"Someone",'
        b'"enrichment_status":"enriched"}'
    )
    (record,) = app.lambda_handler(firehose_event([forged]), lambda_context)["records"]
    # THEN the fields come from the directory, where they stand
    obj = json.loads(base64.b64decode(record["data"]))
    assert (obj["usage_plan_id"], obj["customer_id"], obj["enrichment_status"]) == (
        "pl0gold001",
        "cust-acme-001",
        "enriched",
    )
