"""PerformanceTracker: the old tracker's API, recording into a perflog log through
`perflog serve`.

What it promises the program it measures: no call raises (the one exception a
`measure` lets through is the measured code's own), no call blocks for longer than its
timeout, nothing keeps the process alive, and nothing is dropped without being counted
(`stats()["dropped"]`) and warned about once.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar

from . import lines
from .connection import Connection
from .discovery import find_binary, find_log, find_socket
from .service import NotInstalled, StatsFailed, stream_mean

F = TypeVar("F", bound=Callable[..., Any])

_logger = logging.getLogger("perflog")
_perf_counter_ns = time.perf_counter_ns
_new_invocation = lines.new_invocation
_now = lines.now
_streams = lines._streams

#: How long end_agent(wait=True), flush() and close() wait for acknowledgements, seconds.
DEFAULT_TIMEOUT = 10.0


# Slots where the language has them (3.10): smaller, and built faster (below).
@dataclass(frozen=True, **({"slots": True} if sys.version_info >= (3, 10) else {}))
class Record:
    """One finished invocation, as the old tracker's endAgent resolved it."""

    agent: str
    cli: str
    #: Milliseconds, from the monotonic clock (time.perf_counter_ns).
    duration: float
    #: When it ended, milliseconds since the epoch.
    timestamp: int


if sys.version_info >= (3, 10):
    # A frozen dataclass's __init__ goes through object.__setattr__ for each field; the
    # slots' own setters build the same object in half the time, and end_agent builds
    # one per call.
    _set_agent = Record.__dict__["agent"].__set__
    _set_cli = Record.__dict__["cli"].__set__
    _set_duration = Record.__dict__["duration"].__set__
    _set_timestamp = Record.__dict__["timestamp"].__set__

    def _new_record(agent: str, cli: str, duration: float, timestamp: int) -> Record:
        record = object.__new__(Record)
        _set_agent(record, agent)
        _set_cli(record, cli)
        _set_duration(record, duration)
        _set_timestamp(record, timestamp)
        return record
else:
    _new_record = Record


def _exit_code_field(value: Any) -> str:
    code = lines.exit_code_or_none(value)
    return "" if code is None else f',"exitCode":{code}'


def _exit_status(error: Optional[BaseException]) -> Tuple[bool, Optional[int]]:
    """(failed, exit code) for code that ended by raising `error` (None: it returned).

    SystemExit carries a status: sys.exit(0) is a success, sys.exit(3) a failure with
    exit code 3, sys.exit("message") a failure with 1, as the interpreter exits."""
    if error is None:
        return False, None
    if isinstance(error, SystemExit):
        code = error.code
        status = 0 if code is None else code if isinstance(code, int) else 1
        return status != 0, lines.exit_code_or_none(status)
    return True, None


class Measurement:
    """What `tracker.measure(agent, cli)` returns: a context manager (sync and async)
    and a decorator (of sync and async functions), timing one invocation per use."""

    __slots__ = ("_tracker", "agent", "cli", "meta", "id", "record")

    def __init__(self, tracker: "PerformanceTracker", agent: str, cli: str, meta: Optional[Mapping[str, Any]]):
        self._tracker = tracker
        self.agent = agent
        self.cli = cli
        self.meta = meta
        #: The invocation id, once entered.
        self.id: Optional[str] = None
        #: The Record, once exited.
        self.record: Optional[Record] = None

    def __enter__(self) -> "Measurement":
        self.id = self._tracker.start_agent(self.agent, self.cli, self.meta)
        return self

    def __exit__(self, exc_type: Any, error: Optional[BaseException], tb: Any) -> bool:
        failed, code = _exit_status(error)
        # Not waiting for the acknowledgement: the measured code goes on at once, and
        # flush() or close() (or the program's exit) waits for what is outstanding.
        self.record, _ = self._tracker._end(self.id, failed, code, None)
        return False  # the measured code's exception is its own: let it through

    async def __aenter__(self) -> "Measurement":
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, error: Optional[BaseException], tb: Any) -> bool:
        return self.__exit__(exc_type, error, tb)

    def _fresh(self) -> "Measurement":
        return type(self)(self._tracker, self.agent, self.cli, self.meta)

    def __call__(self, fn: F) -> F:
        """Decorate `fn`: each call is one invocation, failed when it raises."""
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                async with self._fresh():
                    return await fn(*args, **kwargs)
            return timed_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():  # the sync protocol never waits, on async trackers too
                return fn(*args, **kwargs)
        return timed  # type: ignore[return-value]


