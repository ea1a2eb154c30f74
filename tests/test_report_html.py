"""`apigw-logs report --html`: one self-contained page, checked as text and as a browser renders it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta

import pytest
from click.testing import CliRunner
from PIL import Image

from apigw_logs.main import cli
from tests.support.bucket_copy import Request, at, errors_folder, processing_failure, write_object, write_requests

CHARTS = 3  # requests per customer over time, error rates by plan, latency by customer
TABLES = 4  # customers, plans, busiest resources, unknown keys
HOSTILE = ("cust-<b>9</b>", '<script>alert("x")</script> & $\\alpha$ [bold]Co[/bold]')

REQUESTS = [
    *(
        Request(
            at("2025-11-21T09:00:00") + timedelta(minutes=7 * i),
            status=(200, 200, 404, 500)[i % 4],
            latency_ms=20 + 3 * i,
        )
        for i in range(40)
    ),
    *(
        Request(
            at("2025-11-21T10:00:00") + timedelta(minutes=i),
            customer=("cust-globex-002", "Globex Inc"),
            plan=("pl0free002", "Free"),
            latency_ms=90 + i,
        )
        for i in range(12)
    ),
    *(
        Request(at("2025-11-21T12:00:00") + timedelta(minutes=i), customer=HOSTILE, plan=("pl0free002", "Free"))
        for i in range(3)
    ),
    Request(at("2025-11-21T13:00:00"), customer=None, plan=None, enrichment_status="unknown_api_key", key_id="kX"),
    Request(at("2025-11-23T13:00:00"), latency_ms=35),
]


@pytest.fixture
def bucket(tmp_path):
    root = tmp_path / "bucket"
    write_requests(root, REQUESTS)
    write_object(
        errors_folder(root, "processing-failed", "2025-11-21-10"),
        "f.json.gz",
        [processing_failure(at("2025-11-21T10:00:00"))],
    )
    return root


def page_of(bucket, tmp_path, *args):
    target = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(bucket), "--format", "json", "--html", str(target), *args])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return target, json.loads(result.stdout)


def test_the_page_holds_the_charts_and_tables_and_no_external_url(bucket, tmp_path):
    target, _ = page_of(bucket, tmp_path)
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == CHARTS
    assert page.count("<table") == TABLES
    # Nothing to fetch: no URL of any scheme, no linked stylesheet, script or image.
    assert not re.search(r"(?i)(https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}|<link|<img|@import|\bsrc=)", page)
    assert page.count("<script") == 1


def test_names_are_shown_as_text_never_as_markup(bucket, tmp_path):
    target, _ = page_of(bucket, tmp_path)
    page = target.read_text(encoding="utf-8")
    assert '<script>alert("x")' not in page
    assert "cust-<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $\\alpha$ [bold]Co[/bold]" in page


def test_a_short_window_is_charted_by_the_hour_and_a_long_one_by_the_day(bucket, tmp_path):
    short, _ = page_of(bucket, tmp_path, "--since", "2025-11-21", "--until", "2025-11-22")
    assert "requests per hour" in short.read_text(encoding="utf-8")
    long, _ = page_of(bucket, tmp_path, "--since", "2025-11-01", "--until", "2025-12-01")
    assert "requests per day" in long.read_text(encoding="utf-8")


def test_a_window_with_no_requests_still_has_every_chart_and_table(bucket, tmp_path):
    target, data = page_of(bucket, tmp_path, "--since", "2030-01-01")
    page = target.read_text(encoding="utf-8")
    assert data["customers"] == []
    assert page.count("<svg") == CHARTS
    assert page.count("<table") == TABLES
    assert "No enriched requests in this window" in page


def test_an_unwritable_html_file_is_bad_input(bucket, tmp_path):
    target = tmp_path / "no" / "such" / "folder" / "r.html"
    result = CliRunner().invoke(cli, ["report", str(bucket), "--html", str(target)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {target}: cannot be written (No such file or directory)\n"


# -- In a browser ------------------------------------------------------------------------------


def chromium(tmp_path, *args):
    """Debian's headless chromium, offline and without a profile of its own."""
    command = shutil.which("chromium")
    if command is None:
        pytest.fail("chromium is not installed; install it: apt-get install chromium")
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [
            command,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_page_loads_in_a_browser_with_its_charts_and_tables(bucket, tmp_path):
    target, _ = page_of(bucket, tmp_path)
    result = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", target.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert re.search(r'<body[^>]*\bdata-ready="yes"', dom), "the page's load handler ran"
    assert dom.count("<svg") == CHARTS
    assert dom.count("<table") == TABLES


def test_the_page_renders_to_a_screenshot_that_is_not_blank(bucket, tmp_path):
    target, _ = page_of(bucket, tmp_path)
    png = tmp_path / "report.png"
    result = chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,2000", target.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert png.is_file()
    with Image.open(png) as image:
        assert image.size == (1280, 2000)
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None
    assert len(colors) > 50, "charts and text, not one flat colour"
    most = max(count for count, _ in colors)
    assert most < 0.95 * 1280 * 2000, "mostly background, but not only"
