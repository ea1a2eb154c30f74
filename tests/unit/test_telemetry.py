"""Tracing: on in Lambda as Powertools decides (botocore alone patched), off elsewhere (the SDK not even imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from apigw_enrichment.telemetry import tracing_on
from tests.support.events import ROOT

IN_LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task"}


@pytest.mark.parametrize(
    ("environ", "traces"),
    [
        (IN_LAMBDA, True),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({**IN_LAMBDA, "AWS_SAM_LOCAL": "true"}, False),
        ({**IN_LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}, False),
        ({}, False),  # outside Lambda: the command line, the tests, the benchmark
    ],
)
def test_traces_in_lambda_unless_disabled_or_local(environ, traces):
    assert tracing_on(environ) is traces


def imported_in(environ: dict[str, str], then: str = "") -> dict[str, object]:
    """What a fresh interpreter holds after importing the handler (and running `then`)."""
    code = (
        "import json, sys\n"
        "import apigw_enrichment.handler\n"
        "from apigw_enrichment import state\n"
        f"{then}\n"
        "patched = sys.modules.get('aws_xray_sdk.core.patcher')\n"
        "print(json.dumps({'xray': 'aws_xray_sdk.core' in sys.modules,\n"
        "                  'patched': sorted(patched._PATCHED_MODULES) if patched else [],\n"
        "                  'sqlite3': 'sqlite3' in sys.modules}))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_TRACE", "LAMBDA_TASK_ROOT"))}
    ran = subprocess.run(
        [sys.executable, "-c", code], env={**base, **environ}, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(ran.stdout.splitlines()[-1])


def test_outside_lambda_the_x_ray_sdk_is_not_even_imported():
    """Its recorder, outside Lambda, builds a botocore client at import to poll sampling rules."""
    assert imported_in({}) == {"xray": False, "patched": [], "sqlite3": False}


def test_in_lambda_botocore_alone_is_patched():
    """Every AWS call is traced, the refresher's clients' too (it makes its own); no other library
    the X-Ray SDK knows is loaded to be patched."""
    environ = {**IN_LAMBDA, "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    assert imported_in(environ) == {"xray": True, "patched": ["botocore"], "sqlite3": False}
    made = imported_in(environ, then="import apigw_enrichment.refresher; state.apigateway_client()")
    assert made == {"xray": True, "patched": ["botocore"], "sqlite3": False}