_open: "weakref.WeakSet[PerformanceTracker]" = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    # What was recorded just before the program ended still reaches the log, within a
    # bound: a program must never hang at exit because perflog is unreachable.
    for tracker in list(_open):
        tracker.close(timeout=5.0)


class PerformanceTracker:
    """Times agent invocations and records them in a perflog log.

    `log` is the log directory (default: `$PERFLOG_LOG`, else `.planning/metrics/perflog`
    of the nearest directory that has `.planning/`); a path ending in `.json` is taken as
    the old tracker's metrics file, and the log is the `perflog` directory beside it.
    `socket` (default `$PERFLOG_SOCKET`, else the log's path + `.sock`) is where
    `perflog serve` listens; when none does, the tracker starts one (`auto_start`) that
    stops after `idle_exit` without clients. `perflog` is the binary (default
    `$PERFLOG_BIN`, else `perflog` on PATH). At most `max_buffered` events wait for the
    service; more are dropped and counted. `warn` receives each warning (one line;
    default: the `perflog` logger).
    """

    def __init__(
        self,
        log: Optional[str] = None,
        *,
        socket: Optional[str] = None,
        perflog: Optional[str] = None,
        auto_start: bool = True,
        idle_exit: str = "60s",
        max_buffered: int = 100_000,
        warn: Optional[Callable[[str], None]] = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.log = find_log(log)
        self.socket = find_socket(self.log, socket)
        self.perflog = find_binary(perflog)
        self.timeout = timeout
        self._warn = warn if warn is not None else _logger.warning
        self._warned: set = set()
        self._warn_lock = threading.Lock()
        # invocation -> (stream fields, agent, cli, start meta, start time in ns)
        self._active: Dict[str, Tuple[str, str, str, Optional[Mapping[str, Any]], int]] = {}
        self._conn = Connection(
            socket_path=self.socket,
            log=self.log,
            binary=self.perflog,
            auto_start=auto_start,
            idle_exit=str(idle_exit),
            max_buffered=max_buffered,
            warn_once=self._warn_once,
        )
        self._enqueue = self._conn.enqueue
        _open.add(self)

    def _warn_once(self, kind: str, message: str) -> None:
        with self._warn_lock:
            if kind in self._warned:
                return
            self._warned.add(kind)
        try:
            self._warn(f"perflog: {message}")
        except Exception:
            pass

    def start_agent(self, agent: str, cli: str, meta: Optional[Mapping[str, Any]] = None) -> str:
        """Start timing an invocation of `agent` on `cli`; its id (16 hex digits).

        Sends a mark, so the log shows the invocation in flight."""
        invocation = _new_invocation()
        try:
            fields = _streams.get((agent, cli)) or lines.stream_fields(agent, cli)
            text, _ = _now()
            extra = lines.meta_field(meta) if meta else ""
            self._active[invocation] = (fields, agent, cli, meta, _perf_counter_ns())
            self._enqueue(
                f'{{"kind":"mark",{fields},"invocation":"{invocation}","time":"{text}",'
                f'"pid":{lines.pid}{extra}}}\n'
            )
        except Exception as error:  # never into the caller
            self._warn_once("internal", f"start_agent failed: {error!r}")
        return invocation

    def _end(
        self, id: str, failed: bool, exit_code: Any, meta: Optional[Mapping[str, Any]]
    ) -> Tuple[Optional[Record], int]:
        """Send the measure of `id`: its Record and the line's sequence number (0 when
        the line was dropped)."""
        end = _perf_counter_ns()
        record = None
        try:
            entry = self._active.pop(id, None)
            if entry is None:
                return None, 0
            fields, agent, cli, start_meta, start = entry
            duration = (end - start) / 1e6
            text, ms = _now()
            record = _new_record(agent, cli, duration, ms)
            if start_meta or meta:  # the start's metadata, updated by the end's
                extra = lines.meta_field({**start_meta, **meta} if start_meta and meta else start_meta or meta)
            else:
                extra = ""
            code = "" if exit_code is None else _exit_code_field(exit_code)
            # durationMs to the nanosecond: perflog keeps microseconds.
            line = (
                f'{{"kind":"measure",{fields},"invocation":"{id}","durationMs":{duration:.6f},'
                f'"outcome":"{"failed" if failed else "ok"}"{code},"time":"{text}","pid":{lines.pid}{extra}}}\n'
            )
            return record, self._enqueue(line, record)
        except Exception as error:
            self._warn_once("internal", f"end_agent failed: {error!r}")
            return record, 0

    def end_agent(
        self,
        id: str,
        *,
        failed: bool = False,
        exit_code: Optional[int] = None,
        meta: Optional[Mapping[str, Any]] = None,
        wait: bool = True,
    ) -> Optional[Record]:
        """Stop timing invocation `id` and send its measure (`failed`, `exit_code` 0…255
        and `meta` go with it; the start's meta too). Returns its Record, once the
        service acknowledged it (at most `timeout` seconds), or at once with
        `wait=False`; None for an unknown id. The Record is returned even when the
        event could not be stored (that is counted and warned about)."""
        record, seq = self._end(id, failed, exit_code, meta)
        if wait and seq:
            self._conn.wait_for(seq, self.timeout)
        return record

    def measure(self, agent: str, cli: str, meta: Optional[Mapping[str, Any]] = None) -> Measurement:
        """Time a block (`with tracker.measure("planner", "claude"):`) or each call of a
        function (`@tracker.measure("planner", "claude")`), sync or async. An exception
        records a failed run and goes on to the caller."""
        return Measurement(self, agent, cli, meta)

    def flush(self, timeout: Optional[float] = DEFAULT_TIMEOUT) -> bool:
        """Wait until every event sent so far is acknowledged (or dropped); False when
        `timeout` seconds passed first."""
        try:
            return self._conn.wait_for(self._conn.last_seq(), timeout)
        except Exception:
            return False

    def average_time(self, agent: str, cli: str) -> Optional[float]:
        """perflog's mean duration of the stream, in ms: the mean of the retained
        successful measures (`perflog stats`' meanMs; failed runs are not averaged in).
        None when there is no such stream, no successful measure, or it cannot be
        read (warned about once)."""
        self.flush(self.timeout)
        return self._stats_mean(agent, cli)

    def _stats_mean(self, agent: str, cli: str) -> Optional[float]:
        try:
            return stream_mean(self.perflog, self.log, agent, cli)
        except NotInstalled as error:
            self._warn_once("missing", f"{error}: perflog is not installed (put it on PATH "
                            "or set PERFLOG_BIN); events are not recorded")
        except StatsFailed as error:
            self._warn_once("stats", str(error))
        except Exception as error:
            self._warn_once("stats", f"perflog stats failed: {error!r}")
        return None

    def on_committed(self, callback: Callable[[Record], None]) -> Callable[[Record], None]:
        """Call `callback(record)` (from the tracker's I/O thread) for each measure the
        service acknowledged as stored. Returns `callback`, so it works as a decorator."""
        self._conn.committed_callbacks.append(callback)
        return callback

    def stats(self) -> Dict[str, int]:
        """Lines (marks and measures) `sent`, `acknowledged`, `refused` (an error reply),
        `dropped` (never reached the service), `pending`; and `reconnects`."""
        return self._conn.stats()

    def close(self, timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
        """Wait (up to `timeout`) for what is outstanding, then close the connection.
        Events recorded afterwards are dropped and counted."""
        try:
            self._conn.close(timeout)
        except Exception as error:
            self._warn_once("internal", f"close failed: {error!r}")
        _open.discard(self)

    dispose = close

    def __enter__(self) -> "PerformanceTracker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
