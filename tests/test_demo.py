"""`apigw-logs demo`: a day of traffic through the real handler, out in the stream's bucket layout."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from apigw_enrichment.fields import ERRORS_PREFIX, LOGS_PREFIX, PARTITION_FORMAT, PARTITION_KEY, is_enriched
from apigw_logs import demo, traffic
from apigw_logs.main import cli

APIGW_LOGS = Path(sys.executable).with_name("apigw-logs")
REQUESTS = 1500
# The fields of a Firehose error record, in its order.
ERROR_FIELDS = [
    "attemptsMade",
    "arrivalTimestamp",
    "errorCode",
    "errorMessage",
    "attemptEndingTimestamp",
    "rawData",
    "lambdaArn",
]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One run of the installed command, as `make demo` runs it, with a small day."""
    out = tmp_path_factory.mktemp("demo") / "out"
    assert APIGW_LOGS.exists(), f"no {APIGW_LOGS}: install the project (make venv)"
    result = subprocess.run(
        [APIGW_LOGS, "demo", "--out", str(out), "--requests", str(REQUESTS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return result, out


def objects(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.json.gz"))


def hour_of(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime(PARTITION_FORMAT)


def arrival_hours() -> dict[bytes, str]:
    """Each line's arrival hour, as the demo makes the day's arrivals."""
    return {record.data: hour_of(record.arrival_ms) for record in demo.arrivals(traffic.generate(REQUESTS).lines)}


def test_the_command_succeeds_quietly_and_prints_its_summary(ran):
    result, out = ran
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "the handler's logs and metrics are hidden"
    assert "Traceback" not in result.stdout
    lines = result.stdout.splitlines()
    assert f"  generated:  {REQUESTS:,} requests and {traffic.MALFORMED_LINES} malformed lines" in lines
    assert f"  by result:  Ok {REQUESTS:,}, ProcessingFailed {traffic.MALFORMED_LINES}" in lines
    assert f"  output:     {out}/  (laid out as the stream's bucket)" in lines
    assert f"== report: apigw-logs report {out} --html {out / 'report.html'}" in lines
    assert "Customers" in lines and "Acme Corp" in result.stdout, "the per-customer report follows"
    assert lines[-1] == f"  the report as a page: {out / 'report.html'}"
    assert (out / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


def test_every_log_object_is_gzipped_enriched_json_lines_in_its_arrival_hour(ran):
    _, out = ran
    hours = arrival_hours()
    logs = objects(out / LOGS_PREFIX)
    assert logs, "objects under logs/"
    count = 0
    for path in logs:
        assert path.parent.parent == out / LOGS_PREFIX.rstrip("/")
        partition = path.parent.name.removeprefix(f"{PARTITION_KEY}=")
        assert path.name.startswith(f"amazon-apigateway-access-logs-1-{partition}-")
        data = gzip.decompress(path.read_bytes())
        assert data.endswith(b"\n")
        for line in data.splitlines():
            obj = json.loads(line)
            assert is_enriched(obj)
            original = line[: line.index(b',"usage_plan_id":')] + b"}"
            assert hours[original] == partition, "the dt folder is the line's arrival hour"
            count += 1
    assert count == REQUESTS


def test_the_statuses_add_up_to_the_requests_generated(ran):
    result, out = ran
    statuses = Counter(
        json.loads(line)["enrichment_status"]
        for path in objects(out / LOGS_PREFIX)
        for line in gzip.decompress(path.read_bytes()).splitlines()
    )
    assert statuses.total() == REQUESTS
    assert set(statuses) == {"enriched", "no_api_key", "unknown_api_key"}
    printed = ", ".join(f"{name} {count:,}" for name, count in sorted(statuses.items()))
    assert f"  by status:  {printed}" in result.stdout.splitlines()


def test_failed_records_are_firehose_error_records_under_errors_processing_failed(ran):
    _, out = ran
    errors = objects(out / ERRORS_PREFIX)
    assert errors
    raw = []
    for path in errors:
        assert path.parent.parent == out / ERRORS_PREFIX / "processing-failed"
        partition = path.parent.name.removeprefix(f"{PARTITION_KEY}=")
        for line in gzip.decompress(path.read_bytes()).splitlines():
            record = json.loads(line)
            assert list(record) == ERROR_FIELDS
            assert record["errorCode"] == "Lambda.ProcessingFailedStatus"
            assert hour_of(record["arrivalTimestamp"]) == partition
            assert record["attemptEndingTimestamp"] > record["arrivalTimestamp"]
            raw.append(base64.b64decode(record["rawData"]))
    unreadable = [line.data for line in traffic.generate(REQUESTS).lines if not _is_object(line.data)]
    assert sorted(raw) == sorted(unreadable)
    assert len(raw) == traffic.MALFORMED_LINES


def test_a_second_run_replaces_the_first_output(tmp_path):
    # GIVEN a previous demo's output, with a stray object in it
    out = tmp_path / "out"
    demo.prepare_out(out)
    stray = out / LOGS_PREFIX / "dt=2000-01-01-00" / "old.json.gz"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(gzip.compress(b"{}\n"))
    # WHEN the demo gets the folder again THEN the previous output is gone, the marker stays
    demo.prepare_out(out)
    assert not stray.exists() and (out / demo.MARKER).is_file()


@pytest.fixture
def in_process():
    saved = dict(os.environ)

    def run(*args):
        return CliRunner().invoke(cli, ["demo", *args], prog_name="apigw-logs")

    yield run
    os.environ.clear()
    os.environ.update(saved)


def test_bad_out_and_bad_requests_are_one_line_errors(in_process, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    cases = {
        ("--out", str(a_file)): f"Error: {a_file}: is a file, not a folder",
        ("--out", str(busy)): f"Error: {busy}: not empty, and not a previous demo's output; choose another --out",
        ("--out", str(a_file / "below")): f"Error: {a_file / 'below'}: cannot write the output there",
        ("--requests", "many"): "Error: --requests: 'many' is not a whole number",
        ("--requests", "0"): "Error: --requests: 0 is out of range (1 to 1,000,000)",
        ("--requests", "-5"): "Error: --requests: -5 is out of range",
        ("--requests", "2000001"): "Error: --requests: 2000001 is out of range",
    }
    for args, message in cases.items():
        result = in_process("--out", str(tmp_path / "fresh"), *args) if args[0] == "--requests" else in_process(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output, args
    assert (busy / "notes.txt").read_text() == "mine" and not (tmp_path / "fresh").exists()


def _is_object(data):
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False
