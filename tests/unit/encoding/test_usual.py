"""The usual line, answered in one step (usual.py), against the careful path (splice.py and
plain.py) on the same batches: the same answers, byte for byte, and the same traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apigw_enrichment import handler as app
from apigw_enrichment.config import ApiKeyValuePolicy, Settings
from apigw_enrichment.encoding.usual import MAX_SHAPES_A_BATCH, UsualLines
from apigw_enrichment.enrichment.directory import Customer, PlanKeys, build_directory
from apigw_enrichment.enrichment.keys import KeyReader
from apigw_enrichment.enrichment.usage_plans import FetchResult, UsagePlanCache
from apigw_enrichment.sources.firehose import decode_base64, validate_event
from tests.support.directory import KNOWN_API, KNOWN_KEY, KNOWN_STAGE
from tests.support.events import firehose_event
from tests.unit.encoding.test_splice import KEY, ODD_INPUT, SECRETS, assert_no_raw_key_value, objects

if TYPE_CHECKING:
    from collections.abc import Iterator

POLICIES = list(ApiKeyValuePolicy)
OTHER_KEY = "q9w8e7r6t5"  # on no plan: answered unknown_api_key


def recommended(**changes: Any) -> bytes:
    """A line as the recommended format writes it (orjson writes the same bytes)."""
    line = {
        "request_id": "r-1",
        "api_id": KNOWN_API,
        "stage": KNOWN_STAGE,
        "resource_path": "/orders/{id}",
        "status": "200",
        "api_key": KEY,
        "key_id": KNOWN_KEY,
        "user_agent": "curl/8.5",
    }
    line.update(changes)
    return orjson.dumps({name: value for name, value in line.items() if value is not _ABSENT})


_ABSENT = object()

# Lines of the recommended shape: after the first (the careful path's, which learns the shape),
# each is answered in one step.
USUAL = [
    recommended(),
    recommended(status="404"),
    recommended(key_id=OTHER_KEY, api_key="AnotherRawKeyValue0000000000zzzz"),
    recommended(api_key="-"),
    recommended(api_key=""),
    recommended(api_key="****a1f3"),
    recommended(key_id="-"),
    recommended(key_id=""),
    recommended(api_id="-", stage=""),
    recommended(resource_path="/a/{b}/{c}"),
    recommended(user_agent="Mozilla/5.0 (X11; Linux x86_64) ✓ é \u2028"),
    recommended() + b"\r\n",  # whitespace after the object
]
# Lines the usual path declines after a line of the recommended shape: each must come out as the
# careful path writes it.
UNUSUAL = [
    recommended(status=404),
    recommended(status=None),
    recommended(status=404.0),
    recommended(status=[200]),
    recommended(key_id=7),
    recommended(key_id=["k"]),
    recommended(api_key=12345),
    recommended(api_key=_ABSENT),  # another shape
    recommended(api_id=_ABSENT),
    recommended(status=_ABSENT),
    recommended(apiKey="otherSecretValue0000"),
    recommended(apiId=KNOWN_API),
    recommended(customer_id="mine"),
    recommended(enrichment_status="mine"),
    recommended(inner={"api_key": "nested-secret-1234"}),
    # A header holding quotes, as API Gateway logs it (unescaped): two key ids, conflicting; two raw keys
    recommended(user_agent="UA").replace(b'"UA"', b'"x","key_id":"' + OTHER_KEY.encode() + b'"'),
    recommended(user_agent="UA").replace(b'"UA"', b'"x","api_key":"nested-secret-1234"'),
    recommended(user_agent="back\\slash"),
    recommended(user_agent="tab\there"),
    recommended()[:-1] + b',"n":123456789012345678901234567890}',  # past 64 bits
    recommended().replace(b'","', b'", "'),  # whitespace between members
    recommended().replace(b'"api_id"', b'"api\\u005fid"'),  # a name escaped
    b"[" + recommended() + b"]",
    b"not json",
]


def directory_cache(*, loaded: bool = True) -> UsagePlanCache:
    """A cache serving one plan with the known key; loaded already, or at the batch's first view."""
    plan = PlanKeys(
        {"id": "pl0gold001", "name": "Gold", "apiStages": [{"apiId": KNOWN_API, "stage": KNOWN_STAGE}]},
        (Customer(KNOWN_KEY, "Acme Corp", None),),
    )
    directory = build_directory([plan], [{"id": KNOWN_KEY, "name": "Acme Corp", "customerId": "cust-acme-001"}])
    cache = UsagePlanCache(lambda _deadline: FetchResult(directory, 0), ttl_seconds=900, miss_refresh_seconds=60)
    if loaded:
        cache.view_for([])
        assert cache.directory is directory
    return cache


