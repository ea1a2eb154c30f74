"""The demo's day of traffic (apigw_logs.traffic): the same every run, and holding what it claims."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import Counter, defaultdict

import pytest

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT, recommended_fields
from apigw_logs import traffic
from apigw_logs.samples import CONTEXT_VALUES, fill_format
from tests.support.account import DEMO

REQUESTS = 20_000
ACME, GLOBEX, UMBRELLA, INITECH = "k7x2m9p4q1", "k3n8v5b2z6", "k5j6h2g8f4", "k9r4t1w7y3"


@pytest.fixture(scope="module")
def day():
    return traffic.generate(REQUESTS)


@pytest.fixture(scope="module")
def requests(day):
    """The lines that parse as JSON objects: the requests."""
    parsed = []
    for line in day.lines:
        try:
            obj = json.loads(line.data)
        except ValueError:
            continue
        if isinstance(obj, dict):
            parsed.append(obj)
    return parsed


def plans_of(key_id, api_id, stage):
    return {
        plan["name"]
        for plan in DEMO["usagePlans"]
        if key_id in plan["keyIds"] and {"apiId": api_id, "stage": stage} in plan["apiStages"]
    }


def test_the_same_day_every_run_and_another_with_another_seed():
    first, again = traffic.generate(500), traffic.generate(500)
    assert first == again
    assert traffic.generate(500, seed=1).lines != first.lines


def test_each_request_is_the_recommended_format_filled_in(day, requests):
    assert len(requests) == day.requests == REQUESTS
    assert len(day.lines) == REQUESTS + traffic.MALFORMED_LINES
    fields = list(recommended_fields())
    assert all(list(obj) == fields for obj in requests)
    assert all(isinstance(value, str) for obj in requests for value in obj.values())


def test_the_template_fills_the_format_as_the_samples_do():
    template = traffic.LineTemplate(RECOMMENDED_ACCESS_LOG_FORMAT)
    assert template.fill(CONTEXT_VALUES) == fill_format(RECOMMENDED_ACCESS_LOG_FORMAT, CONTEXT_VALUES)


def test_request_time_and_its_epoch_agree_and_fall_on_the_day_in_order(day, requests):
    times = [line.time_ms for line in day.lines]
    assert times == sorted(times)
    start = dt.datetime.combine(traffic.DAY, dt.time(), tzinfo=dt.UTC)
    for obj in requests:
        moment = dt.datetime.fromtimestamp(int(obj["request_time_epoch"]) / 1000, tz=dt.UTC)
        assert start <= moment < start + dt.timedelta(days=1)
        assert dt.datetime.strptime(obj["request_time"], "%d/%b/%Y:%H:%M:%S %z") == moment.replace(microsecond=0)
    assert {line.time_ms for line in day.lines} >= {int(obj["request_time_epoch"]) for obj in requests}


def test_callers_on_every_plan_by_their_shares(requests):
    by_key = Counter(obj["key_id"] for obj in requests)
    for caller, count in zip(
        traffic.CALLERS, traffic.apportion(REQUESTS, [c.share for c in traffic.CALLERS]), strict=True
    ):
        assert sum(by_key[key] for key in caller.key_ids) == count, caller.name
    known = {key["id"]: key for key in DEMO["apiKeys"]}
    named = {key for caller in traffic.CALLERS for key in caller.key_ids} - {"-"}
    assert len(named & known.keys()) == len(known), "every key of the demo account calls"
    plans = {plan for obj in requests for plan in plans_of(obj["key_id"], obj["api_id"], obj["stage"])}
    assert plans == {plan["name"] for plan in DEMO["usagePlans"]}
    assert len({known[key]["customerId"] for key in named & known.keys()}) >= 6


def test_calls_with_no_key_and_with_keys_no_plan_holds(requests):
    no_key = [obj for obj in requests if obj["key_id"] == "-"]
    assert len(no_key) / REQUESTS == pytest.approx(0.09, abs=0.001)
    assert Counter(obj["status"] for obj in no_key if obj["resource_path"] != "/health") == {
        "403": pytest.approx(540, abs=150)
    }
    unplanned = [
        obj for obj in requests if obj["key_id"] != "-" and not plans_of(obj["key_id"], obj["api_id"], obj["stage"])
    ]
    unknown = {key for key in (obj["key_id"] for obj in unplanned) if key not in {k["id"] for k in DEMO["apiKeys"]}}
    assert unknown == {"zz9unknown", "q8w2e6r4t0", "p0o9i8u7y6"}
    initech_on_prod = [obj for obj in unplanned if obj["key_id"] == INITECH]
    assert initech_on_prod and {obj["stage"] for obj in initech_on_prod} == {"prod"}, "a real key, on no plan for prod"
    assert len(unplanned) / REQUESTS == pytest.approx(0.05 + 0.05 * 0.25, abs=0.01)


def test_error_rates_differ_by_customer_and_umbrella_has_a_bad_hour(requests):
    def rates(objs):
        statuses = Counter(obj["status"][0] for obj in objs)
        return statuses["4"] / len(objs), statuses["5"] / len(objs)

    by_key = defaultdict(list)
    for obj in requests:
        by_key[obj["key_id"]].append(obj)
    acme_4xx, acme_5xx = rates(by_key[ACME])
    globex_4xx, _ = rates(by_key[GLOBEX])
    assert acme_4xx == pytest.approx(0.025, abs=0.01) and acme_5xx < 0.01
    assert globex_4xx == pytest.approx(0.12, abs=0.02)
    globex_errors = Counter(obj["status"] for obj in by_key[GLOBEX] if obj["status"] >= "400")
    assert globex_errors.most_common(1)[0][0] == "429", "Free is throttled"

    def hour(obj):
        return int(obj["request_time"][12:14])

    umbrella_prod = [obj for obj in by_key[UMBRELLA] if obj["stage"] == "prod"]
    _, bad = rates([obj for obj in umbrella_prod if hour(obj) == 14])
    _, usual = rates([obj for obj in umbrella_prod if hour(obj) != 14])
    assert bad > 0.25 and usual < 0.02
    _, others_at_14 = rates([obj for obj in requests if hour(obj) == 14 and obj["key_id"] != UMBRELLA])
    assert others_at_14 < 0.02


def test_a_quiet_night_and_a_busy_afternoon(requests):
    by_hour = Counter(int(obj["request_time"][12:14]) for obj in requests)
    assert by_hour[15] > 3 * by_hour[4]
    assert max(by_hour, key=by_hour.__getitem__) in range(12, 21)


def test_latency_spreads_and_the_invoice_is_the_slow_resource(requests):
    by_resource = defaultdict(list)
    for obj in requests:
        if obj["status"].startswith("2") and obj["integration_latency"] != "-":
            by_resource[obj["resource_path"]].append(int(obj["response_latency"]))
    medians = {path: statistics.median(values) for path, values in by_resource.items()}
    assert max(medians, key=medians.__getitem__) == "/orders/{id}/invoice"
    assert medians["/orders/{id}/invoice"] > 10 * medians["/orders/{id}"]
    quantiles = statistics.quantiles(by_resource["/orders/{id}"], n=20)
    assert quantiles[-1] > 1.5 * medians["/orders/{id}"], "a long tail: p95 well above the median"


def test_a_handful_of_malformed_lines(day, requests):
    malformed = [line.data for line in day.lines if not _is_object(line.data)]
    assert len(malformed) == traffic.MALFORMED_LINES == day.malformed
    assert b"" in malformed
    assert any(not _is_utf8(data) for data in malformed)


def _is_object(data):
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


def _is_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize(
    ("total", "shares"), [(10, [1, 1, 1]), (40_000, [c.share for c in traffic.CALLERS]), (1, [0.5, 0.5])]
)
def test_apportion_adds_up(total, shares):
    counts = traffic.apportion(total, shares)
    assert sum(counts) == total and all(count >= 0 for count in counts)
