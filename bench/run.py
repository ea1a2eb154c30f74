"""The benchmark: the handler against the floor and the naive reference, memory, cold start.

    make bench                        # what docs/performance.md quotes
    .venv/bin/python -m bench.run --runs 41   # from the repository's root; 31 by default

Everything runs in this one process on the same generated batches (bench/batches.py),
except what needs a fresh process: peak RSS, and import time. Timings are medians of
interleaved runs after a warm-up, so a noisy neighbour slows all three alike. Nothing here
is a test, and nothing in CI fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
# The handler as deployed, minus the output a benchmark must not measure: no metrics
# printed, no trace, warnings only.
QUIET = {
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
os.environ.update(QUIET)

from apigw_logs.demo import PROCESSOR_BUFFER_BYTES  # noqa: E402 - after the environment above
from bench import baselines, batches  # noqa: E402 - after the environment above

if TYPE_CHECKING:
    from collections.abc import Callable

# Lambda gives a function CPU in proportion to its memory: 1,769 MB is one full vCPU.
FULL_VCPU_MB = 1769
MEMORY_SIZES_MB = (128, 256, 512, 1024, 1769)
# arm64, us-east-1, per GB-second (aws.amazon.com/lambda/pricing, first 7.5 billion GB-s).
PRICE_PER_GB_SECOND = 0.0000133334
MIN_RUNS = 7
ACCOUNTS = ((60, 1200, 0), (300, 4020, 20))  # (plans, keys on the first plan, keys on each other)


@dataclass(frozen=True)
class Timing:
    size_mb: int
    records: int
    data_bytes: int
    handler: float
    floor: float
    naive: float
    response_bytes: int
    # Each run times the three back to back: the median of each run's own ratio, which a shared
    # machine's drift (a neighbour busy for a second) moves far less than a ratio of medians.
    of_floor: float
    over_naive: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=31, help="timed runs of each, after a warm-up (at least 7)")
    parser.add_argument("--rss-child", type=Path, metavar="EVENT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return
    if args.runs < MIN_RUNS:
        parser.error("--runs must be at least 7")

    print(
        f"Python {sys.version.split()[0]} on {os.uname().machine}; medians of {args.runs} interleaved warm runs "
        "(the ratios: the median of each run's own)\n"
    )
    timings = [time_size(size, args.runs) for size in batches.SIZES_MB]
    print_throughput(timings)
    print_formats(args.runs)
    print_subscriptions(args.runs)
    peak, before = peak_rss(max(batches.SIZES_MB))
    imports = import_seconds()
    outside = import_seconds(as_lambda=False)
    print(f"\nPeak RSS, fresh process answering the {max(batches.SIZES_MB)} MB batch: {peak:.0f} MB")
    print(f"  ({before:.0f} MB before the event is read: interpreter, libraries, cached directory)")
    print(
        f"Handler import, median of 7 fresh processes: {imports * 1000:.0f} ms as Lambda imports it (its "
        f"environment, only the bundle importable); {outside * 1000:.0f} ms outside Lambda (the command line's path)"
    )
    largest_load = print_cold_loads()
    print_snapshot_cold_starts()
    print_memory_table(timings, imports, largest_load)


def time_size(size_mb: int, runs: int) -> Timing:
    from apigw_logs.lambda_context import LocalContext  # noqa: PLC0415

    use_bench_account()
    event = batches.batch(size_mb)
    customers = {batches.key_id(n): (f"plan{n // 40}", f"cust-{n:06d}") for n in range(batches.KEY_COUNT)}
    context = LocalContext()
    runners: dict[str, Callable[[], Any]] = {
        "handler": lambda: answer(event, context),
        "floor": lambda: baselines.floor(event),
        "naive": lambda: baselines.naive(event, customers),
    }
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for run in range(runs + 1):
        # A different order each run, so no one of them always follows another.
        names = list(runners)[run % 3 :] + list(runners)[: run % 3]
        for name in names:
            started = time.perf_counter()
            runners[name]()
            elapsed = time.perf_counter() - started
            if run:  # run 0 is the warm-up (and the handler's cold cache load)
                samples[name].append(elapsed)
    handler, floor, naive = (statistics.median(samples[name]) for name in ("handler", "floor", "naive"))
    of_floor = statistics.median(map(operator.truediv, samples["floor"], samples["handler"]))
    over_naive = statistics.median(map(operator.truediv, samples["naive"], samples["handler"]))
    response = json.dumps(answer(event, context))  # as the runtime writes it
    return Timing(
        size_mb,
        len(event["records"]),
        batches.data_bytes(event),
        handler,
        floor,
        naive,
        len(response),
        of_floor,
        over_naive,
    )


def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """lambda_handler, then Powertools' metric buffer emptied: with POWERTOOLS_METRICS_DISABLED it
    is never flushed, and a metric with 100 values prints itself, in the middle of the tables."""
    from apigw_enrichment import handler as app  # noqa: PLC0415 - after the environment is set
    from apigw_enrichment.telemetry import metrics  # noqa: PLC0415

    response = app.lambda_handler(event, context)
    metrics.clear_metrics()
    return response


def use_bench_account() -> None:
    from apigw_enrichment import state  # noqa: PLC0415
    from apigw_enrichment.enrichment.usage_plans import UsagePlanCache, fetch_directory  # noqa: PLC0415
    from tests.support.fake_apigateway import PagingApiGateway  # noqa: PLC0415

    client = PagingApiGateway(batches.account()).client()
    state.use_cache(
        UsagePlanCache(lambda deadline: fetch_directory(client, deadline), ttl_seconds=3600, miss_refresh_seconds=60)
    )


def print_throughput(timings: list[Timing]) -> None:
    """The handler, the floor and the naive transformer side by side, and the answer's size
    (Lambda's limit is 6 MB) as the runtime serializes it."""
    print(
        "| batch | records | handler | records/s | MB/s | floor | of floor | naive | speed-up over naive | response |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in timings:
        print(
            f"| {t.size_mb} MB | {t.records:,} | {t.handler * 1000:.1f} ms | {t.records / t.handler:,.0f} "
            f"| {t.data_bytes / 1e6 / t.handler:.1f} | {t.floor * 1000:.1f} ms | {t.of_floor:.2f}x "
            f"| {t.naive * 1000:.1f} ms | {t.over_naive:.2f}x | {t.response_bytes / 1e6:.2f} MB |"
        )


def print_formats(runs: int, size_mb: int = 1) -> None:
    """The cost per record of a CLF line next to a JSON one: the same requests, in one process.

    1 MB batches, the processor buffer the stack sets: a CLF line grows more than a JSON one when
    written out as JSON, and a 2 MB CLF batch would need re-ingesting (a Firehose call) to fit
    the 6 MB response.
    """
    from apigw_enrichment import state  # noqa: PLC0415
    from apigw_logs.lambda_context import LocalContext  # noqa: PLC0415

    events = {"JSON": batches.batch(size_mb), "CLF": batches.batch(size_mb, log_format=batches.CLF_FORMAT)}
    context = LocalContext()
    samples: dict[str, list[float]] = {name: [] for name in events}
    for run in range(runs + 1):
        for name in list(events)[run % 2 :] + list(events)[: run % 2]:
            # The stage's format is CLF for both: a JSON line is read as JSON whatever it is.
            os.environ["ACCESS_LOG_FORMAT"] = batches.CLF_FORMAT
            state.reset()
            use_bench_account()
            answer(events[name], context)  # the settings and the cache, loaded
            started = time.perf_counter()
            answer(events[name], context)
            elapsed = time.perf_counter() - started
            if run:
                samples[name].append(elapsed / len(events[name]["records"]))
    del os.environ["ACCESS_LOG_FORMAT"]
    state.reset()
    json_us, clf_us = (statistics.median(samples[name]) * 1e6 for name in ("JSON", "CLF"))
    print(f"\nPer record by format ({size_mb} MB batches of the same requests; ACCESS_LOG_FORMAT is the CLF one):")
    print("| line | records | handler per record | vs JSON |")
    print("| --- | ---: | ---: | ---: |")
    for name, micros in (("JSON", json_us), ("CLF", clf_us)):
        print(f"| {name} | {len(events[name]['records']):,} | {micros:.1f} us | {micros / json_us:.2f}x |")


# The processor buffer the template sets (ProcessingConfiguration BufferSizeInMBs), as the demo
# batches by it (tests/test_template.py checks the two agree).
PROCESSOR_BUFFER_MB = PROCESSOR_BUFFER_BYTES / 1_000_000


def print_subscriptions(runs: int, size_mb: float = 0.25) -> None:
    """CloudWatch Logs subscription records: how much larger the answer is than the compressed
    batch the processor's buffer counts, which sets the largest buffer whose answer still fits
    Lambda's 6 MB response without re-ingesting, and the cost per line next to a direct record."""
    from apigw_enrichment import handler as app  # noqa: PLC0415 - after the environment is set
    from apigw_enrichment import state  # noqa: PLC0415
    from apigw_enrichment.response import RESPONSE_LIMIT_BYTES  # noqa: PLC0415
    from apigw_enrichment.sources.firehose import validate_event  # noqa: PLC0415
    from apigw_logs.lambda_context import LocalContext  # noqa: PLC0415

    def transform(event: dict[str, Any]) -> list[Any]:
        return app.transform_batch(validate_event(event), state.settings(), state.usage_plan_cache()).answers

    context = LocalContext()
    direct = batches.batch(size_mb)
    print(f"\nCloudWatch Logs subscription records ({size_mb} MB of compressed records a batch):")
    print("| lines a record | records | lines | answer / batch | largest buffer for 6 MB | per line | vs direct |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    state.reset()
    use_bench_account()
    answer(direct, context)
    direct_us = _median_per_line(lambda: answer(direct, context), len(direct["records"]), runs)
    largest = 0.0
    for events_per_record in (10, 100, 1000):
        event = batches.subscription_batch(size_mb, events_per_record)
        lines = len(event["records"]) * events_per_record
        # The answer with no response limit: everything the batch comes to.
        answers = transform(event)
        answer_bytes = len(
            json.dumps({"records": [{"recordId": a.record_id, "result": a.result, "data": a.data} for a in answers]})
        )
        growth = answer_bytes / batches.data_bytes(event)
        micros = _median_per_line(partial(transform, event), lines, runs)
        print(
            f"| {events_per_record:,} | {len(event['records']):,} | {lines:,} | {growth:.1f}x "
            f"| {RESPONSE_LIMIT_BYTES / growth / 1e6:.2f} MB | {micros:.1f} us | {micros / direct_us:.2f}x |"
        )
        largest = max(largest, growth)
    print(
        f"The stack's processor buffer, {PROCESSOR_BUFFER_MB} MB, answers {PROCESSOR_BUFFER_MB * largest:.1f} MB at "
        f"the largest growth above (direct records: {direct_us:.1f} us each)"
    )


def _median_per_line(run: Callable[[], Any], lines: int, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) / lines * 1e6)
    return statistics.median(samples)


def peak_rss(size_mb: int) -> tuple[float, float]:
    """(peak, before the batch) in MB, of a fresh process that answers one batch."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "event.json"
        path.write_text(json.dumps(batches.batch(size_mb)), encoding="utf-8")
        out = subprocess.run(  # noqa: S603 - this interpreter, this file
            [sys.executable, "-m", "bench.run", "--rss-child", str(path)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.split()
    return float(out[0]), float(out[1])


def rss_child(event_path: Path) -> None:
    """In a fresh process: import, load the directory, read the event and answer it, as the
    Lambda runtime would; print peak RSS, and RSS before the event was read."""
    from apigw_enrichment import handler as app  # noqa: PLC0415
    from apigw_enrichment import state  # noqa: PLC0415
    from apigw_logs.lambda_context import LocalContext  # noqa: PLC0415

    use_bench_account()
    state.usage_plan_cache().view_for([])  # the cold-start load
    before = _max_rss_mb()
    event = json.loads(event_path.read_bytes())
    app.lambda_handler(event, LocalContext())
    print(f"{_max_rss_mb():.1f} {before:.1f}")


def _max_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent
    # through fork and exec, so a child of this (large) process would report the parent's.
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise SystemExit("bench: /proc/self/status has no VmHWM line; peak RSS needs Linux")


def import_seconds(runs: int = 7, *, as_lambda: bool = True) -> float:
    """Median seconds to import the handler's module in a fresh interpreter.

    As Lambda imports it (`as_lambda`): with the environment the Lambda runtime and the stack set
    (LAMBDA_TASK_ROOT, _HANDLER, AWS_EXECUTION_ENV, the X-Ray daemon, Powertools' settings...),
    so that the code takes Lambda's path (X-Ray on, in its Lambda context); with only the
    function's bundle importable (its code and its pinned requirements, linked from this virtual
    environment: no site-packages, so nothing the bundle lacks); and by importlib on _HANDLER's
    module, as the runtime does. Otherwise: `import apigw_enrichment.handler` here, as the
    command line and the tests import it.
    """
    code = (
        "import importlib, os, time; started = time.process_time(); "
        "importlib.import_module(os.environ['_HANDLER'].rpartition('.')[0]); "
        "print(time.process_time() - started)"
    )
    with tempfile.TemporaryDirectory() as folder:
        bundle = _link_bundle(Path(folder))
        task_root = ROOT / "enrich_function"
        if as_lambda:
            command = [sys.executable, "-S", "-c", code]  # -S: no site-packages, only the bundle
            env = {"PATH": os.environ.get("PATH", ""), **LAMBDA_ENVIRONMENT}
            env.update(LAMBDA_TASK_ROOT=str(task_root), PYTHONPATH=f"{task_root}{os.pathsep}{bundle}")
        else:
            command = [sys.executable, "-c", code]
            env = {**os.environ, "_HANDLER": LAMBDA_ENVIRONMENT["_HANDLER"]}
        seconds = [
            float(subprocess.run(command, env=env, check=True, capture_output=True, text=True, cwd=folder).stdout)  # noqa: S603 - this interpreter
            for _ in range(runs)
        ]
    return statistics.median(seconds)


# What the Lambda runtime sets in a python3.13 function's environment, and what the stack sets
# (template.yaml's Globals and EnrichFunction); credentials are placeholders: nothing is called.
LAMBDA_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "apigw-access-log-enrichment-EnrichFunction-bench",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/apigw-access-log-enrichment-EnrichFunction-bench",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]00000000000000000000000000000000",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "_HANDLER": "apigw_enrichment.handler.lambda_handler",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench-placeholder",
    "AWS_SECRET_ACCESS_KEY": "bench-placeholder",
    "AWS_SESSION_TOKEN": "bench-placeholder",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
    "_AWS_XRAY_DAEMON_PORT": "2000",
    "POWERTOOLS_SERVICE_NAME": "apigw-access-log-enrichment",
    "POWERTOOLS_METRICS_NAMESPACE": "ApiGatewayAccessLogs",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "API_KEY_VALUES": "mask",
    "CACHE_TTL_SECONDS": "900",
    "MISS_REFRESH_SECONDS": "60",
    "LOOKUP_BUDGET_SECONDS": "10",
}


def _link_bundle(folder: Path) -> Path:
    """A folder holding what `sam build` bundles beside the code: each distribution that
    enrich_function/requirements.txt pins, linked from this virtual environment (same versions)."""
    bundle = folder / "bundle"
    bundle.mkdir()
    for line in (ROOT / "enrich_function" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.partition("#")[0].strip()
        if not requirement:
            continue
        name = re.split(r"[\[=<>~! ]", requirement, maxsplit=1)[0]
        distribution = metadata.distribution(name)
        for top in {file.parts[0] for file in distribution.files or ()}:
            if top.endswith((".dist-info", ".pth")) or top in {"..", "__pycache__", "bin"}:
                continue
            source = Path(str(distribution.locate_file(top)))
            if source.exists() and not (bundle / top).exists():
                (bundle / top).symlink_to(source)
    return bundle


def print_cold_loads() -> float:
    """Print the call count and CPU time of a cold load per account; return the largest's CPU."""
    from apigw_enrichment.enrichment.usage_plans import UsagePlanCache, fetch_directory  # noqa: PLC0415
    from tests.support.fake_apigateway import PagingApiGateway, big_account  # noqa: PLC0415

    print("\nCold start against a paged fake account (real boto3 paginators, no network):")
    cpu = 0.0
    for plans, first, others in ACCOUNTS:
        fake = PagingApiGateway(big_account(plans, first, keys_per_other_plan=others))
        client = fake.client()
        cache = UsagePlanCache(partial(fetch_directory, client), ttl_seconds=900, miss_refresh_seconds=60)
        started = time.process_time()
        view = cache.view_for([])
        cpu = time.process_time() - started
        assert view.directory is not None  # noqa: S101 - the fake never fails
        print(
            f"  {plans} plans, {view.directory.key_count:,} keys: {fake.count()} control-plane calls, "
            f"{cpu * 1000:.0f} ms of CPU to page and index them"
        )
    return cpu


def print_snapshot_cold_starts() -> None:
    """A cold start with and without the refresher's snapshot, at 60 plans and at 300 plans with
    10,000 keys: control-plane calls, the time API Gateway's 10 requests a second allow them at
    best, and the CPU (the snapshot: one GET, served here by moto)."""
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from apigw_enrichment.enrichment.loading import DirectoryLoader  # noqa: PLC0415
    from apigw_enrichment.enrichment.usage_plans import UsagePlanCache  # noqa: PLC0415
    from apigw_enrichment.refresher import refresh  # noqa: PLC0415
    from tests.support.fake_apigateway import PagingApiGateway, big_account  # noqa: PLC0415

    print("\nCold start with and without the refresher's snapshot (API Gateway allows the account 10 requests/s):")
    print("| account | without: calls | at 10/s | CPU | with snapshot: calls | snapshot | CPU (GET, read, index) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for plans, first, others in ACCOUNTS:
        account = big_account(plans, first, keys_per_other_plan=others)
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="bench")
            written = refresh(PagingApiGateway(account).client(), s3, "bench", "directory/s.json.gz", 600)
            rows = []
            for location in (None, ("bench", "directory/s.json.gz")):
                fake = PagingApiGateway(account)
                loader = DirectoryLoader(fake.client, partial(_same, s3), location, 900)
                cache = UsagePlanCache(loader, ttl_seconds=900, miss_refresh_seconds=60, look_up=loader.look_up)
                started = time.process_time()
                view = cache.view_for([])
                cpu = time.process_time() - started
                if view.load is None or not view.load.ok:
                    raise SystemExit("bench: a cold load failed against the fakes")
                rows.append((fake.count(), cpu, view.directory.key_count if view.directory else 0))
        (listed, listed_cpu, keys), (from_snapshot, snapshot_cpu, _) = rows
        print(
            f"| {plans} plans, {keys:,} keys | {listed} | {listed / 10:.1f} s | {listed_cpu * 1000:.0f} ms "
            f"| {from_snapshot} | {written['bytes'] / 1024:.0f} KiB | {snapshot_cpu * 1000:.0f} ms |"
        )


def _same(value: Any) -> Any:
    return value


def print_memory_table(timings: list[Timing], imports: float, largest_load: float) -> None:
    by_size = {t.size_mb: t for t in timings}
    one, three = by_size[1], by_size[3]
    print(
        f"\nEstimated on Lambda (CPU share = memory / {FULL_VCPU_MB:,} MB; arm64 at "
        f"${PRICE_PER_GB_SECOND:.10f} per GB-s). Cost is per million warm 1 MB batches:"
    )
    print("| memory | share of a vCPU | 1 MB batch | 3 MB batch | cost | import | 10,000-key load (CPU) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for memory in MEMORY_SIZES_MB:
        stretch = max(1.0, FULL_VCPU_MB / memory)
        seconds_one = one.handler * stretch
        cost = seconds_one * memory / 1024 * PRICE_PER_GB_SECOND * 1e6
        print(
            f"| {memory:,} MB | {min(1.0, memory / FULL_VCPU_MB):.2f} | {seconds_one * 1000:,.0f} ms "
            f"| {three.handler * stretch * 1000:,.0f} ms | ${cost:.2f} | {imports * stretch:.1f} s "
            f"| {largest_load * stretch:.1f} s |"
        )


if __name__ == "__main__":
    main()
