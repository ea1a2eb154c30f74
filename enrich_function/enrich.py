"""Pure enrichment: which plan and customer a record belongs to, and the record with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from directory import (
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
from masking import apply_key_value_policy
from records import FailureReason, RecordError, encode_base64, encode_line, exact_numbers

if TYPE_CHECKING:
    from collections.abc import Mapping

    from config import ApiKeyValuePolicy
    from records import LookupKey

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
    """Whether a record already carries the five fields: it came through here before.

    Records that did not fit in a response are put back into the stream enriched, and
    come through the function again; they must pass unchanged, not be enriched twice.
    """
    status = obj.get(ENRICHMENT_STATUS)
    if not isinstance(status, str) or status not in _STATUSES:
        return False
    return all(name in obj and (obj[name] is None or isinstance(obj[name], str)) for name in ENRICHMENT_FIELDS)


def pass_through(obj: dict[str, Any], policy: ApiKeyValuePolicy) -> dict[str, Any]:
    """An already enriched record as it is; the key policy still applies, and masking is idempotent."""
    return apply_key_value_policy(obj, policy)
