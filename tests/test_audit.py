"""apigw-logs audit: every stage in the region, where its access logs go, and the share that log.

Stages of every kind live in moto (REST through apigateway, HTTP and WebSocket through
apigatewayv2); paging and throttling, which moto cannot show, run against tests/support/fake_stages.py.
"""

from __future__ import annotations

import csv
import io
import json

import boto3
import pytest
from botocore.retries import standard
from click.testing import CliRunner
from moto import mock_aws

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT
from apigw_logs import audit as audit_module
from apigw_logs import stages
from apigw_logs.main import cli
from tests.support.api_stages import (
    LOG_GROUP_ARN,
    OTHER_STREAM_ARN,
    PARTNER_STACK,
    REGION,
    STACK_NAME,
    STACK_OUTPUTS,
    STREAM_ARN,
    seed,
    stub_stack,
    table_rows,
)
from tests.support.fake_stages import DENIED, THROTTLED, FakeApi, PagingStages, many_apis


@pytest.fixture
def ids():
    """moto started before any client exists, seeded with nine stages; each API's id by its name."""
    with mock_aws():
        yield seed(boto3.client("apigateway", region_name=REGION), boto3.client("apigatewayv2", region_name=REGION))


def audit(*args: str):
    return CliRunner().invoke(cli, ["audit", *args])


# The contract's keys of a row, after api_id (expected_rows adds points_at_stack).
COLUMNS = (
    "api_name",
    "api_type",
    "stage",
    "access_logging",
    "destination_arn",
    "format_kind",
    "logs_api_key_id",
    "logs_raw_api_key",
    "execution_logging",
    "tags",
)
BY_STACK = {"aws:cloudformation:stack-name": PARTNER_STACK}
# The seeded account's rows, REST first, then HTTP, then WebSocket, by API name and stage.
SEEDED = [
    ("legacy", "REST", "prod", "cloudwatch", LOG_GROUP_ARN, "clf", True, False, "OFF", {}),
    ("legacy", "REST", "qa", "firehose", OTHER_STREAM_ARN, "csv", False, False, "OFF", {}),
    ("partner", "REST", "beta", "firehose", STREAM_ARN, "json", False, True, "OFF", {}),
    ("partner", "REST", "prod", "cloudwatch", LOG_GROUP_ARN, "xml", False, False, "OFF", BY_STACK),
    ("shop", "REST", "dev", "none", None, None, False, False, "OFF", {}),
    ("shop", "REST", "prod", "firehose", STREAM_ARN, "json", True, False, "INFO", {"team": "payments", "env": "prod"}),
    ("internal", "HTTP", "prod", "none", None, None, False, False, None, {}),
    ("orders", "HTTP", "$default", "cloudwatch", LOG_GROUP_ARN, "json", True, False, None, {}),
    ("chat", "WEBSOCKET", "prod", "none", None, None, False, False, "OFF", {}),
]


def expected_rows(ids, *, with_stack=False):
    """The JSON rows of the seeded account; points_at_stack says whether a row is on STREAM_ARN."""
    return [
        {
            "api_id": ids[values[0]],
            **dict(zip(COLUMNS, values, strict=True)),
            "points_at_stack": values[4] == STREAM_ARN if with_stack else None,
        }
        for values in SEEDED
    ]


KPI = {"stages": 9, "with_access_logging": 6, "percent": 66.7}


def test_the_json_lists_every_stage_of_every_kind_with_its_destination_format_kind_and_key_use(ids):
    result = audit("--format", "json")
    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {"stages": expected_rows(ids), "kpi": KPI}


def test_the_csv_has_the_json_rows_one_a_line(ids):
    result = audit("--format", "csv")
    assert (result.exit_code, result.stderr) == (0, "")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    as_csv = {True: "true", False: "false", None: ""}
    assert rows == [
        {
            name: json.dumps(value, sort_keys=True)
            if name == "tags"
            else as_csv.get(value, value)
            if isinstance(value, bool | None)
            else value
            for name, value in expected.items()
        }
        for expected in expected_rows(ids)
    ]


