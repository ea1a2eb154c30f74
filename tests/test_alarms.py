"""The alarms, their topic and the dashboard watch metrics that exist, under the names,
namespaces and dimensions they are published with.

Two inventories say what exists. The function's own metrics are what the real handler emits
(EMF, captured from its output) over batches chosen to produce each one: good records on every
plan with 2xx, 4xx and 5xx statuses, unreadable ones, a conflicting identity, a usage-plan load
that fails, and a response too large to return. Firehose's and Lambda's are a table of what AWS
documents. Every alarm and every graph of the dashboard is checked against them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
from typing import Any
from unittest import mock

import pytest
from cfnlint.decode import cfn_yaml

from apigw_enrichment import handler as app
from apigw_enrichment import state
from apigw_enrichment.enrichment.usage_plans import DirectoryLoadError, FailureKind, UsagePlanCache
from apigw_enrichment.fields import EnrichmentStatus
from apigw_logs.lambda_context import LocalContext
from tests.support import account
from tests.support.events import ROOT, firehose_event
from tests.support.fake_firehose import FakeFirehose
from tests.support.logs import all_emf_metrics, plan_metrics
from tests.support.template import resolved

TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
GLOBALS = TEMPLATE["Globals"]["Function"]
NAMESPACE = GLOBALS["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = GLOBALS["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
ALARMS = {name: resource for name, resource in RESOURCES.items() if resource["Type"] == "AWS::CloudWatch::Alarm"}
PROCESSOR = {
    p["ParameterName"]: p["ParameterValue"]
    for p in RESOURCES["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"][
        "Processors"
    ][0]["Parameters"]
}
S3_BUFFER = RESOURCES["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]["BufferingHints"]

# A metric as CloudWatch knows it: namespace, name, and the names of its dimensions.
Metric = tuple[str, str, frozenset[str]]

STREAM_DIMENSION = frozenset({"DeliveryStreamName"})
FUNCTION_DIMENSION = frozenset({"FunctionName"})
# What AWS documents, and only what this stack uses:
# - Amazon Data Firehose Developer Guide, "Monitoring Amazon Data Firehose using CloudWatch
#   metrics" (https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html):
#   data ingestion, data delivery to S3 and data transformation metrics, in AWS/Firehose, by
#   DeliveryStreamName.
# - AWS Lambda Developer Guide, "Types of metrics for Lambda functions"
#   (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): invocation and
#   performance metrics in AWS/Lambda, by FunctionName.
AWS_DOCUMENTED: frozenset[Metric] = frozenset(
    {
        ("AWS/Firehose", "IncomingRecords", STREAM_DIMENSION),
        ("AWS/Firehose", "DeliveryToS3.Records", STREAM_DIMENSION),
        ("AWS/Firehose", "DeliveryToS3.Success", STREAM_DIMENSION),
        ("AWS/Firehose", "DeliveryToS3.DataFreshness", STREAM_DIMENSION),
        ("AWS/Firehose", "ExecuteProcessing.Success", STREAM_DIMENSION),
        ("AWS/Firehose", "ExecuteProcessing.Duration", STREAM_DIMENSION),
        ("AWS/Lambda", "Invocations", FUNCTION_DIMENSION),
        ("AWS/Lambda", "Errors", FUNCTION_DIMENSION),
        ("AWS/Lambda", "Throttles", FUNCTION_DIMENSION),
        ("AWS/Lambda", "Duration", FUNCTION_DIMENSION),
    }
)
PER_PLAN = frozenset({"service", "UsagePlan"})

# --- what the function emits ---

KNOWN_API, KNOWN_STAGE = "a1b2c3d4e5", "prod"
GOLD_KEY, FREE_KEY = "k7x2m9p4q1", "k3n8v5b2z6"  # the demo account's Acme (Gold) and Globex (Free)


def line(key: str, status: str = "200", **extra: str) -> bytes:
    return json.dumps({"api_id": KNOWN_API, "stage": KNOWN_STAGE, "key_id": key, "status": status, **extra}).encode()


def mixed_batch() -> dict[str, Any]:
    """Every status but lookup_unavailable, 2xx, 4xx and 5xx on two plans and on none, and
    records that cannot be read."""
    event = firehose_event(
        [
            line(GOLD_KEY, "200"),
            line(GOLD_KEY, "404"),
            line(GOLD_KEY, "503"),
            line(FREE_KEY, "502"),
            line("kUnknown000", "200"),  # unknown_api_key
            line("-", "500"),  # no_api_key, on no plan
            line(GOLD_KEY, "200", apiKeyId=FREE_KEY),  # two key ids: conflicting_identity
            b"{not json",
            b"[1, 2]",
        ]
    )
    event["records"].append({"recordId": "not-base64", "data": "%%%"})
    return event


def oversized_batch() -> dict[str, Any]:
    """14,000 short records (2 MB): enriched and base64-encoded, their answer is over Lambda's
    6 MB response limit, so some are re-ingested and answered Dropped."""
    lines = [line(GOLD_KEY, request_id=f"req-{n:08d}", path="/orders", method="GET") for n in range(14_000)]
    return firehose_event(lines)


def failing_load(_deadline: object) -> Any:
    """What the function's listing raises once botocore has given up on a throttled control
    plane (tests/test_faults.py drives the real client into it)."""
    raise DirectoryLoadError(FailureKind.THROTTLED, "TooManyRequestsException: Too Many Requests", calls=3)


def run(event: dict[str, Any]) -> str:
    """The handler's output (EMF included) for one invocation."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        app.lambda_handler(event, LocalContext())
    return out.getvalue()


