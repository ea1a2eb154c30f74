"""A clock that moves only when a test moves it: for caches, deadlines and budgets."""

from __future__ import annotations


class FakeClock:
    """Callable like time.monotonic; `now` is set or advanced by the test."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