def answered(
    lines: list[bytes], policy: ApiKeyValuePolicy, *, usual: bool, loaded: bool = True
) -> tuple[list[tuple[Any, ...]], dict[Any, int], int]:
    """Each answer as (result, data, status, reason), the traffic, and how many lines the usual path took."""
    taken = 0
    original = UsualLines.answer_run

    def counted(self: UsualLines, records: Any, start: int, answers: Any) -> int:
        nonlocal taken
        stop = original(self, records, start, answers) if usual else start
        taken += stop - start
        return stop

    event = validate_event(firehose_event(list(lines)))
    with patched(UsualLines, "answer_run", counted):
        result = app.transform_batch(event, Settings(api_key_values=policy), directory_cache(loaded=loaded))
    answers = [(a.result, decode_base64(a.data), a.status, a.reason) for a in result.answers]
    return answers, dict(result.traffic), taken


class patched:  # noqa: N801 - used as a context manager, like unittest.mock.patch
    def __init__(self, owner: type, name: str, value: Any) -> None:
        self._owner, self._name, self._value = owner, name, value

    def __enter__(self) -> None:
        self._previous = getattr(self._owner, self._name)
        setattr(self._owner, self._name, self._value)

    def __exit__(self, *_: object) -> None:
        setattr(self._owner, self._name, self._previous)


def assert_same_both_ways(
    lines: list[bytes], policy: ApiKeyValuePolicy, *, loaded: bool = True, secrets: tuple[str, ...] = SECRETS
) -> int:
    ours, our_traffic, taken = answered(lines, policy, usual=True, loaded=loaded)
    theirs, their_traffic, none = answered(lines, policy, usual=False, loaded=loaded)
    assert none == 0
    assert ours == theirs
    assert our_traffic == their_traffic
    for result, data, _, _ in ours:
        if result == "Ok":
            assert_no_raw_key_value(data, policy, secrets)
    return taken


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("loaded", [True, False], ids=["warm", "cold"])
def test_usual_lines_are_answered_in_one_step_as_the_careful_path_answers_them(policy, loaded):
    # GIVEN the lines a stage usually sends, under each policy, the directory loaded or not yet
    # WHEN they are answered with the usual path, and again with the careful path alone
    taken = assert_same_both_ways(USUAL, policy, loaded=loaded)
    # THEN the answers, bytes and statuses and traffic, are the same; and the usual path took
    # every line after the first (with drop, none: a raw key field to remove is the plain path's)
    assert taken == (0 if policy is ApiKeyValuePolicy.DROP else len(USUAL) - 1)


def test_with_drop_a_shape_without_a_raw_key_field_is_answered_in_one_step():
    lines = [recommended(api_key=_ABSENT), recommended(api_key=_ABSENT, status="500")]
    assert assert_same_both_ways(lines, ApiKeyValuePolicy.DROP) == 1


@pytest.mark.parametrize("policy", POLICIES)
def test_any_other_line_is_left_to_the_careful_path(policy):
    # GIVEN lines that are not of the learned shape (a status or key of another type, another
    # member, a raw key field more, one of the five, nested, a backslash, a quote in a header...)
    # THEN each is answered exactly as the careful path answers it, whichever shape it follows
    assert_same_both_ways([USUAL[0], *UNUSUAL, *ODD_INPUT], policy)
    for line in UNUSUAL:  # and the usual path declines each, after a line of the recommended shape
        assert answered([USUAL[0], line], policy, usual=True)[2] == 0, line


def test_a_status_equal_to_another_of_another_type_is_counted_apart():
    # GIVEN one caller's lines with 404 as a number, as text, as a float and as true for 1
    lines = [recommended(status="404"), recommended(status="404"), recommended(status=404), recommended(status=404.0)]
    lines += [recommended(status=1), recommended(status=True)]
    # THEN the traffic keeps each status code as logged, and the float and true are no status code
    _, traffic, taken = answered(lines, ApiKeyValuePolicy.MASK, usual=True)
    assert taken == 1
    assert traffic == {("pl0gold001", 404): 1, ("pl0gold001", "404"): 2, ("pl0gold001", None): 2, ("pl0gold001", 1): 1}


def test_a_directory_the_batch_loads_rewrites_the_usual_answers():
    # GIVEN a cache with nothing loaded: the usual path answers with no directory
    # WHEN the batch's view loads it
    lines = [recommended(), recommended(), recommended(key_id=OTHER_KEY)]
    answers, _, taken = answered(lines, ApiKeyValuePolicy.MASK, usual=True, loaded=False)
    # THEN the answers are those of the loaded directory
    assert taken == 2
    assert [status for _, _, status, _ in answers] == ["enriched", "enriched", "unknown_api_key"]
    assert b'"usage_plan_id":"pl0gold001"' in answers[1][1]
    assert answers[1][1].endswith(b'"enrichment_status":"enriched"}\n')


