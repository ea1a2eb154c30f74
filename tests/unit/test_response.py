"""The response size is counted exactly as the Lambda runtime serializes it."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from apigw_enrichment.response import answer_size, choose_overflow, entry_size, response_size

entries = st.lists(
    st.tuples(
        st.text(max_size=60),  # Firehose's ids are digits; any text is counted as an upper bound
        st.sampled_from(["Ok", "Dropped", "ProcessingFailed"]),
        st.binary(max_size=300).map(lambda raw: base64.b64encode(raw).decode()),
    ),
    max_size=20,
)


@given(entries)
def test_sizes_match_json_dumps_with_the_runtimes_separators(items):
    records = [{"recordId": rid, "result": result, "data": data} for rid, result, data in items]
    sizes = [entry_size(rid, result, data) for rid, result, data in items]
    assert sizes == [len(json.dumps(record)) for record in records]
    assert response_size(sizes) == len(json.dumps({"records": records}))
    ids, results, datas = zip(*items, strict=True) if items else ((), (), ())
    assert answer_size(ids, results, datas) == response_size(sizes)
    # ensure_ascii=False (the python3.12+ runtime) never writes more bytes than that.
    assert len(json.dumps({"records": records}, ensure_ascii=False).encode()) <= response_size(sizes)


def test_ids_that_need_escapes_are_counted_as_escaped_one_by_one():
    """answer_size escapes the ids joined, in one call: a lone surrogate next to another, or
    any escape, counts as it does alone."""
    items = [("\ud800", "Ok", "QQ=="), ("\udc00", "Dropped", ""), ('a"b\\c\n\u00e9\U0001f600', "ProcessingFailed", "")]
    items += [("49546986683135544286507457936321625675700192471156785154", "Ok", ""), ("del\x7f", "Ok", "")]
    records = [{"recordId": rid, "result": result, "data": data} for rid, result, data in items]
    ids, results, datas = zip(*items, strict=True)
    assert answer_size(ids, results, datas) == len(json.dumps({"records": records}))


def test_candidates_stay_in_order_while_they_fit_and_later_small_ones_still_fit():
    # fixed 100; candidates (ok, gone): the second is too big, the third still fits.
    limit = response_size([100, 300, 20, 50])
    assert choose_overflow([100], [(300, 20), (900, 20), (50, 20)], limit) == [False, True, False]
