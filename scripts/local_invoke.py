"""Run the real transformer over Firehose event files, with no Docker and no AWS account.

API Gateway is emulated in-process by moto and seeded from an account file (by default
events/demo_account.json). Each record's enriched line is printed to stdout with its result
and enrichment status, then a summary. The handler's own log lines (the structured batch
summary, and the EMF metrics) go to stderr, as they would go to CloudWatch.

    python scripts/local_invoke.py [EVENT.json ...] [--account ACCOUNT.json] [--quiet]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_EVENTS = ("seed_format.json", "recommended_format.json", "camel_case.json", "malformed.json")


@dataclass(frozen=True)
class LocalContext:
    """The parts of the Lambda context object that Powertools reads."""

    function_name: str = "EnrichFunction"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:EnrichFunction"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/EnrichFunction"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class UsageError(ValueError):
    """Bad input to the runner: reported in one line, without a traceback."""


def isolate_from_aws(region: str, *, quiet: bool) -> None:
    """Make sure nothing here can reach a real AWS account, and configure Powertools."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_API_GATEWAY", "AWS_CONFIG_FILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's documented fake credentials
        AWS_SESSION_TOKEN="testing",  # noqa: S106 - as above
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        POWERTOOLS_TRACE_DISABLED="true",
    )
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "apigw-access-log-enrichment")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ApiGatewayAccessLogs")
    if quiet:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"


def load_event(path: Path) -> dict[str, Any]:
    from local_apigateway import read_json_file  # noqa: PLC0415 - moto loads with it; see run()

    event = read_json_file(path, "event file", UsageError)
    if not isinstance(event, dict):
        raise UsageError(f"{path}: not a Firehose transformation event (expected a JSON object)")
    return event


def print_answers(answers: list[Any], results: Counter[str], statuses: Counter[str]) -> None:
    """Each record's answer as the handler gave it, with the handler's own reason for a failure."""
    for answer in answers:
        result = answer.result
        results[result] += 1
        if result == "Ok":
            line = base64.b64decode(answer.data).decode("utf-8")
            status = json.loads(line)["enrichment_status"]
            statuses[status] += 1
            print(f"  {result:<17} {status:<19} {line.rstrip()}")
        elif result == "Dropped":
            print(f"  {result:<17} {'re-ingested':<19} (did not fit the response; the stream accepted its copy)")
        else:
            print(f"  {result:<17} {answer.reason.value:<19} (kept as it came, under the stream's errors/ prefix)")


def run(event_paths: list[Path], account_path: Path, *, quiet: bool) -> None:
    # Imported here: moto and the handler must see the isolated environment.
    from local_apigateway import AccountFileError, load_account, seed_account  # noqa: PLC0415

    try:
        account = load_account(account_path)
    except AccountFileError as error:
        raise UsageError(str(error)) from None
    isolate_from_aws(str(account.get("region", "us-east-1")), quiet=quiet)
    events = [(path, load_event(path)) for path in event_paths]

    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from apigw_enrichment import handler as app  # noqa: PLC0415
    from apigw_enrichment.sources.firehose import InvalidEventError, validate_event  # noqa: PLC0415
    from apigw_enrichment.telemetry import instrumented, logger  # noqa: PLC0415

    logger.registered_handler.setStream(sys.stderr)  # type: ignore[attr-defined]
    # The handler as Lambda runs it (logging context, metrics, tracing), answering with the
    # Answer objects themselves: each failure keeps the reason the handler counted.
    handle = instrumented(app.handle)
    results: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    with mock_aws():
        try:
            seed_account(boto3.client("apigateway"), account)
        except AccountFileError as error:
            raise UsageError(f"{account_path}: {error}") from None
        for path, event in events:
            try:
                validate_event(event)
            except InvalidEventError as error:
                raise UsageError(f"{path}: {error}") from None
            print(f"== {path}: {len(event['records'])} records")
            sys.stdout.flush()
            # EMF metrics are printed by Powertools; send them to stderr with the logs.
            with contextlib.redirect_stdout(sys.stderr):
                answers = handle(event, LocalContext())
            print_answers(answers, results, statuses)
    print("== summary")
    print("  by result: " + ", ".join(f"{name} {count}" for name, count in sorted(results.items())))
    print("  by status: " + ", ".join(f"{name} {count}" for name, count in sorted(statuses.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", nargs="*", type=Path, help="Firehose event files (default: the sample events)")
    parser.add_argument("--account", type=Path, default=ROOT / "events" / "demo_account.json", help="account file")
    parser.add_argument("--quiet", action="store_true", help="hide the handler's own logs and metrics")
    args = parser.parse_args(argv)
    paths = args.events or [ROOT / "events" / name for name in DEFAULT_EVENTS]
    try:
        run(paths, args.account, quiet=args.quiet)
    except UsageError as error:
        print(f"local_invoke: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
