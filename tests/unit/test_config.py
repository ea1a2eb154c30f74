"""Settings from the environment: defaults, overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from apigw_enrichment.config import (
    ACCESS_LOG_FORMAT,
    API_KEY_VALUES,
    SETTINGS,
    ApiKeyValuePolicy,
    ConfigError,
    Settings,
)


def test_defaults():
    assert Settings.from_env({}) == Settings(
        key_id_fields=("key_id", "apiKeyId", "identityApiKeyId"),
        api_id_fields=("api_id", "apiId"),
        stage_fields=("stage",),
        api_key_values=ApiKeyValuePolicy.MASK,
        cache_ttl_seconds=900.0,
        miss_refresh_seconds=60.0,
        lookup_budget_seconds=10.0,
    )


def test_overrides():
    settings = Settings.from_env(
        {
            "KEY_ID_FIELD": "caller_key",
            "API_ID_FIELD": "rest_api, apiId",
            "STAGE_FIELD": "stage_name",
            "API_KEY_VALUES": "DROP",
            "CACHE_TTL_SECONDS": "300",
            "MISS_REFRESH_SECONDS": "5.5",
            "LOOKUP_BUDGET_SECONDS": "30",
        }
    )
    # The format (the recommended one here) says where it logs each identity: those names come first.
    assert settings == Settings(
        ("key_id", "caller_key"), ("api_id", "rest_api", "apiId"), ("stage", "stage_name"), ApiKeyValuePolicy.DROP,
        300, 5.5, 30,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"API_KEY_VALUES": "maks"}, "API_KEY_VALUES must be one of mask, drop, keep, got 'maks'"),
        ({"CACHE_TTL_SECONDS": "15m"}, "CACHE_TTL_SECONDS must be a number of seconds, got '15m'"),
        ({"MISS_REFRESH_SECONDS": "-1"}, "MISS_REFRESH_SECONDS must be a finite number of seconds >= 0, got '-1'"),
        ({"CACHE_TTL_SECONDS": "nan"}, "CACHE_TTL_SECONDS must be a finite number of seconds >= 0, got 'nan'"),
        ({"LOOKUP_BUDGET_SECONDS": "0"}, "LOOKUP_BUDGET_SECONDS must be more than 0 seconds, got '0'"),
        ({"KEY_ID_FIELD": "a,,b"}, "KEY_ID_FIELD must be a field name or a comma-separated list of them, got 'a,,b'"),
    ],
)
def test_bad_values_fail_with_a_clear_message(environ, message):
    with pytest.raises(ConfigError) as error:
        Settings.from_env(environ)
    assert str(error.value) == message


# --- config.SETTINGS is the one home of the settings' names and defaults ---

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))


def test_every_setting_the_stack_sets_comes_from_its_parameter_with_the_same_default():
    environment = TEMPLATE["Resources"]["EnrichFunction"]["Properties"]["Environment"]["Variables"]
    parameters = TEMPLATE["Parameters"]
    set_by_stack = {setting.env for setting in SETTINGS if setting.parameter is not None}
    assert set_by_stack <= set(environment)
    for setting in SETTINGS:
        if setting.parameter is None:
            assert setting.env not in environment, f"{setting.env} has no parameter, so the stack leaves it unset"
            continue
        assert environment[setting.env] == {"Ref": setting.parameter}, setting.env
        assert str(parameters[setting.parameter]["Default"]) == setting.default, setting.env


def test_the_defaults_are_what_settings_use_when_nothing_is_set():
    environ = {setting.env: setting.default for setting in SETTINGS}
    assert Settings().api_key_values.value == API_KEY_VALUES.default
    assert Settings.from_env(environ) == Settings.from_env({}) == Settings()


def test_the_docs_list_every_setting_with_its_default():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        if setting is ACCESS_LOG_FORMAT:  # a 900-character default: the docs name it, and show it in formats.md
            assert "| `ACCESS_LOG_FORMAT` | the recommended format |" in doc
            continue
        assert f"| `{setting.env}` | `{setting.default}` |" in doc, setting.env
        if setting.parameter is not None:
            assert f"`{setting.parameter}`" in doc, setting.parameter
