"""fields.py is the one home of the five fields, the statuses and the recommended format: the
template, the README and the docs say what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from apigw_enrichment.fields import (
    API_KEY_VALUE_FIELDS,
    ENRICHMENT_FIELDS,
    ENRICHMENT_STATUS,
    RECOMMENDED_ACCESS_LOG_FORMAT,
    EnrichmentStatus,
    field_name,
    is_enriched,
    recommended_fields,
)
from tests.support.events import ENRICHED_RECORD as ENRICHED

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
OUTPUT_DOC = (ROOT / "docs" / "output.md").read_text(encoding="utf-8")


def test_the_templates_access_log_format_is_the_recommended_format_by_default():
    assert TEMPLATE["Outputs"]["AccessLogFormat"]["Value"] == {"Ref": "AccessLogFormat"}
    assert TEMPLATE["Parameters"]["AccessLogFormat"]["Default"] == RECOMMENDED_ACCESS_LOG_FORMAT


def test_each_recommended_field_is_named_as_every_format_names_its_variable():
    assert {name: field_name(variable) for name, variable in recommended_fields().items()} == {
        name: name for name in recommended_fields()
    }


def test_the_readme_shows_the_recommended_format_as_it_is():
    assert RECOMMENDED_ACCESS_LOG_FORMAT in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_recommended_format_logs_the_key_id_and_never_the_key():
    fields = recommended_fields()
    assert fields["key_id"] == "$context.identity.apiKeyId"
    assert "$context.identity.apiKey" not in fields.values()
    assert not set(API_KEY_VALUE_FIELDS) & set(fields)
    assert not set(ENRICHMENT_FIELDS) & set(fields), "the five names belong to the function"


def test_the_recommended_fields_are_read_from_the_format_in_order():
    fields = recommended_fields()
    assert list(fields)[:3] == ["request_id", "extended_request_id", "request_time"]
    assert fields["error_message"] == "$context.error.messageString"  # logged unquoted: it quotes itself
    assert len(fields) == RECOMMENDED_ACCESS_LOG_FORMAT.count("$context.")


def test_the_docs_name_every_field_and_status():
    for name in ENRICHMENT_FIELDS:
        assert f"`{name}`" in OUTPUT_DOC, name
    for status in EnrichmentStatus:
        assert f"`{status.value}`" in OUTPUT_DOC, status
    assert ENRICHMENT_FIELDS[-1] == ENRICHMENT_STATUS


def test_the_docs_athena_table_has_a_column_for_each_of_the_five_fields():
    ddl = OUTPUT_DOC[OUTPUT_DOC.index("CREATE EXTERNAL TABLE") :]
    columns = set(re.findall(r"\b(\w+) string", ddl))
    assert set(ENRICHMENT_FIELDS) <= columns


# --- is_enriched: a record carrying the five fields as the function writes them ---


def test_an_enriched_record_is_recognised_whatever_its_status():
    for status in EnrichmentStatus:
        assert is_enriched({**ENRICHED, "enrichment_status": status.value})


@pytest.mark.parametrize(
    "change",
    [
        {"enrichment_status": "done"},
        {"enrichment_status": None},
        {"enrichment_status": ["enriched"]},
        {"usage_plan_id": 5},
        {"customer_name": {"n": "Acme"}},
    ],
)
def test_a_record_that_only_looks_enriched_is_not(change):
    assert not is_enriched({**ENRICHED, **change})


@pytest.mark.parametrize("missing", ENRICHMENT_FIELDS)
def test_all_five_fields_must_be_there(missing):
    assert not is_enriched({k: v for k, v in ENRICHED.items() if k != missing})
