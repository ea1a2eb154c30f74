"""The no-Docker local runner, run the way the README runs it."""

from __future__ import annotations

import base64
import subprocess
import sys

from conftest import ROOT
from local_invoke import describe_failure


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
    cases = {
        str(tmp_path / "missing.json"): "missing.json: no such event file",
        str(not_json): "bad.json: not valid JSON",
        str(ROOT / "events" / "demo_account.json"): "not a Firehose transformation event",
    }
    for path, message in cases.items():
        result = run(path)
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_the_runner_names_why_a_record_failed():
    assert describe_failure("!!") == "invalid_base64"
    assert describe_failure(base64.b64encode(b"[1]").decode()) == "not_object"
    assert describe_failure(base64.b64encode(b'{"a":1}').decode()) == "response_full"
