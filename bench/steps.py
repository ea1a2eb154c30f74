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
    import orjson  # noqa: PLC0415 - after bench.run has set the environment
    import pybase64  # noqa: PLC0415

    from apigw_enrichment import handler as app  # noqa: PLC0415
    from apigw_enrichment import state  # noqa: PLC0415
    from apigw_enrichment.answers import Answer  # noqa: PLC0415
    from apigw_enrichment.encoding.splice import SplicePlanner  # noqa: PLC0415
    from apigw_enrichment.enrichment.directory import enrichment_for  # noqa: PLC0415
    from apigw_enrichment.enrichment.keys import KeyReader  # noqa: PLC0415
    from apigw_enrichment.response import Reingest, fit_response, records_of  # noqa: PLC0415
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
    datas = [record["data"] for record in records]
    raws = [pybase64.b64decode(data, None, True) for data in datas]  # noqa: FBT003 - positional, as the handler calls it
    objs = [orjson.loads(raw) for raw in raws]
    planner = SplicePlanner(settings.api_key_values, settings.key_value_fields)
    splices = [planner.plan_line(raw, obj) for raw, obj in zip(raws, objs, strict=True)]
    keys = KeyReader(settings.api_id_fields, settings.stage_fields, settings.key_id_fields)
    members = enrichment_for(keys.read(objs[0]), state.usage_plan_cache().view_for([]).directory).json_members
    answers = app.transform_batch(validate_event(event), settings, state.usage_plan_cache()).answers
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("the whole handler", lambda: answer(event, context)),
        ("base64 decode (pybase64, validating)", lambda: [pybase64.b64decode(d, None, True) for d in datas]),  # noqa: FBT003
        ("JSON parse (orjson)", lambda: [orjson.loads(raw) for raw in raws]),
        (
            "plain proof and splice plan, masking included",
            lambda: [planner.plan_line(raw, obj) for raw, obj in zip(raws, objs, strict=True)],
        ),
        ("key reading", lambda: [keys.read(obj) for obj in objs]),
        ("the answer object", lambda: [Answer(r["recordId"], "Ok", "", r["data"]) for r in records]),
        (
            "the answer's base64 (pybase64)",
            lambda: [pybase64.b64encode_as_string(s + members) for s in splices if isinstance(s, bytes)],
        ),
        (
            "response size, summary, response dicts",
            lambda: (
                fit_response(answers, Reingest(event.get("deliveryStreamArn"), context)),  # type: ignore[arg-type] # LocalContext has LambdaContext's attributes
                BatchSummary.of(answers, 0),
                records_of(answers),
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