def test_the_table_marks_raw_keys_and_cloudwatch_only_stages_and_ends_with_the_kpi(ids):
    result = audit()
    assert (result.exit_code, result.stderr) == (0, "")
    header = ["api", "api id", "type", "stage", "access logs", "format", "key", "exec logs", "tags", "note"]
    only = "CloudWatch Logs only"
    assert table_rows(result.stdout) == [
        header,
        ["legacy", ids["legacy"], "REST", "prod", "cloudwatch", "clf", "key id", "OFF"],
        ["legacy", ids["legacy"], "REST", "qa", "firehose", "csv", "OFF"],
        ["partner", ids["partner"], "REST", "beta", "firehose", "json", "RAW KEY", "OFF"],
        [
            "partner",
            ids["partner"],
            "REST",
            "prod",
            "cloudwatch",
            "xml",
            "OFF",
            f"aws:cloudformation:stack-name={PARTNER_STACK}",
        ],
        ["shop", ids["shop"], "REST", "dev", "none", "OFF"],
        ["shop", ids["shop"], "REST", "prod", "firehose", "json", "key id", "INFO", "env=prod, team=payments"],
        ["internal", ids["internal"], "HTTP", "prod", "none", only],
        ["orders", ids["orders"], "HTTP", "$default", "cloudwatch", "json", "key id", only],
        ["chat", ids["chat"], "WEBSOCKET", "prod", "none", "OFF", only],
    ]
    assert result.stdout.splitlines()[-3:] == [
        f"CloudWatch Logs only: {audit_module.CLOUDWATCH_ONLY} (see docs/onboarding.md).",
        f"{audit_module.RAW_KEY_NOTE}.",
        "Access logging: 6 of 9 stages (66.7%)",
    ]


def test_with_no_stages_the_kpi_is_100_percent_so_a_gate_passes():
    with mock_aws():
        as_json = audit("--format", "json", "--fail-under", "100")
        as_table = audit()
    assert (as_json.exit_code, as_json.stderr) == (0, "")
    assert json.loads(as_json.stdout) == {
        "stages": [],
        "kpi": {"stages": 0, "with_access_logging": 0, "percent": 100.0},
    }
    assert as_table.stdout == f"Access logging: no stages in {REGION} (100.0%: none is unlogged)\n"


@pytest.mark.parametrize(("fail_under", "exit_code"), [("0", 0), ("66.7", 0), ("66.8", 1), ("100", 1)], ids=str)
def test_fail_under_exits_1_after_the_report_when_the_kpi_is_below_it(ids, fail_under, exit_code):
    result = audit("--format", "json", "--fail-under", fail_under)
    assert result.exit_code == exit_code
    assert json.loads(result.stdout)["kpi"] == KPI, "the report is printed either way"
    failed = f"failed: 66.7% of stages log access in {REGION}, under --fail-under {float(fail_under):g}\n"
    assert result.stderr == (failed if exit_code else "")


def test_fail_under_outside_0_to_100_is_a_usage_error():
    result = audit("--fail-under", "150")
    assert result.exit_code == 2
    assert "150.0 is not in the range 0<=x<=100" in result.stderr


def test_with_a_stack_the_stages_on_its_stream_are_marked(ids, monkeypatch):
    stub_stack(monkeypatch, STACK_OUTPUTS)
    as_json = audit("--format", "json", "--stack-name", STACK_NAME)
    assert (as_json.exit_code, as_json.stderr) == (0, "")
    assert json.loads(as_json.stdout) == {"stages": expected_rows(ids, with_stack=True), "kpi": KPI}


def test_the_table_says_which_stages_are_on_the_stacks_stream_and_which_in_another_format(ids, monkeypatch):
    stub_stack(monkeypatch, STACK_OUTPUTS)
    result = audit("--stack-name", STACK_NAME)
    marks = {(cells[1], cells[3]): cells[5] for cells in table_rows(result.stdout)[1:] if cells[5].startswith("yes")}
    assert marks == {(ids["partner"], "beta"): "yes, another format", (ids["shop"], "prod"): "yes"}


@pytest.mark.parametrize(
    ("outputs", "error_code", "message"),
    [
        (None, "ValidationError", f"ValidationError (DescribeStacks): Stack with id {STACK_NAME} does not exist"),
        (
            {stages.STREAM_OUTPUT: STREAM_ARN},
            None,
            f"the stack {STACK_NAME!r} has no AccessLogFormat output: is it this project's stack, deployed?",
        ),
    ],
    ids=["no such stack", "not this project's stack"],
)
def test_a_stack_that_cannot_be_read_is_one_line_and_exit_1(ids, monkeypatch, outputs, error_code, message):
    stub_stack(monkeypatch, outputs, error_code)
    result = audit("--stack-name", STACK_NAME)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"error: {message}\n")


# -- Failures ------------------------------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch):
    """The paging fake, answering both clients `connect` builds (no moto: nothing else answers)."""
    fake = PagingStages()
    connect = stages.connect

    def connect_to_fake(region):
        clients = connect(region)
        fake.attach(clients.apigateway)
        fake.attach(clients.apigatewayv2)
        return clients

    monkeypatch.setattr(stages, "connect", connect_to_fake)
    return fake


