"""Pure enrichment: which plan and customer a record belongs to, and the record with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigw_enrichment.directory import (
    CONFLICTING_IDENTITY,
    ENRICHMENT_FIELDS,
    ENRICHMENT_STATUS,
    LOOKUP_UNAVAILABLE,
    NO_API_KEY,
    UNKNOWN_API_KEY,
    Enrichment,
    EnrichmentStatus,
    UsagePlanDirectory,
)
from apigw_enrichment.masking import apply_key_value_policy
from apigw_enrichment.records import FailureReason, RecordError, encode_base64, encode_line, exact_numbers

if TYPE_CHECKING:
    from collections.abc import Mapping

    from apigw_enrichment.config import ApiKeyValuePolicy
    from apigw_enrichment.records import LookupKey

_STATUSES = frozenset(status.value for status in EnrichmentStatus)


def enrichment_for(key: LookupKey, directory: UsagePlanDirectory | None) -> Enrichment:
    """Decide the five added fields for one record's (api id, stage, key id)."""
    if key.conflicting:
        return CONFLICTING_IDENTITY
    if key.key_unusable:
        return UNKNOWN_API_KEY
    if key.key_id is None:
        return NO_API_KEY
    if directory is None:
        return LOOKUP_UNAVAILABLE
    return directory.lookup(key.api_id, key.stage, key.key_id)


@dataclass(frozen=True, slots=True)
class PlainRecord:
    """A record the splice cannot write: kept whole, to be written out again."""

    raw: bytes
    obj: dict[str, Any]


def plain_data(record: PlainRecord, enrichment: Enrichment | None, policy: ApiKeyValuePolicy) -> str:
    """The base64 of a record the splice could not write: its object with the five fields
    added (None: it passes through), written out again as one line. Raises RecordError if
    it cannot be written."""
    exact = exact_numbers(record.raw, record.obj)
    try:
        out = pass_through(exact, policy) if enrichment is None else enrich_object(exact, enrichment, policy)
    except RecursionError:  # nested deeper than masking can walk (orjson reads 1,024 levels)
        raise RecordError(FailureReason.UNENCODABLE) from None
    return encode_base64(encode_line(out))


def copy_data(record: PlainRecord, policy: ApiKeyValuePolicy) -> str:
    """The base64 of a copy this function re-ingested, now back from the stream: its line as
    the function wrote it, unless the key-value policy (changed since, say) changes it."""
    raw = record.raw
    one_line = raw.endswith(b"\n") and raw.find(b"\n") == len(raw) - 1 and raw.find(b"\r") == -1
    if one_line and apply_key_value_policy(record.obj, policy) is record.obj:
        return encode_base64(raw)
    return plain_data(record, None, policy)


def enrich_object(obj: dict[str, Any], enrichment: Enrichment, policy: ApiKeyValuePolicy) -> dict[str, Any]:
    """The record with its raw key value handled per policy and the five fields added.

    Every original field is kept, in order; the five fields come last. `obj` is not changed.
    """
    enriched = apply_key_value_policy(obj, policy)
    if enriched is obj:  # the policy changed nothing, so nothing was copied yet
        enriched = dict(obj)
    enriched.update(enrichment.as_fields())
    return enriched


def is_enriched(obj: Mapping[str, Any]) -> bool:
    """Whether a record carries the five fields as this function writes them.

    Records that did not fit in a response are put back into the stream enriched, and come
    through the function again; a copy marked as re-ingested (records.REINGESTED_MARK) that
    carries them passes unchanged, not enriched twice. An unmarked line that carries them
    is enriched like any other, its five fields overwritten.
    """
    status = obj.get(ENRICHMENT_STATUS)
    if not isinstance(status, str) or status not in _STATUSES:
        return False
    return all(name in obj and (obj[name] is None or isinstance(obj[name], str)) for name in ENRICHMENT_FIELDS)


def pass_through(obj: dict[str, Any], policy: ApiKeyValuePolicy) -> dict[str, Any]:
    """An already enriched record as it is; the key policy still applies, and masking is idempotent."""
    return apply_key_value_policy(obj, policy)
