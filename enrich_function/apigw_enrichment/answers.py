"""What each record of a batch is answered with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections import Counter
    from enum import StrEnum


Result = Literal["Ok", "Dropped", "ProcessingFailed"]


@dataclass(slots=True)
class Answer:
    """What one record is answered with, and why. A record that failed, or a subscription record
    (its lines have statuses of their own), has no status (BatchSummary counts on it)."""

    record_id: str
    result: Result
    data: str  # base64, as it goes into the response
    original: str  # base64, as Firehose sent it
    status: str | None = None  # Ok: the enrichment status; None if it passed through
    reason: StrEnum | None = None  # ProcessingFailed: why
    # A CloudWatch Logs subscription record's lines: how many got each enrichment status.
    line_statuses: Counter[str] | None = None

    def fail(self, reason: StrEnum) -> None:
        # The original goes back untouched; Firehose keeps it under the error prefix.
        self.result, self.data, self.reason, self.status = "ProcessingFailed", self.original, reason, None
        self.line_statuses = None

    def drop(self) -> None:
        # Its enriched copy is in the stream already: nothing to deliver from here.
        self.result, self.data = "Dropped", ""
