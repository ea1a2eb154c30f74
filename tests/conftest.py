"""Shared fixtures. Every test starts from a cold execution environment and fake AWS settings."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING

import pytest

# Set before any test module imports the handler: Powertools reads these when it is created.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_CONFIG_FILE=os.devnull,
    POWERTOOLS_SERVICE_NAME="apigw-access-log-enrichment",
    POWERTOOLS_METRICS_NAMESPACE="ApiGatewayAccessLogs",
    POWERTOOLS_TRACE_DISABLED="true",
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_API_GATEWAY"):
    os.environ.pop(_name, None)

from hypothesis import settings  # noqa: E402

from apigw_enrichment import state  # noqa: E402
from apigw_enrichment.config import SETTINGS  # noqa: E402 - after the environment above
from apigw_logs.lambda_context import LocalContext  # noqa: E402
from tests.support import account  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

# CI runs the same examples every time (a gate must not flake); locally each run explores anew.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def cold_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets a new execution environment and the function's default settings."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    state.reset()
    yield
    state.reset()


@pytest.fixture
def handler_logs() -> Iterator[io.StringIO]:
    """What the handler's Logger writes (its handler keeps the stdout it was created with)."""
    from apigw_enrichment.telemetry import logger  # noqa: PLC0415

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(previous)


@pytest.fixture
def demo_account() -> Iterator[None]:
    """moto, seeded with the demo account (events/demo_account.json), before any client exists."""
    with account.demo_account():
        yield


@pytest.fixture
def lambda_context() -> LocalContext:
    return LocalContext()


@pytest.fixture
def control_plane_calls(demo_account: None) -> list[str]:
    """Counts every API Gateway request the function's own client makes."""
    calls: list[str] = []
    state.apigateway_client().meta.events.register(
        "before-call.api-gateway", lambda model, **_: calls.append(model.name)
    )
    return calls
