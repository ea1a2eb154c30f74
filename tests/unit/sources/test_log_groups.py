"""Which stage writes to a log group: from the stages' destinationArn, listed once and kept."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from apigw_enrichment.sources.log_groups import LogGroupStages, log_group_name, stages_by_log_group
from tests.support.clock import FakeClock


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigw/orders", "/aws/apigw/orders"),
        ("arn:aws:logs:us-east-1:123456789012:log-group:API-Gateway-Access:*", "API-Gateway-Access"),
        ("arn:aws-cn:logs:cn-north-1:123456789012:log-group:a:b", "a:b"),
        ("arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-x", None),
        ("arn:aws:logs:us-east-1:123456789012:log-group:", None),
        (None, None),
        ("log-group:x", None),
    ],
)
def test_log_group_name_reads_only_cloudwatch_logs_destinations(arn, name):
    assert log_group_name(arn) == name


def test_a_group_two_stages_share_names_no_stage():
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:"
    found = stages_by_log_group(
        [("api1", "prod", arn + "shared"), ("api2", "prod", arn + "shared"), ("api1", "beta", arn + "beta:*")]
    )
    assert found == {"beta": ("api1", "beta")}


def test_listed_once_kept_for_the_ttl_and_a_failure_waits_for_the_retry_gap():
    clock = FakeClock()
    answers = [ClientError({"Error": {"Code": "TooManyRequestsException"}}, "GetRestApis"), {"g": ("a", "s")}]
    calls = []

    def fetch(_deadline):
        calls.append(clock())
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    stages = LogGroupStages(fetch, ttl_seconds=900, retry_seconds=60, budget_seconds=10, clock=clock)
    assert stages.stage_for("g") is None  # the listing failed: lines stay as they are
    clock.advance(30)
    assert stages.stage_for("g") is None and len(calls) == 1  # not tried again within the gap
    clock.advance(31)
    assert stages.stage_for("g") == ("a", "s") and len(calls) == 2
    clock.advance(800)
    assert stages.stage_for("g") == ("a", "s") and len(calls) == 2
