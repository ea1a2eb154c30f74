"""Settings read once from the environment, validated, and frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from apigw_enrichment.fields import API_KEY_VALUE_FIELDS, RECOMMENDED_ACCESS_LOG_FORMAT
from apigw_enrichment.formats.template import (
    API_ID,
    API_KEY,
    API_KEY_ID,
    STAGE,
    STATUS,
    AccessLogFormat,
    TemplateError,
    compile_format,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_KEY_ID_FIELDS = ("key_id", "apiKeyId", "identityApiKeyId")
DEFAULT_API_ID_FIELDS = ("api_id", "apiId")
DEFAULT_STAGE_FIELDS = ("stage",)
DEFAULT_STATUS_FIELD = "status"
# Where the stack tells the refresher (and the transformer) the usage-plan snapshot is: stack
# wiring (the log bucket, a fixed key), not settings of the user's.
SNAPSHOT_BUCKET_ENV = "DIRECTORY_SNAPSHOT_BUCKET"
SNAPSHOT_KEY_ENV = "DIRECTORY_SNAPSHOT_KEY"


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
ACCESS_LOG_FORMAT = Setting("ACCESS_LOG_FORMAT", "AccessLogFormat", RECOMMENDED_ACCESS_LOG_FORMAT)
SNAPSHOT_MAX_AGE_SECONDS = Setting("SNAPSHOT_MAX_AGE_SECONDS", "SnapshotMaxAgeSeconds", "900")
SETTINGS = (
    ACCESS_LOG_FORMAT,
    API_KEY_VALUES,
    CACHE_TTL_SECONDS,
    MISS_REFRESH_SECONDS,
    LOOKUP_BUDGET_SECONDS,
    SNAPSHOT_MAX_AGE_SECONDS,
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


def _recommended_format() -> AccessLogFormat:
    return compile_format(RECOMMENDED_ACCESS_LOG_FORMAT)


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
    # The oldest refresher snapshot a cache load uses instead of listing the account.
    snapshot_max_age_seconds: float = float(SNAPSHOT_MAX_AGE_SECONDS.default)
    # The stages' access-log format, compiled: it reads lines that are not JSON, and says which
    # field holds the API id, stage, key id and raw key (already merged into the tuples above).
    log_format: AccessLogFormat = field(default_factory=_recommended_format)
    # The fields that may hold the raw key: masked, dropped or kept per api_key_values.
    key_value_fields: tuple[str, ...] = API_KEY_VALUE_FIELDS
    # Where a line's status code is, for the per-plan request and error counts.
    status_field: str = DEFAULT_STATUS_FIELD

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError on a bad value."""
        log_format = _log_format(environ)
        return cls(
            key_id_fields=_identity_fields(_field_names(environ, KEY_ID_FIELD), log_format, API_KEY_ID),
            api_id_fields=_identity_fields(_field_names(environ, API_ID_FIELD), log_format, API_ID),
            stage_fields=_identity_fields(_field_names(environ, STAGE_FIELD), log_format, STAGE),
            log_format=log_format,
            key_value_fields=tuple(dict.fromkeys((*API_KEY_VALUE_FIELDS, *log_format.names_for(API_KEY)))),
            status_field=(*log_format.names_for(STATUS), DEFAULT_STATUS_FIELD)[0],
            api_key_values=_policy(environ),
            cache_ttl_seconds=_seconds(environ, CACHE_TTL_SECONDS),
            miss_refresh_seconds=_seconds(environ, MISS_REFRESH_SECONDS),
            lookup_budget_seconds=_seconds(environ, LOOKUP_BUDGET_SECONDS, positive=True),
            snapshot_max_age_seconds=_seconds(environ, SNAPSHOT_MAX_AGE_SECONDS, positive=True),
        )


def _field_names(environ: Mapping[str, str], setting: Setting) -> tuple[str, ...]:
    name = setting.env
    raw = environ.get(name, "").strip() or setting.default
    # A comma-separated list lets one deployment accept several log formats.
    names = tuple(part.strip() for part in raw.split(","))
    if any(not part for part in names):
        raise ConfigError(f"{name} must be a field name or a comma-separated list of them, got {raw!r}")
    return names


def _log_format(environ: Mapping[str, str]) -> AccessLogFormat:
    template = environ.get(ACCESS_LOG_FORMAT.env, "").strip() or ACCESS_LOG_FORMAT.default
    try:
        return compile_format(template)
    except TemplateError as error:
        raise ConfigError(f"{ACCESS_LOG_FORMAT.env} cannot be read: {error}") from None


def _identity_fields(configured: tuple[str, ...], log_format: AccessLogFormat, variable: str) -> tuple[str, ...]:
    """Where a line's API id, stage or key id is: first wherever the format logs `variable`,
    then the configured names (today's defaults, or the *_FIELD override) that the format does
    not give to another variable. Lines of other formats on the same stream still use those."""
    taken = set(log_format.other_names(variable))
    return tuple(dict.fromkeys((*log_format.names_for(variable), *(name for name in configured if name not in taken))))


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
