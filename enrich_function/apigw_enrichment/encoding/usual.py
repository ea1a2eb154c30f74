"""The usual line, answered in one step: read, proven, masked, enriched and encoded.

A stage writes every line in one shape: the same names in the same order, every value a string,
compact, as the recommended format gives them. Once the careful path (splice.py) has spliced a
line of a batch, its shape is learned: a msgspec Struct with exactly those fields, all strings.
Each later line is then decoded by that Struct alone (no dict, no names made: half orjson's
time) and proven by msgspec writing it out again: if those bytes are the line's (then
whitespace), the line holds exactly these members, each once, nothing nested and no escape.
Its bytes up to the closing brace are kept, the raw key value masked where it stands, and its
caller's five fields added, with the directory the cache holds when the batch starts.

Any other line (another shape, a number or null among the values, a backslash, a name twice...)
is the careful path's (None), which decides everything as before. The result is byte for byte
what the careful path writes for the same line (tests/unit/encoding/test_usual.py compares the
two on odd and generated batches). If the cache's decision for the batch (UsagePlanCache.view_for,
made once every key is known) changes the directory, rewrite() gives each answer the new fields.
"""

from __future__ import annotations

from collections import Counter
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import DecodeError

from apigw_enrichment.answers import Answer, Entry
from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.encoding.splice import Mask, mask_for
from apigw_enrichment.enrichment.directory import enrichment_for
from apigw_enrichment.fields import ENRICHMENT_FIELDS
from apigw_enrichment.sources.firehose import b64decode_validating, decode_base64, encode_base64

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from apigw_enrichment.config import Settings
    from apigw_enrichment.enrichment.directory import Enrichment, UsagePlanDirectory
    from apigw_enrichment.enrichment.keys import LookupKey


class Shape:
    """One shape of line, learned: how to decode it, and where its identity and raw key are."""

    __slots__ = ("decode", "identity", "key_value", "masked", "names")

    def __init__(self, names: tuple[str, ...], identity_names: tuple[str, ...], masked: str) -> None:
        self.names = names
        # Attributes f0, f1...: a JSON name can be any string, an attribute name cannot.
        attributes = [f"f{index}" for index in range(len(names))]
        struct = msgspec.defstruct(
            "UsualLine",
            [(attribute, str) for attribute in attributes],
            rename=dict(zip(attributes, names, strict=True)),
            forbid_unknown_fields=True,
            gc=False,  # strings only: no cycle to collect, and cheaper to make
        )
        self.decode: Callable[[bytes], Any] = msgspec.json.Decoder(struct).decode
        # The API id, stage, key id and status code, as one tuple, in one C call.
        self.identity: Callable[[Any], tuple[str, ...]] = attrgetter(
            *(attributes[names.index(name)] for name in identity_names)
        )
        self.masked = masked  # the raw key's field, or "" if the line has none to mask
        self.key_value: Callable[[Any], str] | None = attrgetter(attributes[names.index(masked)]) if masked else None


def shape_for(names: tuple[str, ...], identity_names: tuple[str, ...], masked: str) -> Shape:
    """The shape for these names, made once (a Struct class costs some 40 us) and kept while
    few: a stage has one, a stream a handful."""
    key = (names, identity_names, masked)
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) >= _SHAPES_KEPT:
            _SHAPES.clear()
        shape = _SHAPES[key] = Shape(names, identity_names, masked)
    return shape


_SHAPES: dict[tuple[tuple[str, ...], tuple[str, ...], str], Shape] = {}
_SHAPES_KEPT = 32


class Caller:
    """One (API id, stage, key id, status code) as a batch's usual lines write them: its key,
    its enrichment, the five fields after a comma, and the entries written with them (some of
    which the response may have made Answers of since: `materialized`)."""

    __slots__ = ("enrichment", "entries", "key", "materialized", "members", "status", "status_code")

    def __init__(self, key: LookupKey, enrichment: Enrichment, status_code: str) -> None:
        self.key, self.status_code = key, status_code
        self.enrichment, self.status = enrichment, enrichment.status
        self.members = b"," + enrichment.json_members
        self.entries: list[Entry] = []
        self.materialized = 0


