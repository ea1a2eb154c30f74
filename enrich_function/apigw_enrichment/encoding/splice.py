"""The splice: the five fields appended to the record's own bytes.

API Gateway writes each access-log line as one JSON object already. Parsing it is needed to
read the key id, but writing the whole object out again is not. The record's bytes are kept;
its closing brace gives way to the five fields (serialized once per cache load, in
Enrichment.json_members), and a raw key value is masked where it stands. The line is then
base64-encoded once (pybase64, SIMD): since base64 encodes each 3 bytes on their own, the
start of the answer up to the first changed byte is the very base64 Firehose sent.

The usual line (exactly as orjson writes its object) is spliced in one step by usual.py; this
module plans the splice of any other line, and a CloudWatch Logs subscription's messages. It
is taken only where the result is provably the object the plain path would write; in every
other case SplicePlanner answers None (or NOT_PLAIN) and the caller re-serializes. The two
paths are compared on the same input, odd input included, in tests/unit/encoding/test_splice.py.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.enrichment.masking import mask_value
from apigw_enrichment.fields import API_KEY_VALUE_FIELDS, ENRICHMENT_FIELDS
from apigw_enrichment.formats.json_line import members_are_plain
from apigw_enrichment.sources.firehose import encode_base64

if TYPE_CHECKING:
    from collections.abc import Mapping

# One name each, so that "has none of them" is five dict lookups: under half isdisjoint's cost.
_PLAN_ID, _PLAN_NAME, _CUSTOMER_ID, _CUSTOMER_NAME, _STATUS = ENRICHMENT_FIELDS
# After a member's name: the colon, then the opening quote of a string value.
_TO_STRING_VALUE = re.compile(rb'[ \t]*:[ \t]*"')


# A record's output line, as an edit of its input: its bytes up to where the five fields go
# (in place of the closing brace, after a comma if it has members), the key value masked.
Splice = bytes

_OPEN_BRACE, _CLOSE_BRACE, _QUOTE = ord("{"), ord("}"), ord('"')


class Unproven(Enum):
    """plan_line's answer for a line whose bytes may hold a member its parsed object does not."""

    NOT_PLAIN = "not_plain"


NOT_PLAIN: Final = Unproven.NOT_PLAIN


