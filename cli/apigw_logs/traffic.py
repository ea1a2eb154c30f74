"""A day of API Gateway traffic for the demo account (events/demo_account.json), as access-log lines.

Every line is the recommended format (apigw_enrichment.fields) filled the way API Gateway fills
it (as samples.fill_format does, compiled once here for speed), for one UTC day. Generation is
seeded: every run makes the same bytes.

What the day holds, so that the report has something to say:

- callers on all three plans (Gold, Free, Sandbox), each with its own mix of resources and
  methods, its own share of the day and its own time zone on a daily curve (quiet night, busy
  afternoon);
- 4xx and 5xx at a rate of each caller's own (Globex, on Free, is throttled most), and one bad
  hour: Umbrella's calls fail with 5xx, slowly, from 14:00 to 15:00 UTC;
- latency spread log-normally around each resource's median, the invoice PDF the slow one;
- calls with no key (health checks, anonymous calls refused), with keys no plan holds, and
  Initech's key, which is on a plan for staging only, calling prod;
- a handful of malformed lines (cut short, not UTF-8, empty, not JSON), which the function
  fails and the stream keeps under errors/.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import random
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apigw_enrichment.fields import RECOMMENDED_ACCESS_LOG_FORMAT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DAY = dt.date(2025, 11, 21)  # the sample events' day
SEED = 20251121
DEFAULT_REQUESTS = 40_000
MALFORMED_LINES = 12

ORDERS, CATALOG = "a1b2c3d4e5", "f6g7h8i9j0"  # the demo account's REST APIs

# Requests an hour, relative, by the caller's local hour: quiet at night, busiest mid-afternoon.
DAILY_CURVE = (
    0.22, 0.16, 0.13, 0.11, 0.11, 0.14, 0.24, 0.45, 0.70, 0.90, 1.00, 1.05,
    1.10, 1.22, 1.36, 1.42, 1.36, 1.20, 1.00, 0.84, 0.68, 0.52, 0.40, 0.30,
)  # fmt: skip
FLAT = (1.0,) * 24  # monitors and scanners keep no hours

# Extra time between API Gateway's response and its log line (lognormal median, ms).
GATEWAY_OVERHEAD_MS = 4.0


@dataclass(frozen=True, slots=True)
class Resource:
    """A method on a resource, and how it usually answers."""

    api_id: str
    method: str
    resource_path: str
    median_ms: float  # the integration's median latency
    sigma: float  # the spread of its log-normal latency
    size: int  # a typical response body, in bytes
    ok_status: str = "200"

    def path(self, stage: str, rng: random.Random) -> str:
        concrete = self.resource_path.replace("{id}", str(rng.randint(1000, 99999)))
        return f"/{stage}{concrete}"


LIST_ORDERS = Resource(ORDERS, "GET", "/orders", 45, 0.45, 4200)
GET_ORDER = Resource(ORDERS, "GET", "/orders/{id}", 28, 0.40, 900)
CREATE_ORDER = Resource(ORDERS, "POST", "/orders", 120, 0.50, 350, "201")
UPDATE_ORDER = Resource(ORDERS, "PUT", "/orders/{id}", 90, 0.45, 380)
CANCEL_ORDER = Resource(ORDERS, "DELETE", "/orders/{id}", 60, 0.40, 0, "204")
INVOICE = Resource(ORDERS, "GET", "/orders/{id}/invoice", 850, 0.60, 48_000)  # renders a PDF: the slow one
HEALTH = Resource(ORDERS, "GET", "/health", 3, 0.30, 15)
LIST_ITEMS = Resource(CATALOG, "GET", "/items", 60, 0.45, 8000)
GET_ITEM = Resource(CATALOG, "GET", "/items/{id}", 22, 0.35, 1400)
SEARCH = Resource(CATALOG, "GET", "/search", 240, 0.70, 12_000)
ADD_ITEM = Resource(CATALOG, "POST", "/items", 150, 0.50, 600, "201")

# Errors API Gateway answers itself: the integration is never called.
GATEWAY_ERRORS = {"403": "Forbidden", "429": "Too Many Requests", "504": "Endpoint request timed out"}
ERROR_MESSAGES = {**GATEWAY_ERRORS, "502": "Internal server error"}
CLIENT_ERRORS = (("400", 3), ("404", 5), ("409", 1), ("429", 1))
SERVER_ERRORS = (("500", 3), ("502", 4), ("503", 1), ("504", 2))

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls, how much, what and how well."""

    name: str
    key_ids: tuple[str, ...]  # "-" for no key
    share: float  # of the day's requests
    mix: tuple[tuple[str, Resource, float], ...]  # (stage, resource, weight)
    client_error_rate: float
    server_error_rate: float
    source_ips: tuple[str, ...]
    user_agents: tuple[str, ...]
    utc_offset_hours: int = 0  # where the caller's afternoon is
    curve: tuple[float, ...] = DAILY_CURVE
    client_errors: tuple[tuple[str, int], ...] = CLIENT_ERRORS  # (status, weight)
    bad_hour: int | None = None  # a UTC hour in which the backend fails this caller's calls
    bad_hour_server_error_rate: float = 0.0

    def hour_weights(self) -> list[float]:
        return [self.curve[(hour + self.utc_offset_hours) % 24] for hour in range(24)]


