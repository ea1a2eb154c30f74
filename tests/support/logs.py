"""What a test run logged: the handler's Logger, stdout/stderr (EMF metrics) and every logger."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import io

    import pytest


def everything_logged(
    handler_logs: io.StringIO, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> str:
    """All a test run wrote: the handler's Logger, stdout/stderr (EMF metrics) and every logger (botocore)."""
    captured = capsys.readouterr()
    return handler_logs.getvalue() + captured.out + captured.err + caplog.text


def all_emf_metrics(text: str) -> list[dict[str, Any]]:
    """Each EMF metrics document (one JSON object a line, with an "_aws" member) in `text`."""
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def emf_metrics(text: str) -> list[dict[str, Any]]:
    """The batch's own EMF metrics documents in `text`: all but the per-plan ones."""
    return [document for document in all_emf_metrics(text) if "UsagePlan" not in document]


def plan_metrics(text: str) -> dict[str, dict[str, float]]:
    """The per-plan EMF metrics in `text`: plan -> metric -> total."""
    totals: dict[str, dict[str, float]] = {}
    for document in all_emf_metrics(text):
        if "UsagePlan" in document:
            plan = totals.setdefault(document["UsagePlan"], {})
            for metric in ("Requests", "ClientErrors", "ServerErrors"):
                plan[metric] = plan.get(metric, 0) + sum(document[metric])
    return totals