class UsualLines:
    """Answers one batch's usual lines (see the module); one per batch, so nothing grows."""

    __slots__ = (
        "_blockers",
        "_callers",
        "_hint",
        "_identity_names",
        "_keeps",
        "_key_value_names",
        "_learned",
        "_masks",
        "_owners",
        "_policy",
        "_read_key",
        "_refused",
        "_shape",
        "directory",
    )

    def __init__(
        self,
        settings: Settings,
        read_key: Callable[[Mapping[str, Any], Mapping[str, list[Any]] | None], LookupKey],
        directory: UsagePlanDirectory | None,
    ) -> None:
        self.directory = directory
        self._read_key = read_key
        self._identity_names = (
            settings.api_id_fields[0],
            settings.stage_fields[0],
            settings.key_id_fields[0],
            settings.status_field,
        )
        self._policy = settings.api_key_values
        self._keeps = settings.api_key_values is ApiKeyValuePolicy.KEEP
        self._key_value_names = frozenset(settings.key_value_fields)
        # A shape with any of these is the careful path's: one of the five fields (overwritten
        # where it stands), another name of an identity (KeyReader compares them).
        self._blockers = frozenset(
            (*ENRICHMENT_FIELDS, *settings.api_id_fields[1:], *settings.stage_fields[1:], *settings.key_id_fields[1:])
        )
        self._shape: Shape | None = None
        self._learned: set[tuple[str, ...]] = set()  # the batch's shapes: few, whatever a hostile batch holds
        self._refused: set[tuple[str, ...]] = set()  # the batch's names no shape is made of
        self._callers: dict[tuple[str, ...], Caller] = {}
        # Raw key field -> key value -> how it is masked where it stands; None: left as it is.
        self._masks: dict[str, dict[str, Mask | None]] = {}
        self._hint = 0  # a little before where the last line's key value stood
        self._owners: dict[int, Caller] | None = None  # each entry's caller, by id: made if needed

    def answer_run(  # noqa: PLR0912, PLR0915 - one loop over a run of records: each break is a case for the careful path
        self, records: Sequence[Mapping[str, Any]], start: int, answers: list[Entry]
    ) -> int:
        """Answer the records from `start` on while each is a line of the learned shape, appending
        each one's entry to `answers`; return the index of the first record not answered here (the
        careful path's), or len(records).

        One loop for the run, not a call a record: what it needs is bound once, before it.
        """
        shape = self._shape
        if shape is None:
            return start
        decode, identity_of, key_value_of, masked_name = shape.decode, shape.identity, shape.key_value, shape.masked
        callers, masks, hint = self._callers, self._masks.setdefault(masked_name, {}), self._hint
        append = answers.append
        index = start
        for index in range(start, len(records)):
            record = records[index]
            try:
                data = record["data"]
            except KeyError:
                break
            if type(data) is not str:
                break
            try:
                raw = _b64decode(data, None, True)  # noqa: FBT003 - as decode_base64 calls it
            except ValueError:
                break
            if raw.find(b"\\") != -1:
                break
            try:
                line = decode(raw)
            except DecodeError:  # not JSON, another shape, a value that is not a string...
                break
            # Exactly what msgspec writes for these fields (then whitespace): every member once,
            # in this order, no whitespace between tokens; with no backslash, no escape anywhere.
            written = _encode(line)
            if not raw.startswith(written):
                break
            cut = len(written) - 1  # where the closing brace stands
            identity = identity_of(line)
            caller = callers.get(identity)
            if caller is None:
                caller = callers[identity] = self._caller(identity)
            if key_value_of is None:
                mask = None
            else:
                value = key_value_of(line)
                mask = masks.get(value, _UNSEEN)
                if mask is _UNSEEN:
                    mask = masks[value] = mask_for(masked_name, value)
            if mask is None:  # nothing to mask, or "-", "" or masked already
                out = raw[:cut] + caller.members
            else:
                # The member as msgspec writes it is on the line once (no name twice, nothing
                # nested, no string holding a quote): searched from where the last line had it.
                member, value_at, _, value_bytes, masked = mask  # one unpacking: a field by name costs more
                at = raw.find(member, hint, cut)
                if at < 0:
                    at = raw.find(member, 0, cut)
                    if at < 0:  # pragma: no cover - msgspec wrote it so
                        break
                hint = at - _HINT_SLACK if at > _HINT_SLACK else 0
                at += value_at
                out = b"".join((raw[:at], masked, raw[at + len(value_bytes) : cut], caller.members))
            entry = {"recordId": record["recordId"], "result": "Ok", "data": _b64encode(out)}
            append(entry)
            caller.entries.append(entry)
        else:
            index = len(records)
        self._hint = hint
        return index

    def learn(self, obj: Mapping[str, Any]) -> None:
        """Learn the shape of a line the careful path spliced (`obj`, its members), if its lines
        can be answered here, for the lines after it."""
        names = tuple(obj)
        if (self._shape is not None and self._shape.names == names) or names in self._refused:
            return
        if names not in self._learned and len(self._learned) >= MAX_SHAPES_A_BATCH:
            return
        try:
            _join(obj.values())  # TypeError unless every value is a string: one C call
        except TypeError:
            eligible, masked = False, ""  # a number or null: the format's, unquoted, line after line
        else:
            eligible, masked = self._masking(obj)
        if not eligible:
            # Decided once a batch: a stream of lines the careful path answers does not pay to ask again.
            self._refused.add(names)
            return
        self._learned.add(names)
        self._shape = shape_for(names, self._identity_names, masked)

    def _masking(self, obj: Mapping[str, Any]) -> tuple[bool, str]:
        """Whether a line of these members can be answered here, and the raw key's field it masks
        ("": none)."""
        if not all(name in obj for name in self._identity_names) or not self._blockers.isdisjoint(obj):
            return False, ""
        present = () if self._keeps else tuple(self._key_value_names.intersection(obj))
        if not present:
            return True, ""
        if len(present) > 1 or self._policy is ApiKeyValuePolicy.DROP:
            return False, ""  # two raw key fields to mask, or one to remove: the plain path's
        return True, present[0]

    def _caller(self, identity: tuple[str, ...]) -> Caller:
        api_id, stage, key_id, status_code = identity
        names = self._identity_names
        key = self._read_key({names[0]: api_id, names[1]: stage, names[2]: key_id}, None)
        return Caller(key, enrichment_for(key, self.directory), status_code)

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
            caller.enrichment, caller.status = enrichment, enrichment.status
            caller.members = b"," + enrichment.json_members
            for entry in caller.entries:
                entry["data"] = encode_base64(decode_base64(entry["data"])[:-old] + caller.members)

    def traffic(self) -> Counter[tuple[str | None, str | None]]:
        """Requests per (usage plan id, status code) among the entries written here."""
        traffic: Counter[tuple[str | None, str | None]] = Counter()
        for caller in self._callers.values():
            traffic[caller.enrichment.usage_plan_id, caller.status_code] += len(caller.entries)
        return traffic

    def statuses(self) -> Counter[str]:
        """The enrichment statuses of the entries written here that are still plain entries."""
        statuses: Counter[str] = Counter()
        for caller in self._callers.values():
            statuses[caller.status] += len(caller.entries) - caller.materialized
        return +statuses

    def materialize(self, entry: Entry, original: str) -> Answer:
        """An Answer for one of the entries written here (`original`: its record's data as sent),
        for what only an Answer can do (fail, be dropped, say its status). Rare: a response
        over Lambda's limit, or the local runner."""
        if self._owners is None:
            self._owners = {id(each): caller for caller in self._callers.values() for each in caller.entries}
        caller = self._owners[id(entry)]
        caller.materialized += 1
        return Answer(entry["recordId"], "Ok", entry["data"], original, caller.status)


# A batch whose lines each have another shape (a header holding quotes can add members) learns
# this many shapes at most, and answers lines of any other carefully: making one costs some 40 us.
# (Going back to one it has learned is free: two stages' formats may take turns.)
MAX_SHAPES_A_BATCH = 4

_encode = msgspec.json.Encoder().encode
_join = "".join
_b64decode, _b64encode = b64decode_validating, encode_base64
_UNSEEN: Final = Mask(b"", 0, b"", b"", b"")  # a key value not masked yet in this batch
# How far before the last line's key value the search starts: the lines of one stage differ by
# a few bytes before it (a path, a length), and a miss only costs a search from the start.
_HINT_SLACK = 64