def renamed(line: bytes, old: str, new: str) -> bytes:
    return orjson.dumps({(new if name == old else name): value for name, value in orjson.loads(line).items()})


def test_each_shape_masks_its_own_raw_key_field_even_for_a_value_seen_under_another():
    # GIVEN one key value logged as api_key by one stage and as apiKey by another, in one batch
    lines = [USUAL[0], USUAL[0], *[renamed(USUAL[0], "api_key", "apiKey")] * 3]
    # THEN both shapes are answered in one step after their first line, as the careful path would
    assert assert_same_both_ways(lines, ApiKeyValuePolicy.MASK) == len(lines) - 2


def test_shapes_that_take_turns_are_each_learned_once():
    # GIVEN two stages' formats taking turns, more often than a batch learns new shapes
    other = orjson.dumps({"x": "1", **orjson.loads(USUAL[0])})
    runs = 2 * (MAX_SHAPES_A_BATCH + 2)
    lines = ([USUAL[0]] * 3 + [other] * 3) * (runs // 2)
    # THEN each run's first line goes back to its shape (the careful path answers it), and the
    # rest of the run is answered in one step, however many turns they take
    assert assert_same_both_ways(lines, ApiKeyValuePolicy.MASK) == len(lines) - runs


def test_names_no_shape_is_made_of_are_refused_once_a_batch(monkeypatch):
    # GIVEN a batch of the careful path's lines: a status logged as a number, and another name of
    # an identity beside the first
    usual = UsualLines(Settings(), KeyReader(("api_id", "apiId"), ("stage",), ("key_id",)).read, None)
    numbered, aliased = orjson.loads(recommended(status=404)), orjson.loads(recommended(apiId=KNOWN_API))
    usual.learn(numbered)
    usual.learn(aliased)
    # THEN the next lines of those names are not asked about again ...
    monkeypatch.setattr(UsualLines, "_masking", lambda *_: pytest.fail("asked again"))
    usual.learn(numbered)
    usual.learn(aliased)
    usual.learn(orjson.loads(recommended(status="404")))  # (the same names, every value a string)
    # ... and none of them is answered in one step
    assert usual.answer_run(firehose_event([recommended(status="404")])["records"], 0, []) == 0


def test_a_batch_learns_a_few_shapes_at_most():
    # GIVEN a batch whose lines each have another member (a header holding quotes can add them)
    usual = UsualLines(Settings(), KeyReader(("api_id",), ("stage",), ("key_id",)).read, None)
    shapes = [orjson.loads(recommended(**{f"extra{n}": "x"})) for n in range(MAX_SHAPES_A_BATCH + 1)]
    for shape in shapes:
        usual.learn(shape)
    # THEN only the first few are learned: a line of the last one learned is answered, one of
    # the next is not
    learned, refused = (
        firehose_event([orjson.dumps(shapes[n])])["records"] for n in (MAX_SHAPES_A_BATCH - 1, MAX_SHAPES_A_BATCH)
    )
    assert usual.answer_run(learned, 0, []) == 1
    assert usual.answer_run(refused, 0, []) == 0


def many(lines: list[bytes]) -> Iterator[bytes]:
    yield from lines
    yield from lines


identities = st.fixed_dictionaries(
    {
        "api_id": st.sampled_from([KNOWN_API, "other"]),
        "stage": st.sampled_from([KNOWN_STAGE, "-"]),
        "key_id": st.sampled_from([KNOWN_KEY, OTHER_KEY, "-", ""]),
        "status": st.sampled_from(["200", "404", 404, 404.0, None, True, 1, "5xx"]),
    }
)


@settings(max_examples=200)
@given(st.lists(st.tuples(identities, objects), min_size=1, max_size=6), st.sampled_from(POLICIES))
def test_generated_batches_are_answered_alike_either_way(members, policy):
    # GIVEN lines as orjson writes them (so many are usual), identities and all, some repeated
    try:
        lines = [orjson.dumps({**identity, **extra}) for identity, extra in members]
    except orjson.JSONEncodeError:  # an integer past 64 bits: orjson writes no such line
        return
    # THEN the usual path answers them as the careful path does, in one batch (a raw key value
    # may stand elsewhere here, under a name that is not a key field: only those are checked)
    assert_same_both_ways(list(many(lines)), policy, secrets=())
