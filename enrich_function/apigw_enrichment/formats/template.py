"""A stage's access-log format (accessLogSettings/format), compiled once into what reads its lines.

A format is text with `$context` variables in it. API Gateway writes one line per request by
putting each variable's value in its place, and it escapes nothing: a user agent with a quote,
a comma or a `<` in it lands in the line as it is. So a format is read by what it is made of:
which variable stands where, and the literal text between them.

- format_kind() says what a format looks like (json, clf, csv, xml, other), for `apigw-logs audit`.
- compile_format() turns it into an AccessLogFormat: for a JSON format, which top-level member
  holds which variable (so the API id, stage and key id are found by what they log, whatever the
  members are called); for every format, a TextReader (text_line.py) for lines that are not JSON.

Nothing here does I/O. A format that cannot be read raises TemplateError, once, at start-up.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from apigw_enrichment.failures import RecordError
from apigw_enrichment.fields import field_name
from apigw_enrichment.formats.text_line import Piece, TextReader

if TYPE_CHECKING:
    from collections.abc import Mapping

    from apigw_enrichment.formats.text_line import TextLine

# `$context.` and a dotted name: `$context.identity.sourceIp`, `$context.authorizer.claims.sub`.
# A dot not followed by a name ends the variable (`$context.stage.` is the stage and a dot).
CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

API_ID = "$context.apiId"
STAGE = "$context.stage"
API_KEY_ID = "$context.identity.apiKeyId"
API_KEY = "$context.identity.apiKey"  # the raw key: a secret
STATUS = "$context.status"  # the response's status code: counted per usage plan
# API Gateway refuses a format without one of these, so that each line names its request.
REQUEST_IDS = ("$context.requestId", "$context.extendedRequestId")
IDENTITY_VARIABLES = (API_ID, STAGE, API_KEY_ID)


class FormatKind(StrEnum):
    JSON = "json"
    CLF = "clf"
    CSV = "csv"
    XML = "xml"
    OTHER = "other"


class TemplateError(ValueError):
    """A format this function cannot read its lines by; the message says why, in one line."""


def logged_variables(template: str) -> tuple[str, ...]:
    """Each `$context` variable the format logs, once, in the order they first appear."""
    return tuple(dict.fromkeys(CONTEXT_VARIABLE.findall(template)))


def format_kind(template: str) -> FormatKind:
    """What the format looks like; never raises, whatever the text.

    json: a JSON object once its variables are filled in. xml: `<...>`. csv: every pair of
    neighbouring variables is parted by a comma (quotes and spaces aside). clf: every pair is
    parted by spaces, brackets, quotes and `-`, as the Common Log Format is. other: anything else.
    """
    if _json_layout(template) is not None:
        return FormatKind.JSON
    return _text_kind(template)


def _text_kind(template: str) -> FormatKind:
    """format_kind() of a format that is not JSON."""
    stripped = template.strip()
    if stripped.startswith("<") and stripped.endswith(">"):
        return FormatKind.XML
    parts = CONTEXT_VARIABLE.split(template)
    separators = parts[1:-1]
    if not separators:
        return FormatKind.OTHER
    if all(separator.replace('"', "").strip() == "," for separator in separators):
        return FormatKind.CSV
    if all(separator and " " in separator and not set(separator) - _CLF_SEPARATOR for separator in separators):
        return FormatKind.CLF
    return FormatKind.OTHER


_CLF_SEPARATOR = frozenset(' []"-')  # a literal - stands for a field not logged


@dataclass(frozen=True, slots=True)
class AccessLogFormat:
    """A format compiled: what it is, where its identity is, and the reader for its text lines."""

    template: str
    kind: FormatKind
    # JSON formats: each top-level member that holds exactly one variable, with that variable.
    members: Mapping[str, str] = field(compare=False)
    reader: TextReader = field(repr=False, compare=False)  # both follow from the template

    def names_for(self, variable: str) -> tuple[str, ...]:
        """The top-level fields of this format's lines that hold `variable`, if any."""
        if self.kind is FormatKind.JSON:
            return tuple(name for name, held in self.members.items() if held == variable)
        return (field_name(variable),) if variable in self.reader.variables else ()

    def read_text(self, raw: bytes, failure: RecordError, *, keeps_key_values: bool = False) -> TextLine:
        """A line that is not a JSON object (`failure` says why), read by this format.

        Raises RecordError: for a text format, its reader's reason (`format_mismatch`...); for a
        JSON format, `failure` itself, so a line that is neither JSON nor the format's keeps
        its JSON reason.
        """
        try:
            return self.reader.read(raw, keeps_key_values=keeps_key_values)
        except RecordError:
            if self.kind is FormatKind.JSON:
                raise failure from None
            raise

    def other_names(self, variable: str) -> tuple[str, ...]:
        """Top-level fields this format gives to some variable other than `variable`."""
        return tuple(name for name, held in self.members.items() if held != variable)


