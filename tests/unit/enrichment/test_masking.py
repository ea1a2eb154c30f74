"""Raw API key values: masked, dropped or kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apigw_enrichment.config import ApiKeyValuePolicy
from apigw_enrichment.enrichment.masking import apply_key_value_policy, mask_value

KEY = "demoAcmeKeyValue000000000000a1f3"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (KEY, "****a1f3"),
        ("-", "-"),
        ("", ""),
        (None, None),
        ("short", "****"),  # too short to show any of it
        ("****a1f3", "****a1f3"),  # already masked: unchanged
        ("****", "****"),
        (12345678901234567890, "****"),
        (["a", "list"], "****"),
    ],
)
def test_mask_value(value, masked):
    assert mask_value(value) == masked


@given(st.text())
def test_masking_is_idempotent(value):
    assert mask_value(mask_value(value)) == mask_value(value)


@given(st.text(min_size=20, max_size=128))
def test_a_real_length_key_shows_only_its_last_four_characters(value):
    assert mask_value(value) == "****" + value[-4:]


@pytest.mark.parametrize("field", ["api_key", "apiKey"])
def test_mask_policy_masks_both_field_names_and_keeps_the_rest(field):
    obj = {"a": 1, field: KEY, "z": 2}
    assert apply_key_value_policy(obj, ApiKeyValuePolicy.MASK) == {"a": 1, field: "****a1f3", "z": 2}
    assert obj[field] == KEY, "the input record is not changed"


def test_drop_policy_removes_the_field():
    obj = {"a": 1, "api_key": KEY, "apiKey": KEY}
    assert apply_key_value_policy(obj, ApiKeyValuePolicy.DROP) == {"a": 1}


def test_keep_policy_keeps_the_value():
    obj = {"a": 1, "api_key": KEY}
    assert apply_key_value_policy(obj, ApiKeyValuePolicy.KEEP) == obj


def test_a_record_without_a_key_field_is_returned_as_is():
    obj = {"a": 1}
    assert apply_key_value_policy(obj, ApiKeyValuePolicy.MASK) is obj
