"""apigw-logs attach and detach: the stages' access-log settings, changed in moto's API Gateway.

Each test seeds moto with the nine stages of tests/support/api_stages.py and reads the stages back
after the command, so a patch is shown to land (or not) where API Gateway keeps it.
"""

from __future__ import annotations

import json
import shlex

import boto3
import pytest
from botocore.retries import standard
from click.testing import CliRunner
from moto import mock_aws

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT
from apigw_logs import stages
from apigw_logs.main import cli
from tests.support.api_stages import (
    CLF_FORMAT,
    CSV_FORMAT,
    LOG_GROUP_ARN,
    OTHER_STREAM_ARN,
    RAW_KEY_FORMAT,
    REGION,
    STACK_NAME,
    STACK_OUTPUTS,
    STREAM_ARN,
    fail_updates,
    seed,
    stub_stack,
    table_rows,
)
from tests.support.events import ROOT
from tests.support.fake_stages import DENIED, THROTTLED

RECOMMENDED = {"destinationArn": STREAM_ARN, "format": RECOMMENDED_ACCESS_LOG_FORMAT}
PATCH = [
    {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": STREAM_ARN},
    {"op": "replace", "path": "/accessLogSettings/format", "value": RECOMMENDED_ACCESS_LOG_FORMAT},
]


@pytest.fixture
def apigateway():
    """moto started before any client exists, seeded with nine stages."""
    with mock_aws():
        client = boto3.client("apigateway", region_name=REGION)
        client.ids = seed(client, boto3.client("apigatewayv2", region_name=REGION))
        yield client


@pytest.fixture
def ids(apigateway):
    return apigateway.ids


@pytest.fixture
def stack(monkeypatch):
    stub_stack(monkeypatch, STACK_OUTPUTS)


def settings(apigateway, api_id, stage):
    """The stage's accessLogSettings as moto keeps them (None when there are none)."""
    return apigateway.get_stage(restApiId=api_id, stageName=stage).get("accessLogSettings")


def run(*args: str, answer: str | None = None):
    return CliRunner().invoke(cli, list(args), input=answer)


def attach_plan(rows):
    """attach's plan table: its header, then these rows (each as its non-empty cells)."""
    return [
        ["stage", "api", "access logs now", "format now", "change"],
        *rows,
    ]


# -- attach --------------------------------------------------------------------------------------


def test_a_dry_run_shows_each_stage_and_the_patch_and_changes_nothing(apigateway, ids, stack):
    # GIVEN a stage with no access logs and one logging to CloudWatch Logs
    before = settings(apigateway, ids["legacy"], "prod")
    shop, legacy = f"{ids['shop']}/dev", f"{ids['legacy']}/prod"
    # WHEN attach runs with --dry-run
    result = run("attach", "--stack-name", STACK_NAME, "--stage", shop, "--stage", legacy, "--dry-run")
    # THEN it shows where each logs now and the patch, says nothing changed, and nothing did
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"Access logs to {STREAM_ARN}, for these stages in {REGION}:"
    assert table_rows(result.stdout) == attach_plan(
        [[shop, "shop", "none", "set"], [legacy, "legacy", f"cloudwatch: {LOG_GROUP_ARN}", "clf", "replace"]]
    )
    patch_text = result.stdout.split("The patch (UpdateStage patchOperations) sent to each stage:\n")[1]
    assert patch_text == json.dumps(PATCH, indent=2) + (
        f"\ndry run: nothing changed\nsummary: not sent (dry run) 2 ({shop}, {legacy}), failed 0\n"
    )
    assert settings(apigateway, ids["shop"], "dev") is None
    assert settings(apigateway, ids["legacy"], "prod") == before


def test_yes_sends_the_stacks_stream_and_format_and_they_land_on_the_stage(apigateway, ids, stack):
    result = run("attach", "--stack-name", STACK_NAME, "--stage", f"{ids['shop']}/dev", "--yes")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-2:] == [
        f"attached {ids['shop']}/dev",
        f"summary: attached 1 ({ids['shop']}/dev), failed 0",
    ]
    assert settings(apigateway, ids["shop"], "dev") == RECOMMENDED


