"""One launch's events, produced by a task of its own and followed by any number of streams;
the env builds launches wait for; how often a client may launch.

A launch does not belong to the HTTP stream that asked for it: a reader who closes the
stream does not cancel it half-way (which would leave a container nobody tracks). The
launch runs to its end; the manager then removes a session nobody is waiting for.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from publisher.backends.base import BuildEvent, EnvRef, EventSink, SessionBackend, SingleFlight
from publisher.envs.spec import EnvSpec


class Launch:
    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.events: list[BuildEvent] = []
        self.done = False
        self.listeners = 1  # the request that started it
        self.on_leave: Callable[[], None] | None = None  # when the last listener leaves
        self._changed = asyncio.Event()

    def unfollow(self) -> None:
        """A stream stopped following (its reader left); the last one calls
        :attr:`on_leave` (a launch waiting in line leaves it at once)."""
        self.listeners -= 1
        if self.listeners <= 0 and self.on_leave is not None:
            self.on_leave()

    def emit(self, event: BuildEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def finish(self) -> None:
        self.done = True
        self._changed.set()

    async def follow(self) -> AsyncIterator[BuildEvent]:
        """Every event from the first, then new ones as they come, until the end."""
        i = 0
        while True:
            while i < len(self.events):
                yield self.events[i]
                i += 1
            if self.done:
                return
            self._changed.clear()
            if i == len(self.events) and not self.done:
                await self._changed.wait()


class Reservation:
    """A capacity slot held by a launch for *client* until it becomes a session (or ends)."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.held = True


class LaunchRate:
    """Launches per client in the last minute, at most *per_minute* each."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.times: dict[str, deque[float]] = {}

    def allows(self, client: str) -> bool:
        """Whether *client* may launch now (its launches older than a minute forgotten)."""
        now = time.monotonic()
        if len(self.times) > 10_000:  # forget quiet clients
            self.times = {k: v for k, v in self.times.items() if v and now - v[-1] < 60}
        window = self.times.setdefault(client, deque())
        while window and now - window[0] > 60:
            window.popleft()
        return len(window) < self.per_minute

    def count(self, client: str) -> None:
        self.times.setdefault(client, deque()).append(time.monotonic())


class EnvBuilds:
    """The envs launches wait for: realised once for the launches that ask at the same
    time (they all see its log), and counted when they had to be built (a metric)."""

    def __init__(self, backend: SessionBackend) -> None:
        self.backend = backend
        self.flights = SingleFlight()
        self.started = 0

    def realise(self, spec: EnvSpec, env_id: str, on_event: EventSink) -> EnvRef:
        def realise(emit: EventSink) -> EnvRef:
            building = False

            def watch(ev: BuildEvent) -> None:
                nonlocal building
                if ev.phase == "building" and not building:
                    building = True
                    self.started += 1
                emit(ev)

            return self.backend.ensure_env(spec, env_id, watch)

        return self.flights.run(env_id, realise, on_event)
