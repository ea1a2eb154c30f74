"""What each record of a batch is answered with.

The response Firehose gets is a list of entries, `{"recordId", "result", "data"}`, as the
runtime serializes them. A usual line's entry is a plain dict, made in one step and counted
with its caller (encoding/usual.py); any other record's is an Answer: the entry itself, with
what the handler knows of it besides (why it failed, its enrichment status...). Either is sent
as it is: no copy a record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections import Counter
    from enum import StrEnum


Result = Literal["Ok", "Dropped", "ProcessingFailed"]

# One record's entry in the response: {"recordId": ..., "result": ..., "data": ...}.
Entry = dict[str, str]


class Answer(Entry):
    """What one record is answered with, and why: its response entry, and what else is known of
    it. A record that failed, or a subscription record (its lines have statuses of their own),
    has no status (BatchSummary counts on it)."""

    __slots__ = ("line_statuses", "original", "reason", "status")

    def __init__(self, record_id: str, result: Result, data: str, original: str, status: str | None = None) -> None:
        super().__init__(recordId=record_id, result=result, data=data)  # data: base64, as sent back
        self.original = original  # base64, as Firehose sent it
        self.status = status  # Ok: the enrichment status; None if it passed through
        self.reason: StrEnum | None = None  # ProcessingFailed: why
        # A CloudWatch Logs subscription record's lines: how many got each enrichment status.
        self.line_statuses: Counter[str] | None = None

    @property
    def record_id(self) -> str:
        return self["recordId"]

    @property
    def result(self) -> str:
        return self["result"]

    @result.setter
    def result(self, result: Result) -> None:
        self["result"] = result

    @property
    def data(self) -> str:
        return self["data"]

    @data.setter
    def data(self, data: str) -> None:
        self["data"] = data

    def fail(self, reason: StrEnum) -> None:
        # The original goes back untouched; Firehose keeps it under the error prefix.
        self.result, self.data, self.reason, self.status = "ProcessingFailed", self.original, reason, None
        self.line_statuses = None

    def drop(self) -> None:
        # Its enriched copy is in the stream already: nothing to deliver from here.
        self.result, self.data = "Dropped", ""
