"""Pure enrichment: which plan and customer a record belongs to, and the record with them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from directory import LOOKUP_UNAVAILABLE, NO_API_KEY, UNKNOWN_API_KEY, Enrichment, UsagePlanDirectory
from masking import apply_key_value_policy

if TYPE_CHECKING:
    from config import ApiKeyValuePolicy
    from records import LookupKey


def enrichment_for(key: LookupKey, directory: UsagePlanDirectory | None) -> Enrichment:
    """Decide the five added fields for one record's (api id, stage, key id)."""
    if key.key_unusable:
        return UNKNOWN_API_KEY
    if key.key_id is None:
        return NO_API_KEY
    if directory is None:
        return LOOKUP_UNAVAILABLE
    return directory.lookup(key.api_id, key.stage, key.key_id)


def enrich_object(obj: dict[str, Any], enrichment: Enrichment, policy: ApiKeyValuePolicy) -> dict[str, Any]:
    """The record with its raw key value handled per policy and the five fields added.

    Every original field is kept, in order; the five fields come last.
    """
    enriched = dict(apply_key_value_policy(obj, policy))
    enriched.update(enrichment.as_fields())
    return enriched
