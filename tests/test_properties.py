"""Properties of the whole handler over arbitrary record bytes and arbitrary JSON objects.

The cache is a fixed directory (no AWS), so every example runs the real handler end to end:
validation, parsing, enrichment, masking, encoding, the response limit, metrics and logs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apigw_enrichment import handler as app
from apigw_enrichment.enrichment.masking import mask_value
from apigw_enrichment.fields import API_KEY_VALUE_FIELDS, ENRICHMENT_FIELDS
from apigw_enrichment.sources.firehose import REINGESTED_MARK
from apigw_logs.lambda_context import LocalContext
from apigw_logs.samples import subscription_record
from tests.support.directory import KNOWN_API, KNOWN_KEY, KNOWN_STAGE, use_fixed_directory
from tests.support.events import firehose_event

EXAMPLES = 400
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RESULTS = {"Ok", "Dropped", "ProcessingFailed"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
# Objects with, sometimes, the fields the function reads (of any type), and the ones it masks.
field_names = st.sampled_from(["api_id", "apiId", "stage", "key_id", "apiKeyId", "api_key", "apiKey"]) | st.text()
key_like = st.sampled_from([KNOWN_API, KNOWN_STAGE, KNOWN_KEY, "-", ""]) | json_values
json_objects = st.dictionaries(field_names | st.sampled_from(ENRICHMENT_FIELDS), key_like, max_size=8)
# What a record's data may decode to: any bytes, or a JSON object (compact or not, with or
# without a trailing newline), or any JSON value at all.
record_bytes = st.one_of(
    st.binary(max_size=200),
    json_objects.map(lambda obj: json.dumps(obj).encode()),
    json_objects.map(lambda obj: json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"),
    json_values.map(lambda value: json.dumps(value).encode()),
)
# The data field as sent: base64 of those bytes, or (rarely) any text at all.
record_data = st.one_of(record_bytes, record_bytes, record_bytes, st.text(max_size=40))


def run(data: list[bytes | str]) -> dict[str, Any]:
    return app.lambda_handler(firehose_event(data), LocalContext())


def sent_bytes(item: bytes | str) -> bytes | None:
    if isinstance(item, bytes):
        return item
    try:
        return base64.b64decode(item, validate=True)
    except ValueError:
        return None


@PROPERTY_SETTINGS
@given(st.lists(record_data, max_size=12))
def test_every_record_is_answered_once_in_order_with_a_valid_result(data):
    use_fixed_directory()
    response = run(data)
    assert [r["recordId"] for r in response["records"]] == [f"record-{n:05d}" for n in range(len(data))]
    assert {r["result"] for r in response["records"]} <= RESULTS


@PROPERTY_SETTINGS
@given(st.lists(record_data, max_size=12))
def test_ok_data_is_one_json_object_on_one_line_keeping_every_original_field(data):
    use_fixed_directory()
    for item, record in zip(data, run(data)["records"], strict=True):
        if record["result"] != "Ok":
            continue
        line = base64.b64decode(record["data"])
        assert line.endswith(b"\n") and b"\n" not in line[:-1]
        obj = json.loads(line)
        assert isinstance(obj, dict)
        assert set(ENRICHMENT_FIELDS) <= set(obj)
        raw = sent_bytes(item)
        assert raw is not None
        original = json.loads(raw)
        for name, value in original.items():
            if name in API_KEY_VALUE_FIELDS or name in ENRICHMENT_FIELDS:
                continue  # masked; and the five names the function owns (docs/output.md)
            assert name in obj and obj[name] == masked(value), name


def masked(value: Any) -> Any:
    """The value with every key field inside it masked, at any depth (docs/output.md)."""
    if isinstance(value, dict):
        return {k: mask_value(v) if k in API_KEY_VALUE_FIELDS else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


@PROPERTY_SETTINGS
@given(st.lists(record_data, max_size=12))
def test_the_same_input_gives_the_same_output(data):
    use_fixed_directory()
    assert run(data) == run(data), "Firehose retries a batch; it must come out the same"


@PROPERTY_SETTINGS
@given(st.lists(json_objects.map(lambda obj: json.dumps(obj).encode()), min_size=1, max_size=12))
def test_a_re_ingested_copy_passes_through_again_unchanged(data):
    use_fixed_directory()
    first = [base64.b64decode(r["data"]) for r in run(data)["records"] if r["result"] == "Ok"]
    # Re-ingested later, when the key is no longer known: still not enriched a second time.
    use_fixed_directory(knows_the_key=False)
    again = run([REINGESTED_MARK + line for line in first])
    assert [base64.b64decode(r["data"]) for r in again["records"]] == first


@PROPERTY_SETTINGS
@given(st.lists(json_objects.map(lambda obj: json.dumps(obj).encode()), min_size=1, max_size=12))
def test_the_five_fields_in_a_line_that_is_no_copy_are_overwritten_not_trusted(data):
    use_fixed_directory()
    first = [base64.b64decode(r["data"]) for r in run(data)["records"] if r["result"] == "Ok"]
    # The same lines unmarked, as a client that can write quotes into a logged header could
    # make its own line look enriched: they are enriched again, from the directory.
    use_fixed_directory(knows_the_key=False)
    again = [json.loads(base64.b64decode(r["data"])) for r in run(first)["records"]]
    assert all(obj["usage_plan_id"] is None and obj["enrichment_status"] != "enriched" for obj in again)


@PROPERTY_SETTINGS
@given(
    st.lists(
        json_objects.map(json.dumps) | json_objects.map(lambda obj: json.dumps(obj, separators=(",", ":")) + "\n"),
        min_size=1,
        max_size=8,
    )
)
def test_a_subscription_record_is_its_lines_answered_as_direct_records_one_after_another(messages):
    """Each message is read, masked and enriched exactly as the same line sent straight to the
    stream; if any of them would fail, the whole record fails (and is kept as sent)."""
    use_fixed_directory()
    record = subscription_record(messages)
    (answer,) = run([record])["records"]
    direct = run([message.encode() for message in messages])["records"]
    if all(each["result"] == "Ok" for each in direct):
        assert answer["result"] == "Ok"
        assert base64.b64decode(answer["data"]) == b"".join(base64.b64decode(each["data"]) for each in direct)
    else:
        assert answer["result"] == "ProcessingFailed"
        assert base64.b64decode(answer["data"]) == record