@functools.cache
def emitted_output() -> dict[str, str]:
    """What the real handler writes (its EMF metrics among it) for each batch, each from a cold start."""
    output = {}
    firehose = FakeFirehose()  # accepts every re-ingested record
    try:
        with account.demo_account():
            state.reset()
            output["mixed"] = run(mixed_batch())
            state.reset()
            with mock.patch.object(state, "firehose_client", return_value=firehose.client()):
                output["oversized"] = run(oversized_batch())
        state.reset()
        state.use_cache(UsagePlanCache(failing_load, ttl_seconds=900, miss_refresh_seconds=60))
        output["failed load"] = run(firehose_event([line(GOLD_KEY)]))
    finally:
        state.reset()
    assert firehose.accepted, "the oversized batch was re-ingested"
    return output


def emitted_documents() -> list[dict[str, Any]]:
    return [document for text in emitted_output().values() for document in all_emf_metrics(text)]


def emitted() -> frozenset[Metric]:
    """Each metric the function emitted, as CloudWatch files it: namespace, name, dimension names."""
    found = set()
    for document in emitted_documents():
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], frozenset(dimensions)))
    return frozenset(found)


def exists(metric: Metric) -> bool:
    return metric in AWS_DOCUMENTED or metric in emitted()


# --- what the alarms watch ---

INSIGHTS_QUERY = re.compile(
    r'SELECT SUM\((?P<metric>\w+)\) FROM SCHEMA\("(?P<namespace>[\w/]+)", (?P<dimensions>[\w, ]+)\) '
    r"WHERE service = '(?P<service>[\w-]+)' GROUP BY (?P<group>\w+) ORDER BY SUM\(\) DESC"
)


def watched(alarm: dict[str, Any]) -> tuple[Metric, dict[str, Any]]:
    """The metric an alarm watches, and the dimension values it asks for."""
    props = alarm["Properties"]
    if "Metrics" in props:
        (query,) = props["Metrics"]
        match = INSIGHTS_QUERY.fullmatch(query["Expression"])
        assert match, query["Expression"]
        dimensions = frozenset(d.strip() for d in match["dimensions"].split(","))
        return (match["namespace"], match["metric"], dimensions), {"service": match["service"]}
    values = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    return (props["Namespace"], props["MetricName"], frozenset(values)), values


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_each_alarm_watches_a_metric_that_is_published_with_those_dimensions(name):
    metric, values = watched(ALARMS[name])
    assert exists(metric), f"{name} watches {metric}, which nothing publishes"
    namespace = metric[0]
    if namespace == "AWS/Firehose":
        assert values == {"DeliveryStreamName": {"Ref": "DeliveryStream"}}
    elif namespace == "AWS/Lambda":
        assert values in (
            {"FunctionName": {"Ref": "EnrichFunction"}},
            {"FunctionName": {"Ref": "DirectoryRefresherFunction"}},
        )
    else:
        assert namespace == NAMESPACE, "POWERTOOLS_METRICS_NAMESPACE"
        assert values == {"service": SERVICE}, "POWERTOOLS_SERVICE_NAME"


