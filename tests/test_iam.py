"""No IAM wildcard without a written reason: `"Resource": "*"` or an Action with `*` in it.

Each one must be listed, by its statement's Sid (or the managed policy's name), under the
owning resource's `Metadata: IamWildcards:` with the reason. The template is checked as
written, and as SAM transforms it, which is where SAM's own managed policies appear.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from tests.support.events import ROOT

TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
MIN_REASON = 30  # characters: a reason, not a placeholder


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy statement a resource carries: policy documents, trust policies, inline policies."""
    props = resource.get("Properties", {})
    documents = [props.get("PolicyDocument"), props.get("AssumeRolePolicyDocument")]
    for policy in as_list(props.get("Policies", [])):
        if isinstance(policy, dict):
            documents += [policy.get("PolicyDocument"), policy]  # CloudFormation, or SAM's inline form
    return [s for doc in documents if isinstance(doc, dict) for s in as_list(doc.get("Statement", []))]


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
    assert [wildcards(s) for s in statements(bucket_policy)] == [["Action"]], "the one wildcard, explained"


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


@pytest.mark.slow
def test_the_template_as_sam_transforms_it_has_no_unexplained_wildcard():
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
template["Resources"]["EnrichFunction"]["Properties"]["CodeUri"] = "s3://bucket/code.zip"
print(json.dumps(transform(template, {}, NoLookups())))
"""
    result = subprocess.run(
        [str(Path(sam_cli).parent / "python"), "-c", transform, str(ROOT / "template.yaml")],
        capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    transformed = json.loads(result.stdout)
    role = transformed["Resources"]["EnrichFunctionRole"]["Properties"]
    assert len(role["ManagedPolicyArns"]) == 2, "SAM's basic execution and X-Ray policies"
    assert unexplained(transformed, {"EnrichFunctionRole": "EnrichFunction"}) == []
