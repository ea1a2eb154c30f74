"""Time budgets for the control-plane and Firehose calls one invocation makes.

A deadline is checked by botocore's `request-created` hook, which fires for every attempt
(retries included) before the request is signed and sent: once the deadline has passed, no
further request leaves, and the call stops with BudgetExhaustedError.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class Deadline:
    """A point in time on a clock (time.monotonic, or a test's fake clock)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def expired(self) -> bool:
        return self._clock() >= self._at


class BudgetExhaustedError(Exception):
    """A request was about to start after its deadline, so it was not sent."""


class RequestMeter:
    """Counts every HTTP request a block of calls makes, and refuses any past the deadline."""

    def __init__(self, deadline: Deadline | None) -> None:
        self.deadline = deadline
        self.requests = 0

    def __call__(self, **_: object) -> None:
        if self.deadline is not None and self.deadline.expired():
            raise BudgetExhaustedError
        self.requests += 1


@contextmanager
def metered(client: Any, service_id: str, deadline: Deadline | None) -> Iterator[RequestMeter]:
    """Meter (and bound) every request `client` makes inside the block."""
    meter = RequestMeter(deadline)
    event = f"request-created.{service_id}"
    hook_id = f"request-meter-{id(meter)}"
    client.meta.events.register(event, meter, unique_id=hook_id)
    try:
        yield meter
    finally:
        client.meta.events.unregister(event, unique_id=hook_id)
