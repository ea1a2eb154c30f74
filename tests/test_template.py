"""The SAM template: the SAM CLI and cfn-lint accept it, it builds for arm64, and its wiring and IAM are tight."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from apigw_enrichment import fields
from apigw_enrichment import handler as app
from tests.support.events import ROOT

TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
STREAM = RESOURCES["DeliveryStream"]["Properties"]
S3_DEST = STREAM["ExtendedS3DestinationConfiguration"]
ACCESS_LOG_FORMAT = str(TEMPLATE["Parameters"]["AccessLogFormat"]["Default"])


def tool(variable: str) -> str:
    """The SAM CLI venv's tools, as `make test` passes them; skipped only when pytest runs bare."""
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set: run `make test`, which installs the SAM CLI in its own venv")
    assert Path(path).exists(), f"{variable}={path} does not exist"
    return path


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, check=False, timeout=600)


def sam_env() -> dict[str, str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    python_dir = os.environ.get("SAM_PYTHON_DIR")
    if python_dir:
        env["PATH"] = f"{python_dir}:{env['PATH']}"
    return env


@pytest.mark.slow
def test_sam_validate_lint_passes():
    result = run(tool("SAM_CLI"), "validate", "--lint", "--template-file", "template.yaml", env=sam_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("cfn_lint", ["sam venv", "dev venv"])
def test_cfn_lint_passes(cfn_lint):
    command = [tool("CFN_LINT")] if cfn_lint == "sam venv" else [str(Path(sys.executable).parent / "cfn-lint")]
    result = run(*command, "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def runtime_python(env: dict[str, str]) -> None:
    """Skip, saying why, where sam build cannot find the runtime's Python 3.13 (find-python
    accepts 3.12 for everything else)."""
    found = shutil.which("python3.13", path=env["PATH"])
    works = (
        found is not None and run(found, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))").returncode == 0
    )
    if not works:
        pytest.skip("sam build needs Python 3.13, the Lambda runtime, on PATH: install it to run this test")


@pytest.mark.slow
def test_sam_build_for_python313_on_arm64(tmp_path):
    runtime_python(sam_env())
    result = run(
        tool("SAM_CLI"), "build", "--template-file", str(ROOT / "template.yaml"),
        "--build-dir", str(tmp_path / "build"), "--cache-dir", str(tmp_path / "cache"),
        env=sam_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = tmp_path / "build" / "EnrichFunction"
    assert (bundle / "apigw_enrichment" / "handler.py").exists()
    (orjson_so,) = bundle.glob("orjson/orjson.cpython-313-*.so")
    (re2_so,) = bundle.glob("re2/_re2.cpython-313-*.so")
    # Base64 is pybase64's SIMD extension (its pure-Python fallback would work, five times slower).
    (pybase64_so,) = bundle.glob("pybase64/_pybase64.cpython-313-*.so")
    # The usual line is read by msgspec's C extension (encoding/usual.py).
    (msgspec_so,) = bundle.glob("msgspec/_core.cpython-313-*.so")
    assert "aarch64" in orjson_so.name, "wheels for the Lambda's arm64 runtime, not this machine's"
    assert "aarch64" in re2_so.name, "RE2 (text formats) for arm64 too"
    assert "aarch64" in pybase64_so.name, "and pybase64"
    assert "aarch64" in msgspec_so.name, "and msgspec"
    # The refresher is the same package, with a handler of its own.
    assert (tmp_path / "build" / "DirectoryRefresherFunction" / "apigw_enrichment" / "refresher.py").exists()
    assert not list(bundle.glob("moto*")), "test dependencies stay out of the bundle"
    assert not [p for glob in ("apigw_logs*", "click*", "rich*") for p in bundle.glob(glob)], "nor the command line"


@pytest.mark.slow
def test_checkov_reports_no_failed_check_and_every_skip_has_a_reason():
    result = run(
        tool("CHECKOV"), "--file", "template.yaml", "--framework", "cloudformation", "--skip-download",
        "--output", "json",
    )  # fmt: skip
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0, failed
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] >= 20
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) >= 30, check["check_id"]
    skipped = sorted(c["check_id"] for c in report["results"]["skipped_checks"])
    # The two functions' (no DLQ, no VPC, no KMS for a plain environment), three log groups', the bucket's.
    assert skipped == [
        "CKV_AWS_116", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_117", "CKV_AWS_158", "CKV_AWS_158", "CKV_AWS_158",
        "CKV_AWS_173", "CKV_AWS_173", "CKV_AWS_18",
    ]  # fmt: skip


def test_bucket_versioning_and_reserved_concurrency():
    bucket = RESOURCES["LogBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireOldVersions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    function = RESOURCES["EnrichFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert TEMPLATE["Parameters"]["ReservedConcurrency"]["Default"] == 10


def test_stream_name_starts_with_the_prefix_api_gateway_requires():
    assert STREAM["DeliveryStreamName"] == {"Fn::Sub": "amazon-apigateway-${StreamName}"}
    pattern = re.compile(TEMPLATE["Parameters"]["StreamName"]["AllowedPattern"])
    for good in ("access-logs", "prod_v2.api", "a" * 46):
        assert pattern.fullmatch(good), good
    for bad in ("", "a" * 47, "has space", "slash/name", "amazon:apigw"):
        assert not pattern.fullmatch(bad), bad
    assert len("amazon-apigateway-") + 46 == 64, "Firehose's name limit"


def test_extended_s3_destination():
    assert S3_DEST["BucketARN"] == {"Fn::GetAtt": ["LogBucket", "Arn"]}
    assert S3_DEST["CompressionFormat"] == "GZIP"
    partition = f"{fields.PARTITION_KEY}=!{{timestamp:yyyy-MM-dd-HH}}/"
    assert S3_DEST["Prefix"] == f"{fields.LOGS_PREFIX}{partition}"
    assert S3_DEST["ErrorOutputPrefix"] == f"{fields.ERRORS_PREFIX}!{{firehose:error-output-type}}/{partition}"
    logging_options = S3_DEST["CloudWatchLoggingOptions"]
    assert logging_options["Enabled"] is True
    assert logging_options["LogGroupName"] == {"Ref": "DeliveryStreamLogGroup"}


def test_the_function_is_the_processor_with_buffer_hints_inside_firehose_limits():
    processing = S3_DEST["ProcessingConfiguration"]
    assert processing["Enabled"] is True
    (processor,) = processing["Processors"]
    assert processor["Type"] == "Lambda"
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert params["LambdaArn"] == {"Fn::GetAtt": ["EnrichFunction", "Arn"]}
    assert 0.2 <= float(params["BufferSizeInMBs"]) <= 3
    assert 0 <= int(params["BufferIntervalInSeconds"]) <= 900


def test_function_runtime_and_settings():
    function = RESOURCES["EnrichFunction"]["Properties"]
    globals_ = TEMPLATE["Globals"]["Function"]
    assert function["CodeUri"] == "enrich_function/"
    assert function["Handler"] == "apigw_enrichment.handler.lambda_handler"
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])
    assert globals_["Timeout"] <= 120, "well under Firehose's 5-minute cap"
    assert 128 <= globals_["MemorySize"] <= 10240
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(globals_["Environment"]["Variables"])
    assert set(function["Environment"]["Variables"]) == {
        "ACCESS_LOG_FORMAT", "API_KEY_VALUES", "CACHE_TTL_SECONDS", "MISS_REFRESH_SECONDS", "LOOKUP_BUDGET_SECONDS",
        "SNAPSHOT_MAX_AGE_SECONDS", "DIRECTORY_SNAPSHOT_BUCKET", "DIRECTORY_SNAPSHOT_KEY",
    }  # fmt: skip
    budget = TEMPLATE["Parameters"]["LookupBudgetSeconds"]
    assert budget["Default"] == 10
    assert budget["MaxValue"] + app.ANSWER_RESERVE_SECONDS <= globals_["Timeout"], "a batch is always answered"


