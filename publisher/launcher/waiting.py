"""The line of readers who wait for a place when every place is taken.

A launch that finds no room joins the line instead of being refused; places that free up go
to the first in line, in arrival order (a later arrival never passes an earlier one). The
line is bounded in length and in wait (``[launcher] queue_length``, ``queue_wait``): past
either, the reader is sent on (overflow) or told when to try again. A reader who closes
the stream leaves the line at once. Every step here is synchronous (no await): a place is
given or taken in one step of the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque

from publisher.backends.base import BuildEvent
from publisher.launcher.launches import Launch, Reservation
from publisher.launcher.records import LaunchRefused

FREED_KEPT = 20  # places given recently: how fast the line moves (the estimate)


class Waiter:
    """One launch waiting for a place; :attr:`reservation` is set when it has one."""

    def __init__(self, client: str, ticket: int) -> None:
        self.client, self.ticket = client, ticket
        self.joined = time.monotonic()
        self.reservation: Reservation | None = None
        self.gone = False  # left the line (closed the stream, or waited too long)
        self.changed = asyncio.Event()  # its position changed, it has a place, or it left


class Line:
    def __init__(self, length: int, wait: float, seconds_per_place: float) -> None:
        self.length, self.wait = length, wait
        # the estimate before any place has been given: a guess from the settings
        self.seconds_per_place = seconds_per_place
        self._waiters: dict[int, Waiter] = {}  # arrival order (dicts keep insertion order)
        self._tickets = itertools.count()
        self._given: deque[float] = deque(maxlen=FREED_KEPT)

    def __len__(self) -> int:
        return len(self._waiters)

    @property
    def full(self) -> bool:
        return len(self._waiters) >= self.length

    def join(self, client: str) -> Waiter:
        """A place at the end of the line (the caller checked :attr:`full`)."""
        waiter = Waiter(client, next(self._tickets))
        self._waiters[waiter.ticket] = waiter
        return waiter

    def leave(self, waiter: Waiter) -> None:
        """*waiter* leaves (once); those behind it move up."""
        if self._waiters.pop(waiter.ticket, None) is None:
            return
        waiter.gone = True
        waiter.changed.set()
        self._moved()

    def close(self) -> None:
        """Everyone leaves (the launcher stops): their launches end at once."""
        for waiter in list(self._waiters.values()):
            self.leave(waiter)

    def first(self) -> Waiter | None:
        return next(iter(self._waiters.values()), None)

    def give(self, waiter: Waiter, reservation: Reservation) -> None:
        """*waiter* (the first) has a place now: out of the line, the others move up."""
        del self._waiters[waiter.ticket]
        waiter.reservation = reservation
        waiter.changed.set()
        self._given.append(time.monotonic())
        self._moved()

    def _moved(self) -> None:
        for w in self._waiters.values():
            w.changed.set()

    def held(self, client: str) -> int:
        """Launches *client* has in the line (they count toward its per-client limit)."""
        return sum(1 for w in self._waiters.values() if w.client == client)

    def position(self, waiter: Waiter) -> int:
        """1 for the first in line; 0 when *waiter* is not in it."""
        for i, ticket in enumerate(self._waiters, 1):
            if ticket == waiter.ticket:
                return i
        return 0

    def estimate(self, position: int) -> int:
        """Seconds until *position* has a place: the pace places were given at lately (a
        guess from the settings until two were given)."""
        pace = self.seconds_per_place
        if len(self._given) >= 2:
            pace = (self._given[-1] - self._given[0]) / (len(self._given) - 1)
            # no place given for a while: the line is slower than it was
            pace = max(pace, (time.monotonic() - self._given[-1]) / max(1, position))
        return max(1, math.ceil(position * pace))

    def retry_after(self) -> int:
        """When a reader turned away (the line full) might find room: the wait of one more
        in line, at least 10 s, at most the longest wait."""
        return int(min(max(10, self.estimate(len(self._waiters) + 1)), max(10, self.wait)))


class WaitedTooLong(Exception):
    """A reader waited ``queue_wait`` seconds in line: sent on, or told when to try again."""


def at(seconds: int) -> str:
    """The time *seconds* from now, as a reader reads it: ``08:12 UTC``."""
    return time.strftime("%H:%M UTC", time.gmtime(time.time() + seconds))


def busy(line: Line) -> LaunchRefused:
    """The answer when every place is taken and the line is full (or there is none:
    then a minute, as nobody's wait tells how fast places free up)."""
    if not len(line):
        return LaunchRefused(503, "All sessions are in use right now. Try again in a "
                             "minute.", 60)
    retry = line.retry_after()
    return LaunchRefused(503, f"All sessions are in use right now and {len(line)} readers "
                         f"are waiting for one. Try again at {at(retry)}.", retry)


def sent_on(line: Line, overflow: dict[str, str] | None) -> BuildEvent:
    """The last event of a launch that waited too long: the post on the overflow BinderHub
    (the clients follow it), else when to try again."""
    if overflow is not None:
        return BuildEvent("failed", "No place came free here in time; the post runs in its "
                          f"own environment on {overflow['binderhub']} too: "
                          f"{overflow['url']}", {"overflow": overflow})
    retry = line.retry_after()
    return BuildEvent("failed", f"No place came free in {round(line.wait)} s. Try again at "
                      f"{at(retry)}.", {"retry": True, "retry_after": retry})


async def wait_for_place(line: Line, waiter: Waiter, launch: Launch) -> Reservation | None:
    """Wait in *line* until *waiter* has a place (its reservation), telling the reader their
    position and an estimate whenever the position changes (a ``waiting`` event, as
    BinderHub's while a build waits: clients that know no ``position`` show the message).
    None when the reader left; :class:`WaitedTooLong` past ``queue_wait``."""
    shown = 0
    deadline = waiter.joined + line.wait
    while waiter.reservation is None:
        if waiter.gone:
            return None
        position = line.position(waiter)
        if position != shown:
            shown, estimate = position, line.estimate(position)
            launch.emit(BuildEvent(
                "waiting", f"Every place is taken: you are number {position} in line "
                f"(about {estimate} s).", {"position": position, "estimate": estimate}))
        waiter.changed.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            line.leave(waiter)
            raise WaitedTooLong
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.changed.wait(), left)
    return waiter.reservation