class SplicePlanner:
    """Plans each record's splice, for one batch; None where only the plain path can be trusted.

    What depends only on a key value (its bytes, and its masked bytes) is worked out once
    per distinct value. One planner per batch, so what it remembers never grows.
    """

    __slots__ = ("_drops", "_masks", "_names", "_tokens")

    def __init__(self, policy: ApiKeyValuePolicy, names: tuple[str, ...] = API_KEY_VALUE_FIELDS) -> None:
        # The raw key's fields (api_key, apiKey and the format's own name); none if kept as they are.
        self._names = () if policy is ApiKeyValuePolicy.KEEP else names
        self._drops = policy is ApiKeyValuePolicy.DROP
        self._tokens = {name: b'"' + name.encode() + b'"' for name in names}
        # name -> value -> how it is masked where it stands; None: masking leaves it as it is.
        self._masks: dict[str, dict[str, Mask | None]] = {name: {} for name in names}

    def plan(self, raw: bytes, obj: Mapping[str, Any], *, plain: bool) -> Splice | None:
        """How to write `raw` as one line with the five fields to come, its raw key value
        handled per the policy.

        `obj` is what a JSON parser read from `raw`; that it parsed as an object is what makes
        the edit valid JSON. `plain` is members_are_plain(raw, obj): only then are the line's
        bytes known to hold no member the parser did not keep (a second `api_key` among them).
        Nothing here depends on which plan the record is on, so it is planned while the batch
        is read, and the record's parsed object need not be kept.
        """
        if not plain:
            return None  # a member the bytes hold twice, or nested
        splice = self.plan_line(raw, obj)
        return None if splice is NOT_PLAIN else splice

    def plan_line(  # noqa: PLR0911, PLR0912 - each early return is a case for the plain path
        self, raw: bytes, obj: Mapping[str, Any]
    ) -> Splice | Literal[Unproven.NOT_PLAIN] | None:
        """plan() with the proof of plainness in the same call: NOT_PLAIN where `raw` may hold a
        member `obj` lacks (a name twice, a nested member), which the caller must read again
        carefully; else what plan(raw, obj, plain=True) answers.

        The proof counts quotes (members_are_plain), and the key value is found by its name's
        first token. (The usual line, exactly as orjson writes it, is answered before it comes
        here, by usual.py.)
        """
        # members_are_plain(raw, obj), with its usual case inlined: no backslash, and every
        # value a string, so exactly four quotes a member.
        if raw.find(b"\\") != -1:
            return NOT_PLAIN
        members = len(obj)
        if raw.count(b'"') == 4 * members:
            try:
                _join(obj.values())
            except TypeError:  # some value is not a string: then the count cannot balance
                return NOT_PLAIN
        elif not members_are_plain(raw, obj):
            return NOT_PLAIN
        if raw[0] != _OPEN_BRACE:
            return None  # whitespace before the object
        # The fields go in place of the closing brace. A line break before it is whitespace
        # between tokens (the line is plain and JSON: no string can hold a raw one), and the
        # output is one line. (bytes.find, not `in`: `in` costs eight times as much here.)
        if raw[-1] == _CLOSE_BRACE:
            cut = len(raw) - 1
            if raw.find(b"\n") != -1 or raw.find(b"\r") != -1:
                return None
        else:
            cut = len(raw.rstrip()) - 1
            if raw.find(b"\n", 0, cut) != -1 or raw.find(b"\r", 0, cut) != -1:
                return None
        if _PLAN_ID in obj or _PLAN_NAME in obj or _CUSTOMER_ID in obj or _CUSTOMER_NAME in obj or _STATUS in obj:
            return None  # the plain path overwrites such a field where it stands
        close = b"," if members else b""
        change = None
        for name in self._names:
            if name in obj:
                if change is not None:
                    return None  # two raw key fields to mask: rare enough for the plain path
                value = obj[name]
                if self._drops or type(value) is not str:
                    return None  # removing a member, or hiding a non-string whole, is the plain path's job
                masks = self._masks[name]
                mask = masks.get(value, _UNSEEN)
                if mask is _UNSEEN:
                    mask = masks[value] = mask_for(name, value)
                if mask is None:
                    # "-", "" or already masked, and the line is plain: this is the only member
                    # with the name, so nothing else on the line can hold a raw value under it.
                    continue
                # Where the value stands. The line is plain: no backslash, so every quote opens
                # or closes a string and the name's token is a whole string; no nested member
                # and no name twice. Followed by a colon, it is the one member with this name.
                # (The token may also stand earlier as a value: plain path.)
                token = self._tokens[name]
                start = raw.find(token, 0, cut)
                if raw.startswith(mask.colon_value, start + len(token)):  # `"api_key":"value"`, as recommended
                    start += len(token) + 2
                    change = start, start + len(mask.value), mask.masked
                else:  # whitespace around the colon, say
                    change = _located(raw, cut, start, len(token), mask)
                    if change is None:
                        return None
        if change is None:
            return raw[:cut] + close
        start, stop, masked = change
        return b"".join((raw[:start], masked, raw[stop:cut], close))


def _located(raw: bytes, cut: int, start: int, token_length: int, mask: Mask) -> tuple[int, int, bytes] | None:
    """Where a key value stands after its name's token (found at `start`), when the name, colon
    and value are not written as the recommended format writes them; None if only the plain
    path can tell."""
    if start < 0:  # pragma: no cover - the parser read this name from these bytes
        return None
    colon = _TO_STRING_VALUE.match(raw, start + token_length)
    if colon is None:
        return None
    value_start = colon.end()
    value_end = value_start + len(mask.value)
    if value_end >= cut or raw[value_end] != _QUOTE or not raw.startswith(mask.value, value_start):
        return None
    return value_start, value_end, mask.masked


class Mask(NamedTuple):
    """How one key value is masked where it stands: worked out once per distinct name and value."""

    member: bytes  # `"name":"value"`, the member as orjson (and the recommended format) writes it
    value_at: int  # where the value starts in `member`
    colon_value: bytes  # `:"value"`, what follows the name's token in `member`
    value: bytes  # the value's bytes
    masked: bytes  # what replaces them


def mask_for(name: str, value: str) -> Mask | None:
    masked = mask_value(value)
    if masked == value:
        return None
    encoded = value.encode()
    colon_value = b':"' + encoded + b'"'
    token = b'"' + name.encode() + b'"'
    return Mask(token + colon_value, len(token) + 2, colon_value, encoded, masked.encode())


_join = "".join
_UNSEEN: Final = Mask(b"", 0, b"", b"", b"")  # a value the planner has not masked yet


def spliced_data(splice: Splice, suffix: bytes) -> str:
    """The output's base64: the splice, then the suffix (the five fields, or "\\n")."""
    return encode_base64(splice + suffix)
