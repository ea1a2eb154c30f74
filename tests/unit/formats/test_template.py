"""Compiling a stage's access-log format: its kind, where its identity is, and what it refuses."""

from __future__ import annotations

import pytest

from apigw_enrichment.config import ACCESS_LOG_FORMAT, ConfigError, Settings
from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT, recommended_fields
from apigw_enrichment.formats.template import (
    FormatKind,
    TemplateError,
    compile_format,
    format_kind,
    logged_variables,
)
from tests.support.formats import CLF, CLF_WITH_KEY, CSV, JSON, SEED_GUIDE, SEED_GUIDE_AS_PRINTED, XML


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        (CLF, FormatKind.CLF),
        (CLF_WITH_KEY, FormatKind.CLF),
        (JSON, FormatKind.JSON),
        (XML, FormatKind.XML),
        (CSV, FormatKind.CSV),
        (RECOMMENDED_ACCESS_LOG_FORMAT, FormatKind.JSON),
        (SEED_GUIDE, FormatKind.JSON),
        (SEED_GUIDE_AS_PRINTED, FormatKind.OTHER),
        ('"$context.requestId","$context.status"', FormatKind.CSV),
        ("$context.requestId | $context.status", FormatKind.OTHER),
        ("$context.requestId", FormatKind.OTHER),
        ("", FormatKind.OTHER),
        ('{"a": $context.requestId', FormatKind.OTHER),  # not an object once filled
        ('["$context.requestId"]', FormatKind.OTHER),
    ],
)
def test_each_format_is_classified_by_what_it_looks_like(template, kind):
    assert format_kind(template) is kind


def test_the_recommended_format_compiles_and_says_which_member_holds_which_variable():
    compiled = compile_format(RECOMMENDED_ACCESS_LOG_FORMAT)
    assert compiled.kind is FormatKind.JSON
    assert dict(compiled.members) == recommended_fields()


def test_the_stacks_default_format_compiles():
    assert compile_format(ACCESS_LOG_FORMAT.default).kind is FormatKind.JSON


def test_a_bare_variable_in_a_json_format_is_a_member_of_its_own():
    compiled = compile_format(
        '{"id":"$context.requestId","status":$context.status,"both":"$context.stage $context.apiId"}'
    )
    assert dict(compiled.members) == {"id": "$context.requestId", "status": "$context.status"}


def test_logged_variables_are_listed_once_in_order():
    assert logged_variables("$context.requestId $context.stage. $context.requestId $context.identity.apiKeyId") == (
        "$context.requestId",
        "$context.stage",
        "$context.identity.apiKeyId",
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "the access-log format is empty"),
        ("   ", "the access-log format is empty"),
        ("$context.requestId\n$context.status", "an access-log format is one line: a line break may only end it"),
        ("$context.status $context.stage", "the access-log format must log $context.requestId"),
        (
            "$context.requestId$context.stage",
            (
                "$context.requestId and $context.stage stand side by side: put some text between them, "
                "or their values cannot be told apart"
            ),
        ),
        (
            '{"id":"$context.requestId","id":"$context.stage"}',
            "the JSON format names id twice, so each line would too",
        ),
    ],
)
def test_a_format_whose_lines_cannot_be_read_is_refused_with_a_clear_reason(template, message):
    with pytest.raises(TemplateError) as error:
        compile_format(template)
    assert str(error.value).startswith(message)


def test_a_format_may_end_with_one_line_break_as_api_gateway_allows():
    assert compile_format(CLF + "\n").reader.variables == compile_format(CLF).reader.variables


def test_an_unreadable_format_stops_the_function_at_start_up_with_a_config_error():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"ACCESS_LOG_FORMAT": "$context.status"})
    assert str(error.value) == (
        "ACCESS_LOG_FORMAT cannot be read: the access-log format must log $context.requestId "
        "(API Gateway refuses it otherwise)"
    )


def test_a_json_format_finds_the_identity_by_what_it_logs_whatever_the_members_are_called():
    settings = Settings.from_env(
        {
            "ACCESS_LOG_FORMAT": (
                '{"rid":"$context.requestId","rest":"$context.apiId","env":"$context.stage",'
                '"caller_key":"$context.identity.apiKeyId","secret":"$context.identity.apiKey",'
                '"stage":"$context.domainName"}'
            )
        }
    )
    assert settings.api_id_fields == ("rest", "api_id", "apiId")
    # `stage` holds the domain name in this format: it is not read as the stage.
    assert settings.stage_fields == ("env",)
    assert settings.key_id_fields == ("caller_key", "key_id", "apiKeyId", "identityApiKeyId")
    assert settings.key_value_fields == ("api_key", "apiKey", "secret")


def test_a_text_format_names_its_fields_as_the_recommended_format_does():
    settings = Settings.from_env({"ACCESS_LOG_FORMAT": CLF_WITH_KEY})
    assert (settings.api_id_fields, settings.stage_fields, settings.key_id_fields) == (
        ("api_id", "apiId"),
        ("stage",),
        ("key_id", "apiKeyId", "identityApiKeyId"),
    )
