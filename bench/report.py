"""The report benchmark: `apigw-logs report` over enriched records gzipped as Firehose writes them.

    python -m bench.report [--records 100000 1000000]

For each size it writes a day of enriched records (about 600 bytes of JSON each) into hourly
`logs/dt=YYYY-MM-DD-HH/` objects of at most 64 MB before compression, then runs the full
per-customer report (`--format json`) in a fresh process and reports its wall time and peak
RSS. The report must stream: its memory must not grow with the data.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from apigw_enrichment.fields import PARTITION_FORMAT, PARTITION_KEY

DAY_START_MS = 1763683200000  # 2025-11-21T00:00:00Z
OBJECT_LIMIT_BYTES = 64 * 1024 * 1024  # the stream's S3 buffer
CUSTOMERS = 200
PLANS = ("Gold", "Silver", "Bronze", "Free", "Partner")
RESOURCES = (
    ("GET", "/orders/{id}"),
    ("GET", "/orders"),
    ("POST", "/orders"),
    ("GET", "/items"),
    ("DELETE", "/orders/{id}"),
)
STATUSES = ("200",) * 90 + ("201",) * 3 + ("404",) * 4 + ("429",) + ("500",) + ("503",)
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
LINE = (
    '{{"request_id":"{rid}","extended_request_id":"{xid}=","request_time":"{clf}","request_time_epoch":"{ms}",'
    '"api_id":"a1b2c3d4e5","stage":"prod","resource_path":"{resource}","path":"/prod{path}","method":"{method}",'
    '"protocol":"HTTP/1.1","status":"{status}","response_length":"{length}","response_latency":"{latency}",'
    '"integration_latency":"{integration}","key_id":"{key_id}","source_ip":"198.51.100.{ip}","user_agent":"{ua}",'
    '"error_message":"-",{enrichment}}}\n'
)


@dataclass(frozen=True)
class Run:
    records: int
    data_bytes: int
    objects: int
    seconds: float
    peak_rss_mb: float


def enrichment(n: int) -> str:
    if n < 0:
        return (
            '"usage_plan_id":null,"usage_plan_name":null,"customer_id":null,"customer_name":null,'
            '"enrichment_status":"no_api_key"'
        )
    plan = n % len(PLANS)
    return (
        f'"usage_plan_id":"plan{plan}","usage_plan_name":"{PLANS[plan]}","customer_id":"cust-{n:04d}",'
        f'"customer_name":"Customer {n}","enrichment_status":"enriched"'
    )


def write_day(folder: Path, records: int, seed: int = 2026) -> tuple[int, int]:
    """Write `records` enriched lines over one day; return (bytes of JSON, objects written)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    enrichments = [enrichment(n) for n in range(CUSTOMERS)]
    no_key = enrichment(-1)
    per_hour = [records // 24 + (1 if hour < records % 24 else 0) for hour in range(24)]
    data_bytes = objects = 0
    for hour, count in enumerate(per_hour):
        start = DAY_START_MS + hour * 3_600_000
        partition = folder / "logs" / f"{PARTITION_KEY}={time.strftime(PARTITION_FORMAT, time.gmtime(start / 1000))}"
        partition.mkdir(parents=True, exist_ok=True)
        lines: list[str] = []
        size = 0
        for i in range(count):
            ms = start + rng.randrange(3_600_000)
            method, resource = rng.choice(RESOURCES)
            customer = rng.randrange(-10, CUSTOMERS)  # about 5% without a key
            line = LINE.format(
                rid=f"{hour:02d}{i:08d}-0000-4000-8000-000000000000",
                xid=f"X{i:015d}",
                clf=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ms / 1000)),
                ms=ms,
                resource=resource,
                path=resource.replace("{id}", str(rng.randrange(1, 99999))),
                method=method,
                status=rng.choice(STATUSES),
                length=rng.randrange(80, 4000),
                latency=int(rng.lognormvariate(3.5, 0.6)),
                integration=rng.randrange(5, 200),
                key_id=f"k{customer:09d}" if customer >= 0 else "-",
                ip=rng.randrange(1, 255),
                ua=USER_AGENT,
                enrichment=enrichments[customer] if customer >= 0 else no_key,
            )
            lines.append(line)
            size += len(line)
            if size >= OBJECT_LIMIT_BYTES or i == count - 1:
                body = "".join(lines).encode()
                name = f"amazon-apigateway-access-logs-1-{hour:02d}-{objects:04d}.json.gz"
                (partition / name).write_bytes(gzip.compress(body, compresslevel=6))
                data_bytes += len(body)
                objects += 1
                lines, size = [], 0
    return data_bytes, objects


def run_report(folder: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `apigw-logs report FOLDER --format json` in a fresh process."""
    command = [str(Path(sys.executable).parent / "apigw-logs"), "report", str(folder), "--format", "json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603 - our own command
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        stderr = process.stderr.read().decode() if process.stderr is not None else ""
        raise SystemExit(f"bench: the report failed: {stderr.strip()}")
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def measure(records: int) -> Run:
    folder = Path(tempfile.mkdtemp(prefix="report-bench-"))
    try:
        data_bytes, objects = write_day(folder, records)
        seconds, peak = run_report(folder)
        return Run(records, data_bytes, objects, seconds, peak)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def print_runs(runs: list[Run]) -> None:
    print("| records | JSON | objects | report time | records/s | peak RSS |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        print(
            f"| {run.records:,} | {run.data_bytes / 1e6:,.0f} MB | {run.objects} | {run.seconds:.1f} s "
            f"| {run.records / run.seconds:,.0f} | {run.peak_rss_mb:.0f} MB |"
        )
    if len(runs) >= 2:  # noqa: PLR2004 - a first and a last to compare
        first, last = runs[0], runs[-1]
        print(
            f"\nFrom {first.records:,} to {last.records:,} records ({last.records / first.records:.0f}x the data): "
            f"time {last.seconds / first.seconds:.1f}x, peak memory {last.peak_rss_mb / first.peak_rss_mb:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000], help="sizes to measure")
    args = parser.parse_args()
    print("The per-customer report (apigw-logs report --format json), a fresh process per size:\n")
    print_runs([measure(records) for records in args.records])


if __name__ == "__main__":
    main()
