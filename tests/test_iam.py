"""No IAM wildcard without a written reason: `"Resource": "*"` or an Action with `*` in it.

Each one must be listed, by its statement's Sid (or the managed policy's name), under the
owning resource's `Metadata: IamWildcards:` with the reason. The template is checked as
written, and as SAM transforms it, which is where SAM's own managed policies appear. A
statement that exists only under a condition (`!If`) is checked too.

The reader-account grant on the log bucket is checked here as well, with ReaderAccountIds set
and empty: the template is resolved as CloudFormation would deploy it (`resolved`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from tests.support.events import ROOT
from tests.support.template import resolved

TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
MIN_REASON = 30  # characters: a reason, not a placeholder


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def branches(value: Any) -> list[Any]:
    """Each value an `Fn::If` can take (nested ones too), but AWS::NoValue; any other value as is."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, when_true, when_false = value["Fn::If"]
        return branches(when_true) + branches(when_false)
    if value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy statement a resource carries: policy documents, trust policies, inline
    policies, key policies; a conditional statement (`!If`) in each form it can take."""
    props = resource.get("Properties", {})
    documents = [props.get("PolicyDocument"), props.get("AssumeRolePolicyDocument"), props.get("KeyPolicy")]
    for policy in as_list(props.get("Policies", [])):
        if isinstance(policy, dict):
            documents += [policy.get("PolicyDocument"), policy]  # CloudFormation, or SAM's inline form
    return [
        branch
        for doc in documents
        if isinstance(doc, dict)
        for s in as_list(doc.get("Statement", []))
        for branch in branches(s)
    ]


def wildcards(statement: dict[str, Any]) -> list[str]:
    found = []
    if any(r == "*" for r in as_list(statement.get("Resource", []))) or "NotResource" in statement:
        found.append("Resource")
    actions = as_list(statement.get("Action", [])) + as_list(statement.get("NotAction", []))
    if any(isinstance(a, str) and "*" in a for a in actions) or "NotAction" in statement:
        found.append("Action")
    return found


def unexplained(template: dict[str, Any], sources: dict[str, str] | None = None) -> list[str]:
    """Wildcards with no reason. `sources` maps a generated resource to the one it came from."""
    problems = []
    resources = template["Resources"]
    for name, resource in resources.items():
        owner = (sources or {}).get(name, name)
        reasons = (resources.get(owner) or TEMPLATE["Resources"].get(owner, {})).get("Metadata", {})
        reasons = reasons.get("IamWildcards", {})
        for statement in statements(resource):
            kinds = wildcards(statement)
            if kinds and len(str(reasons.get(statement.get("Sid"), ""))) < MIN_REASON:
                problems.append(f"{name}: statement {statement.get('Sid')!r} uses a wildcard {kinds} with no reason")
        for arn in as_list(resource.get("Properties", {}).get("ManagedPolicyArns", [])):
            policy = str(arn).rsplit("/", 1)[-1]
            if len(str(reasons.get(policy, ""))) < MIN_REASON:
                problems.append(f"{name}: managed policy {policy} grants on * with no reason under {owner}")
    return problems


def test_the_template_as_written_has_no_unexplained_wildcard():
    assert unexplained(TEMPLATE) == []
    bucket_policy = TEMPLATE["Resources"]["LogBucketPolicy"]
    # The reader grant is there only with ReaderAccountIds set; the check sees it anyway, and
    # another account's principal on logs/ is no wildcard: only the deny of s3:* is one.
    assert {s["Sid"]: wildcards(s) for s in statements(bucket_policy)} == {
        "DenyInsecureTransport": ["Action"],
        "ReaderAccountsGetLogs": [],
        "ReaderAccountsListLogs": [],
    }
    key_policy = TEMPLATE["Resources"]["AlarmTopicKey"]
    assert {s["Sid"]: wildcards(s) for s in statements(key_policy)} == {
        "EnableIamPolicies": ["Resource", "Action"],
        "CloudWatchAlarmsPublish": ["Resource", "Action"],
    }, "a key policy's Resource is always *, and each is explained"


@pytest.mark.parametrize(
    "statement",
    [
        {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Sid": "B", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "C", "Effect": "Allow", "Action": ["logs:PutLogEvents", "*"], "Resource": ["arn:x", "*"]},
        {"Sid": "D", "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b"},
        {"Effect": "Allow", "NotAction": "iam:PassRole", "Resource": "arn:x"},
    ],
)
def test_the_check_catches_a_wildcard_added_without_a_reason(statement):
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [{"Statement": [statement]}]}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"PolicyDocument": {"Statement": [statement]}}]},
            },
        }
    }
    assert len(unexplained(template)) == 2
    template["Resources"]["Fn"]["Metadata"] = {"IamWildcards": {statement.get("Sid"): "short"}}
    assert len(unexplained(template)) == 2, "a placeholder is not a reason"


@functools.cache
def sam_transformed() -> dict[str, Any]:
    """The template as SAM's translator (the SAM CLI's own) turns it into CloudFormation."""
    sam_cli = os.environ.get("SAM_CLI")
    if not sam_cli:
        pytest.skip("SAM_CLI is not set: run `make test`, which installs the SAM CLI (and its translator)")
    transform = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
class NoLookups:
    def load(self): return {}
template = yaml_parse(open(sys.argv[1]).read())
for function in ("EnrichFunction", "DirectoryRefresherFunction"):
    template["Resources"][function]["Properties"]["CodeUri"] = "s3://bucket/code.zip"
print(json.dumps(transform(template, {}, NoLookups())))
"""
    result = subprocess.run(
        [str(Path(sam_cli).parent / "python"), "-c", transform, str(ROOT / "template.yaml")],
        capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_the_template_as_sam_transforms_it_has_no_unexplained_wildcard():
    transformed = sam_transformed()
    for function in ("EnrichFunction", "DirectoryRefresherFunction"):
        role = transformed["Resources"][f"{function}Role"]["Properties"]
        assert len(role["ManagedPolicyArns"]) == 2, "SAM's basic execution and X-Ray policies"
    # The refresher's schedule (ScheduleV2) gets a role of its own from SAM: lambda:InvokeFunction
    # on the refresher alone, which the wildcard check reads like any other.
    owners = {"EnrichFunctionRole": "EnrichFunction", "DirectoryRefresherFunctionRole": "DirectoryRefresherFunction"}
    assert unexplained(transformed, owners) == []


def string_like(pattern: str, value: str) -> bool:
    """IAM's StringLike: `*` is any run of characters, `?` any one, the rest literal."""
    regex = "".join({"*": ".*", "?": "."}.get(char, re.escape(char)) for char in pattern)
    return re.fullmatch(regex, value) is not None


READERS = ("111122223333", "444455556666")
DENY_INSECURE_TRANSPORT = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["<LogBucket.Arn>", "<LogBucket.Arn>/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
READER_GRANT = [
    {
        "Sid": "ReaderAccountsGetLogs",
        "Effect": "Allow",
        "Principal": {"AWS": list(READERS)},
        "Action": "s3:GetObject",
        "Resource": "<LogBucket.Arn>/logs/*",
    },
    {
        "Sid": "ReaderAccountsListLogs",
        "Effect": "Allow",
        "Principal": {"AWS": list(READERS)},
        "Action": "s3:ListBucket",
        "Resource": "<LogBucket.Arn>",
        "Condition": {"StringLike": {"s3:prefix": ["logs/", "logs/*"]}},
    },
]
AS_WRITTEN_AND_AS_SAM_TRANSFORMS_IT = [
    pytest.param(lambda: TEMPLATE, id="as written"),
    pytest.param(sam_transformed, id="as SAM transforms it", marks=pytest.mark.slow),
]


def bucket_statements(template: dict[str, Any], **parameters: str) -> list[dict[str, Any]]:
    return resolved(template, **parameters)["LogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("template", AS_WRITTEN_AND_AS_SAM_TRANSFORMS_IT)
def test_reader_accounts_may_get_objects_under_logs_and_list_logs_and_nothing_else(template):
    statements_ = bucket_statements(template(), ReaderAccountIds=",".join(READERS))
    assert statements_ == [DENY_INSECURE_TRANSPORT, *READER_GRANT]


@pytest.mark.parametrize("template", AS_WRITTEN_AND_AS_SAM_TRANSFORMS_IT)
def test_without_reader_accounts_the_bucket_policy_only_denies_plain_http(template):
    assert bucket_statements(template(), ReaderAccountIds="") == [DENY_INSECURE_TRANSPORT]
    assert bucket_statements(template()) == [DENY_INSECURE_TRANSPORT], "empty is the default"


def test_a_reader_may_list_only_prefixes_under_logs():
    (listing,) = [s for s in bucket_statements(TEMPLATE, ReaderAccountIds=READERS[0]) if "s3:ListBucket" in str(s)]
    patterns = listing["Condition"]["StringLike"]["s3:prefix"]

    def allowed(prefix: str) -> bool:
        return any(string_like(pattern, prefix) for pattern in patterns)

    for prefix in ("logs/", "logs/dt=2025-11-21-09/", "logs/dt=2025-11-21-09/part.json.gz"):
        assert allowed(prefix), prefix
    for prefix in ("", "logs", "log", "errors/", "errors/processing-failed/", "athena-results/", "x/logs/"):
        assert not allowed(prefix), prefix


def test_reader_statements_grant_two_read_actions_to_the_named_accounts_only():
    for statement in bucket_statements(TEMPLATE, ReaderAccountIds=",".join(READERS)):
        if statement["Effect"] != "Allow":
            continue
        assert statement["Principal"] == {"AWS": list(READERS)}, "account ids, which IAM reads as <id>:root"
        assert all(re.fullmatch(r"\d{12}", account) for account in statement["Principal"]["AWS"])
        assert statement["Action"] in ("s3:GetObject", "s3:ListBucket")
        assert wildcards(statement) == []


def test_reader_account_ids_must_be_twelve_digit_ids_separated_by_commas():
    parameter = TEMPLATE["Parameters"]["ReaderAccountIds"]
    assert (parameter["Type"], parameter["Default"]) == ("String", "")
    pattern = re.compile(parameter["AllowedPattern"])
    for good in ("", "111122223333", "111122223333,444455556666", ",".join(["123456789012"] * 5)):
        assert pattern.fullmatch(good), good
    for bad in (
        "1111", "1111222233334", "11112222333a", "111122223333,", ",111122223333", "111122223333, 444455556666",
        " 111122223333", "arn:aws:iam::111122223333:root", "*",
    ):  # fmt: skip
        assert not pattern.fullmatch(bad), bad
