"""A record that cannot be answered Ok, and why.

Each layer names its own reasons (SourceFailure, FormatFailure, EncodingFailure,
ResponseFailure): a short fixed code, safe to count in a metric (`Failed_<reason>`) and never
the payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enum import StrEnum


class RecordError(Exception):
    """A record that cannot be enriched. `reason` is one of the layers' failure codes."""

    def __init__(self, reason: StrEnum) -> None:
        super().__init__(reason.value)
        self.reason = reason
