"""The no-Docker local runner, run the way the README runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "local_invoke.py"), *args],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_runs_the_sample_events_and_prints_enriched_lines_and_a_summary():
    result = run()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "== events/seed_format.json" in out.replace(str(ROOT) + "/", "")
    assert '"customer_name":"Acme Corp","enrichment_status":"enriched"' in out
    assert "by result: Ok 15, ProcessingFailed 7" in out
    assert "by status: enriched 10, no_api_key 3, unknown_api_key 2" in out
    assert "demoAcmeKeyValue000000000000a1f3" not in out + result.stderr
    assert '"message":"batch transformed"' in result.stderr, "the handler's own log line goes to stderr"


def test_quiet_hides_the_handlers_logs():
    result = run("--quiet", str(ROOT / "events" / "camel_case.json"))
    assert result.returncode == 0
    assert result.stderr == ""
    assert "by result: Ok 3" in result.stdout


def test_bad_input_gets_one_clear_line_not_a_traceback(tmp_path):
    not_json = tmp_path / "bad.json"
    not_json.write_text("{nope")
    unreadable = tmp_path / "locked.json"
    unreadable.write_text("{}")
    unreadable.chmod(0)
    cases = {
        str(tmp_path / "missing.json"): "missing.json: no such event file",
        str(not_json): "bad.json: not valid JSON",
        str(ROOT / "events" / "demo_account.json"): "not a Firehose transformation event",
        str(tmp_path): "is a directory, not an event file",
        "/dev/null": "not valid JSON",
    }
    if os.geteuid() != 0:  # root reads a file whatever its mode
        cases[str(unreadable)] = "cannot read the event file (Permission denied)"
    for path, message in cases.items():
        result = run(path)
        assert result.returncode == 2, path
        assert message in result.stderr, path
        assert "Traceback" not in result.stderr, path
        assert len(result.stderr.strip().splitlines()) == 1, path
    result = run("--account", str(tmp_path), str(ROOT / "events" / "camel_case.json"))
    assert result.returncode == 2
    assert "is a directory, not an account file" in result.stderr and "Traceback" not in result.stderr


def test_the_runner_shows_the_reason_the_handler_counted(tmp_path):
    # GIVEN a record whose data is not a string: nothing to decode, and the handler counts
    # invalid_base64 (the response echoes "", which on its own would read as "empty")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"records": [{"recordId": "1", "data": 123}, {"recordId": "2", "data": ""}, {"recordId": "3"}]})
    )
    result = run(str(event))
    assert result.returncode == 0, result.stderr
    reasons = [line.split()[1] for line in result.stdout.splitlines() if line.lstrip().startswith("ProcessingFailed")]
    assert reasons == ["invalid_base64", "empty", "empty"]
    (logged,) = [json.loads(line) for line in result.stderr.splitlines() if '"batch transformed"' in line]
    assert logged["failure_reasons"] == {"invalid_base64": 1, "empty": 2}
