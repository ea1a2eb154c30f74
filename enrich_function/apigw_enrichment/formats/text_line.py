"""A line that is not JSON, read by its stage's format: CLF, CSV, XML or any other text.

The format's literal text is matched as it is, and each `$context` variable by the shape its
values have: an API id is letters and digits, a status is digits, a request time is
`22/Nov/2026:10:00:00 +0000`. Every shape also takes `-`, which API Gateway writes for an empty
value. A variable whose values can be anything (a user agent, a path, an error message, an
authorizer's claims, any variable not listed in _SHAPES) takes any text but a line break.

The rule for a line that can be read more than one way. API Gateway escapes nothing, so a user
agent full of separators can make a line fit the format in two places. The line is matched
twice: each variable taking as much as it can, left to right, and each taking as little. The
first reading is the line's. Where the two disagree on the API id, the stage or the key id, the
line gives its identity two values and is attributed to no one (`conflicting_identity`, as a
JSON line that names its key twice is). Where they disagree on the raw key, the other reading's
key value is hidden too, wherever it stands in the first. A filled-in line always matches its
format, so a line that does not match was not written by it: it fails as `format_mismatch`.

Matching is RE2's: linear in the line's length whatever it holds. Python's own `re` backtracks,
and a line with several free-text parts that does not match could take it minutes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import re2

from apigw_enrichment.failures import RecordError
from apigw_enrichment.fields import field_name
from apigw_enrichment.formats.json_line import FormatFailure, members_are_plain, read_object, top_level_duplicates

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True, slots=True)
class Piece:
    """A part of a format: literal text, or one variable (`in_string`: inside a JSON string)."""

    literal: str = ""
    variable: str | None = None
    in_string: bool = False


class TextLine(NamedTuple):
    """A line read by its format: the object, and what the key reader must also see."""

    obj: dict[str, Any]
    # Each field the line gives two values (the two readings disagree, or a variable the format
    # logs twice came out different), as top_level_duplicates() gives them for a JSON line.
    duplicates: dict[str, list[Any]] | None
    # The JSON the object was read from (JSON formats), so its numbers can be read exactly.
    json: bytes | None


def _run(characters: str) -> tuple[str, str]:
    return f"{characters}+", f"{characters}+?"


def _fixed(pattern: str) -> tuple[str, str]:
    return pattern, pattern


_ALPHANUMERIC = _run("[A-Za-z0-9]")
_NUMBER = _run("[0-9]")
# One word: no space, and none of the characters text formats part their values with.
_WORD = _run(r'[^\s,"<>]')
_REQUEST_ID = _run("[A-Za-z0-9+/=_.-]")
_FREE = (".*", ".*?")

# The shape of each variable's values (greedy, lazy), by its name after `$context.`.
_SHAPES: dict[str, tuple[str, str]] = {
    "apiId": _ALPHANUMERIC,
    "deploymentId": _ALPHANUMERIC,
    "resourceId": _ALPHANUMERIC,
    "identity.apiKeyId": _ALPHANUMERIC,
    "accountId": _NUMBER,
    "identity.accountId": _NUMBER,
    # REST stage names are letters, digits, - and _; an HTTP API's default stage is `$default`.
    "stage": _run("[A-Za-z0-9_$-]"),
    "requestId": _REQUEST_ID,
    "extendedRequestId": _REQUEST_ID,
    "awsEndpointRequestId": _REQUEST_ID,
    "integration.requestId": _REQUEST_ID,
    "xrayTraceId": _run("[A-Za-z0-9=;.-]"),
    "requestTime": _fixed(r"[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}"),
    "requestTimeEpoch": _NUMBER,
    "status": _NUMBER,
    "responseLength": _NUMBER,
    "responseLatency": _NUMBER,
    "integrationLatency": _NUMBER,
    "integration.latency": _NUMBER,
    "integrationStatus": _NUMBER,
    "integration.status": _NUMBER,
    "integration.integrationStatus": _NUMBER,
    "httpMethod": _run("[A-Z]"),
    "protocol": _fixed("[A-Z]+/[0-9.]+"),
    "identity.sourceIp": _run("[0-9A-Fa-f:.]"),
    "domainName": _run("[A-Za-z0-9.-]"),
    "domainPrefix": _run("[A-Za-z0-9.-]"),
    "resourcePath": _WORD,
    "identity.caller": _WORD,
    "identity.user": _WORD,
    "identity.userArn": _WORD,
    "identity.cognitoIdentityId": _WORD,
    "identity.cognitoIdentityPoolId": _WORD,
    "identity.principalOrgId": _WORD,
    "identity.vpceId": _WORD,
    "identity.vpcId": _WORD,
    "identity.apiKey": _WORD,
    "error.responseType": _run("[A-Z_]"),
    # Already a quoted JSON string, escapes and all: the one variable API Gateway escapes.
    "error.messageString": _fixed(r'"(?:[^"\\]|\\.)*"'),
}
_MESSAGE_STRING = "$context.error.messageString"
_IDENTITY = ("$context.apiId", "$context.stage", "$context.identity.apiKeyId")
_API_KEY = "$context.identity.apiKey"


def shape_of(variable: str, *, lazy: bool = False) -> str:
    """The RE2 pattern one value of `variable` matches, `-` (empty) included."""
    shape = _SHAPES.get(variable.removeprefix("$context."), _FREE)[lazy]
    return shape if shape in _FREE else f"(?:{shape}|-)"


class TextReader:
    """Reads the lines of one format that are not JSON.

    For a text format the line becomes one object, a field per variable, named by field_name().
    For a JSON format (a line a quote in a user agent made invalid JSON) the values are put back
    into the format, escaped, and the result is read as the JSON line it was meant to be.
    """

    __slots__ = ("_greedy", "_lazy", "_members", "_names", "_pieces", "_slots", "variables")

    def __init__(self, pieces: tuple[Piece, ...], members: Mapping[str, str] | None = None) -> None:
        """`members`: for a JSON format, each top-level member holding exactly one variable."""
        self._pieces = pieces
        self._members = members
        self._slots = tuple(piece.variable for piece in pieces if piece.variable is not None)
        self.variables = tuple(dict.fromkeys(self._slots))
        self._names = tuple(field_name(variable) for variable in self._slots)
        greedy = "".join(_part(piece, lazy=False) for piece in pieces)
        lazy = "".join(_part(piece, lazy=True) for piece in pieces)
        self._greedy = re2.compile(greedy.encode())
        self._lazy = re2.compile(lazy.encode())

    def read(self, raw: bytes, *, hide: Callable[[str], str] | None = None) -> TextLine:
        """The line's object; `hide` masks a raw key value found where the line was ambiguous.

        Raises RecordError: `empty`, `not_utf8`, or `format_mismatch` for a line the format did
        not write (for a JSON format, the JSON reasons).
        """
        line = raw[:-1] if raw.endswith(b"\n") else raw
        line = line.removesuffix(b"\r")
        first = self._greedy.fullmatch(line)
        if first is None:
            raise RecordError(_mismatch(line))
        values = [_text(value) for value in first.groups()]
        second = [_text(value) for value in self._lazy.fullmatch(line).groups()]
        duplicates: dict[str, list[Any]] = {}
        hidden: set[str] = set()
        for slot, variable in enumerate(self._slots):
            if values[slot] == second[slot]:
                continue
            if variable in _IDENTITY:
                for name in self._names_of(variable, slot):
                    duplicates[name] = [values[slot], second[slot]]
            elif variable == _API_KEY:
                hidden.add(second[slot])
        if hide is not None and hidden:
            values = [_hidden(value, hidden, hide) if self._slots[slot] != _API_KEY else value
                      for slot, value in enumerate(values)]  # fmt: skip
        if self._members is not None:
            return self._as_json(values, duplicates)
        obj: dict[str, Any] = {}
        for slot, name in enumerate(self._names):
            value = _message(values[slot]) if self._slots[slot] == _MESSAGE_STRING else values[slot]
            if name not in obj:
                obj[name] = value
            elif obj[name] != value:  # a variable logged twice, read two ways
                duplicates.setdefault(name, [obj[name]]).append(value)
        return TextLine(obj, duplicates or None, None)

    def _names_of(self, variable: str, slot: int) -> tuple[str, ...]:
        if self._members is None:
            return (self._names[slot],)
        # A JSON format: the members that hold exactly this variable.
        return tuple(name for name, held in self._members.items() if held == variable)

    def _as_json(self, values: list[str], duplicates: dict[str, list[Any]]) -> TextLine:
        opening = self._pieces[0].literal
        if opening and any(opening in value for value in values):
            # Two lines run together, the second read as part of a value of the first: not one request.
            raise RecordError(FormatFailure.FORMAT_MISMATCH)
        text = []
        slot = 0
        for piece in self._pieces:
            if piece.variable is None:
                text.append(piece.literal.encode())
                continue
            value = values[slot]
            slot += 1
            text.append(orjson.dumps(value)[1:-1] if piece.in_string else value.encode())
        rendered = b"".join(text)
        obj = read_object(rendered)  # raises if a bare value made it something else
        if not members_are_plain(rendered, obj):
            for name, found in top_level_duplicates(rendered).items():
                duplicates.setdefault(name, []).extend(found)
        return TextLine(obj, duplicates or None, rendered)


def _part(piece: Piece, *, lazy: bool) -> str:
    if piece.variable is None:
        return str(re2.escape(piece.literal))
    return f"({shape_of(piece.variable, lazy=lazy)})"


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:  # pragma: no cover - RE2 matches valid UTF-8 only
        raise RecordError(FormatFailure.NOT_UTF8) from None


def _mismatch(line: bytes) -> FormatFailure:
    if not line.strip():
        return FormatFailure.EMPTY
    try:
        line.decode()
    except UnicodeDecodeError:
        return FormatFailure.NOT_UTF8
    return FormatFailure.FORMAT_MISMATCH


def _message(value: str) -> Any:
    """$context.error.messageString's value: a quoted JSON string, read; `-` as it is."""
    if value.startswith('"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _hidden(value: str, secrets: set[str], hide: Callable[[str], str]) -> str:
    for secret in secrets:
        masked = hide(secret)
        if masked != secret:
            value = value.replace(secret, masked)
    return value