def test_bucket_is_private_encrypted_tls_only_and_expires_logs():
    bucket = RESOURCES["LogBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }  # fmt: skip
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    rule = bucket["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == {"Ref": "LogRetentionDays"}
    # Then the reader-account grant, present only with ReaderAccountIds (tests/test_iam.py).
    deny, *readers = RESOURCES["LogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert [reader["Fn::If"][0] for reader in readers] == ["HasReaderAccounts", "HasReaderAccounts"]


def statements(policies):
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def test_firehose_role_writes_only_to_this_bucket_invokes_only_this_function_logs_only_to_its_group():
    role = RESOURCES["DeliveryStreamRole"]["Properties"]
    by_service = {}
    for statement in statements(role["Policies"]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_service.setdefault(action.split(":")[0], []).append(statement["Resource"])
    assert set(by_service) == {"s3", "lambda", "logs"}
    bucket = [{"Fn::GetAtt": ["LogBucket", "Arn"]}, {"Fn::Sub": "${LogBucket.Arn}/*"}]
    assert all(resource == bucket for resource in by_service["s3"])
    function = [{"Fn::GetAtt": ["EnrichFunction", "Arn"]}, {"Fn::Sub": "${EnrichFunction.Arn}:*"}]
    assert all(resource == function for resource in by_service["lambda"])
    (log_resource,) = by_service["logs"]
    assert "log-group:${DeliveryStreamLogGroup}:log-stream:*" in log_resource["Fn::Sub"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}


def test_function_may_only_get_usage_plans_api_keys_and_stages_read_the_snapshot_and_put_into_its_own_stream():
    (policy,) = RESOURCES["EnrichFunction"]["Properties"]["Policies"]
    read, snapshot, stages, reingest = policy["Statement"]
    assert [s["Sid"] for s in policy["Statement"]] == [
        "ReadUsagePlansAndApiKeys", "ReadDirectorySnapshot", "ReadStagesForSubscriptions", "ReingestIntoOwnStream",
    ]  # fmt: skip
    assert read["Action"] == "apigateway:GET"
    assert [r["Fn::Sub"] for r in read["Resource"]] == [
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans",
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys",
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys",
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys/*",  # GetApiKey: one unknown key
    ]
    # The refresher's snapshot, and nothing else of the bucket: read only, one exact object.
    environment = RESOURCES["EnrichFunction"]["Properties"]["Environment"]["Variables"]
    assert (snapshot["Action"], snapshot["Resource"]) == (
        "s3:GetObject",
        {"Fn::Sub": "${LogBucket.Arn}/" + environment["DIRECTORY_SNAPSHOT_KEY"]},
    )
    assert environment["DIRECTORY_SNAPSHOT_BUCKET"] == {"Ref": "LogBucket"}
    # GetRestApis and GetStages, to map a subscribed log group to the stage logging to it.
    assert stages["Action"] == "apigateway:GET"
    assert [r["Fn::Sub"] for r in stages["Resource"]] == [
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis",
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/*/stages",
    ]
    assert reingest["Action"] == "firehose:PutRecordBatch"
    assert reingest["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:firehose:${AWS::Region}:${AWS::AccountId}"
        ":deliverystream/amazon-apigateway-${StreamName}"
    }
    assert reingest["Resource"]["Fn::Sub"].endswith(STREAM["DeliveryStreamName"]["Fn::Sub"]), "the same stream"


def test_the_refresher_lists_on_a_schedule_and_may_only_write_the_snapshot():
    refresher = RESOURCES["DirectoryRefresherFunction"]["Properties"]
    assert (refresher["CodeUri"], refresher["Handler"]) == (
        "enrich_function/",
        "apigw_enrichment.refresher.lambda_handler",
    )
    environment = refresher["Environment"]["Variables"]
    transformer = RESOURCES["EnrichFunction"]["Properties"]["Environment"]["Variables"]
    for name in ("DIRECTORY_SNAPSHOT_BUCKET", "DIRECTORY_SNAPSHOT_KEY"):
        assert environment[name] == transformer[name], "the object one writes is the one the other reads"
    assert environment["DIRECTORY_SNAPSHOT_KEY"].startswith("directory/"), "outside logs/"
    (schedule,) = refresher["Events"].values()
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == {"Fn::Sub": "rate(${DirectoryRefreshMinutes} minutes)"}
    assert TEMPLATE["Parameters"]["DirectoryRefreshMinutes"]["MinValue"] >= 2, "rate(1 minutes) is no expression"
    assert refresher["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    # A name of the stack's own (its id's UUID), or a second stack in the region would clash.
    assert schedule["Properties"]["Name"] == {
        "Fn::Join": ["-", [{"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}, "refresher"]]
    }
    (policy,) = refresher["Policies"]
    listing, write = policy["Statement"]
    assert listing["Action"] == "apigateway:GET"
    assert [r["Fn::Sub"] for r in listing["Resource"]] == [
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans",
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys",
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys",
    ]
    assert (write["Action"], write["Resource"]) == (
        "s3:PutObject",
        {"Fn::Sub": "${LogBucket.Arn}/" + environment["DIRECTORY_SNAPSHOT_KEY"]},
    )


def test_the_snapshots_old_versions_expire_after_a_day_and_the_current_one_never():
    rules = RESOURCES["LogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [rule for rule in rules if rule.get("Prefix") == "directory/"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert "ExpirationInDays" not in rule, "the refresher overwrites it; expiring it would only force listings"


def test_the_processor_buffer_is_the_one_the_benchmark_measures_against():
    from apigw_logs.demo import PROCESSOR_BUFFER_BYTES  # noqa: PLC0415 - the demo's batches (and the bench's)

    (processor,) = STREAM["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]["Processors"]
    buffer = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}["BufferSizeInMBs"]
    assert float(buffer) == PROCESSOR_BUFFER_BYTES / 1_000_000
    assert 0.2 <= float(buffer) <= 3, "Firehose's range"


def test_outputs_are_the_contract_with_users():
    assert {"DeliveryStreamArn", "LogBucketName", "AccessLogFormat"} <= set(TEMPLATE["Outputs"])
    assert TEMPLATE["Outputs"]["DeliveryStreamArn"]["Value"] == {"Fn::GetAtt": ["DeliveryStream", "Arn"]}
    # `apigw-logs subscribe` reads these two; the alarms' topic and the dashboard for operators.
    assert TEMPLATE["Outputs"]["SubscriptionRoleArn"]["Value"] == {"Fn::GetAtt": ["SubscriptionRole", "Arn"]}
    assert TEMPLATE["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert TEMPLATE["Outputs"]["DashboardName"]["Value"] == {"Ref": "Dashboard"}


def test_cloudwatch_logs_of_this_account_and_region_may_only_put_records_into_the_stream():
    role = RESOURCES["SubscriptionRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "logs.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringLike": {
                "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"}
            }
        },
    }
    (policy,) = role["Policies"]
    # What "Subscription filters with Amazon Data Firehose" (CloudWatch Logs User Guide) grants:
    # firehose:PutRecord, on the one stream.
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "PutRecordIntoOwnStream",
            "Effect": "Allow",
            "Action": "firehose:PutRecord",
            "Resource": {"Fn::GetAtt": ["DeliveryStream", "Arn"]},
        }
    ]
    assert set(role) == {"Description", "AssumeRolePolicyDocument", "Policies"}, "no managed policy, no name"


def test_the_stream_arn_is_exported_for_stages_defined_in_other_templates():
    # docs/onboarding.md imports it as !ImportValue <stack name>-DeliveryStreamArn
    assert TEMPLATE["Outputs"]["DeliveryStreamArn"]["Export"] == {
        "Name": {"Fn::Sub": "${AWS::StackName}-DeliveryStreamArn"}
    }


def test_the_recommended_access_log_format_is_one_line_of_json_that_logs_the_key_id_not_the_key():
    assert "\n" not in ACCESS_LOG_FORMAT
    for variable in ("$context.requestId", "$context.apiId", "$context.stage", "$context.identity.apiKeyId"):
        assert f'"{variable}"' in ACCESS_LOG_FORMAT, variable
    assert not re.search(r"\$context\.identity\.apiKey(?!Id)", ACCESS_LOG_FORMAT), "never the raw key"
    filled = re.sub(r"\$context\.error\.messageString", '"-"', ACCESS_LOG_FORMAT)
    filled = re.sub(r"\$context\.[A-Za-z.]+", "x", filled)
    assert isinstance(json.loads(filled), dict)


def test_the_readme_shows_the_same_format_the_stack_outputs():
    assert ACCESS_LOG_FORMAT in (ROOT / "README.md").read_text(encoding="utf-8")


def test_samconfig():
    text = (ROOT / "samconfig.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["resolve_s3"] is True
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert config["default"]["global"]["parameters"]["stack_name"]
    assert config["default"]["validate"]["parameters"]["lint"] is True
    assert "s3_bucket" not in deploy and "region" not in deploy
    assert not re.search(r"\b\d{12}\b", text), "no account id"


@pytest.mark.parametrize("doc", ["docs/configuration.md", "README.md"])
def test_every_parameter_has_a_row_in_the_configuration_tables_with_its_default(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    for name, parameter in TEMPLATE["Parameters"].items():
        default = str(parameter.get("Default", ""))
        shown = {"": "(empty)", ACCESS_LOG_FORMAT: "the recommended format"}.get(default, f"`{default}`")
        assert f"| `{name}` | {shown} |" in text, f"{doc}: {name}"
