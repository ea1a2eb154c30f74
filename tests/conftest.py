"""Shared fixtures. Every test starts from a cold execution environment and fake AWS settings."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

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


def everything_logged(
    handler_logs: io.StringIO, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> str:
    """All a test run wrote: the handler's Logger, stdout/stderr (EMF metrics) and every logger (botocore)."""
    captured = capsys.readouterr()
    return handler_logs.getvalue() + captured.out + captured.err + caplog.text


@pytest.fixture
def lambda_context() -> LocalContext:
    return LocalContext()


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def firehose_event(lines: list[bytes | str]) -> dict[str, Any]:
    """A Firehose transformation event; bytes are base64-encoded, a str is put in `data` as is."""
    return {
        "invocationId": "test-invocation",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-test",
        "region": "us-east-1",
        "records": [
            {
                "recordId": f"record-{index:05d}",
                "approximateArrivalTimestamp": 1763683200000,
                "data": line if isinstance(line, str) else base64.b64encode(line).decode("ascii"),
            }
            for index, line in enumerate(lines)
        ],
    }


def decoded(response: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """(recordId, result, data) for each response record; Ok data decoded, other data as sent back."""
    return [
        (r["recordId"], r["result"], base64.b64decode(r["data"]) if r["result"] == "Ok" else r["data"].encode())
        for r in response["records"]
    ]


def ok_objects(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(data) for _, result, data in decoded(response) if result == "Ok"]


# A small directory served without any AWS: for tests about records rather than lookups.
KNOWN_API, KNOWN_STAGE, KNOWN_KEY = "a1b2c3d4e5", "prod", "k7x2m9p4q1"


def use_fixed_directory(*, knows_the_key: bool = True) -> None:
    """Install a cache whose loads return one plan with one key (or no key), and never fail."""
    from apigw_enrichment.enrichment.directory import Customer, PlanKeys, build_directory  # noqa: PLC0415 - after the env is set
    from apigw_enrichment.enrichment.usage_plans import FetchResult, UsagePlanCache  # noqa: PLC0415

    plan = PlanKeys(
        {"id": "pl0gold001", "name": "Gold", "apiStages": [{"apiId": KNOWN_API, "stage": KNOWN_STAGE}]},
        (Customer(KNOWN_KEY, "Acme Corp", None),) if knows_the_key else (),
    )
    keys = [{"id": KNOWN_KEY, "name": "Acme Corp", "customerId": "cust-acme-001"}] if knows_the_key else []
    directory = build_directory([plan], keys)
    state.use_cache(
        UsagePlanCache(lambda _deadline: FetchResult(directory, 0), ttl_seconds=900, miss_refresh_seconds=60)
    )
