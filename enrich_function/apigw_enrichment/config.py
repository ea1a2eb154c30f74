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


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment setting: its name, the stack parameter that sets it (if any), its default."""

    env: str
    parameter: str | None
    default: str


# Every setting the function reads, in one place. The template's parameters and the function's
# environment, the docs and the tests are checked against this table (tests/unit/test_config.py).
API_KEY_VALUES = Setting("API_KEY_VALUES", "ApiKeyValues", "mask")
CACHE_TTL_SECONDS = Setting("CACHE_TTL_SECONDS", "CacheTtlSeconds", "900")
MISS_REFRESH_SECONDS = Setting("MISS_REFRESH_SECONDS", "MissRefreshSeconds", "60")
LOOKUP_BUDGET_SECONDS = Setting("LOOKUP_BUDGET_SECONDS", "LookupBudgetSeconds", "10")
KEY_ID_FIELD = Setting("KEY_ID_FIELD", None, ",".join(DEFAULT_KEY_ID_FIELDS))
API_ID_FIELD = Setting("API_ID_FIELD", None, ",".join(DEFAULT_API_ID_FIELDS))
STAGE_FIELD = Setting("STAGE_FIELD", None, ",".join(DEFAULT_STAGE_FIELDS))
SETTINGS = (
    API_KEY_VALUES,
    CACHE_TTL_SECONDS,
    MISS_REFRESH_SECONDS,
    LOOKUP_BUDGET_SECONDS,
    KEY_ID_FIELD,
    API_ID_FIELD,
    STAGE_FIELD,
)


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
    api_key_values: ApiKeyValuePolicy = ApiKeyValuePolicy.MASK  # API_KEY_VALUES.default (a test checks)
    cache_ttl_seconds: float = float(CACHE_TTL_SECONDS.default)
    miss_refresh_seconds: float = float(MISS_REFRESH_SECONDS.default)
    # The most one invocation spends listing usage plans and keys (retries included).
    lookup_budget_seconds: float = float(LOOKUP_BUDGET_SECONDS.default)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError on a bad value."""
        return cls(
            key_id_fields=_field_names(environ, KEY_ID_FIELD),
            api_id_fields=_field_names(environ, API_ID_FIELD),
            stage_fields=_field_names(environ, STAGE_FIELD),
            api_key_values=_policy(environ),
            cache_ttl_seconds=_seconds(environ, CACHE_TTL_SECONDS),
            miss_refresh_seconds=_seconds(environ, MISS_REFRESH_SECONDS),
            lookup_budget_seconds=_seconds(environ, LOOKUP_BUDGET_SECONDS, positive=True),
        )


def _field_names(environ: Mapping[str, str], setting: Setting) -> tuple[str, ...]:
    name = setting.env
    raw = environ.get(name, "").strip() or setting.default
    # A comma-separated list lets one deployment accept several log formats.
    names = tuple(part.strip() for part in raw.split(","))
    if any(not part for part in names):
        raise ConfigError(f"{name} must be a field name or a comma-separated list of them, got {raw!r}")
    return names


def _policy(environ: Mapping[str, str]) -> ApiKeyValuePolicy:
    raw = environ.get(API_KEY_VALUES.env, "").strip().lower() or API_KEY_VALUES.default
    try:
        return ApiKeyValuePolicy(raw)
    except ValueError:
        allowed = ", ".join(policy.value for policy in ApiKeyValuePolicy)
        raise ConfigError(f"API_KEY_VALUES must be one of {allowed}, got {raw!r}") from None


def _seconds(environ: Mapping[str, str], setting: Setting, *, positive: bool = False) -> float:
    name = setting.env
    raw = environ.get(name, "").strip() or setting.default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a finite number of seconds >= 0, got {raw!r}")
    if positive and value == 0:
        raise ConfigError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value
