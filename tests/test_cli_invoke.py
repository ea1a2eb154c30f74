"""`apigw-logs invoke`, run the way the README runs it: the installed console script (and click's
CliRunner, in-process, where no handler has to run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner

from apigw_logs.main import cli
from tests.support.events import EVENTS, ROOT

# Installed by `make venv` (the project, editable) next to the interpreter running the tests.
APIGW_LOGS = Path(sys.executable).with_name("apigw-logs")


class Ran(NamedTuple):
    code: int
    out: str
    err: str


def apigw_logs(*args: str) -> Ran:
    assert APIGW_LOGS.exists(), f"no {APIGW_LOGS}: install the project (make venv)"
    result = subprocess.run([APIGW_LOGS, *args], capture_output=True, text=True, check=False, timeout=120)
    return Ran(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def in_process():
    """Runs the command in this process; puts back the environment a run changes (its isolation from AWS)."""
    saved = dict(os.environ)

    def run(*args: str) -> Ran:
        result = CliRunner().invoke(cli, list(args), prog_name="apigw-logs")
        return Ran(result.exit_code, result.stdout, result.stderr)

    yield run
    os.environ.clear()
    os.environ.update(saved)


def rows(out: str, result: str) -> list[list[str]]:
    """The table rows of the records with this result: [result, status or reason, enriched line]."""
    return [line.split(maxsplit=2) for line in out.splitlines() if line.lstrip().startswith(result + " ")]


def test_runs_the_sample_events_and_prints_a_table_and_the_summary():
    ran = apigw_logs("invoke")
    assert ran.code == 0, ran.err
    assert "== events/raw_key_format.json: 7 records" in ran.out.replace(str(ROOT) + "/", "")
    assert "result" in ran.out and "status / reason" in ran.out and "enriched line" in ran.out
    (acme, *_) = [row for row in rows(ran.out, "Ok") if '"customer_name":"Acme Corp"' in row[2]]
    assert acme[:2] == ["Ok", "enriched"], "each row: the result, the status, the enriched line whole"
    assert '"customer_name":"Acme Corp","enrichment_status":"enriched"}' in acme[2]
    assert ran.out.endswith(
        "== summary\n"
        "  by result: Ok 15, ProcessingFailed 7\n"
        "  by status: enriched 10, no_api_key 3, unknown_api_key 2\n"
    )
    assert "demoAcmeKeyValue000000000000a1f3" not in ran.out + ran.err
    assert ran.err == "", "the handler's logs and EMF metrics are hidden by default"


def test_verbose_shows_the_handlers_logs_and_metrics_on_stderr():
    ran = apigw_logs("invoke", "--verbose", str(EVENTS / "camel_case.json"))
    assert ran.code == 0, ran.err
    assert "by result: Ok 3" in ran.out
    logged = [json.loads(line) for line in ran.err.splitlines()]
    assert [line["message"] for line in logged if "message" in line] == ["usage plans loaded", "batch transformed"]
    emf = [line for line in logged if "_aws" in line]
    (batch,) = [line for line in emf if "RecordsOk" in line]
    assert batch["RecordsOk"] == [3]
    # Then one set of metrics per usage plan: the requests of each, 3 in all.
    assert sum(line["Requests"][0] for line in emf if "UsagePlan" in line) == 3
    assert "batch transformed" not in ran.out and "_aws" not in ran.out


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "apigw_logs", "invoke", str(EVENTS / "camel_case.json")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "by status: enriched 2, no_api_key 1" in result.stdout


def test_help_lists_the_invoke_command(in_process):
    for ran in (apigw_logs("--help"), in_process("--help")):
        assert ran.code == 0
        assert "Usage: apigw-logs [OPTIONS] COMMAND [ARGS]..." in ran.out
        (invoke,) = [line.split() for line in ran.out.splitlines() if line.lstrip().startswith("invoke ")]
        assert invoke[1:3] == ["Run", "the"]
    ran = in_process("invoke", "--help")
    assert ran.code == 0
    assert "--account FILE" in ran.out and "--verbose" in ran.out and "--quiet" not in ran.out


def bad_inputs(tmp_path: Path) -> dict[tuple[str, ...], str]:
    """Arguments, and the one line each gets."""
    not_json = tmp_path / "bad.json"
    not_json.write_text("{nope")
    a_list = tmp_path / "list.json"
    a_list.write_text("[]")
    unreadable = tmp_path / "locked.json"
    unreadable.write_text("{}")
    unreadable.chmod(0)
    camel_case = str(EVENTS / "camel_case.json")
    accounts = {
        "keyless.json": {"apiKeys": [{"id": "k1", "name": "no value"}]},
        "not_objects.json": {"restApis": ["an api"]},
        "short_key.json": {"apiKeys": [{"id": "k1", "name": "n", "value": "too short"}]},
        "region.json": {"region": 5},
    }
    for name, account in accounts.items():
        (tmp_path / name).write_text(json.dumps(account))
    cases = {
        (str(tmp_path / "missing.json"),): "missing.json: no such event file",
        (str(not_json),): "bad.json: not valid JSON",
        (str(a_list),): "list.json: not a Firehose transformation event",
        (str(EVENTS / "demo_account.json"),): "not a Firehose transformation event",
        (str(tmp_path),): "is a directory, not an event file",
        ("/dev/null",): "not valid JSON",
        ("--account", str(tmp_path), camel_case): "is a directory, not an account file",
        ("--account", str(tmp_path / "nope.json"), camel_case): "nope.json: no such account file",
        ("--account", str(a_list), camel_case): "expected a JSON object with restApis, apiKeys and usagePlans",
        ("--account", str(tmp_path / "keyless.json"), camel_case): "an entry lacks the field 'value'",
        ("--account", str(tmp_path / "not_objects.json"), camel_case): "an entry is not an object",
        ("--account", str(tmp_path / "short_key.json"), camel_case): "API Key value should be at least 20 characters",
        ("--account", str(tmp_path / "region.json"), camel_case): "'region' must be a string",
    }
    if os.geteuid() != 0:  # root reads a file whatever its mode
        cases[(str(unreadable),)] = "cannot read the event file (Permission denied)"
    return cases


def assert_one_line_error(ran: Ran, message: str, case: tuple[str, ...]) -> None:
    assert ran.code == 2, case
    assert message in ran.err, case
    assert "Traceback" not in ran.err, case
    assert len(ran.err.strip().splitlines()) == 1, case


def test_bad_input_gets_one_clear_line_not_a_traceback(tmp_path, in_process):
    for args, message in bad_inputs(tmp_path).items():
        assert_one_line_error(in_process("invoke", *args), message, args)


def test_the_installed_command_reports_bad_input_the_same_way(tmp_path):
    cases = bad_inputs(tmp_path)
    for args in [(str(tmp_path / "missing.json"),), (str(EVENTS / "demo_account.json"),)]:
        ran = apigw_logs("invoke", *args)
        assert_one_line_error(ran, cases[args], args)
        assert ran.err.startswith("Error: "), ran.err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ACCESS_LOG_FORMAT", "$context.status", "ACCESS_LOG_FORMAT cannot be read: the access-log format must log"),
        ("API_KEY_VALUES", "maks", "API_KEY_VALUES must be one of mask, drop, keep, got 'maks'"),
    ],
)
def test_a_setting_the_function_cannot_run_with_is_one_line_not_a_traceback(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    ran = apigw_logs("invoke", str(EVENTS / "camel_case.json"))
    assert_one_line_error(ran, message, (variable, value))


def test_the_table_shows_the_reason_the_handler_counted(tmp_path):
    # GIVEN a record whose data is not a string: nothing to decode, and the handler counts
    # invalid_base64 (the response echoes "", which on its own would read as "empty")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"records": [{"recordId": "1", "data": 123}, {"recordId": "2", "data": ""}, {"recordId": "3"}]})
    )
    ran = apigw_logs("invoke", "--verbose", str(event))
    assert ran.code == 0, ran.err
    assert [row[1] for row in rows(ran.out, "ProcessingFailed")] == ["invalid_base64", "empty", "empty"]
    (logged,) = [json.loads(line) for line in ran.err.splitlines() if '"batch transformed"' in line]
    assert logged["failure_reasons"] == {"invalid_base64": 1, "empty": 2}


def test_a_hundred_events_and_more_stay_quiet_without_verbose(tmp_path):
    # GIVEN 101 event files: with metrics disabled Powertools never clears them, and at a
    # hundred values a metric it would print EMF on its own
    record = {"recordId": "1", "data": "eyJhcGlfaWQiOiJhMWIyYzNkNGU1Iiwic3RhZ2UiOiJwcm9kIiwia2V5X2lkIjoiLSJ9"}
    paths = []
    for n in range(101):
        path = tmp_path / f"event-{n:03d}.json"
        path.write_text(json.dumps({"records": [record]}))
        paths.append(str(path))
    # WHEN they are run without --verbose
    ran = apigw_logs("invoke", *paths)
    # THEN nothing reaches stderr, and every record is answered
    assert (ran.code, ran.err) == (0, "")
    assert "by result: Ok 101" in ran.out
