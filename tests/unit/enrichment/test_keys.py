"""Who called: reading the API id, stage and key id from a record."""

from __future__ import annotations

import pytest

from apigw_enrichment.enrichment.keys import CONFLICTING, KeyReader, LookupKey, lookup_key

DEFAULT_FIELDS = (("api_id", "apiId"), ("stage",), ("key_id", "apiKeyId", "identityApiKeyId"))


def test_lookup_key_reads_the_snake_case_format():
    obj = {"api_id": "a1", "stage": "prod", "key_id": "k1", "api_key": "secret"}
    assert lookup_key(obj, *DEFAULT_FIELDS) == LookupKey("a1", "prod", "k1")


def test_lookup_key_reads_the_camel_case_format():
    obj = {"apiId": "a1", "stage": "prod", "identityApiKeyId": "k1"}
    assert lookup_key(obj, *DEFAULT_FIELDS) == LookupKey("a1", "prod", "k1")


@pytest.mark.parametrize("obj", [{"key_id": "-"}, {"key_id": ""}, {"key_id": None}, {}])
def test_a_dash_empty_null_or_missing_key_id_means_no_key(obj):
    assert lookup_key({"api_id": "a1", "stage": "prod", **obj}, *DEFAULT_FIELDS).key_id is None


@pytest.mark.parametrize("value", [42, 1.5, True, ["k1"], {"id": "k1"}])
def test_a_key_id_that_is_not_a_string_is_unusable(value):
    key = lookup_key({"api_id": "a1", "stage": "prod", "key_id": value}, *DEFAULT_FIELDS)
    assert key == LookupKey("a1", "prod", None, key_unusable=True)


@pytest.mark.parametrize("value", [42, None, ["a1"], {"id": "a1"}, "-"])
def test_an_api_id_or_stage_that_is_not_a_usable_string_is_none(value):
    key = lookup_key({"api_id": value, "stage": value, "key_id": "k1"}, *DEFAULT_FIELDS)
    assert key == LookupKey(None, None, "k1")


def test_the_first_field_name_present_wins():
    obj = {"apiId": "camel", "api_id": "snake", "stage": "prod", "apiKeyId": "k2", "key_id": "k1"}
    assert lookup_key(obj, *DEFAULT_FIELDS) == LookupKey("snake", "prod", "k1")


# --- KeyReader: one batch's reader, by first-choice fields, with one value per identity ---


def reader() -> KeyReader:
    return KeyReader(*DEFAULT_FIELDS)


def test_the_reader_reads_what_lookup_key_reads():
    objects = [
        {"api_id": "a1", "stage": "prod", "key_id": "k1"},
        {"apiId": "a1", "stage": "prod", "identityApiKeyId": "k1"},
        {"api_id": "a1", "stage": "prod", "key_id": "-"},
        {"api_id": "a1", "stage": "prod", "key_id": 42},
        {"api_id": ["x"], "stage": None},
        {},
    ]
    read = reader().read
    for obj in objects:
        assert read(obj) == lookup_key(obj, *DEFAULT_FIELDS), obj


def test_each_distinct_caller_is_built_once_per_batch():
    read = reader().read
    first = read({"api_id": "a1", "stage": "prod", "key_id": "k1", "ua": "x"})
    again = read({"api_id": "a1", "stage": "prod", "key_id": "k1", "ua": "y"})
    assert first is again


def test_an_unhashable_id_is_read_but_not_remembered():
    read = reader().read
    obj = {"api_id": "a1", "stage": "prod", "key_id": ["k1"]}
    assert read(obj) == LookupKey("a1", "prod", None, key_unusable=True)
    assert read(obj) == read(obj)


@pytest.mark.parametrize(
    ("obj", "duplicates"),
    [
        ({"api_id": "a1", "stage": "prod", "key_id": "k2"}, {"key_id": ["k1", "k2"]}),
        ({"api_id": "a1", "stage": "prod", "key_id": "-"}, {"key_id": ["k1", "-"]}),
        ({"api_id": "a1", "stage": "prod", "key_id": None}, {"key_id": ["k1", None]}),
        ({"api_id": "a2", "stage": "prod", "key_id": "k1"}, {"api_id": ["a1", "a2"]}),
        ({"api_id": "a1", "stage": "dev", "key_id": "k1"}, {"stage": ["prod", "dev"]}),
        ({"api_id": "a1", "stage": "prod", "key_id": "k1", "apiKeyId": "k2"}, None),
        ({"api_id": "a1", "apiId": "a2", "stage": "prod", "key_id": "k1"}, None),
        ({"api_id": "a1", "stage": "prod", "key_id": "k1", "identityApiKeyId": 7}, None),
    ],
)
def test_two_values_for_one_identity_are_a_conflict(obj, duplicates):
    assert reader().read(obj, duplicates) == CONFLICTING
    assert CONFLICTING.conflicting and CONFLICTING.key_id is None


@pytest.mark.parametrize(
    ("obj", "duplicates", "expected"),
    [
        ({"api_id": "a1", "stage": "prod", "key_id": "k1"}, {"key_id": ["k1", "k1"]}, LookupKey("a1", "prod", "k1")),
        ({"api_id": "a1", "stage": "prod", "key_id": None}, {"key_id": ["-", "", None]}, LookupKey("a1", "prod", None)),
        ({"api_id": "a1", "stage": "prod", "key_id": "k1", "apiKeyId": "k1"}, None, LookupKey("a1", "prod", "k1")),
        ({"api_id": "a1", "stage": "prod", "key_id": "-", "apiKeyId": ""}, None, LookupKey("a1", "prod", None)),
        ({"api_id": "a1", "stage": "prod", "key_id": "k1"}, {"ua": ["x", "y"]}, LookupKey("a1", "prod", "k1")),
    ],
)
def test_values_that_mean_the_same_agree(obj, duplicates, expected):
    assert reader().read(obj, duplicates) == expected
