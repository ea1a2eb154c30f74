"""The fast path: the five fields appended to the record's own bytes, and to its own base64.

API Gateway writes each access-log line as one JSON object already. Parsing it is needed to
read the key id, but writing the whole object out again is not. The record's bytes are kept;
its closing brace gives way to the five fields (serialized once per cache load, in
Enrichment.json_members), and a raw key value is masked where it stands.

Base64 encodes each 3 bytes as 4 characters on their own, so the unchanged start of a line
keeps the characters Firehose sent: only the bytes from the first change on are encoded.

It is taken only where the result is provably the object the plain path would write; in
every other case SplicePlanner returns None and the caller re-serializes. The two paths are
compared on the same input, odd input included, in tests/unit/test_splice.py.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.enrichment.masking import mask_value
from apigw_enrichment.fields import API_KEY_VALUE_FIELDS, ENRICHMENT_FIELDS
from apigw_enrichment.sources.firehose import encode_base64

if TYPE_CHECKING:
    from collections.abc import Mapping

# One name each, so that "has none of them" is five dict lookups: under half isdisjoint's cost.
_PLAN_ID, _PLAN_NAME, _CUSTOMER_ID, _CUSTOMER_NAME, _STATUS = ENRICHMENT_FIELDS
# After a member's name: the colon, then the opening quote of a string value.
_TO_STRING_VALUE = re.compile(rb'[ \t]*:[ \t]*"')


# A record's output line, as an edit of its input: (kept, middle). The first `kept`
# characters of its base64 stay as they are; then come `middle` and the suffix (the five
# fields, or "\n"). A plain tuple: one is made per record, and a NamedTuple takes 0.25 us to make.
Splice = tuple[int, bytes]

_OPEN_BRACE, _CLOSE_BRACE, _QUOTE = ord("{"), ord("}"), ord('"')


class SplicePlanner:
    """Plans each record's splice, for one batch; None where only the plain path can be trusted.

    What depends only on a key value (its bytes, and its masked bytes) is worked out once
    per distinct value. One planner per batch, so what it remembers never grows.
    """

    __slots__ = ("_masks", "_names", "_policy", "_tokens")

    def __init__(self, policy: ApiKeyValuePolicy, names: tuple[str, ...] = API_KEY_VALUE_FIELDS) -> None:
        self._policy = policy
        self._names = names  # the raw key's fields: api_key, apiKey and the format's own name
        self._tokens = {name: b'"' + name.encode() + b'"' for name in names}
        # value -> (its bytes, its masked bytes); None: masking leaves it as it is.
        self._masks: dict[str, tuple[bytes, bytes] | None] = {}

    def plan(self, raw: bytes, obj: Mapping[str, Any], *, plain: bool) -> Splice | None:  # noqa: PLR0911 - one early return per case left to the plain path
        """How to write `raw` as one line with the five fields to come, its raw key value
        handled per the policy.

        `obj` is what a JSON parser read from `raw`; that it parsed as an object is what makes
        the edit valid JSON. `plain` is members_are_plain(raw, obj): only then are the line's
        bytes known to hold no member the parser did not keep (a second `api_key` among them).
        Nothing here depends on which plan the record is on, so it is planned while the batch
        is read, and the record's parsed object need not be kept.
        """
        if not plain or raw[0] != _OPEN_BRACE:
            return None  # a member the bytes hold twice, or whitespace before the object
        end = len(raw) if raw[-1] == _CLOSE_BRACE else len(raw.rstrip())  # just after the closing brace
        # A line break outside a string is whitespace between tokens; the output is one line.
        # (bytes.find, not `in`: `in` costs eight times as much on a line this size.)
        if raw.find(b"\n", 0, end) != -1 or raw.find(b"\r", 0, end) != -1:
            return None
        if _PLAN_ID in obj or _PLAN_NAME in obj or _CUSTOMER_ID in obj or _CUSTOMER_NAME in obj or _STATUS in obj:
            return None  # the plain path overwrites such a field where it stands
        cut, close = end - 1, b"," if obj else b""  # the fields go in place of the brace
        change = None
        if self._policy is not ApiKeyValuePolicy.KEEP:
            for name in self._names:
                if name in obj:
                    if change is not None:
                        return None  # two raw key fields: rare enough for the plain path
                    try:
                        change = self._masking(raw, end, name, obj[name])
                    except _PlainPathOnlyError:
                        return None
        if change is None:
            whole = cut - cut % 3
            return whole // 3 * 4, raw[whole:cut] + close
        start, stop, masked = change
        whole = start - start % 3
        return whole // 3 * 4, b"".join((raw[whole:start], masked, raw[stop:cut], close))

    def _masking(self, raw: bytes, end: int, name: str, value: Any) -> tuple[int, int, bytes] | None:
        """Where the key value stands in `raw` (start, stop) and what replaces it; None if
        nothing needs to change. Raises _PlainPathOnlyError where only the plain path can do it."""
        if self._policy is ApiKeyValuePolicy.DROP or type(value) is not str:
            # Removing a member, or hiding a non-string whole, is the plain path's job.
            raise _PlainPathOnlyError
        try:
            mask = self._masks[value]
        except KeyError:
            masked = mask_value(value)
            unchanged = masked == value
            mask = None if unchanged else (value.encode(), masked.encode())
            self._masks[value] = mask
        if mask is None:
            # "-", "" or already masked, and the line is plain: this is the only member with
            # the name, so nothing else on the line can hold a raw value under it.
            return None
        encoded, masked_bytes = mask
        # The line is plain: no backslash, so every quote opens or closes a string and the token
        # is a whole string; no nested member and no name twice. Followed by a colon, it is the
        # one member with this name. (The token may also stand earlier as a value: plain path.)
        token = self._tokens[name]
        start = raw.find(token, 0, end)
        if start < 0:  # pragma: no cover - the parser read this name from these bytes
            raise _PlainPathOnlyError
        after = start + len(token)
        if raw.startswith(b':"', after):  # the recommended format's `":"`
            value_start = after + 2
        elif raw.startswith(b': "', after):  # a format written with a space after each colon
            value_start = after + 3
        else:
            colon = _TO_STRING_VALUE.match(raw, after)
            if colon is None:
                raise _PlainPathOnlyError
            value_start = colon.end()
        value_end = value_start + len(encoded)
        if value_end >= end or raw[value_end] != _QUOTE or not raw.startswith(encoded, value_start):
            raise _PlainPathOnlyError
        return value_start, value_end, masked_bytes


def spliced_data(data: str, splice: Splice, suffix: bytes) -> str:
    """The output's base64: the kept characters of `data`, then `middle + suffix` encoded."""
    kept, middle = splice
    return data[:kept] + encode_base64(middle + suffix)


class _PlainPathOnlyError(Exception):
    """The key value cannot be masked in place; the record takes the plain path."""
