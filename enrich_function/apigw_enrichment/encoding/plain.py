"""The plain path: a record's object, with the five fields (or as it is), written out again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from apigw_enrichment.enrichment.masking import apply_key_value_policy
from apigw_enrichment.failures import RecordError
from apigw_enrichment.fields import API_KEY_VALUE_FIELDS
from apigw_enrichment.formats.json_line import exact_numbers
from apigw_enrichment.sources.firehose import encode_base64

if TYPE_CHECKING:
    from collections.abc import Mapping

    from apigw_enrichment.config import ApiKeyValuePolicy
    from apigw_enrichment.enrichment.directory import Enrichment


class EncodingFailure(StrEnum):
    UNENCODABLE = "unencodable"


def encode_line(obj: Mapping[str, Any]) -> bytes:
    """Serialize an object as exactly one line of JSON followed by one newline."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        pass
    # Integers past 64 bits and lone surrogates: the stdlib writes both exactly, and
    # ensure_ascii keeps a lone surrogate as its \\u escape instead of invalid UTF-8.
    try:
        text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise RecordError(EncodingFailure.UNENCODABLE) from None
    return text.encode("ascii") + b"\n"


@dataclass(frozen=True, slots=True)
class PlainRecord:
    """A record the splice cannot write: kept whole, to be written out again."""

    raw: bytes | None  # the JSON it was read from; None: an object read from a text line
    obj: dict[str, Any]


def plain_data(
    record: PlainRecord,
    enrichment: Enrichment | None,
    policy: ApiKeyValuePolicy,
    names: tuple[str, ...] = API_KEY_VALUE_FIELDS,
) -> str:
    """The base64 of plain_line()."""
    return encode_base64(plain_line(record, enrichment, policy, names))


def plain_line(
    record: PlainRecord,
    enrichment: Enrichment | None,
    policy: ApiKeyValuePolicy,
    names: tuple[str, ...] = API_KEY_VALUE_FIELDS,
) -> bytes:
    """A record the splice could not write: its object with the five fields added (None: it
    passes through), written out again as one line, its key fields (`names`) handled per the
    policy. Raises RecordError if it cannot be written."""
    exact = record.obj if record.raw is None else exact_numbers(record.raw, record.obj)
    try:
        if enrichment is None:
            out = pass_through(exact, policy, names)
        else:
            out = enrich_object(exact, enrichment, policy, names)
    except RecursionError:  # nested deeper than masking can walk (orjson reads 1,024 levels)
        raise RecordError(EncodingFailure.UNENCODABLE) from None
    return encode_line(out)


def copy_data(copy: list[PlainRecord], policy: ApiKeyValuePolicy, names: tuple[str, ...] = API_KEY_VALUE_FIELDS) -> str:
    """The base64 of a copy this function re-ingested, now back from the stream: its lines as
    the function wrote them, unless the key-value policy (changed since, say) changes them."""
    return encode_base64(b"".join(copy_line(record, policy, names) for record in copy))


def copy_line(record: PlainRecord, policy: ApiKeyValuePolicy, names: tuple[str, ...] = API_KEY_VALUE_FIELDS) -> bytes:
    """One line of a re-ingested copy, as it is where the key-value policy changes nothing."""
    raw = record.raw
    if raw is None:  # pragma: no cover - a copy is always read from its JSON
        return plain_line(record, None, policy, names)
    one_line = raw.endswith(b"\n") and raw.find(b"\n") == len(raw) - 1 and raw.find(b"\r") == -1
    if one_line and apply_key_value_policy(record.obj, policy, names) is record.obj:
        return raw
    return plain_line(record, None, policy, names)


def enrich_object(
    obj: dict[str, Any],
    enrichment: Enrichment,
    policy: ApiKeyValuePolicy,
    names: tuple[str, ...] = API_KEY_VALUE_FIELDS,
) -> dict[str, Any]:
    """The record with its raw key value handled per policy and the five fields added.

    Every original field is kept, in order; the five fields come last. `obj` is not changed.
    """
    enriched = apply_key_value_policy(obj, policy, names)
    if enriched is obj:  # the policy changed nothing, so nothing was copied yet
        enriched = dict(obj)
    enriched.update(enrichment.as_fields())
    return enriched


def pass_through(
    obj: dict[str, Any], policy: ApiKeyValuePolicy, names: tuple[str, ...] = API_KEY_VALUE_FIELDS
) -> dict[str, Any]:
    """An already enriched record as it is; the key policy still applies, and masking is idempotent."""
    return apply_key_value_policy(obj, policy, names)