def test_the_alarms_are_the_ones_docs_operations_describes():
    assert {watched(alarm)[0][1] for alarm in ALARMS.values()} == {
        "DeliveryToS3.Success", "DeliveryToS3.DataFreshness", "ExecuteProcessing.Success", "Errors", "Throttles",
        "Duration", "RecordsProcessingFailed", "CacheLoadFailures", "Status_lookup_unavailable", "ServerErrors",
    }  # fmt: skip
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Alarms") :]
    for alarm in ALARMS.values():
        name = alarm["Properties"]["AlarmName"]["Fn::Sub"].removeprefix("${AWS::StackName}")
        assert f"`<stack>{name}`" in section, name


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_each_alarm_notifies_the_topic_of_alarm_and_recovery_and_says_what_to_do(name):
    alarm = ALARMS[name]
    props = alarm["Properties"]
    assert alarm["Condition"] == "CreatesAlarms"
    assert props["ActionsEnabled"] is True
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlarmTopic"}]
    description = props["AlarmDescription"]
    description = description if isinstance(description, str) else description["Fn::Sub"]
    assert description.endswith("docs/operations.md#alarms")
    assert 100 <= len(description) <= 1024, "what happened and what to do, within CloudWatch's limit"
    assert props["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")
    periods = [q["Period"] for q in props.get("Metrics", [])] or [props["Period"]]
    assert all(period % 60 == 0 for period in periods), "standard resolution: whole minutes"
    assert props.get("DatapointsToAlarm", props["EvaluationPeriods"]) <= props["EvaluationPeriods"]


def test_the_duration_alarm_fires_at_80_percent_of_the_functions_timeout():
    props = ALARMS["FunctionNearTimeoutAlarm"]["Properties"]
    assert (props["Statistic"], props["ComparisonOperator"]) == ("Maximum", "GreaterThanThreshold")
    assert props["Threshold"] == 0.8 * GLOBALS["Timeout"] * 1000 == 48_000


def test_the_freshness_bound_is_above_the_slowest_healthy_delivery():
    # Processor buffer, then every try of the function (the first and its retries), then the
    # S3 buffer: the longest a record waits while nothing is broken.
    slowest = (
        int(PROCESSOR["BufferIntervalInSeconds"])
        + (1 + int(PROCESSOR["NumberOfRetries"])) * GLOBALS["Timeout"]
        + S3_BUFFER["IntervalInSeconds"]
    )
    props = ALARMS["DeliveryStaleAlarm"]["Properties"]
    assert slowest == 600
    assert props["Threshold"] == 1.5 * slowest
    assert (props["Statistic"], props["ComparisonOperator"]) == ("Maximum", "GreaterThanThreshold")