@pytest.mark.parametrize(("answer", "attached"), [("y\n", True), ("n\n", False), ("", False)])
def test_without_yes_it_asks_and_sends_only_on_yes(apigateway, ids, stack, answer, attached):
    result = run("attach", "--stack-name", STACK_NAME, "--stage", f"{ids['shop']}/dev", answer=answer)
    assert result.stderr.startswith(f"Send this patch to 1 stage(s) in {REGION}? [y/N]: ")
    assert settings(apigateway, ids["shop"], "dev") == (RECOMMENDED if attached else None)
    assert result.exit_code == (0 if attached else 1)
    if not attached:
        assert result.stderr.endswith("not confirmed: nothing changed\n")
        assert result.stdout.endswith(f"summary: not sent (not confirmed) 1 ({ids['shop']}/dev), failed 0\n")


def test_a_destination_arn_gets_the_recommended_format_by_default(apigateway, ids):
    result = run("attach", "--destination-arn", OTHER_STREAM_ARN, "--stage", f"{ids['shop']}/dev", "--yes")
    assert result.exit_code == 0
    assert settings(apigateway, ids["shop"], "dev") == {
        "destinationArn": OTHER_STREAM_ARN,
        "format": RECOMMENDED_ACCESS_LOG_FORMAT,
    }


def test_a_destination_arn_takes_a_readable_log_format(apigateway, ids):
    args = ("--destination-arn", STREAM_ARN, "--log-format", CLF_FORMAT, "--stage", f"{ids['shop']}/dev", "--yes")
    assert run("attach", *args).exit_code == 0
    assert settings(apigateway, ids["shop"], "dev") == {"destinationArn": STREAM_ARN, "format": CLF_FORMAT}


def test_all_unlogged_takes_every_rest_stage_without_access_logs_and_no_other(apigateway, ids, stack):
    result = run("attach", "--stack-name", STACK_NAME, "--all-unlogged", "--yes")
    assert (result.exit_code, result.stderr) == (0, "")
    assert table_rows(result.stdout) == attach_plan([[f"{ids['shop']}/dev", "shop", "none", "set"]])
    assert settings(apigateway, ids["shop"], "dev") == RECOMMENDED
    v2 = boto3.client("apigatewayv2", region_name=REGION)
    assert "AccessLogSettings" not in v2.get_stage(ApiId=ids["internal"], StageName="prod")


def test_all_unlogged_with_every_rest_stage_logged_sends_nothing(apigateway, ids, stack):
    apigateway.update_stage(restApiId=ids["shop"], stageName="dev", patchOperations=PATCH)
    result = run("attach", "--stack-name", STACK_NAME, "--all-unlogged", "--yes")
    assert (result.exit_code, result.stdout) == (0, "no REST stage to attach without access logs\nsummary: failed 0\n")


def test_a_stage_already_attached_is_left_unchanged(apigateway, ids, stack):
    result = run("attach", "--stack-name", STACK_NAME, "--stage", f"{ids['shop']}/prod", "--yes")
    assert result.exit_code == 0
    assert result.stdout.endswith(f"nothing to send\nsummary: unchanged 1 ({ids['shop']}/prod), failed 0\n")


def test_replacing_a_cloudwatch_destination_warns_and_points_to_the_subscription_path(apigateway, ids, stack):
    result = run("attach", "--stack-name", STACK_NAME, "--stage", f"{ids['legacy']}/prod", "--yes")
    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: {ids['legacy']}/prod: its CloudWatch Logs destination {LOG_GROUP_ARN} will be replaced:"
        " a stage has one access-log destination. To keep it, leave this stage out and forward its log group"
        " with a CloudWatch Logs subscription (see docs/onboarding.md)\n"
    )
    assert settings(apigateway, ids["legacy"], "prod") == RECOMMENDED


