"""The connection to `perflog serve`, driven by one daemon I/O thread per tracker.

Callers only append lines to a queue (under a lock, no system call unless the I/O
thread is idle and needs waking). The I/O thread connects (starting the service when
none answers), writes the queue out in batches, and reads the replies in the same
poll() loop, so a large batch never deadlocks against replies the service cannot send
while nobody reads them.

Every accepted line gets a sequence number. Lines settle in order: acknowledged (stored,
or refused with an error reply) or dropped (the service could not be reached). Waiting
for an event means waiting until the settled number reaches its line. A line written
but not acknowledged when the connection is lost is written again on the next one; the
service acknowledges a measure whose invocation it already holds without storing it
twice, so a measure is stored exactly once.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import json
import os
import select
import socket as _socket
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from .service import EXIT_TEMPFAIL, NotInstalled, start_service

#: How long connecting may keep failing (the service's start included) before the lines
#: waiting are dropped. After a failure the next attempts get a shorter window, so that a
#: program whose service is gone is not held up again and again.
CONNECT_WINDOW = 10.0
CONNECT_WINDOW_AGAIN = 2.0
#: After giving up, new lines are dropped at once for this long (doubling while the
#: service stays unreachable, up to the maximum) before connecting is tried again.
RETRY_AFTER = 1.0
RETRY_AFTER_MAX = 30.0
#: Connect errors worth retrying: no socket yet, nobody listening yet, a full backlog.
_RETRYABLE = {errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN, errno.EINTR}
#: Errors that mean no service listens on the socket, so one should be started.
_NO_SERVICE = {errno.ENOENT, errno.ECONNREFUSED}

WarnOnce = Callable[[str, str], None]


class _Batch:
    """Lines written together; `seqs[i]` is the sequence number of `lines[i]` (a range,
    but for lines written again); `done` counts the lines acknowledged."""

    __slots__ = ("seqs", "lines", "done")

    def __init__(self, seqs: Sequence[int], lines: List[str]) -> None:
        self.seqs = seqs
        self.lines = lines
        self.done = 0


_MARK = '{"kind":"mark"'
_INVOCATION = '"invocation":"'


def _invocation(line: str) -> str:
    start = line.index(_INVOCATION) + len(_INVOCATION)
    return line[start:start + 16]


_live: "weakref.WeakSet[Connection]" = weakref.WeakSet()


def _after_fork() -> None:
    for connection in list(_live):
        connection._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class Connection:
    def __init__(
        self,
        *,
        socket_path: str,
        log: str,
        binary: str,
        auto_start: bool,
        idle_exit: str,
        max_buffered: int,
        warn_once: WarnOnce,
    ) -> None:
        self.socket_path = socket_path
        self.log = log
        self.binary = binary
        self.auto_start = auto_start
        self.idle_exit = idle_exit
        self.max_buffered = max(1, int(max_buffered))
        self._warn_once = warn_once
        self.committed_callbacks: List[Callable[[Any], None]] = []
        self._next_seq = 1
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        """The state of a connection that never connected (also a forked child's: the
        parent's lines and socket are the parent's)."""
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        # Accepted, not yet written; _lines[0] has the sequence number _pending_first.
        self._lines: List[str] = []
        # The Record of each measure not yet acknowledged, by sequence number, while
        # there is an on_committed callback to give it to.
        self._records: Dict[int, Any] = {}
        self._pending_first = self._next_seq
        # Every line up to this sequence number has settled; the lines after it, up to
        # _next_seq, are outstanding (at most max_buffered).
        self._settled = self._next_seq - 1
        self._unacked: Deque[_Batch] = deque()  # written (or to write again), oldest first
        self._sync_waiting = 0
        self._skipped_marks = 0  # marks left out of a resend, not yet counted
        self._waiters: List[Tuple[int, int, Callable[[], None]]] = []  # heap, for asyncio
        self._tiebreak = itertools.count()
        self._closed = False
        self._accepting = True  # not closed, and not in a pause after giving up
        self._stop = False
        self._stop_event = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._wake_r = self._wake_w = -1
        self._wake_flag = False
        self._down_until = 0.0
        self._failures = 0
        self._was_connected = False
        self._children: list = []
        self._sock: Optional[_socket.socket] = None
        self.sent = self.acknowledged = self.refused = self.dropped = self.reconnects = 0

    def _reset_after_fork(self) -> None:
        sock = self._sock
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._reset()
        if sock is not None:
            try:
                sock.close()  # the child's copy only; the parent's connection is untouched
            except OSError:
                pass

    # ---- called by the tracker, from any thread ----

    @property
    def outstanding(self) -> int:
        return self._next_seq - 1 - self._settled

    def enqueue(self, line: str, record: Any = None) -> int:
        """Queue a line (and the Record of a measure); its sequence number, or 0 when it
        was dropped (counted)."""
        with self._lock:
            if self._accepting or self._resume():
                seq = self._next_seq
                if seq - self._settled <= self.max_buffered:
                    self._next_seq = seq + 1
                    self._lines.append(line)
                    if record is not None and self.committed_callbacks:
                        self._records[seq] = record
                    if not self._wake_flag:
                        self._wake_flag = True
                        if self._thread is None:
                            self._start_thread()
                        # Under the lock, so that close() cannot close the pipe meanwhile.
                        self._wake()
                    return seq
                full = True
            else:
                full = False
            self.dropped += 1
        if full:
            self._warn_once(
                "full",
                f"more than {self.max_buffered} events wait for perflog serve at "
                f"{self.socket_path}; dropping (counted in stats()['dropped'])",
            )
        return 0

    def _resume(self) -> bool:
        """Under the lock, when not accepting: whether the pause after giving up is over
        (the next line tries to connect again)."""
        if self._closed or time.monotonic() < self._down_until:
            return False
        self._accepting = True
        return True

    def wait_for(self, seq: int, timeout: Optional[float]) -> bool:
        """Block until line `seq` has settled; False when `timeout` passed first."""
        with self._cv:
            if self._settled >= seq:
                return True
            self._sync_waiting += 1
            try:
                return self._cv.wait_for(lambda: self._settled >= seq, timeout)
            finally:
                self._sync_waiting -= 1

    def last_seq(self) -> int:
        return self._next_seq - 1

    def add_waiter(self, seq: int, callback: Callable[[], None]) -> None:
        """Call `callback` (from the I/O thread, or here) once line `seq` has settled."""
        with self._lock:
            if self._settled < seq:
                heapq.heappush(self._waiters, (seq, next(self._tiebreak), callback))
                return
        callback()

    def close(self, timeout: Optional[float]) -> None:
        """Wait up to `timeout` for what is outstanding, then stop the I/O thread and
        drop (counting) what is still unacknowledged."""
        self.wait_for(self.last_seq(), timeout)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._accepting = False
            self._stop = True
            self._stop_event.set()
            self._wake()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        ready = self._drop_all()
        with self._lock:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1
        self._run_callbacks(ready)
        for child in self._children:
            child.poll()  # reaps a service that has stopped already

    # ---- the I/O thread ----

    def _start_thread(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="perflog-io", daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except (BlockingIOError, OSError):
                pass  # the pipe is full: the thread is awake already

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        self._poller = poller
        self._mask = 0
        try:
            while not self._stop:
                if self._sock is None:
                    with self._lock:
                        # Idle, or given up: the next line must wake us.
                        self._wake_flag = False
                        idle = not (self._lines or self._unacked)
                    if idle:
                        poller.poll()  # only a new line or close() wakes us
                        self._drain_wake()
                        continue
                    self._open()
                    continue
                if not self._out:
                    self._take_pending()
                mask = select.POLLIN | (select.POLLOUT if self._out else 0)
                if mask != self._mask:
                    poller.modify(self._sock, mask)
                    self._mask = mask
                for fd, events in poller.poll():
                    if fd == self._wake_r:
                        self._drain_wake()
                    elif self._sock is not None and fd == self._sock.fileno():
                        if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                            self._read()
                        if self._sock is not None and events & select.POLLOUT:
                            self._write()
        except Exception as error:  # a bug here must not take the program down
            self._warn_once("internal", f"the perflog client's I/O thread stopped: {error!r}")
            self._run_callbacks(self._drop_all())
            with self._lock:
                self._closed = True
                self._accepting = False
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _open(self) -> None:
        sock, problem = self._connect()
        if sock is None:
            if problem is not None:
                self._give_up(*problem)
            return
        sock.setblocking(False)
        self._sock = sock
        self._failures = 0
        if self._was_connected:
            self.reconnects += 1
        self._was_connected = True
        self._conn_acked = 0  # lines acknowledged on this connection
        self._refused_lines: set = set()
        self._retry_from = 0
        self._rbuf = b""
        self._out = b""
        self._out_off = 0
        self._poller.register(sock, select.POLLIN)
        self._mask = select.POLLIN
        self._prepare_resend()

    def _connect(self) -> Tuple[Optional[_socket.socket], Optional[Tuple[str, str]]]:
        """A connected socket, or None and (warning kind, message), or None and None
        when closing."""
        window = CONNECT_WINDOW if self._failures == 0 else CONNECT_WINDOW_AGAIN
        deadline = time.monotonic() + window
        delay = 0.002
        child = None
        spawns = 0
        while not self._stop:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.connect(self.socket_path)
                return sock, None
            except OSError as error:
                sock.close()
                failure = error
            if failure.errno not in _RETRYABLE:
                return None, ("unreachable", f"cannot connect to perflog serve at {self.socket_path} ({failure})")
            if child is not None and child.poll() is not None:
                code = child.returncode
                # 75: another service took the socket first, and serves; 0: ours
                # stopped already (idle). Either way, keep trying, starting one again.
                if code not in (0, EXIT_TEMPFAIL):
                    return None, ("unreachable", f"perflog serve exited with status {code} "
                                  f"(log {self.log}, socket {self.socket_path})")
                child = None
            if self.auto_start and child is None and spawns < 3 and failure.errno in _NO_SERVICE:
                try:
                    child = start_service(self.binary, self.log, self.socket_path, self.idle_exit)
                except NotInstalled as error:
                    return None, ("missing", f"{error}: perflog is not installed (put it on PATH "
                                  "or set PERFLOG_BIN); events are not recorded")
                except OSError as error:
                    return None, ("unreachable", f"cannot start perflog serve ({error})")
                spawns += 1
                self._children = [c for c in self._children if c.poll() is None] + [child]
            if time.monotonic() >= deadline:
                how = "" if self.auto_start else " (auto_start is off)"
                return None, ("unreachable", f"no perflog service answers at {self.socket_path}{how}: "
                              f"{failure.strerror or failure}")
            self._stop_event.wait(delay)  # backoff between attempts, cut short by close()
            delay = min(delay * 2, 0.1)
        return None, None

    def _prepare_resend(self) -> None:
        """After a reconnect, write again every line not acknowledged, as the first
        lines of the new connection (whose line numbers start at 1 again).

        A mark whose measure is written again with it is left out: the service would
        store a mark of an invocation it measured already as a new one, open for ever;
        the measure alone records the invocation."""
        if not self._unacked:
            return
        unacked = [(batch.seqs[i], batch.lines[i])
                   for batch in self._unacked for i in range(batch.done, len(batch.lines))]
        measured = {_invocation(line) for _, line in unacked if not line.startswith(_MARK)}
        kept = [(seq, line) for seq, line in unacked
                if not (line.startswith(_MARK) and _invocation(line) in measured)]
        lines = [line for _, line in kept]
        self._unacked = deque([_Batch([seq for seq, _ in kept], lines)])
        self._out = "".join(lines).encode()
        # A mark left out counts as acknowledged with its measure: it settles when
        # the measure does.
        self._skipped_marks += len(unacked) - len(kept)

    def _take_pending(self) -> None:
        self._drain_wake()
        with self._lock:
            self._wake_flag = False
            lines = self._lines
            if not lines:
                return
            first = self._pending_first
            self._lines = []
            self._pending_first = self._next_seq
        self._unacked.append(_Batch(range(first, first + len(lines)), lines))
        self._out = "".join(lines).encode()
        self._out_off = 0
        self.sent += len(lines)

    def _write(self) -> None:
        try:
            sent = self._sock.send(memoryview(self._out)[self._out_off:])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._lost()
            return
        self._out_off += sent
        if self._out_off >= len(self._out):
            self._out = b""
            self._out_off = 0

    def _read(self) -> None:
        try:
            data = self._sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        if b"\n" not in data:
            self._rbuf += data
            return
        data = self._rbuf + data
        end = data.rfind(b"\n")
        self._rbuf = data[end + 1:]
        ack = 0
        for reply in data[:end].split(b"\n"):
            if reply.startswith(b'{"ack":'):
                ack = int(reply[7:-1])
            elif reply:
                self._error_reply(reply)
        if ack:
            self._on_ack(ack)
        if self._retry_from and self._sock is not None:
            # The service could not store these lines (the log was held by another
            # process); reconnect and write them again.
            self._stop_event.wait(0.2)
            self._lost()

    def _error_reply(self, reply: bytes) -> None:
        try:
            problem = json.loads(reply)
            line = int(problem["line"])
        except (ValueError, KeyError, TypeError):
            return
        message = str(problem.get("error", ""))
        if message.startswith("not stored") and message.endswith("resend"):
            if not self._retry_from or line < self._retry_from:
                self._retry_from = line
            self._warn_once("busy", f"perflog serve could not store events ({message}); sending them again")
            return
        self._refused_lines.add(line)
        field = problem.get("field")
        where = f" field {field}:" if field else ""
        self._warn_once("refused", f"perflog serve refused an event (line {line}):{where} {message}")

    def _on_ack(self, acked: int) -> None:
        if self._retry_from:
            acked = min(acked, self._retry_from - 1)
        count = acked - self._conn_acked
        if count <= 0:
            return
        line_no = self._conn_acked + 1
        self._conn_acked = acked
        refused_lines = self._refused_lines
        records = self._records
        refused = 0
        committed = []
        handled = count
        last = self._settled
        while count and self._unacked:
            batch = self._unacked[0]
            start = batch.done
            take = min(count, len(batch.lines) - start)
            if refused_lines or records:
                seqs = batch.seqs
                for i in range(start, start + take):
                    record = records.pop(seqs[i], None) if records else None
                    if line_no in refused_lines:
                        refused_lines.discard(line_no)
                        refused += 1
                    elif record is not None:
                        committed.append(record)
                    line_no += 1
            else:
                line_no += take
            batch.done = start + take
            count -= take
            last = batch.seqs[batch.done - 1]
            if batch.done == len(batch.lines):
                self._unacked.popleft()
        handled -= count  # more acknowledged than written would be the service's bug
        with self._lock:
            self._settled = last
            self.acknowledged += handled - refused + self._skipped_marks
            self._skipped_marks = 0
            self.refused += refused
            ready = self._ready_waiters()
        self._run_callbacks(ready)
        for record in committed:
            for callback in self.committed_callbacks:
                try:
                    callback(record)
                except Exception as error:
                    self._warn_once("callback", f"an on_committed callback raised {error!r}")

    def _ready_waiters(self) -> List[Callable[[], None]]:
        """Under the lock: wake the blocked waiters, take the asyncio ones now due."""
        if self._sync_waiting:
            self._cv.notify_all()
        ready = []
        while self._waiters and self._waiters[0][0] <= self._settled:
            ready.append(heapq.heappop(self._waiters)[2])
        return ready

    @staticmethod
    def _run_callbacks(ready: List[Callable[[], None]]) -> None:
        for callback in ready:
            try:
                callback()
            except Exception:
                pass

    def _lost(self) -> None:
        """The connection closed (the service stopped or died): forget it; the loop
        connects again when there is anything to write or to write again."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                self._poller.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self._out = b""
        self._out_off = 0

    def _drop_all(self) -> List[Callable[[], None]]:
        """Settle every outstanding line as dropped (counted); the waiters to call."""
        with self._lock:
            self.dropped += self._next_seq - 1 - self._settled
            self._skipped_marks = 0
            self._unacked.clear()
            self._lines = []
            self._records.clear()
            self._pending_first = self._next_seq
            self._settled = self._next_seq - 1
            return self._ready_waiters()

    def _give_up(self, kind: str, message: str) -> None:
        self._failures += 1
        ready = self._drop_all()
        with self._lock:
            pause = min(RETRY_AFTER * 2 ** (self._failures - 1), RETRY_AFTER_MAX)
            self._down_until = time.monotonic() + pause
            self._accepting = False
        self._run_callbacks(ready)
        self._warn_once(kind, f"{message} (dropped events are counted in stats()['dropped'])")

    def stats(self) -> dict:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "refused": self.refused,
            "dropped": self.dropped,
            "pending": self.outstanding,
            "reconnects": self.reconnects,
        }