def compile_format(template: str) -> AccessLogFormat:
    """Compile a stage's format once; raise TemplateError if its lines could not be read."""
    if not template.strip():
        raise TemplateError("the access-log format is empty")
    # API Gateway takes one line break, at the very end (each line then ends with it).
    template = template.removesuffix("\n")
    if "\n" in template or "\r" in template:
        raise TemplateError("an access-log format is one line: a line break may only end it")
    variables = logged_variables(template)
    if not any(variable in variables for variable in REQUEST_IDS):
        raise TemplateError("the access-log format must log $context.requestId (API Gateway refuses it otherwise)")
    layout = _json_layout(template)
    pieces = _pieces(template) if layout is None else layout.pieces
    for before, after in itertools.pairwise(pieces):
        if before.variable is not None and after.variable is not None:
            raise TemplateError(
                f"{before.variable} and {after.variable} stand side by side: "
                "put some text between them, or their values cannot be told apart"
            )
    if layout is None:
        reader = TextReader(pieces)
        try:
            reader.compile()  # a text format reads every line by it: compiled at start-up
        except ValueError as error:
            raise TemplateError(str(error)) from None
        return AccessLogFormat(template, _text_kind(template), {}, reader)
    if len(layout.names) != len(set(layout.names)):
        twice = sorted({name for name in layout.names if layout.names.count(name) > 1})
        raise TemplateError(f"the JSON format names {', '.join(twice)} twice, so each line would too")
    return AccessLogFormat(template, FormatKind.JSON, layout.members, TextReader(pieces, layout.members))


@dataclass(frozen=True, slots=True)
class _JsonLayout:
    pieces: tuple[Piece, ...]
    names: tuple[str, ...]  # every top-level member name, in order, repeats included
    members: dict[str, str]


# Stand-ins for variables while a template is checked as JSON: private-use characters, which no
# format has any business holding.
_OPEN, _CLOSE = "\ue000", "\ue001"


def _json_layout(template: str) -> _JsonLayout | None:
    """The template as JSON: None unless it is one JSON object once its variables are filled."""
    pieces = _pieces(template, track_strings=True)
    stand_ins: dict[str, str] = {}
    text = []
    for number, piece in enumerate(pieces):
        if piece.variable is None:
            text.append(piece.literal)
            continue
        stand_in = f"{_OPEN}{number}{_CLOSE}"
        stand_ins[stand_in] = piece.variable
        # A variable outside a string stands for a value of its own (a number, or the quoted
        # string $context.error.messageString is): a string stand-in takes its place.
        text.append(stand_in if piece.in_string else f'"{stand_in}"')
    try:
        top = json.loads("".join(text), object_pairs_hook=_Members)
    except (ValueError, RecursionError):
        return None
    if not isinstance(top, _Members):
        return None  # an array, a string, a number: not an object
    names = tuple(name for name, _ in top)
    members = {name: stand_ins[value] for name, value in top if isinstance(value, str) and value in stand_ins}
    return _JsonLayout(pieces, names, members)


class _Members(list[tuple[str, object]]):
    """An object's members as the JSON parser read them, in order, repeats kept."""


def _pieces(template: str, *, track_strings: bool = False) -> tuple[Piece, ...]:
    """The template as literal text and variables, each variable marked as inside a JSON string
    or not (only when `track_strings`: for text formats it means nothing)."""
    pieces: list[Piece] = []
    in_string = escaped = False
    position = 0
    for match in CONTEXT_VARIABLE.finditer(template):
        literal = template[position : match.start()]
        if track_strings:
            for character in literal:
                if escaped:
                    escaped = False
                elif in_string and character == "\\":
                    escaped = True
                elif character == '"':
                    in_string = not in_string
        if literal:
            pieces.append(Piece(literal=literal))
        pieces.append(Piece(variable=match.group(), in_string=in_string))
        position = match.end()
    if position < len(template):
        pieces.append(Piece(literal=template[position:]))
    return tuple(pieces)
