"""apigw-logs subscribe: CloudWatch Logs subscription filters to the stack's stream, put in moto.

Each test seeds moto with the nine stages of tests/support/api_stages.py (three log to the group
STAGES_GROUP), the stack's stream and subscription role, and two log groups, then reads the
groups' filters back after the command. Denial and throttling, which moto cannot make, are
answered at botocore's HTTP layer (tests/support/log_groups.py); paging runs against Stubber.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.retries import standard
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws

from apigw_logs import stages, subscribe
from apigw_logs.main import cli
from tests.support.api_stages import REGION, STACK_NAME, STREAM_ARN, Settings, rest_api, seed, stub_stack, table_rows
from tests.support.events import ROOT
from tests.support.log_groups import (
    DENIED_LOGS,
    QUIET_GROUP,
    ROLE_ARN,
    STAGES_GROUP,
    SUBSCRIPTION_OUTPUTS,
    THROTTLED_LOGS,
    create_streams,
    deny_stage_listing,
    fail_logs,
    filters,
    record_puts,
    stream_arn,
)

OTHER_STREAM = "amazon-apigateway-other"
PLAN_HEADER = ["log group", "stages", "filters now", "action"]
ADD = "add filter apigw-access-logs"


def request(group):
    """The PutSubscriptionFilter request subscribe sends for a group: every event, no distribution."""
    return {
        "logGroupName": group,
        "filterName": "apigw-access-logs",
        "filterPattern": "",
        "destinationArn": STREAM_ARN,
        "roleArn": ROLE_ARN,
    }


def subscribed(group):
    """The group's filter as moto keeps it once subscribed (distribution is the service's default)."""
    return [{**request(group), "distribution": "ByLogStream"}]


@pytest.fixture
def logs():
    """moto started before any client exists: nine stages, the stream and role, two log groups."""
    with mock_aws():
        client = boto3.client("logs", region_name=REGION)
        client.ids = seed(
            boto3.client("apigateway", region_name=REGION), boto3.client("apigatewayv2", region_name=REGION)
        )
        create_streams(STREAM_ARN.rpartition("/")[2], OTHER_STREAM, "another")
        for group in (STAGES_GROUP, QUIET_GROUP):
            client.create_log_group(logGroupName=group)
        yield client


@pytest.fixture
def stack(monkeypatch):
    stub_stack(monkeypatch, SUBSCRIPTION_OUTPUTS)


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda _self, _context: 0)


def run(*args: str, answer: str | None = None):
    return CliRunner().invoke(cli, ["subscribe", *args], input=answer)


def stage_cell(logs):
    """The seeded stages that log to STAGES_GROUP, as the plan names them (REST first, by API name)."""
    ids = logs.ids
    return f"{ids['legacy']}/prod (REST), {ids['partner']}/prod (REST), {ids['orders']}/$default (HTTP)"


NO_STAGE = f"warning: {QUIET_GROUP}: no API stage in {REGION} logs to this group, so it may not hold access logs\n"


# -- The plan, and sending it --------------------------------------------------------------------


def test_a_dry_run_shows_the_plan_and_each_request_and_changes_nothing(logs, stack):
    # GIVEN two log groups without filters, one that three stages log to and one that none do
    # WHEN subscribe runs with --dry-run
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, QUIET_GROUP, "--dry-run")
    # THEN it shows the plan, the stages and the requests, says nothing changed, and nothing did
    assert (result.exit_code, result.stderr) == (0, NO_STAGE)
    assert result.stdout.splitlines()[0] == (f"Subscription filters to {STREAM_ARN}, for these log groups in {REGION}:")
    assert table_rows(result.stdout) == [
        PLAN_HEADER,
        [STAGES_GROUP, stage_cell(logs), "none", ADD],
        [QUIET_GROUP, "none", "none", ADD],
    ]
    requests = result.stdout.split("The request (PutSubscriptionFilter) for each log group:\n")[1]
    assert requests == json.dumps([request(STAGES_GROUP), request(QUIET_GROUP)], indent=2) + (
        f"\ndry run: nothing changed\nsummary: not sent (dry run) 2 ({STAGES_GROUP}, {QUIET_GROUP}), failed 0\n"
    )
    assert filters(logs, STAGES_GROUP) == filters(logs, QUIET_GROUP) == []


def test_yes_puts_exactly_the_filter_to_the_stacks_stream(logs, stack, monkeypatch):
    sent = record_puts(monkeypatch)
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-2:] == [
        f"subscribed {STAGES_GROUP}",
        f"summary: subscribed 1 ({STAGES_GROUP}), failed 0",
    ]
    assert sent == [request(STAGES_GROUP)]
    assert filters(logs, STAGES_GROUP) == subscribed(STAGES_GROUP)


def test_a_second_run_finds_the_group_subscribed_and_sends_nothing(logs, stack, monkeypatch):
    assert run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes").exit_code == 0
    stub_stack(monkeypatch, SUBSCRIPTION_OUTPUTS)  # the stub answers one DescribeStacks a run
    sent = record_puts(monkeypatch)
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert (result.exit_code, result.stderr) == (0, "")
    assert table_rows(result.stdout) == [
        PLAN_HEADER,
        [
            STAGES_GROUP,
            stage_cell(logs),
            "apigw-access-logs: firehose amazon-apigateway-access-logs",
            "none: already subscribed",
        ],
    ]
    assert "PutSubscriptionFilter" not in result.stdout
    assert result.stdout.endswith(f"nothing to send\nsummary: unchanged 1 ({STAGES_GROUP}), failed 0\n")
    assert sent == []
    assert filters(logs, STAGES_GROUP) == subscribed(STAGES_GROUP)


def test_a_filter_of_another_name_to_the_stream_counts_as_subscribed(logs, stack):
    logs.put_subscription_filter(
        logGroupName=STAGES_GROUP, filterName="mine", filterPattern="", destinationArn=STREAM_ARN, roleArn=ROLE_ARN
    )
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert result.exit_code == 0
    assert result.stdout.endswith(f"nothing to send\nsummary: unchanged 1 ({STAGES_GROUP}), failed 0\n")
    assert [item["filterName"] for item in filters(logs, STAGES_GROUP)] == ["mine"]


@pytest.mark.parametrize(("answer", "sent"), [("y\n", True), ("n\n", False), ("", False)])
def test_without_yes_it_asks_and_sends_only_on_yes(logs, stack, answer, sent):
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, answer=answer)
    assert result.stderr.startswith(f"Put this subscription filter on 1 log group(s) in {REGION}? [y/N]: ")
    assert filters(logs, STAGES_GROUP) == (subscribed(STAGES_GROUP) if sent else [])
    assert result.exit_code == (0 if sent else 1)
    if not sent:
        assert result.stderr.endswith("not confirmed: nothing changed\n")
        assert result.stdout.endswith(f"summary: not sent (not confirmed) 1 ({STAGES_GROUP}), failed 0\n")


def test_a_destination_and_role_can_be_given_instead_of_a_stack(logs, monkeypatch):
    sent = record_puts(monkeypatch)
    other = stream_arn(OTHER_STREAM)
    result = run("--destination-arn", other, "--role-arn", ROLE_ARN, QUIET_GROUP, "--yes")
    assert result.exit_code == 0
    assert sent == [{**request(QUIET_GROUP), "destinationArn": other}]


# -- Groups that are refused or fail -------------------------------------------------------------


def test_a_group_with_two_filters_is_refused_with_the_reason_and_the_others_go_on(logs, stack):
    # GIVEN a group whose two filters, the most allowed, send elsewhere
    for name, stream in (("to-other", OTHER_STREAM), ("to-another", "another")):
        logs.put_subscription_filter(
            logGroupName=QUIET_GROUP,
            filterName=name,
            filterPattern="",
            destinationArn=stream_arn(stream),
            roleArn=ROLE_ARN,
        )
    before = filters(logs, QUIET_GROUP)
    # WHEN subscribe runs over it and a group it can subscribe
    result = run("--stack-name", STACK_NAME, QUIET_GROUP, STAGES_GROUP, "--yes")
    # THEN the full group is refused in one line, left as it was, and the other is subscribed
    assert result.exit_code == 1
    assert table_rows(result.stdout)[1] == [
        QUIET_GROUP,
        "none",
        "to-other: firehose amazon-apigateway-other; to-another: firehose another",
        "refused: 2 filters already",
    ]
    assert result.stderr == NO_STAGE + (
        f"error: {QUIET_GROUP}: it has 2 subscription filters (to-other, to-another), the most CloudWatch Logs"
        " allows: remove one, or leave this group out\n"
    )
    assert result.stdout.endswith(f"summary: subscribed 1 ({STAGES_GROUP}), failed 1 ({QUIET_GROUP})\n")
    assert filters(logs, QUIET_GROUP) == before
    assert filters(logs, STAGES_GROUP) == subscribed(STAGES_GROUP)


def test_its_own_filter_sending_elsewhere_is_replaced_with_a_warning(logs, stack):
    logs.put_subscription_filter(
        logGroupName=STAGES_GROUP,
        filterName="apigw-access-logs",
        filterPattern="",
        destinationArn=stream_arn(OTHER_STREAM),
        roleArn=ROLE_ARN,
    )
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert result.exit_code == 0
    assert table_rows(result.stdout)[1][-1] == "replace filter apigw-access-logs"
    assert result.stderr == (
        f"warning: {STAGES_GROUP}: its filter apigw-access-logs sends to {stream_arn(OTHER_STREAM)};"
        f" it will send to {STREAM_ARN} instead\n"
    )
    assert filters(logs, STAGES_GROUP) == subscribed(STAGES_GROUP)


def test_a_missing_log_group_is_one_line_and_a_non_zero_exit(logs, stack):
    result = run("--stack-name", STACK_NAME, "/no/such/group", "--yes")
    assert (result.exit_code, result.stderr) == (1, f"error: /no/such/group: no log group of this name in {REGION}\n")
    assert result.stdout == "no log group to subscribe\nsummary: failed 1 (/no/such/group)\n"


def test_a_group_named_by_a_prefix_of_another_is_not_taken_for_it(logs, stack):
    # DescribeLogGroups finds STAGES_GROUP by the prefix "api-gateway-access"; only the exact name counts.
    result = run("--stack-name", STACK_NAME, "api-gateway-access", "--yes")
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: api-gateway-access: no log group of this name in {REGION}\n",
    )
    assert filters(logs, STAGES_GROUP) == []


def test_access_denied_on_put_is_one_line_naming_the_permissions_and_exit_1(logs, stack, monkeypatch):
    fail_logs(monkeypatch, "PutSubscriptionFilter", DENIED_LOGS, group=STAGES_GROUP)
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, QUIET_GROUP, "--yes")
    assert result.exit_code == 1
    assert result.stderr == NO_STAGE + (
        f"error: {STAGES_GROUP}: access denied (PutSubscriptionFilter): your credentials may not call it"
        " (see docs/onboarding.md); it needs logs:PutSubscriptionFilter on the group and iam:PassRole on the role\n"
    )
    assert result.stdout.endswith(f"summary: subscribed 1 ({QUIET_GROUP}), failed 1 ({STAGES_GROUP})\n")
    assert filters(logs, STAGES_GROUP) == []
    assert "Traceback" not in result.output


def test_throttling_that_outlasts_the_retries_is_one_line_and_exit_1(logs, stack, monkeypatch, no_backoff):
    fail_logs(monkeypatch, "DescribeLogGroups", THROTTLED_LOGS)
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {STAGES_GROUP}: throttled (DescribeLogGroups), still after {stages.MAX_ATTEMPTS} attempts:"
        " try again later\n"
    )


def test_no_credentials_is_one_line_and_exit_1_before_any_request(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup over the network
    result = run("--destination-arn", STREAM_ARN, "--role-arn", ROLE_ARN, STAGES_GROUP, "--yes")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "error: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"
    )


def test_a_stack_without_the_role_output_is_one_line_and_exit_1(logs, monkeypatch):
    stub_stack(monkeypatch, {stages.STREAM_OUTPUT: STREAM_ARN})
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: the stack {STACK_NAME!r} has no SubscriptionRoleArn output:"
        " is it this project's stack, deployed from the current template?\n"
    )


def test_a_stack_that_does_not_exist_is_one_line_and_exit_1(logs, monkeypatch):
    stub_stack(monkeypatch, error_code="ValidationError")
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: ValidationError (DescribeStacks): Stack with id {STACK_NAME} does not exist\n"


# -- The stages that log to each group -----------------------------------------------------------


def test_a_stage_whose_destination_ends_in_a_wildcard_is_shown_for_its_group(logs, stack):
    group_arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{QUIET_GROUP}:*"
    api_id = rest_api(
        boto3.client("apigateway", region_name=REGION), "billing", {"v1": Settings(group_arn, "$context.requestId")}
    )
    result = run("--stack-name", STACK_NAME, QUIET_GROUP, "--dry-run")
    assert (result.exit_code, result.stderr) == (0, "")
    assert table_rows(result.stdout)[1] == [QUIET_GROUP, f"{api_id}/v1 (REST)", "none", ADD]


def test_stages_that_cannot_be_listed_are_said_in_one_line_and_the_plan_goes_on(logs, stack, monkeypatch):
    deny_stage_listing(monkeypatch)
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, "--yes")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: cannot list the API stages, so the plan does not say which log to each group: access denied"
        " (GetRestApis): your credentials may not call it (see docs/onboarding.md)\n"
    )
    assert table_rows(result.stdout)[1] == [STAGES_GROUP, "unknown", "none", ADD]
    assert filters(logs, STAGES_GROUP) == subscribed(STAGES_GROUP)


# -- Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([""], "LOG_GROUP '': a log group's name is 1 to 512 characters"),
        (["g" * 513], f"LOG_GROUP {'g' * 513!r}: a log group's name is 1 to 512 characters"),
        (["api logs"], "LOG_GROUP 'api logs': a log group's name has only letters, digits and _ - / . # (not ' ')"),
        (
            [f"arn:aws:logs:{REGION}:123456789012:log-group:{STAGES_GROUP}"],
            (
                f"LOG_GROUP 'arn:aws:logs:{REGION}:123456789012:log-group:{STAGES_GROUP}': a log group's name has"
                " only letters, digits and _ - / . # (not ':'): give the log group's name, not its ARN"
            ),
        ),
    ],
    ids=["empty", "too long", "a space", "an ARN"],
)
def test_a_name_no_log_group_can_have_is_refused_in_one_line_with_exit_2(logs, stack, args, message):
    result = run("--stack-name", STACK_NAME, STAGES_GROUP, *args, "--yes")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert filters(logs, STAGES_GROUP) == []


def test_a_name_of_every_allowed_character_is_accepted(logs, stack):
    name = "/aws/apigateway/Shop_API-v2.prod#1"
    logs.create_log_group(logGroupName=name)
    result = run("--stack-name", STACK_NAME, name, "--yes")
    assert result.exit_code == 0
    assert filters(logs, name) == subscribed(name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --stack-name or --destination-arn (one is required)"),
        (
            ["--stack-name", STACK_NAME, "--destination-arn", STREAM_ARN],
            "give --stack-name or --destination-arn (not both)",
        ),
        (
            ["--stack-name", STACK_NAME, "--role-arn", ROLE_ARN],
            "--role-arn goes with --destination-arn: with --stack-name the role is the stack's",
        ),
        (
            ["--destination-arn", STREAM_ARN],
            "--destination-arn needs --role-arn: the role CloudWatch Logs assumes to write to it",
        ),
        (
            ["--destination-arn", f"arn:aws:kinesis:{REGION}:123456789012:stream/logs", "--role-arn", ROLE_ARN],
            (
                f"'arn:aws:kinesis:{REGION}:123456789012:stream/logs' is not a Firehose delivery stream ARN"
                " (arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME)"
            ),
        ),
        (
            ["--destination-arn", STREAM_ARN, "--role-arn", "SubscriptionRole"],
            "'SubscriptionRole' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
        ),
    ],
    ids=["no destination", "both", "a role with the stack", "no role", "not a Firehose stream", "not a role"],
)
def test_the_destination_options_are_checked_before_anything_is_asked_of_aws(logs, args, message):
    result = run(*args, STAGES_GROUP, "--yes")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


def test_no_log_group_is_a_usage_error():
    result = run("--stack-name", STACK_NAME)
    assert result.exit_code == 2
    assert "Missing argument 'LOG_GROUP...'" in result.stderr


# -- Paging (moto answers in one page) -----------------------------------------------------------


def test_the_group_is_looked_for_on_every_page_of_its_prefix_and_its_filters_read():
    # GIVEN DescribeLogGroups answering the prefix in two pages, the exact name on the second
    client = boto3.client("logs", region_name=REGION)
    group_arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{STAGES_GROUP}"
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_log_groups",
            {"logGroups": [{"logGroupName": f"{STAGES_GROUP}-{n}"} for n in range(2)], "nextToken": "page-2"},
            {"logGroupNamePrefix": STAGES_GROUP},
        )
        stubber.add_response(
            "describe_log_groups",
            {"logGroups": [{"logGroupName": STAGES_GROUP, "arn": f"{group_arn}:*", "logGroupArn": group_arn}]},
            {"logGroupNamePrefix": STAGES_GROUP, "nextToken": "page-2"},
        )
        stubber.add_response(
            "describe_subscription_filters",
            {
                "subscriptionFilters": [{"filterName": "a", "destinationArn": STREAM_ARN, "filterPattern": "ERROR"}],
                "nextToken": "more",
            },
            {"logGroupName": STAGES_GROUP},
        )
        stubber.add_response(
            "describe_subscription_filters",
            {"subscriptionFilters": [{"filterName": "b", "destinationArn": ROLE_ARN, "filterPattern": ""}]},
            {"logGroupName": STAGES_GROUP, "nextToken": "more"},
        )
        # WHEN the group is looked up
        found = subscribe.find_log_group(client, STAGES_GROUP)
        # THEN every page was asked for, and the group has both pages' filters
        stubber.assert_no_pending_responses()
    assert found == subscribe.LogGroup(
        STAGES_GROUP,
        group_arn,
        (
            subscribe.SubscriptionFilter("a", STREAM_ARN, "ERROR"),
            subscribe.SubscriptionFilter("b", ROLE_ARN, ""),
        ),
    )


def test_a_prefix_with_no_exact_match_on_any_page_is_no_group():
    client = boto3.client("logs", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_log_groups",
            {"logGroups": [{"logGroupName": "app-1"}], "nextToken": "t"},
            {"logGroupNamePrefix": "app"},
        )
        stubber.add_response(
            "describe_log_groups",
            {"logGroups": [{"logGroupName": "app-2"}]},
            {"logGroupNamePrefix": "app", "nextToken": "t"},
        )
        assert subscribe.find_log_group(client, "app") is None
        stubber.assert_no_pending_responses()


def test_the_logs_client_retries_in_botocores_standard_mode():
    client = subscribe.connect_logs(REGION)
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": stages.MAX_ATTEMPTS}


# -- The guide -----------------------------------------------------------------------------------


def test_the_onboarding_guide_has_the_section_the_filter_and_how_to_remove_it():
    guide = (ROOT / "docs" / "onboarding.md").read_text(encoding="utf-8")
    assert "\n## Stages that log to CloudWatch Logs\n" in guide
    assert f"--filter-name {subscribe.FILTER_NAME}" in guide
    for permission in (
        "logs:DescribeLogGroups",
        "logs:DescribeSubscriptionFilters",
        "logs:PutSubscriptionFilter",
        "iam:PassRole",
        subscribe.ROLE_OUTPUT,
    ):
        assert permission in guide
