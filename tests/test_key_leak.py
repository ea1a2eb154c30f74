"""A fuzzer over duplicated, escaped, spaced and nested key fields: no raw key value reaches the
Ok data, the re-ingested copies or anything logged (DEBUG included), under mask and drop."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.enrichment.masking import mask_value
from apigw_enrichment.reingest import ReingestResult
from apigw_enrichment.response import fit_response
from apigw_enrichment.sources.firehose import REINGESTED_MARK, validate_event
from apigw_enrichment.telemetry import logger
from apigw_logs.lambda_context import LocalContext
from tests.support.directory import KNOWN_API, KNOWN_KEY, KNOWN_STAGE, use_fixed_directory
from tests.support.events import firehose_event

KEY_FIELDS = {"api_key", "apiKey"}
secrets = st.from_regex(r"SECRET[A-Za-z0-9]{14,26}", fullmatch=True)
# What may stand beside a raw value under the same name: nothing to hide in any of them.
harmless = st.sampled_from(["-", "", None, "****a1f3", "****"])
blanks = st.sampled_from(["", "", " ", "\t", "  "])


@st.composite
def names(draw: st.DrawFn, name: str) -> str:
    """A member name as JSON text: sometimes with some of its characters written as \\u escapes."""
    escaped = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return '"' + "".join(f"\\u{ord(c):04x}" if e else c for c, e in zip(name, escaped, strict=True)) + '"'


@st.composite
def lines(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """One access-log line with one or more key fields (raw and harmless values, in any order,
    some duplicated, some escaped, some nested), and the raw values it holds."""
    raw_values: list[str] = []
    members = [f'"api_id":"{KNOWN_API}"', f'"stage":"{KNOWN_STAGE}"', f'"key_id":"{KNOWN_KEY}"', '"ua":"curl/8"']
    for _ in range(draw(st.integers(1, 4))):
        value = draw(secrets | harmless)
        if isinstance(value, str) and value.startswith("SECRET"):
            raw_values.append(value)
        colon = draw(blanks) + ":" + draw(blanks)
        member = draw(names(draw(st.sampled_from(sorted(KEY_FIELDS))))) + colon + json.dumps(value)
        wrap = draw(st.sampled_from(["top", "top", "top", "object", "array"]))
        if wrap == "object":
            member = f'"inner":{{{member}}}'
        elif wrap == "array":
            member = f'"list":[{{{member}}}]'
        members.insert(draw(st.integers(0, len(members))), member)
    comma = draw(blanks) + "," + draw(blanks)
    return ("{" + comma.join(members) + "}").encode(), raw_values


def key_field_values(line: bytes) -> list[Any]:
    found: list[Any] = []

    def pairs(members: list[tuple[str, Any]]) -> dict[str, Any]:
        found.extend(value for name, value in members if name in KEY_FIELDS)
        return dict(members)

    json.loads(line, object_pairs_hook=pairs)
    return found


def run_batch(batch: list[bytes]) -> tuple[list[bytes], list[bytes], str]:
    """The Ok lines, the re-ingested copies and everything logged, for one batch at DEBUG."""
    logged = io.StringIO()
    every_logger = logging.StreamHandler(logged)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(every_logger)
    root.setLevel(logging.DEBUG)
    logger.setLevel(logging.DEBUG)
    previous_stream = logger.registered_handler.setStream(logged)  # type: ignore[attr-defined]
    copies: list[bytes] = []
    try:
        with contextlib.redirect_stdout(logged):  # EMF metrics
            app.lambda_handler(firehose_event(batch), LocalContext())
            state.reset()
            use_fixed_directory()
            # The same batch again, with a response limit so small that most records leave it.
            answers, _, _ = app.transform_batch(
                validate_event(firehose_event(batch)), state.settings(), state.usage_plan_cache()
            )

            def reingest(payloads: list[bytes]) -> ReingestResult:
                copies.extend(payloads)
                return ReingestResult((True,) * len(payloads), 1, 1, 0)

            fit_response(answers, reingest, limit=300)
    finally:
        logger.registered_handler.setStream(previous_stream)  # type: ignore[attr-defined]
        logger.setLevel(logging.INFO)
        root.removeHandler(every_logger)
        root.setLevel(previous_level)
    ok = [base64.b64decode(a.data) for a in answers if a.result == "Ok"]
    assert all(copy.startswith(REINGESTED_MARK) for copy in copies)
    return ok, [copy.removeprefix(REINGESTED_MARK) for copy in copies], logged.getvalue()


@pytest.mark.parametrize("policy", ["mask", "drop"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(lines(), min_size=1, max_size=6))
def test_no_raw_key_value_leaves_whatever_the_line_does_with_its_key_fields(monkeypatch, policy, batch):
    monkeypatch.setenv("API_KEY_VALUES", policy)
    state.reset()
    use_fixed_directory()
    ok, copies, logged = run_batch([line for line, _ in batch])
    assert len(ok) + len(copies) == len(batch), "every record is answered Ok or re-ingested"
    raw_values = [value for _, values in batch for value in values]
    for out in ok + copies:
        values = key_field_values(out)
        assert all(mask_value(v) == v for v in values), out
        if policy == "drop":
            assert values == [], out
    everything = b"".join(ok + copies).decode() + logged
    for value in raw_values:
        assert value not in everything
        assert base64.b64encode(value.encode()).decode()[:20] not in everything


def test_the_reported_leak_no_longer_leaks(lambda_context):
    """The reported leak: the last value is "-", the first one raw."""
    use_fixed_directory()
    raw = (
        b'{"api_id":"a1b2c3d4e5","stage":"prod","key_id":"k7x2m9p4q1",'
        b'"api_key":"demoAcmeKeyValue000000000000a1f3","api_key":"-"}'
    )
    (record,) = app.lambda_handler(firehose_event([raw]), lambda_context)["records"]
    assert record["result"] == "Ok"
    line = base64.b64decode(record["data"])
    assert b"demoAcmeKeyValue" not in line
    assert json.loads(line)["enrichment_status"] == "enriched"
