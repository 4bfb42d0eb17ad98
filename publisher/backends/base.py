"""The backend interfaces, their event type, the single-flight helper and the runs an
interrupted build ends.

Two seams: a :class:`BuildBackend` realises envs and runs notebooks in them (the build's
side); a :class:`SessionBackend` realises envs and runs readers' sessions in them (the
launcher's side), answering with typed records. A backend that does both (docker, local,
or a third, say a cluster's) implements :class:`Backend`, their union, and nothing else
(``publisher.backends.get_backend`` names it): how it names, labels and reaches what it
starts stays inside it; the launcher speaks HTTP to a session at the socket its handle
names.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from publisher.envs.spec import EnvSpec
from publisher.errors import ExecutionError

if TYPE_CHECKING:  # annotations only
    from publisher.backends.sessions import SessionHandle, SessionRecord, SessionRequest

RUNNER = Path(__file__).with_name("nbrunner.py")  # standalone: runs inside every env

T = TypeVar("T")

PHASES = ("waiting", "building", "built", "launching", "ready", "failed")


@dataclass(frozen=True)
class BuildEvent:
    """One progress event, in BinderHub's vocabulary (``phase`` + ``message``)."""

    phase: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "message": self.message, **self.extra}


EventSink = Callable[[BuildEvent], None]


def ignore(_: BuildEvent) -> None:
    return None


@dataclass(frozen=True)
class EnvRef:
    """A realised env: the image tag or the virtualenv folder."""

    env_id: str
    backend: str
    location: str  # docker: image tag; local: venv path
    python: str = ""  # local: the venv's python


@dataclass(frozen=True)
class ExecJob:
    """Execute one notebook: *notebook* (JSON text) with the post's files beside it."""

    name: str  # e.g. the post slug, for messages
    notebook: str  # nbformat JSON
    files_root: Path | None  # the post folder, copied next to the notebook
    files: tuple[Path, ...]  # files under files_root to copy
    notebook_name: str = "index.ipynb"
    timeout: int = 120  # per cell, seconds
    allow_errors: bool = False
    network: bool = False
    more: bool = False  # more notebooks of this env follow in this build


@dataclass(frozen=True)
class ExecResult:
    notebook: str  # executed notebook JSON (possibly partial when failed)
    error: dict[str, Any] | None  # {"cell", "ename", "evalue", "traceback"} or None
    seconds: float


@dataclass(frozen=True)
class EnvInfo:
    """A realised env a backend keeps (for `publish env list` and `prune`)."""

    env_id: str
    backend: str
    location: str  # docker: image tag; local: venv folder
    size: int  # bytes


class EnvBackend(Protocol):
    """What both seams share: envs, realised once per env id."""

    name: str

    def ensure_env(self, spec: EnvSpec, env_id: str, on_event: EventSink = ignore) -> EnvRef:
        """Realise the env (build once per env id; concurrent callers share one build)."""
        ...

    def close(self) -> None:
        """Let go of what the backend holds (an engine's connection, waiting runners)."""
        ...


class BuildBackend(EnvBackend, Protocol):
    """The build's seam: notebooks executed in realised envs, and the envs it keeps."""

    def execute(self, env: EnvRef, job: ExecJob) -> ExecResult:
        """Run a notebook inside the env and return the executed notebook."""
        ...

    def cancel(self) -> None:
        """End the notebooks running now and run no more: the build was interrupted
        (Ctrl-C), and its process is ending."""
        ...

    def end_runs(self, name: str) -> None:
        """End the runs of job *name* under way now (an execution no longer wanted: the
        post was edited since it started); later runs go ahead."""
        ...

    def envs(self) -> list[EnvInfo]:
        """The envs this backend keeps on this machine."""
        ...

    def remove_env(self, env: EnvInfo) -> None:
        ...


class SessionBackend(EnvBackend, Protocol):
    """The launcher's seam: one Jupyter Server per reader, listening where its handle
    says (a unix socket); the launcher talks HTTP to it there."""

    def start_session(self, env: EnvRef, req: SessionRequest) -> SessionHandle:
        """Start a Jupyter Server for a reader; return once ``req.ready`` says it answers."""
        ...

    def stop_session(self, handle: SessionHandle) -> None:
        """Stop the session and remove what the backend made for it (idempotent)."""
        ...

    def session_alive(self, handle: SessionHandle) -> bool:
        ...

    def find_sessions(self) -> list[SessionRecord]:
        """The sessions that outlive a launcher (for a restarted one to adopt)."""
        ...

    def env_folder(self, location: str, folder: str, cache: Path) -> Path | None:
        """A copy, under *cache*, of the regular files directly in *folder* of the env at
        *location*, read from the env itself (never from a session: what a reader changes
        there reaches no one else); None when the env has no such folder or the backend
        does not copy them (its sessions serve them)."""
        ...

    def ping(self) -> bool:
        """Whether the backend can start sessions right now."""
        ...


class Backend(BuildBackend, SessionBackend, Protocol):
    """A backend for builds and sessions alike: docker, local, or a third."""


class Runs:
    """The notebook runs a backend has going, ended at once when a build is interrupted.

    Ctrl-C interrupts a build's main thread, while its worker threads wait for their
    notebooks: a runner started after the signal (or a container, which no terminal
    signal reaches) would run to the end of its notebook, and the build with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: dict[Callable[[], None], str] = {}  # each run's end -> its job's name
        self.cancelled = False

    def check(self, name: str) -> None:
        """Refuse a run of *name* once the build was interrupted."""
        if self.cancelled:
            raise ExecutionError(f"{name}: not run: the build was interrupted")

    @contextlib.contextmanager
    def running(self, name: str, end: Callable[[], None]) -> Iterator[None]:
        """A run of *name* under way (*end*: ends it now, from any thread; one per run);
        started after an interruption, it is ended at once."""
        with self._lock:
            live = not self.cancelled
            if live:
                self._ends[end] = name
        if not live:
            end()
            self.check(name)
        try:
            yield
        finally:
            with self._lock:
                self._ends.pop(end, None)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            ends = list(self._ends)
        for end in ends:
            with contextlib.suppress(Exception):
                end()

    def end(self, name: str) -> None:
        """End the runs of *name* under way (not those started later)."""
        with self._lock:
            ends = [end for end, of in self._ends.items() if of == name]
        for end in ends:
            with contextlib.suppress(Exception):
                end()


class _Flight:
    def __init__(self) -> None:
        self.events: list[BuildEvent] = []
        self.sinks: list[EventSink] = []
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def emit(self, event: BuildEvent) -> None:
        with self.lock:
            self.events.append(event)
            sinks = list(self.sinks)
        for sink in sinks:
            sink(event)


class SingleFlight:
    """Run at most one build per key; later callers replay its log and share its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self.builds_started = 0  # observable for tests and metrics

    def run(self, key: str, build: Callable[[EventSink], T], on_event: EventSink) -> T:
        with self._lock:
            flight = self._flights.get(key)
            owner = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
                self.builds_started += 1
            with flight.lock:
                past = list(flight.events)
                flight.sinks.append(on_event)
        for event in past:
            on_event(event)
        if owner:
            try:
                flight.result = build(flight.emit)
            except BaseException as exc:
                flight.error = exc
            finally:
                with self._lock:
                    self._flights.pop(key, None)
                flight.done.set()
        else:
            if not past:
                on_event(BuildEvent("waiting", "Waiting for a build of this environment"))
            flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return cast(T, flight.result)  # set by build(), which returned a T
