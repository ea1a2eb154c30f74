"""Putting records that do not fit in the response back into the delivery stream.

PutRecordBatch accepts a request and still rejects some of its entries (FailedPutCount,
an ErrorCode per entry); botocore retries whole requests but not those entries, so they
are retried here, in rounds with backoff, within a bound. A caller may only drop a record
from its response once the record is reported accepted here.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from apigw_enrichment.budget import BudgetExhaustedError, Deadline, metered

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_firehose.type_defs import RecordTypeDef

# PutRecordBatch's limits: 500 records and 4 MiB a request, 1,000 KiB a record.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024
# Rounds of retries for rejected entries: 0.1 s, 0.2 s, 0.4 s... with full jitter.
MAX_ROUNDS = 4
BASE_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 2.0
# Errors that another try of the same request cannot fix.
_PERMANENT_CODES = frozenset(
    {"ResourceNotFoundException", "InvalidArgumentException", "AccessDeniedException", "InvalidKMSResourceException"}
)
_STREAM_ARN = re.compile(r"^arn:[\w-]+:firehose:([a-z0-9-]+):\d{12}:deliverystream/([a-zA-Z0-9_.-]{1,64})$")


@dataclass(frozen=True, slots=True)
class StreamRef:
    region: str
    name: str


def parse_stream_arn(arn: object) -> StreamRef | None:
    """The region and name in an event's deliveryStreamArn, or None if it is not one."""
    match = _STREAM_ARN.match(arn) if isinstance(arn, str) else None
    return StreamRef(match.group(1), match.group(2)) if match else None


@dataclass(frozen=True, slots=True)
class ReingestResult:
    """Which payloads Firehose accepted, and what it took."""

    accepted: tuple[bool, ...]
    requests: int
    rounds: int
    too_large: int
    error: str | None = None  # the last whole-request error, if any

    @property
    def accepted_count(self) -> int:
        return sum(self.accepted)

    def merged(self, later: ReingestResult) -> ReingestResult:
        """This result and a later one for more payloads, as one report."""
        return ReingestResult(
            self.accepted + later.accepted,
            self.requests + later.requests,
            self.rounds + later.rounds,
            self.too_large + later.too_large,
            later.error or self.error,
        )


def chunks(indices: Sequence[int], payloads: Sequence[bytes]) -> list[list[int]]:
    """Split payload indices into requests of at most 500 records and 4 MiB."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in indices:
        length = len(payloads[index])
        if current and (len(current) == MAX_BATCH_RECORDS or size + length > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(index)
        size += length
    if current:
        batches.append(current)
    return batches


def put_records(
    client: FirehoseClient,
    stream_name: str,
    payloads: Sequence[bytes],
    deadline: Deadline,
    *,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> ReingestResult:
    """Put each payload into the stream; report per payload whether Firehose accepted it."""
    accepted = [False] * len(payloads)
    pending = [index for index, payload in enumerate(payloads) if 0 < len(payload) <= MAX_RECORD_BYTES]
    too_large = sum(1 for payload in payloads if len(payload) > MAX_RECORD_BYTES)
    rounds = 0
    error: str | None = None
    with metered(client, "firehose", deadline) as meter:
        while pending and rounds < MAX_ROUNDS and not deadline.expired():
            if rounds:
                backoff = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (rounds - 1))
                sleep(backoff * jitter())
            rounds += 1
            rejected: list[int] = []
            for batch in chunks(pending, payloads):
                records: list[RecordTypeDef] = [{"Data": payloads[index]} for index in batch]
                try:
                    response = client.put_record_batch(DeliveryStreamName=stream_name, Records=records)
                except BudgetExhaustedError:
                    error = "re-ingest budget used up"
                    rejected.extend(batch)
                    continue
                except ClientError as failure:
                    info = failure.response.get("Error", {})
                    error = f"{info.get('Code', 'Unknown')}: {info.get('Message', '')}".strip()
                    if info.get("Code") in _PERMANENT_CODES:
                        return ReingestResult(tuple(accepted), meter.requests, rounds, too_large, error)
                    rejected.extend(batch)
                    continue
                except BotoCoreError as failure:
                    error = f"{type(failure).__name__}: {failure}"
                    rejected.extend(batch)
                    continue
                entries = response.get("RequestResponses", [])
                if len(entries) != len(batch):  # never expected; trust nothing from such an answer
                    rejected.extend(batch)
                    continue
                for index, entry in zip(batch, entries, strict=True):
                    if entry.get("RecordId") and not entry.get("ErrorCode"):
                        accepted[index] = True
                    else:
                        rejected.append(index)
            pending = rejected
    return ReingestResult(tuple(accepted), meter.requests, rounds, too_large, error)