def test_http_and_websocket_stages_are_refused_with_the_reason_and_the_rest_go_on(apigateway, ids, stack):
    orders, chat, shop = f"{ids['orders']}/$default", f"{ids['chat']}/prod", f"{ids['shop']}/dev"
    result = run("attach", "--stack-name", STACK_NAME, "--stage", orders, "--stage", chat, "--stage", shop, "--yes")
    assert result.exit_code == 1
    reason = (
        "it can send access logs only to CloudWatch Logs, not to Firehose;"
        " forward its log group with a CloudWatch Logs subscription instead (see docs/onboarding.md)"
    )
    assert result.stderr == f"error: {orders}: HTTP API stage: {reason}\nerror: {chat}: WEBSOCKET API stage: {reason}\n"
    assert result.stdout.endswith(f"summary: attached 1 ({shop}), failed 2 ({orders}, {chat})\n")
    assert settings(apigateway, ids["shop"], "dev") == RECOMMENDED


def test_each_stage_that_fails_is_one_line_and_the_others_are_attached(apigateway, ids, stack, monkeypatch):
    # GIVEN an unknown API, an unknown stage, a stage the caller may not change, and one always throttled
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda _self, _context: 0)
    denied, throttled, good = f"{ids['legacy']}/qa", f"{ids['partner']}/prod", f"{ids['shop']}/dev"
    fail_updates(monkeypatch, {denied: DENIED, throttled: THROTTLED})
    refs = ["nosuchapi/prod", f"{ids['shop']}/nosuchstage", denied, throttled, good]
    # WHEN attach runs over all of them
    result = run("attach", "--stack-name", STACK_NAME, *(f"--stage={ref}" for ref in refs), "--yes")
    # THEN each failure has its line, the good stage is attached, and the summary names them all
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: nosuchapi/prod: no REST, HTTP or WebSocket API has the id 'nosuchapi' in {REGION}",
        f"error: {ids['shop']}/nosuchstage: the REST API {ids['shop']} (shop) has no stage 'nosuchstage'",
        f"error: {denied}: access denied (UpdateStage): your credentials may not call it (see docs/onboarding.md)",
        f"error: {throttled}: throttled (UpdateStage), still after 10 attempts: try again later",
    ]
    assert result.stdout.splitlines()[-2:] == [
        f"attached {good}",
        f"summary: attached 1 ({good}), failed 4 (nosuchapi/prod, {ids['shop']}/nosuchstage, {denied}, {throttled})",
    ]
    assert settings(apigateway, ids["shop"], "dev") == RECOMMENDED
    assert settings(apigateway, ids["legacy"], "qa") == {"destinationArn": OTHER_STREAM_ARN, "format": CSV_FORMAT}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--destination-arn", LOG_GROUP_ARN],
            (
                f"{LOG_GROUP_ARN!r} is not a Firehose delivery stream ARN"
                " (arn:aws:firehose:REGION:ACCOUNT:deliverystream/amazon-apigateway-NAME)"
            ),
        ),
        (
            ["--destination-arn", "amazon-apigateway-access-logs"],
            (
                "'amazon-apigateway-access-logs' is not a Firehose delivery stream ARN"
                " (arn:aws:firehose:REGION:ACCOUNT:deliverystream/amazon-apigateway-NAME)"
            ),
        ),
        (
            ["--destination-arn", f"arn:aws:firehose:{REGION}:123456789012:deliverystream/access-logs"],
            "the stream 'access-logs': API Gateway sends access logs only to streams named amazon-apigateway-...",
        ),
        (
            ["--destination-arn", STREAM_ARN, "--log-format", RAW_KEY_FORMAT],
            (
                "the access-log format logs $context.identity.apiKey, the API key itself, so the logs would hold"
                " secrets: log $context.identity.apiKeyId instead, or pass --force"
            ),
        ),
        (
            ["--destination-arn", STREAM_ARN, "--log-format", '{"status":"$context.status"}'],
            (
                "the access-log format: the access-log format must log $context.requestId"
                " (API Gateway refuses it otherwise)"
            ),
        ),
        (
            ["--destination-arn", STREAM_ARN, "--log-format", "$context.requestId$context.status"],
            (
                "the access-log format: $context.requestId and $context.status stand side by side:"
                " put some text between them, or their values cannot be told apart"
            ),
        ),
        (
            ["--destination-arn", STREAM_ARN, "--log-format", "  "],
            "the access-log format: the access-log format is empty",
        ),
        (
            ["--stack-name", STACK_NAME, "--destination-arn", STREAM_ARN],
            "give --stack-name or --destination-arn (not both)",
        ),
        ([], "give --stack-name or --destination-arn (one is required)"),
        (
            ["--stack-name", STACK_NAME, "--log-format", CLF_FORMAT],
            "--log-format goes with --destination-arn: with --stack-name the format is the stack's",
        ),
    ],
    ids=[
        "a log group",
        "a name, not an ARN",
        "a stream API Gateway will not send to",
        "a format logging the raw key",
        "a format without the request id",
        "a format the function cannot read",
        "an empty format",
        "both destinations",
        "no destination",
        "a format with the stack",
    ],
)
def test_bad_input_is_refused_in_one_line_with_exit_2_and_nothing_changes(apigateway, ids, args, message):
    result = run("attach", *args, "--stage", f"{ids['shop']}/dev", "--yes")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert settings(apigateway, ids["shop"], "dev") is None


