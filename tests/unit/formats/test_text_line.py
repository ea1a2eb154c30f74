"""Reading lines that are not JSON by their format: the console's examples, hostile lines, and a
property: a line filled in from a format reads back as the values it was filled with."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apigw_enrichment.failures import RecordError
from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT, field_name
from apigw_enrichment.formats.template import CONTEXT_VARIABLE, compile_format
from apigw_enrichment.formats.text_line import TextLine, shape_of
from tests.support.formats import CLF, CLF_WITH_KEY, CSV, CSV_WITH_KEY, SEED_GUIDE_AS_PRINTED, TIME, XML

REQUEST = {
    "source_ip": "198.51.100.7",
    "caller": "-",
    "user": "-",
    "request_time": TIME,
    "method": "GET",
    "resource_path": "/orders/{id}",
    "protocol": "HTTP/1.1",
    "status": "200",
    "response_length": "512",
    "request_id": "0f3c2a1e-8b5d-4f0e-9a77-1c2d3e4f5a6b",
}


def read(template: str, line: bytes, *, keeps_key_values: bool = False) -> TextLine:
    return compile_format(template).reader.read(line, keeps_key_values=keeps_key_values)


def reason(template: str, line: bytes) -> str:
    with pytest.raises(RecordError) as error:
        read(template, line)
    return str(error.value.reason)


@pytest.mark.parametrize(
    ("template", "line"),
    [
        (
            CLF,
            (
                b'198.51.100.7 - - [21/Nov/2025:09:15:02 +0000] "GET /orders/{id} HTTP/1.1" 200 512 '
                b"0f3c2a1e-8b5d-4f0e-9a77-1c2d3e4f5a6b\n"
            ),
        ),
        (
            CSV,
            (
                b"198.51.100.7,-,-,21/Nov/2025:09:15:02 +0000,GET,/orders/{id},HTTP/1.1,200,512,"
                b"0f3c2a1e-8b5d-4f0e-9a77-1c2d3e4f5a6b"
            ),
        ),
        (
            XML,
            (
                b'<request id="0f3c2a1e-8b5d-4f0e-9a77-1c2d3e4f5a6b"> <ip>198.51.100.7</ip> <caller>-</caller> '
                b"<user>-</user> <requestTime>21/Nov/2025:09:15:02 +0000</requestTime> <httpMethod>GET</httpMethod> "
                b"<resourcePath>/orders/{id}</resourcePath> <status>200</status> <protocol>HTTP/1.1</protocol> "
                b"<responseLength>512</responseLength> </request>"
            ),
        ),
    ],
    ids=["clf", "csv", "xml"],
)
def test_the_consoles_text_examples_read_into_the_recommended_formats_names(template, line):
    assert read(template, line) == TextLine(REQUEST, None, None)


def test_the_seed_guides_format_as_printed_with_typographic_quotes_is_read_as_text():
    line = SEED_GUIDE_AS_PRINTED
    for variable, value in (
        ("$context.apiId", "a1b2c3d4e5"),
        ("$context.identity.apiKeyId", "k7x2m9p4q1"),
        ("$context.identity.apiKey", "Ab3dEf6hIj9kLm2nOp5q"),
        ("$context.requestTime", TIME),
    ):
        line = line.replace(variable, value)
    line = CONTEXT_VARIABLE.sub("-", line)
    obj = read(SEED_GUIDE_AS_PRINTED, line.encode()).obj
    assert (obj["api_id"], obj["key_id"], obj["api_key"], obj["request_time"]) == (
        "a1b2c3d4e5",
        "k7x2m9p4q1",
        "Ab3dEf6hIj9kLm2nOp5q",
        TIME,
    )


def test_a_line_with_dash_for_every_value_reads_as_dashes():
    line = b'- - - [-] "- - -" - - -'
    assert read(CLF, line).obj == dict.fromkeys(REQUEST, "-")


def test_a_user_agent_full_of_separators_stays_in_the_user_agent():
    agent = 'Mozilla/5.0 (X11, Linux) "quoted", a1b2c3d4e5 prod k7x2m9p4q1 <tag> [x] 200 1'
    line = (
        f'198.51.100.7 - - [{TIME}] "GET /orders HTTP/1.1" 200 512 req-1 a1b2c3d4e5 prod k7x2m9p4q1 "{agent}"'
    ).encode()
    got = read(CLF_WITH_KEY, line)
    assert (got.obj["user_agent"], got.obj["key_id"], got.obj["api_id"], got.ambiguous) == (
        agent,
        "k7x2m9p4q1",
        "a1b2c3d4e5",
        False,
    )


def test_a_user_agent_with_commas_in_a_csv_line_is_read_one_way_only():
    line = f"req-1,a1b2c3d4e5,prod,k7x2m9p4q1,Mozilla/5.0 (a, b,c),200,{TIME}".encode()
    got = read(CSV_WITH_KEY, line)
    assert (got.obj["user_agent"], got.obj["status"], got.ambiguous) == ("Mozilla/5.0 (a, b,c)", "200", False)


def test_a_user_agent_that_copies_the_lines_tail_cannot_move_the_key_id():
    # The format ends with the key id; a caller's user agent writes a tail of its own into it.
    template = "$context.requestId $context.identity.userAgent $context.identity.apiKeyId"
    got = read(template, b"req-1 curl/8 victimkey01 attacker01")
    assert (got.obj["user_agent"], got.obj["key_id"], got.ambiguous) == ("curl/8 victimkey01", "attacker01", False)


def test_a_line_read_two_ways_around_the_key_id_is_attributed_to_no_one():
    # Free text on both sides of the key id: where the key id stands cannot be known.
    template = "$context.requestId $context.identity.userAgent $context.identity.apiKeyId $context.path"
    got = read(template, b"req-1 curl/8 victimkey01 /orders attacker01 /x")
    assert got.ambiguous is True
    assert got.obj == {
        "request_id": "req-1",
        "user_agent": "curl/8 victimkey01 /orders",
        "key_id": "attacker01",
        "path": "/x",
    }


def test_an_ambiguous_line_of_a_format_with_no_identity_is_not_marked():
    template = "$context.requestId $context.identity.userAgent $context.path"
    assert read(template, b"req-1 a b c").ambiguous is False


def test_an_ambiguous_line_of_a_format_that_logs_the_raw_key_fails_so_no_reading_of_the_key_is_delivered():
    template = "$context.requestId $context.identity.userAgent $context.identity.apiKey $context.path"
    line = b"req-1 curl/8 Ab3dEf6hIj9kLm2nOp5q /orders Zz9yXw8vUt7sRq6pOn5m /x"
    assert reason(template, line) == "ambiguous_line"
    # With the keep policy nothing is hidden anyway: the line is read (and attributed to no one).
    assert read(template, line, keeps_key_values=True).obj["api_key"] == "Zz9yXw8vUt7sRq6pOn5m"


def test_an_unambiguous_line_with_the_raw_key_reads_the_key_for_masking():
    template = "$context.requestId $context.identity.apiKey $context.identity.userAgent"
    got = read(template, b"req-1 Ab3dEf6hIj9kLm2nOp5q curl/8 (x y)")
    assert got.obj == {"request_id": "req-1", "api_key": "Ab3dEf6hIj9kLm2nOp5q", "user_agent": "curl/8 (x y)"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"198.51.100.7 - - [yesterday]", "format_mismatch"),
        (b'198.51.100.7 - - [21/Nov/2025:09:15:02 +0000] "GET /\xff HTTP/1.1" 200 512 r1', "not_utf8"),
        (b'198.51.100.7 - - [21/Nov/2025:09:15:02 +0000] "GET /a HTTP/1.1" 2xx 512 r1', "format_mismatch"),
        (b'198.51.100.7 - - [21/Nov/2025:09:15:02 +0000] "GET /a HTTP/1.1" 200 512 r1\nx', "format_mismatch"),
    ],
)
def test_a_line_the_format_did_not_write_fails_alone_with_its_reason(line, expected):
    assert reason(CLF, line) == expected


def test_a_long_hostile_line_is_refused_in_linear_time():
    # Python's backtracking `re` takes minutes over this (three free parts, no match); RE2 does not.
    template = "$context.requestId $context.identity.userAgent $context.path $context.error.message X"
    line = b"req-1 " + b"a " * 200_000 + b"Y"
    assert reason(template, line) == "format_mismatch"


def test_the_error_message_string_is_read_as_the_string_it_quotes():
    template = "$context.requestId $context.error.messageString"
    assert read(template, b'r1 "Missing \\"Authentication\\" Token"').obj["error_message"] == (
        'Missing "Authentication" Token'
    )


def test_a_variable_logged_twice_with_two_values_is_reported_as_a_duplicate():
    template = "$context.requestId $context.identity.apiKeyId $context.stage $context.identity.apiKeyId"
    got = read(template, b"r1 k1 prod k2")
    assert (got.obj["key_id"], got.duplicates) == ("k1", {"key_id": ["k1", "k2"]})


def test_a_json_line_broken_by_a_quote_in_its_user_agent_is_read_by_the_json_format():
    values = {"request_id": "r1", "api_id": "a1b2c3d4e5", "stage": "prod", "key_id": "k7x2m9p4q1"}
    values["user_agent"] = 'Mozilla "5.0" \\ x'
    line = RECOMMENDED_ACCESS_LOG_FORMAT
    for name, variable in (
        ("request_id", "$context.requestId"),
        ("api_id", "$context.apiId"),
        ("stage", "$context.stage"),
        ("key_id", "$context.identity.apiKeyId"),
        ("user_agent", "$context.identity.userAgent"),
    ):
        line = line.replace(f'"{variable}"', f'"{values[name]}"')
    line = line.replace("$context.error.messageString", '"-"')
    line = CONTEXT_VARIABLE.sub("-", line)
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    got = read(RECOMMENDED_ACCESS_LOG_FORMAT, line.encode())
    assert {name: got.obj[name] for name in values} == values
    assert got.json is not None
    assert json.loads(got.json) == got.obj


def test_two_json_lines_run_together_are_not_read_as_one_request():
    line = RECOMMENDED_ACCESS_LOG_FORMAT.replace("$context.error.messageString", '"-"')
    line = CONTEXT_VARIABLE.sub("x", line)
    with pytest.raises(RecordError):
        read(RECOMMENDED_ACCESS_LOG_FORMAT, (line + line).encode())


# --- the property: a filled-in line reads back as its values, wherever that is unambiguous ---

# The last puts free text on both sides of the key id: the hardest case for the identity.
TEMPLATES = [CLF, CSV, XML, CLF_WITH_KEY, CSV_WITH_KEY, SEED_GUIDE_AS_PRINTED, ("$context.requestId "
             "$context.identity.userAgent $context.identity.apiKeyId,$context.stage $context.path")]  # fmt: skip


def _value(variable: str, separators: str) -> st.SearchStrategy[str]:
    shape = shape_of(variable)
    if shape.startswith("(?:"):  # a shape of its own (or `-`)
        return st.from_regex(shape, fullmatch=True).filter(lambda value: "\n" not in value)
    # Free text: anything on one line, but the format's own separators (or it would be ambiguous).
    alphabet = st.characters(blacklist_characters="\n\r" + separators, blacklist_categories=("Cs",))
    return st.text(alphabet, max_size=40)


@st.composite
def filled_lines(draw: st.DrawFn) -> tuple[str, dict[str, str], str]:
    template = draw(st.sampled_from(TEMPLATES))
    variables = CONTEXT_VARIABLE.findall(template)
    separators = "".join(set(CONTEXT_VARIABLE.sub("", template)))
    values = {variable: draw(_value(variable, separators)) for variable in dict.fromkeys(variables)}
    line = CONTEXT_VARIABLE.sub(lambda match: values[match.group()], template)
    return template, values, line


@given(filled_lines())
def test_a_filled_in_line_reads_back_as_the_values_it_was_filled_with(case):
    template, values, line = case
    got = read(template, line.encode())
    expected = {field_name(variable): value for variable, value in values.items()}
    if "$context.error.messageString" in values and values["$context.error.messageString"] != "-":
        expected["error_message"] = json.loads(values["$context.error.messageString"])
    assert (got.obj, got.duplicates, got.ambiguous) == (expected, None, False)


@pytest.mark.parametrize("template", TEMPLATES)
@given(data=st.data())
def test_any_filled_in_line_is_read_and_its_identity_is_right_or_attributed_to_no_one(template, data):
    # Free text here may hold the format's separators: the line may be ambiguous, but a line
    # API Gateway could write is never refused, and a reading that is not marked is the true one.
    variables = list(dict.fromkeys(CONTEXT_VARIABLE.findall(template)))
    # Free text made of the format's own separators and of id-like words, as a hostile caller's.
    separators = sorted(set(CONTEXT_VARIABLE.sub("", template)))
    hostile = st.lists(st.sampled_from([*separators, "a1", "k9,prod", "prod", "/x", "-"])).map("".join)
    values = {
        variable: data.draw(
            st.one_of(hostile, _value(variable, "")) if shape_of(variable) == ".*" else _value(variable, "")
        )
        for variable in variables
    }
    line = CONTEXT_VARIABLE.sub(lambda match: values[match.group()], template)
    got = read(template, line.encode(), keeps_key_values=True)
    if not got.ambiguous:
        for variable in ("$context.apiId", "$context.stage", "$context.identity.apiKeyId"):
            if variable in values:
                assert got.obj[field_name(variable)] == values[variable]
