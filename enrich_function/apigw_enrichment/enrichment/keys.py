"""Who called: the API id, stage and API key id a record names, read once per distinct caller."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from apigw_enrichment.fields import NO_KEY_MARKERS

if TYPE_CHECKING:
    from collections.abc import Mapping


class LookupKey(NamedTuple):
    """What a record says about who called: the API, its stage and the API key id.

    A tuple, not a dataclass: keys are gathered in sets and used as dict keys once per
    record, and a tuple's hash is computed in C, a dataclass's in Python.
    """

    api_id: str | None
    stage: str | None
    key_id: str | None
    # True when the key field held something that cannot be a key id (a number, a list...).
    key_unusable: bool = False
    # True when the line names two different values for one of the three (see KeyReader).
    conflicting: bool = False


CONFLICTING = LookupKey(None, None, None, conflicting=True)


def lookup_key(
    obj: Mapping[str, Any],
    api_id_fields: tuple[str, ...],
    stage_fields: tuple[str, ...],
    key_id_fields: tuple[str, ...],
) -> LookupKey:
    """Read the API id, stage and API key id from a record, by the first field present."""
    return _key_from(
        _first_present(obj, api_id_fields), _first_present(obj, stage_fields), _first_present(obj, key_id_fields)
    )


def _key_from(api_id: Any, stage: Any, raw_key: Any) -> LookupKey:
    if isinstance(raw_key, str):
        return LookupKey(_as_text(api_id), _as_text(stage), None if raw_key in NO_KEY_MARKERS else raw_key)
    # A number, list or object cannot be a key id; null means no key.
    return LookupKey(_as_text(api_id), _as_text(stage), None, key_unusable=raw_key is not None)


class KeyReader:
    """Reads each record's LookupKey for one batch, building it once per distinct caller.

    A batch holds thousands of records from a few hundred callers at most; reading the
    three fields is cheap, building and checking the key is not, so it is done once for
    each (api id, stage, key id) as written. One reader per batch, so it never grows.

    One identity, one value: a line that gives the API id, the stage or the key id two
    different values, whether one name is written twice or two of its names are, is read as
    CONFLICTING and attributed to no one. Which value a line means is not for a parser's
    "last one wins" to decide: a client that can put quotes in a logged header could
    otherwise add `"key_id":"<someone else's>"` to its own line and bill it to another
    customer. Two values that mean the same (`-`, "" and null all mean none) agree.
    """

    __slots__ = ("_alternates", "_fields", "_firsts", "_seen")

    def __init__(
        self, api_id_fields: tuple[str, ...], stage_fields: tuple[str, ...], key_id_fields: tuple[str, ...]
    ) -> None:
        self._fields = (api_id_fields, stage_fields, key_id_fields)
        # The three first-choice fields' values as one tuple, in one C call; KeyError if one is missing.
        self._firsts = itemgetter(api_id_fields[0], stage_fields[0], key_id_fields[0])
        self._alternates = (*api_id_fields[1:], *stage_fields[1:], *key_id_fields[1:])
        self._seen: dict[tuple[Any, Any, Any], LookupKey] = {}

    # A named method, not __call__: the hot loop binds it once, and a bound method is
    # called by vectorcall, while calling an instance goes through the type's slot (~40 ns).
    def read(self, obj: Mapping[str, Any], duplicates: Mapping[str, list[Any]] | None = None) -> LookupKey:
        """The record's key; `duplicates` is top_level_duplicates() of a line that is not plain."""
        try:
            written: tuple[Any, Any, Any] = self._firsts(obj)
        except KeyError:
            written = (None, None, None)  # read by every name below
        # The usual line: each first-choice field once, and none of the others.
        if None in written or duplicates or not obj.keys().isdisjoint(self._alternates):
            written_or_conflict = self._read_every_name(obj, duplicates or {})
            if written_or_conflict is None:
                return CONFLICTING
            written = written_or_conflict
        try:
            return self._seen[written]
        except KeyError:
            key = self._seen[written] = _key_from(*written)
            return key
        # (1, 1.0 and True are one entry here, and rightly: only a string can be an id.)
        except TypeError:  # a list or an object where an id should be: not worth remembering
            return _key_from(*written)

    def _read_every_name(
        self, obj: Mapping[str, Any], duplicates: Mapping[str, list[Any]]
    ) -> tuple[Any, Any, Any] | None:
        """Each identity by the first of its names present, or None if any has two meanings."""
        chosen = []
        for names in self._fields:
            written = [value for name in names for value in duplicates.get(name, (obj[name],) if name in obj else ())]
            if len({_meaning(value) for value in written}) > 1:
                return None
            chosen.append(_first_present(obj, names))
        return chosen[0], chosen[1], chosen[2]


def _meaning(value: Any) -> Any:
    """What one written value says of an identity, for comparing two of them."""
    if value is None or (isinstance(value, str) and value in NO_KEY_MARKERS):
        return None
    if isinstance(value, str):
        return value
    return ("not a string", repr(value))  # unusable as an id, and unlike any string


def _first_present(obj: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in obj:
            return obj[name]
    return None


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value not in NO_KEY_MARKERS else None