def test_each_alarms_threshold_period_and_missing_data_are_the_ones_argued_in_the_template():
    def evaluation(props: dict[str, Any]) -> tuple[Any, ...]:
        period = props["Metrics"][0]["Period"] if "Metrics" in props else props["Period"]
        return (
            props.get("Statistic"), props["ComparisonOperator"], props["Threshold"], period,
            props.get("DatapointsToAlarm", props["EvaluationPeriods"]), props["EvaluationPeriods"],
            props["TreatMissingData"],
        )  # fmt: skip

    per_minute = {"Ref": "PlanServerErrorsPerMinute"}
    assert {name: evaluation(alarm["Properties"]) for name, alarm in ALARMS.items()} == {
        # statistic, comparison, threshold, period (s), M out of N periods, missing data
        "DeliveryFailingAlarm": ("Average", "LessThanThreshold", 1, 300, 2, 2, "notBreaching"),
        "DeliveryStaleAlarm": ("Maximum", "GreaterThanThreshold", 900, 300, 1, 1, "notBreaching"),
        "ProcessingFailingAlarm": ("Average", "LessThanThreshold", 1, 300, 2, 2, "notBreaching"),
        "FunctionErrorsAlarm": ("Sum", "GreaterThanOrEqualToThreshold", 1, 60, 1, 1, "notBreaching"),
        "FunctionThrottlesAlarm": ("Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1, 1, "notBreaching"),
        "FunctionNearTimeoutAlarm": ("Maximum", "GreaterThanThreshold", 48000, 300, 1, 1, "notBreaching"),
        "RecordsFailedAlarm": ("Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1, 1, "notBreaching"),
        "CacheLoadFailuresAlarm": ("Sum", "GreaterThanOrEqualToThreshold", 1, 300, 2, 3, "notBreaching"),
        "LookupUnavailableAlarm": ("Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1, 1, "notBreaching"),
        "RefresherErrorsAlarm": ("Sum", "GreaterThanOrEqualToThreshold", 2, 900, 1, 1, "notBreaching"),
        "PlanServerErrorsAlarm": (None, "GreaterThanThreshold", per_minute, 60, 1, 1, "notBreaching"),
    }


def test_one_metrics_insights_alarm_watches_every_plans_5xx_per_minute():
    props = ALARMS["PlanServerErrorsAlarm"]["Properties"]
    (query,) = props["Metrics"]
    assert (query["Id"], query["Period"], query["ReturnData"]) == ("plans", 60, True)
    match = INSIGHTS_QUERY.fullmatch(query["Expression"])
    assert match and match["group"] == "UsagePlan"
    assert "LIMIT" not in query["Expression"], "each plan its own contributor, not the busiest over the window"
    assert not {"Namespace", "MetricName", "Dimensions", "Period", "Statistic"} & set(props), "the query says it all"
    assert props["EvaluationPeriods"] == 1
    parameter = PARAMETERS["PlanServerErrorsPerMinute"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 5, 1)


# --- the function's metrics: the inventory itself ---


def test_the_function_emits_every_metric_the_alarms_and_the_dashboard_need():
    names = {name for namespace, name, _ in emitted() if namespace == NAMESPACE}
    statuses = {f"Status_{status}" for status in EnrichmentStatus}
    assert {
        "RecordsOk", "RecordsDropped", "RecordsProcessingFailed", "CacheLoads", "CacheLoadFailures",
        "CacheLoadDuration", "CacheLoadCalls", *statuses,
    } <= names  # fmt: skip


def test_every_metric_of_the_function_carries_the_service_dimension_and_nothing_per_customer():
    for document in emitted_documents():
        assert document["service"] == SERVICE
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            assert directive["Dimensions"] in ([["service"]], [["UsagePlan", "service"]]), directive


def test_the_function_emits_requests_and_errors_per_usage_plan_and_for_no_plan():
    for name in ("Requests", "ClientErrors", "ServerErrors"):
        assert (NAMESPACE, name, PER_PLAN) in emitted(), name
    # Gold: 200, 404, 503. Free: 502. No plan: the unknown key's 200, the keyless 500, and the
    # line naming two keys (attributed to no one). Unreadable records are on no count.
    assert plan_metrics(emitted_output()["mixed"]) == {
        "pl0gold001": {"Requests": 3, "ClientErrors": 1, "ServerErrors": 1},
        "pl0free002": {"Requests": 1, "ClientErrors": 0, "ServerErrors": 1},
        "(none)": {"Requests": 3, "ClientErrors": 0, "ServerErrors": 1},
    }


# --- the topic ---


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use():
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}, "not alias/aws/sns: alarms could not publish"
    key = RESOURCES["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    assert grants["CloudWatchAlarmsPublish"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert grants["CloudWatchAlarmsPublish"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert grants["EnableIamPolicies"]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }, "the account keeps control of its key"
    assert not [r for r in RESOURCES.values() if r["Type"] == "AWS::SNS::TopicPolicy"], "SNS's default policy stays"


def test_an_email_address_is_subscribed_only_when_given():
    address = "ops@example.com"
    (subscription,) = [
        r for r in resolved(TEMPLATE, AlarmEmail=address).values() if r["Type"] == "AWS::SNS::Subscription"
    ]
    assert subscription["Properties"] == {"TopicArn": "<AlarmTopic>", "Protocol": "email", "Endpoint": address}
    assert not [r for r in resolved(TEMPLATE).values() if r["Type"] == "AWS::SNS::Subscription"]
    pattern = re.compile(PARAMETERS["AlarmEmail"]["AllowedPattern"])
    for good in ("", address, "first.last+alarms@mail.example.co.uk"):
        assert pattern.fullmatch(good), good
    for bad in ("ops", "ops@", "@example.com", "ops@example", "a@b.c,d@e.f", "ops @example.com"):
        assert not pattern.fullmatch(bad), bad


def test_with_alarms_disabled_no_alarm_is_created_but_the_topic_and_the_dashboard_are():
    assert PARAMETERS["AlarmsEnabled"]["AllowedValues"] == ["true", "false"]
    assert PARAMETERS["AlarmsEnabled"]["Default"] == "true"
    enabled = resolved(TEMPLATE)
    disabled = resolved(TEMPLATE, AlarmsEnabled="false")
    assert set(enabled) - set(disabled) == set(ALARMS)
    assert {"AlarmTopic", "AlarmTopicKey", "Dashboard"} <= set(disabled)


# --- the dashboard ---

BODY = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
SEARCH = re.compile(
    r"SEARCH\('\{(?P<namespace>\w+),(?P<dimensions>[\w,]+)\} MetricName=\"(?P<metric>\w+)\" "
    r"service=\"(?P<service>[\w-]+)\"', 'Sum', (?P<period>\d+)\)"
)


def dashboard() -> dict[str, Any]:
    """The body as CloudWatch gets it, !Sub's references filled in with placeholders."""
    references = set(re.findall(r"\$\{([^}]+)\}", BODY))
    assert references == {"AWS::Region", "StreamName", "EnrichFunction", "DeliveryStream", "PlanServerErrorsPerMinute"}
    body = BODY.replace("${PlanServerErrorsPerMinute}", str(PARAMETERS["PlanServerErrorsPerMinute"]["Default"]))
    return json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", body))


def graphed() -> list[tuple[Metric, dict[str, str]]]:
    """Each metric the dashboard draws, with the dimension values it names."""
    found = []
    for widget in dashboard()["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):  # an expression
                match = SEARCH.fullmatch(row[0]["expression"])
                assert match, row[0]["expression"]
                dimensions = frozenset(match["dimensions"].split(","))
                found.append(((match["namespace"], match["metric"], dimensions), {"service": match["service"]}))
                continue
            namespace, name, *rest = [cell for cell in row if not isinstance(cell, dict)]
            values = dict(zip(rest[::2], rest[1::2], strict=True))
            found.append(((namespace, name, frozenset(values)), values))
    return found


@pytest.mark.parametrize(("metric", "values"), graphed(), ids=[metric[1] for metric, _ in graphed()])
def test_each_metric_the_dashboard_draws_is_published_with_those_dimensions(metric, values):
    assert exists(metric), f"the dashboard draws {metric}, which nothing publishes"
    expected = {
        "AWS/Firehose": {"DeliveryStreamName": "<DeliveryStream>"},
        "AWS/Lambda": {"FunctionName": "<EnrichFunction>"},
    }.get(metric[0], {"service": SERVICE})
    assert values == expected


def test_the_dashboard_shows_the_pipeline_records_plans_and_cache():
    drawn = {name for (_, name, _), _ in graphed()}
    assert drawn == {
        "IncomingRecords", "DeliveryToS3.Records", "DeliveryToS3.Success", "DeliveryToS3.DataFreshness",
        "ExecuteProcessing.Success", "ExecuteProcessing.Duration",
        "Invocations", "Errors", "Throttles", "Duration",
        "RecordsOk", "RecordsDropped", "RecordsProcessingFailed",
        *(f"Status_{status}" for status in EnrichmentStatus),
        "Requests", "ClientErrors", "ServerErrors",
        "CacheLoads", "CacheLoadFailures", "CacheLoadDuration", "CacheLoadCalls",
    }  # fmt: skip


def test_the_dashboards_lines_are_the_alarms_thresholds_and_it_is_named_per_region():
    lines = {
        widget["properties"]["title"]: widget["properties"]["annotations"]["horizontal"][0]["value"]
        for widget in dashboard()["widgets"]
        if "annotations" in widget.get("properties", {})
    }
    assert sorted(lines.values()) == sorted(
        [
            ALARMS["DeliveryStaleAlarm"]["Properties"]["Threshold"],
            ALARMS["FunctionNearTimeoutAlarm"]["Properties"]["Threshold"],
            PARAMETERS["PlanServerErrorsPerMinute"]["Default"],
        ]
    )
    # Dashboards are global to an account: two stacks of one name in two Regions must not clash.
    assert RESOURCES["Dashboard"]["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
    for widget in dashboard()["widgets"]:
        assert widget["x"] + widget["width"] <= 24


def test_the_per_plan_graphs_search_the_per_plan_metrics_and_5xx_at_the_alarms_period():
    assert {name for (_, name, dimensions), _ in graphed() if dimensions == PER_PLAN} == {
        "Requests", "ClientErrors", "ServerErrors",
    }  # fmt: skip
    (widget,) = [w for w in dashboard()["widgets"] if w["type"] == "metric" and "ServerErrors" in json.dumps(w)]
    period = ALARMS["PlanServerErrorsAlarm"]["Properties"]["Metrics"][0]["Period"]
    assert widget["properties"]["period"] == period
    assert SEARCH.search(widget["properties"]["metrics"][0][0]["expression"])["period"] == str(period)
