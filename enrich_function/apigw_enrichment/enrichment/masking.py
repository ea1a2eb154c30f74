"""Keep raw API key values ($context.identity.apiKey) out of the delivered logs."""

from __future__ import annotations

from typing import Any

from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.fields import API_KEY_VALUE_FIELDS

MASK_PREFIX = "****"
VISIBLE_SUFFIX = 4
# Below this length, "the last 4 characters" would be most of the secret; show none.
# Real API Gateway keys are at least 20 characters, so this only touches odd input.
MIN_LENGTH_TO_SHOW_SUFFIX = 8


def mask_value(value: Any) -> Any:
    """Mask one key value: `****` plus its last 4 characters.

    Idempotent, so a record that passes through twice keeps the same mask. `-` (no key),
    the empty string and null carry no secret and stay as they are; any other non-string
    is hidden entirely.
    """
    if value is None or value in ("", "-"):
        return value
    if not isinstance(value, str):
        return MASK_PREFIX
    if is_masked(value):
        return value
    if len(value) < MIN_LENGTH_TO_SHOW_SUFFIX:
        return MASK_PREFIX
    return MASK_PREFIX + value[-VISIBLE_SUFFIX:]


def is_masked(value: str) -> bool:
    return value.startswith(MASK_PREFIX) and len(value) <= len(MASK_PREFIX) + VISIBLE_SUFFIX


def apply_key_value_policy(
    obj: dict[str, Any], policy: ApiKeyValuePolicy, names: tuple[str, ...] = API_KEY_VALUE_FIELDS
) -> dict[str, Any]:
    """Return the record with its raw key fields masked, dropped or kept, per the policy.

    A key field is a member named api_key or apiKey (or, in `names`, whatever the stage's
    format calls $context.identity.apiKey) at any depth: a format that nests the caller's
    identity keeps its key value nested, and it is as secret there. The input is not changed;
    a record without such a field is returned as it is.
    """
    if policy is ApiKeyValuePolicy.KEEP:
        return obj
    return _scrub_object(obj, policy, names)


def _scrub_object(obj: dict[str, Any], policy: ApiKeyValuePolicy, names: tuple[str, ...]) -> dict[str, Any]:
    result: dict[str, Any] | None = None  # a copy, made at the first change
    for name, value in obj.items():
        if name in names:
            replacement: Any = _DROPPED if policy is ApiKeyValuePolicy.DROP else mask_value(value)
        elif type(value) is dict or type(value) is list:
            replacement = _scrub(value, policy, names)
        else:
            continue
        if replacement is value:
            continue
        if result is None:
            result = dict(obj)
        if replacement is _DROPPED:
            del result[name]
        else:
            result[name] = replacement
    return obj if result is None else result


def _scrub(value: dict[str, Any] | list[Any], policy: ApiKeyValuePolicy, names: tuple[str, ...]) -> Any:
    if type(value) is dict:
        return _scrub_object(value, policy, names)
    items = [_scrub(item, policy, names) if type(item) is dict or type(item) is list else item for item in value]
    return value if all(new is old for new, old in zip(items, value, strict=True)) else items


_DROPPED = object()
