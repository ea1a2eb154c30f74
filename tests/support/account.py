"""The demo account (events/demo_account.json), emulated by moto as the local runner emulates it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from moto import mock_aws

from apigw_logs.emulator import DEMO_ACCOUNT, load_account, seed_account

if TYPE_CHECKING:
    from collections.abc import Iterator

DEMO = load_account(DEMO_ACCOUNT)
DEMO_KEY_VALUES = [key["value"] for key in DEMO["apiKeys"]]


@contextmanager
def demo_account() -> Iterator[None]:
    """moto, started before any client exists, with the demo account's APIs, keys and plans."""
    with mock_aws():
        seed_account(boto3.client("apigateway"), DEMO)
        yield
