"""Against a deployed stack: a record put on the stream arrives in S3, enriched.

Skipped unless AWS_SAM_STACK_NAME names a deployed stack (and credentials for its account are
set). Resource names come from the stack's outputs. Firehose buffers for up to 5 minutes.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid

import boto3
import pytest

STACK = os.environ.get("AWS_SAM_STACK_NAME")
pytestmark = pytest.mark.skipif(not STACK, reason="set AWS_SAM_STACK_NAME to test a deployed stack")


@pytest.fixture(scope="module")
def outputs():
    stack = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_a_record_put_on_the_stream_lands_in_s3_enriched(outputs):
    request_id = f"integration-{uuid.uuid4()}"
    line = {"request_id": request_id, "api_id": "no-such-api", "stage": "prod", "key_id": "-"}
    boto3.client("firehose").put_record(
        DeliveryStreamName=outputs["DeliveryStreamName"], Record={"Data": json.dumps(line).encode()}
    )
    s3 = boto3.client("s3")
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=outputs["LogBucketName"], Prefix="logs/"):
            for item in page.get("Contents", []):
                body = gzip.decompress(s3.get_object(Bucket=outputs["LogBucketName"], Key=item["Key"])["Body"].read())
                for record in map(json.loads, body.splitlines()):
                    if record.get("request_id") == request_id:
                        assert record == {**line, "usage_plan_id": None, "usage_plan_name": None,
                                          "customer_id": None, "customer_name": None,
                                          "enrichment_status": "no_api_key"}  # fmt: skip
                        return
        time.sleep(20)
    pytest.fail(f"{request_id} did not arrive in s3://{outputs['LogBucketName']}/logs/ within 7 minutes")
