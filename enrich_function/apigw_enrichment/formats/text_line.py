"""A line that is not JSON, read by its stage's format: CLF, CSV, XML or any other text.

The format's literal text is matched as it is, and each `$context` variable by the shape its
values have: an API id is letters and digits, a status is digits, a request time is
`22/Nov/2026:10:00:00 +0000`. Every shape also takes `-`, which API Gateway writes for an empty
value. A variable whose values can be anything (a user agent, a path, an error message, an
authorizer's claims, any variable not listed in _SHAPES) takes any text but a line break.

The rule for a line that can be read more than one way. API Gateway escapes nothing, so a user
agent full of separators can make a line fit the format in more than one place. The line is
matched twice: each value taking as much as it can, left to right, and each taking as little.
If the two readings agree, the line has one reading and no other (each cut between values is
then both the last and the first it can be). If they differ anywhere, the line is ambiguous:
- its values are the first reading's (free text takes the most, left to right);
- if the format logs the API id, stage or key id, the line is attributed to no one
  (`conflicting_identity`, as a JSON line that names its key twice is): where its key id
  stands cannot be known, and a caller must not be able to write another customer's into it;
- if the format logs the raw key, the line fails as `ambiguous_line` (kept as sent under
  errors/, as every failed record is): where the secret stands cannot be known, so no reading
  of it is delivered.
A filled-in line always matches its format, so a line that does not was not written by it: it
fails as `format_mismatch`.

Matching is RE2's: linear in the line's length whatever it holds. Python's own `re` backtracks,
and a line with several free-text parts that does not match could take it minutes. The second
match is only made when it could differ: when the text that follows some value in the format
also occurs inside that value (a reading with that value shorter must then start there).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

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
    # Each field the line gives two values (a variable the format logs twice came out different,
    # or a name twice in a JSON format's line), as top_level_duplicates() gives them.
    duplicates: dict[str, list[Any]] | None
    # The JSON the object was read from (JSON formats), so its numbers can be read exactly.
    json: bytes | None
    # The line can be read more than one way, in a format that logs who called: attributed to no one.
    ambiguous: bool = False


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
    "protocol": ("[A-Z]+/[0-9.]+", "[A-Z]+?/[0-9.]+?"),
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
_IDENTITY = frozenset(("$context.apiId", "$context.stage", "$context.identity.apiKeyId"))
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

    __slots__ = (
        "_followers",
        "_greedy",
        "_lazy",
        "_logs_identity",
        "_logs_key",
        "_members",
        "_names",
        "_pieces",
        "_slots",
        "variables",
    )

    def __init__(self, pieces: tuple[Piece, ...], members: Mapping[str, str] | None = None) -> None:
        """`members`: for a JSON format, each top-level member holding exactly one variable."""
        self._pieces = pieces
        self._members = members
        self._slots = tuple(piece.variable for piece in pieces if piece.variable is not None)
        self.variables = tuple(dict.fromkeys(self._slots))
        self._logs_identity = not _IDENTITY.isdisjoint(self.variables)
        self._logs_key = _API_KEY in self.variables
        self._names = tuple(field_name(variable) for variable in self._slots)
        # For each value, the literal text that follows it in the format, if any (see read).
        followers = []
        after_each_value = [after for piece, after in itertools.pairwise(pieces) if piece.variable is not None]
        for slot, after in enumerate(after_each_value):
            if after.variable is None:
                follower = after.literal.encode()
                followers.append((slot, follower, len(follower) - 1))
        self._followers = tuple(followers)
        self._greedy = _Matcher("".join(_part(piece, lazy=False) for piece in pieces))
        self._lazy = _Matcher("".join(_part(piece, lazy=True) for piece in pieces))

    def compile(self) -> None:
        """Compile now, not at the first line that needs it; raises ValueError if RE2 cannot."""
        self._greedy.compile()
        self._lazy.compile()

    def read(self, raw: bytes, *, keeps_key_values: bool = False) -> TextLine:
        """The line's object. Raises RecordError: `empty`, `not_utf8`, `format_mismatch` for a
        line the format did not write, or `ambiguous_line` (see the module's docstring; not
        when `keeps_key_values`, the `keep` policy, since no secret is then hidden anyway).
        """
        line = raw.removesuffix(b"\n").removesuffix(b"\r")
        spans = self._greedy.spans(line)
        if spans is None:
            raise RecordError(_mismatch(line))
        # The first reading is the longest value first, left to right. Another reading differs
        # first at some value, where it is shorter, so the text that follows that value in the
        # format would start inside it. Where that text occurs in no value, the line has one
        # reading; otherwise the shortest-first reading says whether it has another.
        ambiguous = False
        for slot, follower, extra in self._followers:
            start, end = spans[slot]
            if line.find(follower, start, end + extra) != -1:
                ambiguous = spans != self._lazy.spans(line)
                break
        if ambiguous and self._logs_key and not keeps_key_values:
            raise RecordError(FormatFailure.AMBIGUOUS_LINE)
        values = [_text(line[start:end]) for start, end in spans]
        ambiguous = ambiguous and self._logs_identity
        if self._members is not None:
            return self._as_json(values, ambiguous=ambiguous)
        obj: dict[str, Any] = {}
        duplicates: dict[str, list[Any]] = {}
        for slot, name in enumerate(self._names):
            value = _message(values[slot]) if self._slots[slot] == _MESSAGE_STRING else values[slot]
            if name not in obj:
                obj[name] = value
            elif obj[name] != value:  # a variable logged twice, read two ways
                duplicates.setdefault(name, [obj[name]]).append(value)
        return TextLine(obj, duplicates or None, None, ambiguous)

    def _as_json(self, values: list[str], *, ambiguous: bool) -> TextLine:
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
        duplicates = None if members_are_plain(rendered, obj) else top_level_duplicates(rendered)
        return TextLine(obj, duplicates or None, rendered, ambiguous)


class _Matcher:
    """One pattern, compiled by RE2 at first use (a JSON format may never need it) and matched
    through RE2's binding: the `re2` module's own match object costs about 13 us a line in
    Python, for offsets this slices itself."""

    __slots__ = ("_match", "_pattern")

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._match: Callable[[bytes, int, int], list[tuple[int, int]]] | None = None

    def compile(self) -> Callable[[bytes, int, int], list[tuple[int, int]]]:
        if self._match is None:
            import re2  # noqa: PLC0415 - only a stage with lines that are not JSON pays for RE2
            from re2 import _re2  # noqa: PLC0415

            compiled = _re2.RE2(self._pattern.encode(), re2.Options())
            if not compiled.ok():
                raise ValueError(f"RE2 cannot compile the format's pattern: {compiled.error()}")
            self._match = partial(compiled.Match, _re2.RE2.Anchor.ANCHOR_BOTH)
        return self._match

    def spans(self, line: bytes) -> list[tuple[int, int]] | None:
        """Each value's (start, end) in `line`, if the whole line matches; else None."""
        spans = (self._match or self.compile())(line, 0, len(line))
        return None if spans[0][0] == -1 else spans[1:]


def _part(piece: Piece, *, lazy: bool) -> str:
    if piece.variable is None:
        return re.escape(piece.literal)
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