# Key ids from the demo account; each caller's plan is there (Gold, Free or Sandbox).
CALLERS: tuple[Caller, ...] = (
    Caller(
        "Acme Corp",  # Gold: its back office, on both APIs
        ("k7x2m9p4q1",),
        0.26,
        (
            ("prod", LIST_ORDERS, 14),
            ("prod", GET_ORDER, 30),
            ("prod", CREATE_ORDER, 10),
            ("prod", UPDATE_ORDER, 5),
            ("prod", CANCEL_ORDER, 1),
            ("prod", INVOICE, 4),
            ("prod", LIST_ITEMS, 12),
            ("prod", GET_ITEM, 20),
            ("prod", SEARCH, 4),
        ),
        client_error_rate=0.025,
        server_error_rate=0.002,
        source_ips=("198.51.100.7", "198.51.100.8", "198.51.100.9"),
        user_agents=("aws-sdk-java/2.29.15 Linux/5.10.228 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5",),
    ),
    Caller(
        "Acme Corp (mobile app)",  # Gold: Acme's second key, its customers' phones
        ("k2d8s4a6m1",),
        0.08,
        (("prod", GET_ORDER, 40), ("prod", LIST_ORDERS, 20), ("prod", GET_ITEM, 25), ("prod", SEARCH, 15)),
        client_error_rate=0.04,
        server_error_rate=0.002,
        source_ips=tuple(f"203.0.113.{n}" for n in range(20, 60)),
        user_agents=(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            "okhttp/4.12.0",
        ),
        utc_offset_hours=2,
    ),
    Caller(
        "Globex Inc",  # Free (orders, prod): a busy integration that runs into the plan's throttle
        ("k3n8v5b2z6",),
        0.14,
        (("prod", LIST_ORDERS, 35), ("prod", GET_ORDER, 45), ("prod", CREATE_ORDER, 20)),
        client_error_rate=0.12,
        server_error_rate=0.003,
        source_ips=("192.0.2.44", "192.0.2.45"),
        user_agents=("python-requests/2.32.3",),
        utc_offset_hours=-5,
        client_errors=(("400", 2), ("404", 2), ("429", 12)),
    ),
    Caller(
        "Umbrella Ltd",  # Gold on prod, Sandbox on staging; its bad hour is 14:00 UTC
        ("k5j6h2g8f4",),
        0.15,
        (
            ("prod", SEARCH, 30),
            ("prod", GET_ITEM, 25),
            ("prod", LIST_ITEMS, 12),
            ("prod", ADD_ITEM, 6),
            ("prod", GET_ORDER, 12),
            ("staging", GET_ORDER, 9),
            ("staging", CREATE_ORDER, 6),
        ),
        client_error_rate=0.03,
        server_error_rate=0.005,
        source_ips=("198.51.100.120", "198.51.100.121"),
        user_agents=("Go-http-client/2.0",),
        bad_hour=14,
        bad_hour_server_error_rate=0.35,
    ),
    Caller(
        "Soylent Corp",  # Gold: a dashboard in a browser
        ("k6c3x9z5l8",),
        0.12,
        (("prod", LIST_ORDERS, 25), ("prod", GET_ORDER, 25), ("prod", INVOICE, 10), ("prod", LIST_ITEMS, 40)),
        client_error_rate=0.05,
        server_error_rate=0.01,
        source_ips=tuple(f"192.0.2.{n}" for n in range(100, 112)),
        user_agents=(BROWSER, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"),
        utc_offset_hours=-8,
    ),
    Caller(
        "Vandelay Industries",  # Free (orders, prod): small, and sloppy with its requests
        ("k4e7u1i3o9",),
        0.06,
        (("prod", LIST_ORDERS, 30), ("prod", GET_ORDER, 40), ("prod", CREATE_ORDER, 25), ("prod", CANCEL_ORDER, 5)),
        client_error_rate=0.08,
        server_error_rate=0.005,
        source_ips=("203.0.113.200",),
        user_agents=("curl/8.11.0", "PostmanRuntime/7.42.0"),
        utc_offset_hours=1,
        client_errors=(("400", 6), ("404", 3), ("409", 2), ("429", 1)),
    ),
    Caller(
        "Initech",  # Sandbox (orders, staging) only: its calls to prod carry a key on no plan for prod
        ("k9r4t1w7y3",),
        0.05,
        (
            ("staging", LIST_ORDERS, 30),
            ("staging", GET_ORDER, 30),
            ("staging", CREATE_ORDER, 15),
            ("prod", GET_ORDER, 25),
        ),
        client_error_rate=0.06,
        server_error_rate=0.004,
        source_ips=("198.51.100.200",),
        user_agents=("PostmanRuntime/7.42.0",),
        utc_offset_hours=-5,
    ),
    Caller(
        "no key",  # health checks all day, and anonymous calls that are refused
        ("-",),
        0.09,
        (("prod", HEALTH, 70), ("prod", GET_ORDER, 15), ("prod", LIST_ITEMS, 15)),
        client_error_rate=0.0,
        server_error_rate=0.0,
        source_ips=("192.0.2.10", "192.0.2.11", "203.0.113.99"),
        user_agents=("ELB-HealthChecker/2.0", "curl/8.11.0"),
        curve=FLAT,
    ),
    Caller(
        "unknown keys",  # ids no plan holds: revoked keys still in use, and guesses
        ("zz9unknown", "q8w2e6r4t0", "p0o9i8u7y6"),
        0.05,
        (("prod", GET_ORDER, 50), ("prod", LIST_ORDERS, 25), ("prod", SEARCH, 25)),
        client_error_rate=0.0,
        server_error_rate=0.0,
        source_ips=("192.0.2.250", "203.0.113.250"),
        user_agents=("python-requests/2.32.3", "curl/8.11.0"),
        curve=FLAT,
    ),
)
NO_KEY_CALLER = "no key"
UNKNOWN_KEYS_CALLER = "unknown keys"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line API Gateway sends to the stream, and the time of its request."""

    time_ms: int  # $context.requestTimeEpoch: milliseconds since the epoch
    data: bytes


@dataclass(frozen=True, slots=True)
class Day:
    """A day of traffic: its lines in time order."""

    date: dt.date
    lines: list[LogLine]
    requests: int
    malformed: int


class LineTemplate:
    """An access-log format, split once into its literal text and its `$context` variables."""

    def __init__(self, access_log_format: str) -> None:
        parts = re.split(r"\$context\.([A-Za-z0-9_.]*[A-Za-z0-9_])", access_log_format)
        self._literals = parts[0::2]
        self.names = tuple(parts[1::2])

    def fill(self, values: Mapping[str, str]) -> str:
        pieces = [self._literals[0]]
        for name, literal in zip(self.names, self._literals[1:], strict=True):
            pieces.extend((values[name], literal))
        return "".join(pieces)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def request_time(time_ms: int) -> str:
    """$context.requestTime, CLF-style (not the locale's month name)."""
    moment = dt.datetime.fromtimestamp(time_ms / 1000, tz=dt.UTC)
    return f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:{moment:%H:%M:%S} +0000"


def generate(requests: int = DEFAULT_REQUESTS, *, seed: int = SEED, date: dt.date = DAY) -> Day:
    """`requests` requests across the callers by their shares, plus the malformed lines, in time order."""
    rng = random.Random(seed)  # noqa: S311 - the same day every run, not security
    template = LineTemplate(RECOMMENDED_ACCESS_LOG_FORMAT)
    day_start_ms = int(dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    lines: list[LogLine] = []
    for caller, count in zip(CALLERS, apportion(requests, [caller.share for caller in CALLERS]), strict=True):
        hours = rng.choices(range(24), weights=caller.hour_weights(), k=count)
        resources = rng.choices(caller.mix, weights=[weight for _, _, weight in caller.mix], k=count)
        for hour, (stage, resource, _) in zip(hours, resources, strict=True):
            time_ms = day_start_ms + hour * 3_600_000 + rng.randrange(3_600_000)
            values = _request_values(rng, caller, stage, resource, time_ms=time_ms, hour=hour)
            lines.append(LogLine(time_ms, template.fill(values).encode()))
    lines.extend(_malformed_lines(rng, lines, day_start_ms))
    lines.sort(key=lambda line: line.time_ms)
    return Day(date, lines, requests, MALFORMED_LINES)


def apportion(total: int, shares: Sequence[float]) -> list[int]:
    """`total` split by `shares` into whole numbers that add up to it (largest remainders)."""
    exact = [total * share / sum(shares) for share in shares]
    counts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _request_values(
    rng: random.Random, caller: Caller, stage: str, resource: Resource, *, time_ms: int, hour: int
) -> dict[str, str]:
    key_id = rng.choice(caller.key_ids)
    status, slow = _status(rng, caller, resource, stage, hour)
    message = ERROR_MESSAGES.get(status, "-")
    if status in GATEWAY_ERRORS and status != "504":  # refused at the gateway: no integration call
        integration = None
        length = len(message) + 14  # {"message":"..."}
    else:
        median = resource.median_ms * (4 if slow else 1)
        integration = 29_000 if status == "504" else max(1, round(median * math.exp(rng.gauss(0, resource.sigma))))
        length = 0 if status == "204" else max(2, round(resource.size * math.exp(rng.gauss(0, 0.3))))
        if not status.startswith("2"):
            length = 40 + rng.randrange(80)
    overhead = max(1, round(GATEWAY_OVERHEAD_MS * math.exp(rng.gauss(0, 0.5))))
    return {
        "requestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "extendedRequestId": base64.b64encode(rng.randbytes(11)).decode(),
        "requestTime": request_time(time_ms),
        "requestTimeEpoch": str(time_ms),
        "apiId": resource.api_id,
        "stage": stage,
        "resourcePath": resource.resource_path,
        "path": resource.path(stage, rng),
        "httpMethod": resource.method,
        "protocol": "HTTP/1.1",
        "status": status,
        "responseLength": str(length),
        "responseLatency": str(overhead + (integration or 0)),
        "integration.latency": "-" if integration is None else str(integration),
        "identity.apiKeyId": key_id,
        "identity.sourceIp": rng.choice(caller.source_ips),
        "identity.userAgent": rng.choice(caller.user_agents),
        "error.messageString": f'"{message}"',
    }


def _status(rng: random.Random, caller: Caller, resource: Resource, stage: str, hour: int) -> tuple[str, bool]:
    """The response's status, and whether the backend was slow (the bad hour)."""
    if caller.name == NO_KEY_CALLER:
        return (resource.ok_status if resource is HEALTH else "403"), False
    if caller.name == UNKNOWN_KEYS_CALLER:
        return "403", False
    if hour == caller.bad_hour and stage == "prod" and rng.random() < caller.bad_hour_server_error_rate:
        return _weighted(rng, SERVER_ERRORS), True
    draw = rng.random()
    if draw < caller.server_error_rate:
        return _weighted(rng, SERVER_ERRORS), False
    if draw < caller.server_error_rate + caller.client_error_rate:
        return _weighted(rng, caller.client_errors), False
    return resource.ok_status, hour == caller.bad_hour and stage == "prod"


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    return rng.choices([value for value, _ in choices], weights=[weight for _, weight in choices])[0]


def _malformed_lines(rng: random.Random, lines: Sequence[LogLine], day_start_ms: int) -> list[LogLine]:
    """Lines the function cannot read: it fails them, and the stream keeps them under errors/."""
    kinds = (
        lambda line: line[: len(line) // 2],  # cut short
        lambda line: line.replace(b'"protocol"', b'"pro\xff\xfetocol"'),  # not UTF-8
        lambda _: b"",  # empty
        lambda _: b'198.51.100.7 - - [21/Nov/2025:09:00:00 +0000] "GET /prod/orders HTTP/1.1" 200 512',  # CLF
        lambda line: b"[" + line + b"]",  # a JSON array
        lambda line: line + line,  # two lines run together
    )
    malformed = []
    for n in range(MALFORMED_LINES):
        time_ms = day_start_ms + rng.randrange(86_400_000)
        source = rng.choice(lines).data if lines else b'{"api_id":"a1b2c3d4e5","stage":"prod"}'
        malformed.append(LogLine(time_ms, kinds[n % len(kinds)](source)))
    return malformed
