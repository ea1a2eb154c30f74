"""A stand-in for the Lambda context object, for running the handler outside Lambda."""

from __future__ import annotations

from dataclasses import dataclass


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
