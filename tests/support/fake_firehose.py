"""A fake Firehose PutRecordBatch that can reject chosen entries or whole requests.

moto's Firehose accepts every entry, so it cannot show per-entry retries. This fake answers
at botocore's `before-send` hook in the real wire format (FailedPutCount, RequestResponses
with ErrorCode per entry), so the real serializer, parser and retry mode all run.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.awsrequest import AWSResponse

from tests.support.fake_apigateway import RawBody

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class FakeFirehose:
    # reject(payload, round) -> an ErrorCode for that entry, or None to accept it.
    reject: Callable[[bytes, int], str | None] = lambda _data, _n: None
    # request_error(request number) -> (status, code) to fail the whole request, or None.
    request_error: Callable[[int], tuple[int, str] | None] = lambda _n: None
    requests: list[list[bytes]] = field(default_factory=list)
    accepted: list[bytes] = field(default_factory=list)
    attempts_by_payload: dict[bytes, int] = field(default_factory=dict)

    def client(self) -> Any:
        client = boto3.client(
            "firehose", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        client.meta.events.register_first("before-send.firehose", self._answer)
        return client

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        body = json.loads(request.body)
        payloads = [base64.b64decode(record["Data"]) for record in body["Records"]]
        self.requests.append(payloads)
        error = self.request_error(len(self.requests))
        if error is not None:
            status, code = error
            return _response(status, {"__type": code, "message": "request failed"})
        responses = []
        for payload in payloads:
            attempt = self.attempts_by_payload.get(payload, 0) + 1
            self.attempts_by_payload[payload] = attempt
            code = self.reject(payload, attempt)
            if code is None:
                self.accepted.append(payload)
                responses.append({"RecordId": f"fh-{len(self.accepted)}"})
            else:
                responses.append({"ErrorCode": code, "ErrorMessage": "Slow down."})
        failed = sum(1 for response in responses if "ErrorCode" in response)
        return _response(200, {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": responses})


def _response(status: int, body: dict[str, Any]) -> AWSResponse:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    return AWSResponse("https://firehose.us-east-1.amazonaws.com", status, headers, RawBody(json.dumps(body).encode()))
