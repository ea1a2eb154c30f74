"""Settings read once from the environment, validated, and frozen."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_KEY_ID_FIELDS = ("key_id", "apiKeyId", "identityApiKeyId")
DEFAULT_API_ID_FIELDS = ("api_id", "apiId")
DEFAULT_STAGE_FIELDS = ("stage",)


class ConfigError(ValueError):
    """An environment variable has a value the function cannot run with."""


class ApiKeyValuePolicy(StrEnum):
    """What happens to a raw API key value found in a record."""

    MASK = "mask"
    DROP = "drop"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Settings:
    key_id_fields: tuple[str, ...] = DEFAULT_KEY_ID_FIELDS
    api_id_fields: tuple[str, ...] = DEFAULT_API_ID_FIELDS
    stage_fields: tuple[str, ...] = DEFAULT_STAGE_FIELDS
    api_key_values: ApiKeyValuePolicy = ApiKeyValuePolicy.MASK
    cache_ttl_seconds: float = 900.0
    miss_refresh_seconds: float = 60.0
    # The most one invocation spends listing usage plans and keys (retries included).
    lookup_budget_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError on a bad value."""
        return cls(
            key_id_fields=_field_names(environ, "KEY_ID_FIELD", DEFAULT_KEY_ID_FIELDS),
            api_id_fields=_field_names(environ, "API_ID_FIELD", DEFAULT_API_ID_FIELDS),
            stage_fields=_field_names(environ, "STAGE_FIELD", DEFAULT_STAGE_FIELDS),
            api_key_values=_policy(environ),
            cache_ttl_seconds=_seconds(environ, "CACHE_TTL_SECONDS", 900.0),
            miss_refresh_seconds=_seconds(environ, "MISS_REFRESH_SECONDS", 60.0),
            lookup_budget_seconds=_seconds(environ, "LOOKUP_BUDGET_SECONDS", 10.0, positive=True),
        )


def _field_names(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    # A comma-separated list lets one deployment accept several log formats.
    names = tuple(part.strip() for part in raw.split(","))
    if any(not part for part in names):
        raise ConfigError(f"{name} must be a field name or a comma-separated list of them, got {raw!r}")
    return names


def _policy(environ: Mapping[str, str]) -> ApiKeyValuePolicy:
    raw = environ.get("API_KEY_VALUES", "").strip().lower() or ApiKeyValuePolicy.MASK.value
    try:
        return ApiKeyValuePolicy(raw)
    except ValueError:
        allowed = ", ".join(policy.value for policy in ApiKeyValuePolicy)
        raise ConfigError(f"API_KEY_VALUES must be one of {allowed}, got {raw!r}") from None


def _seconds(environ: Mapping[str, str], name: str, default: float, *, positive: bool = False) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a finite number of seconds >= 0, got {raw!r}")
    if positive and value == 0:
        raise ConfigError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value