@pytest.mark.parametrize(
    ("stage_args", "message"),
    [
        (["--all-unlogged", "--stage", "a1b2c3d4e5/prod"], "give --stage or --all-unlogged (not both)"),
        ([], "give --stage or --all-unlogged (one is required)"),
        (["--stage", "prod"], "--stage 'prod': expected API_ID/STAGE, e.g. a1b2c3d4e5/prod"),
    ],
)
def test_the_stages_must_be_named_or_all_unlogged(apigateway, stage_args, message):
    result = run("attach", "--destination-arn", STREAM_ARN, *stage_args, "--yes")
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


def test_force_lets_a_raw_key_format_through_with_a_warning(apigateway, ids):
    args = ["--destination-arn", STREAM_ARN, "--log-format", RAW_KEY_FORMAT, "--force"]
    result = run("attach", *args, "--stage", f"{ids['shop']}/dev", "--yes")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: the format logs $context.identity.apiKey, the API key itself (--force): the function masks it"
        " unless ApiKeyValues=keep, but a record that fails processing is kept as sent, key and all, under errors/\n"
    )
    assert settings(apigateway, ids["shop"], "dev") == {"destinationArn": STREAM_ARN, "format": RAW_KEY_FORMAT}


def test_a_stack_whose_format_logs_the_raw_key_is_refused_without_force(apigateway, ids, monkeypatch):
    stub_stack(monkeypatch, {**STACK_OUTPUTS, stages.FORMAT_OUTPUT: RAW_KEY_FORMAT})
    result = run("attach", "--stack-name", STACK_NAME, "--stage", f"{ids['shop']}/dev", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: the access-log format logs $context.identity.apiKey")
    assert settings(apigateway, ids["shop"], "dev") is None


def test_a_stack_without_the_outputs_is_one_line_and_exit_1(apigateway, ids, monkeypatch):
    stub_stack(monkeypatch, {"LogBucketName": "bucket"})
    result = run("attach", "--stack-name", STACK_NAME, "--stage", f"{ids['shop']}/dev", "--yes")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: the stack {STACK_NAME!r} has no DeliveryStreamArn or AccessLogFormat output:"
        " is it this project's stack, deployed?\n"
    )


DRIFT = (
    "warning: {ref}: the CloudFormation stack 'partner-api' created this stage, so this change drifts from its"
    " template; set AccessLogSetting in the template instead (see docs/onboarding.md#stages-defined-in-code)\n"
)


def test_changing_a_stage_a_stack_created_warns_that_it_drifts_from_the_template(apigateway, ids, stack):
    ref = f"{ids['partner']}/prod"
    result = run("attach", "--stack-name", STACK_NAME, "--stage", ref, "--yes")
    assert result.exit_code == 0
    assert result.stderr.endswith(DRIFT.format(ref=ref))


# -- detach --------------------------------------------------------------------------------------