@pytest.fixture
def no_backoff(monkeypatch):
    """botocore's standard retries, without their sleeps; each delay it would have slept is kept."""
    delays: list[float] = []

    def delay_amount(self, context):
        delays.append(1.0)
        return 0

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", delay_amount)
    return delays


def test_no_credentials_is_one_line_and_exit_1(fake, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup over the network
    result = audit()
    assert (result.exit_code, result.stdout) == (1, "")
    assert (
        result.stderr == "error: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"
    )


def test_access_denied_is_one_line_and_exit_1(fake):
    fake.failure = lambda _n, operation: DENIED if operation == "GetRestApis" else None
    result = audit()
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "error: access denied (GetRestApis): your credentials may not call it (see docs/onboarding.md)\n"
    )


def test_throttling_that_outlasts_the_retries_is_one_line_and_exit_1(fake, no_backoff):
    fake.failure = lambda _n, _operation: THROTTLED
    result = audit()
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: throttled (GetRestApis), still after 10 attempts: try again later\n"
    assert fake.count() == stages.MAX_ATTEMPTS == 10
    assert len(no_backoff) == 9


@pytest.mark.parametrize("region", ["mars-north-1", "us east"])
def test_an_unknown_region_is_one_line_and_exit_1_before_any_request(fake, region):
    result = audit("--region", region)
    assert (result.exit_code, result.stdout) == (1, "")
    assert (
        result.stderr == f"error: unknown region {region!r}: API Gateway has no endpoint there that botocore knows of\n"
    )
    assert fake.count() == 0


def test_no_region_is_one_line_and_exit_1(fake, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    result = audit()
    assert (result.exit_code, result.stderr) == (
        1,
        "error: no region: pass --region, or set AWS_REGION or a region in your AWS profile\n",
    )


# -- Paging and throttling -----------------------------------------------------------------------


def test_the_listing_follows_every_page_of_apis_and_stages(fake):
    # GIVEN 501 REST APIs (two pages of 500) and 26 HTTP APIs with 26 stages each (two pages of 25 each)
    fake.serve(many_apis(rest=501, http=26, stages_per_http_api=26, destination_arn=STREAM_ARN))
    # WHEN the audit lists them
    result = audit("--format", "json")
    # THEN every stage is there, in one request per page
    assert (result.exit_code, result.stderr) == (0, "")
    report = json.loads(result.stdout)
    assert report["kpi"] == {"stages": 501 + 26 * 26, "with_access_logging": 251, "percent": 21.3}
    assert [(call.limit, call.position) for call in fake.calls if call.operation == "GetRestApis"] == [
        (500, None),
        (500, "500"),
    ]
    assert [call.position for call in fake.calls if call.operation == "v2:GetApis"] == [None, "25"]
    assert (fake.count("GetStages"), fake.count("v2:GetStages")) == (501, 26 * 2)
    assert {(row["api_id"], row["stage"]) for row in report["stages"]} == {
        *((f"rest{n:04d}", "prod") for n in range(501)),
        *((f"http{n:04d}", f"s{s:03d}") for n in range(26) for s in range(26)),
    }


def test_a_429_is_retried_by_botocore_and_the_listing_completes(fake, no_backoff):
    # GIVEN the second request and the first GetStages of the HTTP API are throttled once each
    fake.serve(
        [FakeApi("rest0001", "shop", "REST", ("prod", "dev")), FakeApi("http0001", "orders", "HTTP", ("$default",))]
    )
    throttled = {2, 5}
    fake.failure = lambda n, _operation: THROTTLED if n in throttled else None
    # WHEN the audit lists them
    result = audit("--format", "json")
    # THEN each throttled request is sent again after a backoff, and the listing is whole
    assert (result.exit_code, result.stderr) == (0, "")
    assert [call.operation for call in fake.calls] == [
        "GetRestApis",
        "GetStages",
        "GetStages",
        "v2:GetApis",
        "v2:GetStages",
        "v2:GetStages",
    ]
    assert len(no_backoff) == 2
    assert [(row["api_id"], row["stage"]) for row in json.loads(result.stdout)["stages"]] == [
        ("rest0001", "dev"),
        ("rest0001", "prod"),
        ("http0001", "$default"),
    ]


def test_the_clients_retry_in_botocores_standard_mode():
    assert stages.RETRIES.retries == {"mode": "standard", "total_max_attempts": 10}


def test_the_recommended_format_is_json_and_logs_the_key_id_not_the_key():
    access_log = stages.AccessLog(STREAM_ARN, RECOMMENDED_ACCESS_LOG_FORMAT)
    assert (access_log.logging, access_log.format_kind, access_log.logs_api_key_id, access_log.logs_raw_api_key) == (
        "firehose",
        "json",
        True,
        False,
    )
