"""Where the handler's time goes: each step of a record on its own, on the benchmark's 2 MB batch.

    .venv/bin/python -m bench.steps      # from the repository's root; what docs/performance.md quotes

CPU time, the least of 41 runs of each step over the whole batch, each step's results kept as the
handler's loop keeps them. Not a test, and not part of `make bench`.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

from bench.run import QUIET, answer, use_bench_account  # noqa: F401 - QUIET: the environment, set on import

if TYPE_CHECKING:
    from collections.abc import Callable

RUNS = 41


def main() -> None:
    import msgspec  # noqa: PLC0415 - after bench.run has set the environment
    import orjson  # noqa: PLC0415
    import pybase64  # noqa: PLC0415

    from apigw_enrichment import handler as app  # noqa: PLC0415
    from apigw_enrichment import state  # noqa: PLC0415
    from apigw_enrichment.encoding.usual import UsualLines, shape_for  # noqa: PLC0415
    from apigw_enrichment.enrichment.keys import KeyReader  # noqa: PLC0415
    from apigw_enrichment.response import Reingest, fit_response  # noqa: PLC0415
    from apigw_enrichment.sources.firehose import validate_event  # noqa: PLC0415
    from apigw_enrichment.telemetry import BatchSummary  # noqa: PLC0415
    from apigw_logs.lambda_context import LocalContext  # noqa: PLC0415
    from bench import baselines, batches  # noqa: PLC0415

    event = batches.batch(2)
    records = event["records"]
    context = LocalContext()
    use_bench_account()
    answer(event, context)  # the cold load
    settings = state.settings()
    directory = state.usage_plan_cache().directory
    datas = [record["data"] for record in records]
    raws = [pybase64.b64decode(data, None, True) for data in datas]  # noqa: FBT003 - positional, as the handler calls it
    objs = [orjson.loads(raw) for raw in raws]
    keys = KeyReader(settings.api_id_fields, settings.stage_fields, settings.key_id_fields)

    def usual_lines() -> list[Any]:
        usual = UsualLines(settings, keys.read, directory)
        usual.learn(objs[0])  # as the careful path does for a batch's first line
        answered: list[Any] = []
        usual.answer_run(records, 0, answered)
        return answered

    shape = shape_for(tuple(objs[0]), ("api_id", "stage", "key_id", settings.status_field), "api_key")
    decode, encode = shape.decode, msgspec.json.Encoder().encode
    read = app.transform_entries(validate_event(event), settings, state.usage_plan_cache())
    if len(usual_lines()) != len(records):
        raise SystemExit("bench.steps: a line of the batch is not usual; the steps would not add up")
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("the whole handler", lambda: answer(event, context)),
        ("JSON parse (orjson: the careful path's, for comparison)", lambda: [orjson.loads(raw) for raw in raws]),
        ("the usual line: base64, read, proof, key, masking, the five fields, base64, the answer", usual_lines),
        (
            "... of which the base64 decode (pybase64, validating)",
            lambda: [pybase64.b64decode(d, None, True) for d in datas],  # noqa: FBT003
        ),
        (
            "... of which the read and its proof (msgspec)",
            lambda: [raw.startswith(encode(decode(raw))) for raw in raws],
        ),
        ("... of which the answer's base64 (pybase64)", lambda: [pybase64.b64encode_as_string(raw) for raw in raws]),
        (
            "response size and summary",
            lambda: (
                fit_response(read.entries, Reingest(event.get("deliveryStreamArn"), context)),  # type: ignore[arg-type] # LocalContext has LambdaContext's attributes
                BatchSummary.of(read.entries, 0, read.usual.statuses()),
            ),
        ),
        ("the floor, for comparison", lambda: baselines.floor(event)),
    ]
    print("| per record | µs |")
    print("| --- | ---: |")
    for label, step in steps:
        print(f"| {label} | {_least_seconds(step) / len(records) * 1e6:.2f} |")


def _least_seconds(step: Callable[[], Any]) -> float:
    least = float("inf")
    for _ in range(RUNS):
        gc.disable()  # as the handler's batch runs
        started = time.process_time()
        step()
        least = min(least, time.process_time() - started)
        gc.enable()
    return least


if __name__ == "__main__":
    main()
