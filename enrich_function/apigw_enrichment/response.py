"""The answer Firehose gets back, kept under Lambda's 6 MB response limit.

Sizes are pure arithmetic over the entries' strings: the Lambda runtime serializes the
handler's return value with json.dumps and its default separators (", " and ": "), which is
what is counted here, exactly. recordIds are counted with ensure_ascii escapes, an upper bound
for either setting of it; the data is base64 and needs no escaping.

Ok records that do not fit are put back into the stream, marked, with PutRecordBatch
(reingest.py), within one time budget for the invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import TYPE_CHECKING, cast

from apigw_enrichment import state
from apigw_enrichment.budget import Deadline
from apigw_enrichment.reingest import MAX_RECORD_BYTES, ReingestResult, parse_stream_arn, put_records
from apigw_enrichment.sources.firehose import REINGESTED_MARK, decode_base64

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from apigw_enrichment.answers import Answer, Entry

# Lambda refuses a synchronous response over 6 MB; this leaves 291,456 bytes below Lambda's 6 MiB
# for anything the runtime adds.
RESPONSE_LIMIT_BYTES = 6_000_000

_ENTRY_FRAME = len('{"recordId": , "result": , "data": ""}')
# The characters json.dumps writes as they are with ensure_ascii: printable ASCII but `"` and `\`.
_WRITTEN_AS_IS = bytes(code for code in range(0x20, 0x7F) if code not in b'"\\')
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
    # Escaping goes character by character, so the ids escaped one by one are their
    # concatenation escaped, less its two quotes, plus each id's two: one C call, not one an id.
    # The usual ids (Firehose's are digits) are printable ASCII with no quote or backslash,
    # written as they are: proven in two C calls, a third of escaping them.
    joined = "".join(record_ids)
    try:
        as_is = not joined.encode("ascii").translate(None, _WRITTEN_AS_IS)
    except UnicodeEncodeError:
        as_is = False
    escaped = len(joined) if as_is else len(encode_basestring_ascii(joined)) - 2
    escaped += 2 * count
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


# Re-ingesting what does not fit gets at most this, and always leaves REINGEST_RESERVE for a
# PutRecordBatch in flight (3 s connect + 5 s read) and the answer.
REINGEST_BUDGET_SECONDS = 10.0
REINGEST_RESERVE_SECONDS = 12.0


class ResponseFailure(StrEnum):
    # Did not fit in the 6 MB response and Firehose did not accept its re-ingested copy.
    RESPONSE_FULL = "response_full"


@dataclass(frozen=True, slots=True)
class Fit:
    """The serialized size of the answer, and what re-ingesting took (None: all fitted)."""

    response_bytes: int
    reingested: ReingestResult | None


def fit_response(
    answers: list[Entry],
    reingest: Callable[[list[bytes]], ReingestResult],
    limit: int = RESPONSE_LIMIT_BYTES,
    *,
    materialize: Callable[[int], Answer] | None = None,
) -> Fit:
    """Keep the serialized response within `limit`, changing answers in place.

    Ok records that do not fit are put back into the stream, enriched. Each one Firehose
    accepts is answered Dropped; any other fails with its original data, so Firehose keeps
    it under the error prefix. Nothing is dropped that is not safely in the stream.

    `materialize(index)` makes an Answer of a plain entry (a usual line's), in its place; without
    it, every entry must be an Answer already.
    """
    size = _answer_size(answers)
    if size <= limit:  # the usual case
        return Fit(size, None)
    # Rare (a 0.4 MB buffer of direct records answers 0.7 MB): every Ok entry becomes an Answer.
    ok = [index for index, entry in enumerate(answers) if entry["result"] == "Ok"]
    candidates = [materialize(index) for index in ok] if materialize else [cast("Answer", answers[i]) for i in ok]
    fixed = [entry_size(a["recordId"], a["result"], a["data"]) for a in answers if a["result"] != "Ok"]
    sizes = [(entry_size(a.record_id, "Ok", a.data), entry_size(a.record_id, "Dropped", "")) for a in candidates]
    leaves = choose_overflow(fixed, sizes, limit)
    overflow = [a for a, out in zip(candidates, leaves, strict=True) if out]
    if not overflow:  # only answers that are not Ok, and they stay as they are
        return Fit(size, None)
    result = _move_out(overflow, reingest)
    # Firehose refused some copies, which now fail with their (larger) original data: make
    # room by moving more Ok records out, last first, counting each as failing too.
    kept = [a for a, out in zip(candidates, leaves, strict=True) if not out]
    more = _room_for(answers, kept, limit)
    if more:
        result = result.merged(_move_out(more, reingest))
    return Fit(_answer_size(answers), result)


def _move_out(overflow: Sequence[Answer], reingest: Callable[[list[bytes]], ReingestResult]) -> ReingestResult:
    # The enriched lines, decoded again: only for the few records that leave. Marked, so that
    # each copy passes through unchanged when it comes back (not enriched twice). A record
    # whose lines would make a copy over PutRecordBatch's 1,000 KiB (a CloudWatch Logs
    # subscription record holds many) goes back as several copies, split between lines.
    payloads: list[bytes] = []
    owners: list[int] = []
    for index, answer in enumerate(overflow):
        for piece in split_lines(decode_base64(answer.data), MAX_RECORD_BYTES - len(REINGESTED_MARK)):
            payloads.append(REINGESTED_MARK + piece)
            owners.append(index)
    result = reingest(payloads)
    # A record leaves only if every one of its copies is in the stream; otherwise it fails with
    # its original data (kept under errors/), even if some of its copies were accepted.
    whole = [True] * len(overflow)
    for owner, accepted in zip(owners, result.accepted, strict=True):
        whole[owner] = whole[owner] and accepted
    for answer, accepted in zip(overflow, whole, strict=True):
        if accepted:
            answer.drop()
        else:
            answer.fail(ResponseFailure.RESPONSE_FULL)
    return result


def split_lines(data: bytes, limit: int) -> list[bytes]:
    """`data` in pieces of at most `limit` bytes, each cut just after a newline. A single line
    longer than `limit` is a piece of its own (PutRecordBatch will refuse it, and its record fails)."""
    if len(data) <= limit:
        return [data]
    pieces: list[bytes] = []
    start = 0
    while len(data) - start > limit:
        cut = data.rfind(b"\n", start, start + limit) + 1
        if cut <= start:  # no newline within the limit: the whole line, too long, on its own
            cut = data.find(b"\n", start + limit) + 1 or len(data)
        pieces.append(data[start:cut])
        start = cut
    if start < len(data):
        pieces.append(data[start:])
    return pieces


def _room_for(answers: Sequence[Entry], kept: Sequence[Answer], limit: int) -> list[Answer]:
    """The Ok records, last first, that must leave so the answer fits even if all of them fail.

    A record that fails goes back as it came, smaller than enriched; if every record did,
    the answer would be no bigger than the event Firehose sent.
    """
    size = _answer_size(answers)
    chosen = []
    for answer in reversed(kept):
        if size <= limit:
            break
        saving = entry_size(answer.record_id, "Ok", answer.data) - entry_size(
            answer.record_id, "ProcessingFailed", answer.original
        )
        if saving > 0:
            chosen.append(answer)
            size -= saving
    return chosen


def _answer_size(answers: Sequence[Entry]) -> int:
    return answer_size(list(map(_RECORD_ID_OF, answers)), map(_RESULT_OF, answers), map(_DATA_OF, answers))


_RECORD_ID_OF, _RESULT_OF, _DATA_OF = itemgetter("recordId"), itemgetter("result"), itemgetter("data")


class Reingest:
    """Puts records back into the invocation's stream, within one budget for the invocation.

    fit_response may call it twice (a second time to make room when Firehose refused copies);
    the budget is counted from the first call, so a hanging endpoint costs REINGEST_BUDGET_SECONDS
    once, not once a call.
    """

    def __init__(self, stream_arn: object, context: LambdaContext) -> None:
        self._stream = parse_stream_arn(stream_arn)
        self._context = context
        self._deadline: Deadline | None = None

    def __call__(self, payloads: list[bytes]) -> ReingestResult:
        if self._stream is None:
            return ReingestResult((False,) * len(payloads), 0, 0, 0, "the event has no valid deliveryStreamArn")
        if self._deadline is None:
            remaining = self._context.get_remaining_time_in_millis() / 1000
            self._deadline = Deadline(max(0.0, min(REINGEST_BUDGET_SECONDS, remaining - REINGEST_RESERVE_SECONDS)))
        return put_records(state.firehose_client(self._stream.region), self._stream.name, payloads, self._deadline)
