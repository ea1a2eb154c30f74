"""The usual line, answered in one step: read, proven, masked, enriched and encoded.

Nearly every line a stage sends is one JSON object exactly as orjson writes it again (no
whitespace, no escape), with its API id, stage, key id and status under their first names, a
raw key to mask, and nothing nested. Such a line is answered here, in one call, with the
directory the cache holds when the batch starts: its bytes up to the closing brace, the key
value masked where it stands, then the five fields of its caller. Any other line is left to
the careful path (None), which decides everything as before (splice.py, plain.py).

The result is byte for byte what the careful path writes for the same line (the handler's
tests compare the two on odd and generated input). If the cache's decision for the batch
(UsagePlanCache.view_for, made once every key is known) changes the directory, rewrite()
gives each answer the new fields.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import orjson

from apigw_enrichment.answers import Answer
from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.encoding.splice import Mask, mask_for
from apigw_enrichment.enrichment.directory import enrichment_for
from apigw_enrichment.fields import ENRICHMENT_FIELDS
from apigw_enrichment.formats.template import API_KEY
from apigw_enrichment.sources.firehose import decode_base64, encode_base64

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from apigw_enrichment.config import Settings
    from apigw_enrichment.enrichment.directory import Enrichment, UsagePlanDirectory
    from apigw_enrichment.enrichment.keys import LookupKey


class Caller:
    """One (API id, stage, key id, status code) as a batch's usual lines write them: its key,
    its enrichment, the five fields after a comma, and the answers written with them."""

    __slots__ = ("answers", "enrichment", "key", "members", "status_code")

    def __init__(self, key: LookupKey, enrichment: Enrichment, status_code: Any) -> None:
        self.key, self.status_code = key, status_code
        self.enrichment = enrichment
        self.members = b"," + enrichment.json_members
        self.answers: list[Answer] = []


class UsualLines:
    """Answers one batch's usual lines (see the module); one per batch, so nothing grows."""

    __slots__ = ("_blockers", "_callers", "_drops", "_hint", "_identity", "_masked", "_masks", "_read_key", "directory")

    def __init__(
        self,
        settings: Settings,
        read_key: Callable[[Mapping[str, Any], Mapping[str, list[Any]] | None], LookupKey],
        directory: UsagePlanDirectory | None,
    ) -> None:
        self.directory = directory
        self._read_key = read_key
        # The first name of each identity, and the status code's: one tuple, in one C call.
        self._identity = itemgetter(
            settings.api_id_fields[0], settings.stage_fields[0], settings.key_id_fields[0], settings.status_field
        )
        # The raw key's field a usual line masks: the format's own name, else the first.
        names = settings.key_value_fields
        own = [name for name in settings.log_format.names_for(API_KEY) if name in names]
        self._masked = None if settings.api_key_values is ApiKeyValuePolicy.KEEP else (own or names)[0]
        self._drops = settings.api_key_values is ApiKeyValuePolicy.DROP
        # A line holding any of these is the careful path's: one of the five fields (overwritten
        # where it stands), another name of an identity (KeyReader compares them), another raw
        # key field (two to mask).
        others = () if self._masked is None else tuple(name for name in names if name != self._masked)
        self._blockers = (
            *ENRICHMENT_FIELDS,
            *settings.api_id_fields[1:],
            *settings.stage_fields[1:],
            *settings.key_id_fields[1:],
            *others,
        )
        self._callers: dict[tuple[Any, ...], Caller] = {}
        self._masks: dict[str, Mask | None] = {}  # key value -> how it is masked; None: left as it is
        self._hint = 0  # a little before where the last line's key value stood

    def answer(self, record_id: str, data: str, raw: bytes, obj: dict[str, Any]) -> Answer | None:  # noqa: PLR0911, PLR0912 - each early return is a case for the careful path
        """The answer for `raw` (`data` decoded, `obj` what orjson read from it), or None if it
        is not a usual line."""
        if raw.find(b"\\") != -1:
            return None
        try:
            written = _dumps(obj)  # TypeError (orjson's JSONEncodeError): an integer past 64 bits
            identity = self._identity(obj)  # KeyError: a first name, or the status code, missing
            caller = self._callers.get(identity)  # TypeError: a list or an object among them
        except (TypeError, KeyError):
            return None
        # Exactly what orjson writes for `obj` (then whitespace): no member `obj` lacks (orjson
        # writes each of a dict's names once), no whitespace between tokens, and with no
        # backslash every quote opens or closes a string.
        if not raw.startswith(written) or not obj.keys().isdisjoint(self._blockers):
            return None
        cut = len(written) - 1  # where the closing brace stands
        brace = raw.find(b"{", 1, cut)
        while brace != -1:  # a `{` in a string ("/orders/{id}") is after anything but these
            if raw[brace - 1] in _BEFORE_AN_OBJECT:
                return None  # nested, perhaps: a member of the same name could stand inside
            brace = raw.find(b"{", brace + 1, cut)
        if caller is None:
            # A status code of another type equal to this one (404.0, True for 1) would share
            # its entry: only these are counted as written (see handler._traffic).
            if type(identity[3]) not in _STATUS_TYPES:
                return None
            key = self._read_key(obj, None)
            caller = self._callers[identity] = Caller(key, enrichment_for(key, self.directory), identity[3])
        elif type(identity[3]) is not type(caller.status_code):
            return None
        name = self._masked
        if name is None or name not in obj:
            line = raw[:cut] + caller.members
        else:
            value = obj[name]
            if self._drops or type(value) is not str:
                return None  # removing a member, or hiding a non-string whole, is the plain path's job
            mask = self._masks.get(value, _UNSEEN)
            if mask is _UNSEEN:
                mask = self._masks[value] = mask_for(name, value)
            if mask is None:  # "-", "" or masked already: left as it is
                line = raw[:cut] + caller.members
            else:
                # The member as orjson writes it is on the line once (no name twice, nothing
                # nested, no string holding a quote): searched from where the last line had it.
                start = raw.find(mask.member, self._hint, cut)
                if start < 0:
                    start = raw.find(mask.member, 0, cut)
                    if start < 0:  # pragma: no cover - orjson wrote it so
                        return None
                self._hint = start - _HINT_SLACK if start > _HINT_SLACK else 0
                start += mask.value_at
                line = b"".join((raw[:start], mask.masked, raw[start + len(mask.value) : cut], caller.members))
        answer = Answer(record_id, "Ok", encode_base64(line), data, caller.enrichment.status)
        caller.answers.append(answer)
        return answer

    def keys(self) -> Iterator[LookupKey]:
        """The key of every caller answered here."""
        return (caller.key for caller in self._callers.values())

    def rewrite(self, directory: UsagePlanDirectory | None) -> None:
        """Give every answer the five fields `directory` decides, where they differ."""
        self.directory = directory
        for caller in self._callers.values():
            enrichment = enrichment_for(caller.key, directory)
            if enrichment.json_members == caller.enrichment.json_members:
                continue
            old = len(caller.members)
            caller.enrichment, caller.members = enrichment, b"," + enrichment.json_members
            for answer in caller.answers:
                line = decode_base64(answer.data)[:-old] + caller.members
                answer.data, answer.status = encode_base64(line), enrichment.status

    def traffic(self) -> Counter[tuple[str | None, str | None]]:
        """Requests per (usage plan id, status code) among the answers written here."""
        traffic: Counter[tuple[str | None, str | None]] = Counter()
        for caller in self._callers.values():
            if caller.answers:
                traffic[caller.enrichment.usage_plan_id, caller.status_code] += len(caller.answers)
        return traffic


# A status code as logged ("200" or 200), or null: each equal only to values of its own type.
_STATUS_TYPES = frozenset({str, int, type(None)})
_dumps = orjson.dumps
# The bytes before a `{` that begins an object inside another (compact, as orjson writes it).
_BEFORE_AN_OBJECT = b":,["
_UNSEEN: Final = Mask(b"", 0, b"", b"", b"")  # a key value not masked yet in this batch
# How far before the last line's key value the search starts: the lines of one stage differ by
# a few bytes before it (a path, a length), and a miss only costs a search from the start.
_HINT_SLACK = 64