def test_detach_prints_what_was_there_then_removes_it(apigateway, ids):
    legacy = f"{ids['legacy']}/prod"
    result = run("detach", "--stage", legacy, "--yes")
    assert (result.exit_code, result.stderr) == (0, "")
    restore = [
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": LOG_GROUP_ARN},
        {"op": "replace", "path": "/accessLogSettings/format", "value": CLF_FORMAT},
    ]
    assert result.stdout == (
        f"{legacy} (legacy):\n"
        f"  destination: {LOG_GROUP_ARN}\n"
        f"  format: {CLF_FORMAT}\n"
        f"  to restore: aws apigateway update-stage --region {REGION} --rest-api-id {ids['legacy']}"
        f" --stage-name prod --patch-operations {shlex.quote(json.dumps(restore))}\n"
        'The patch (UpdateStage patchOperations) sent to each stage: [{"op": "remove", "path": "/accessLogSettings"}]\n'
        f"detached {legacy}\n"
        f"summary: detached 1 ({legacy}), failed 0\n"
    )
    assert settings(apigateway, ids["legacy"], "prod") is None


def test_the_printed_restore_command_puts_the_settings_back(apigateway, ids):
    before = settings(apigateway, ids["partner"], "beta")
    result = run("detach", "--stage", f"{ids['partner']}/beta", "--yes")
    command = next(line for line in result.stdout.splitlines() if line.startswith("  to restore: "))
    words = shlex.split(command.removeprefix("  to restore: "))
    patch = json.loads(words[words.index("--patch-operations") + 1])
    apigateway.update_stage(restApiId=ids["partner"], stageName="beta", patchOperations=patch)
    assert settings(apigateway, ids["partner"], "beta") == before


def test_detach_dry_run_keeps_the_settings(apigateway, ids):
    before = settings(apigateway, ids["shop"], "prod")
    result = run("detach", "--stage", f"{ids['shop']}/prod", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.endswith(
        f"dry run: nothing changed\nsummary: not sent (dry run) 1 ({ids['shop']}/prod), failed 0\n"
    )
    assert settings(apigateway, ids["shop"], "prod") == before


def test_detach_without_yes_asks_and_a_no_keeps_the_settings(apigateway, ids):
    before = settings(apigateway, ids["shop"], "prod")
    result = run("detach", "--stage", f"{ids['shop']}/prod", answer="n\n")
    assert result.exit_code == 1
    assert settings(apigateway, ids["shop"], "prod") == before


def test_detach_leaves_a_stage_without_settings_unchanged_and_refuses_http_stages(apigateway, ids):
    shop, orders = f"{ids['shop']}/dev", f"{ids['orders']}/$default"
    result = run("detach", "--stage", shop, "--stage", orders, "--yes")
    assert result.exit_code == 1
    assert result.stdout == (
        f"{shop} (shop): no access-log settings, nothing to remove\n"
        "nothing to send\n"
        f"summary: unchanged 1 ({shop}), failed 1 ({orders})\n"
    )
    assert result.stderr == (
        f"error: {orders}: HTTP API stage: detach changes REST stages only"
        " (set an HTTP or WebSocket stage's access logs in apigatewayv2)\n"
    )


def test_detaching_a_stage_a_stack_created_warns_that_it_drifts_from_the_template(apigateway, ids):
    ref = f"{ids['partner']}/prod"
    result = run("detach", "--stage", ref, "--yes")
    assert (result.exit_code, result.stderr) == (0, DRIFT.format(ref=ref))


def test_the_onboarding_guide_names_the_recommended_format_and_the_drift_section():
    guide = (ROOT / "docs" / "onboarding.md").read_text(encoding="utf-8")
    assert RECOMMENDED_ACCESS_LOG_FORMAT in guide
    assert "\n## Stages defined in code\n" in guide


def test_detach_needs_a_stage():
    result = run("detach", "--yes")
    assert (result.exit_code, result.stderr) == (2, "Error: give --stage API_ID/STAGE at least once\n")


def test_no_output_holds_an_api_key_value(apigateway, ids, stack):
    # GIVEN an API key with a value, on the account
    value = "rawKeyValueThatMustNeverBeShown0123456789"
    apigateway.create_api_key(name="customer", value=value, enabled=True)
    # WHEN every command runs
    outputs = [run("audit", "--format", fmt, "--stack-name", STACK_NAME) for fmt in ("table", "json", "csv")]
    attached = run("attach", "--destination-arn", STREAM_ARN, "--all-unlogged", "--dry-run")
    detached = run("detach", "--stage", f"{ids['partner']}/beta", "--dry-run")
    # THEN the value is in none of them
    for result in [*outputs, attached, detached]:
        assert value not in result.stdout + result.stderr
