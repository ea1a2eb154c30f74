"""The size of the answer Firehose gets back, kept under Lambda's 6 MB response limit.

Pure arithmetic over the entries' strings: the Lambda runtime serializes the handler's
return value with json.dumps and its default separators (", " and ": "), which is what is
counted here, exactly. recordIds are counted with ensure_ascii escapes, an upper bound
for either setting of it; the data is base64 and needs no escaping.
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Lambda refuses a synchronous response over 6 MB; this is the bound the issue sets, and
# it leaves 291,456 bytes below Lambda's 6 MiB for anything the runtime adds.
RESPONSE_LIMIT_BYTES = 6_000_000

_ENTRY_FRAME = len('{"recordId": , "result": , "data": ""}')
_RESPONSE_FRAME = len('{"records": []}')
_SEPARATOR = len(", ")


def entry_size(record_id: str, result: str, data: str) -> int:
    """Bytes of one serialized response entry {"recordId", "result", "data"}."""
    # What json.dumps writes for a string with ensure_ascii, without its per-call overhead.
    return _ENTRY_FRAME + len(encode_basestring_ascii(record_id)) + len(result) + 2 + len(data)


def answer_size(record_ids: Sequence[str], results: Iterable[str], datas: Iterable[str]) -> int:
    """Bytes of {"records": [...]} holding these entries: response_size(entry_size(...) ...),
    summed by C-level maps rather than a Python call per entry."""
    count = len(record_ids)
    escaped = sum(map(len, map(encode_basestring_ascii, record_ids)))
    fixed = (_ENTRY_FRAME + 2) * count + _SEPARATOR * max(0, count - 1)
    return _RESPONSE_FRAME + fixed + escaped + sum(map(len, results)) + sum(map(len, datas))


def response_size(entry_sizes: Iterable[int]) -> int:
    """Bytes of {"records": [...]} holding entries of these sizes."""
    total, count = 0, 0
    for size in entry_sizes:
        total += size
        count += 1
    return _RESPONSE_FRAME + total + _SEPARATOR * max(0, count - 1)


def choose_overflow(fixed: Sequence[int], candidates: Sequence[tuple[int, int]], limit: int) -> list[bool]:
    """Decide which Ok entries leave the response, so that it stays within `limit`.

    `fixed` are the sizes of entries that stay as they are. Each candidate is (its size
    as Ok, its size once it has left), and candidates stay, in order, while they fit;
    every later one that fits stays too. Returns, per candidate, True if it must leave.
    """
    total = response_size([*fixed, *(gone for _, gone in candidates)])
    overflow = []
    for ok_size, gone in candidates:
        grown = total - gone + ok_size
        if grown <= limit:
            total = grown
            overflow.append(False)
        else:
            overflow.append(True)
    return overflow
