"""The wire protocol against a scripted stand-in for `perflog serve`: what is written
again after a lost connection, error replies, "resend" replies, the buffer's bound."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Callable, List

import pytest

from conftest import wait_until
from perflog import PerformanceTracker


class FakeService:
    """Accepts connections one after another; `script(index, conn, lines)` handles the
    index-th one. Every line received is kept, per connection."""

    def __init__(self, path: str, script: Callable[["FakeService", int, socket.socket], None]):
        self.path = path
        self.script = script
        self.received: List[List[dict]] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.connections: List[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        index = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            self.received.append([])
            try:
                self.script(self, index, conn)
            except OSError:
                pass
            index += 1

    def read_lines(self, conn: socket.socket, count: int, timeout: float = 10) -> List[dict]:
        """Read until this connection has sent `count` lines in all."""
        mine = self.received[-1]
        buffer = b""
        conn.settimeout(timeout)
        while len(mine) < count:
            data = conn.recv(65536)
            if not data:
                break
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            mine.extend(json.loads(line) for line in complete)
        return mine

    def ack_everything(self, conn: socket.socket) -> None:
        """Acknowledge each line as it arrives, until the client closes."""
        mine = self.received[-1]
        buffer = b""
        conn.settimeout(30)
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            mine.extend(json.loads(line) for line in complete)
            conn.sendall(b'{"ack":%d}\n' % len(mine))

    def close(self) -> None:
        # shutdown() wakes a thread blocked in accept() or recv(); close() alone may not.
        for sock in [self.listener] + self.connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def fake(workdir):
    services = []

    def start(script):
        service = FakeService(os.path.join(workdir, "fake.sock"), script)
        services.append(service)
        return service

    yield start
    for service in services:
        service.close()


def tracker_for(service: FakeService, warn, **options) -> PerformanceTracker:
    # auto_start off: nothing else may answer on this socket.
    return PerformanceTracker(os.path.join(os.path.dirname(service.path), "log"),
                              socket=service.path, auto_start=False, warn=warn, **options)


def kinds(lines):
    return [(line["kind"], line["invocation"]) for line in lines]


def test_unacknowledged_lines_are_written_again_after_a_lost_connection(fake, warnings_seen):
    def script(service, index, conn):
        if index == 0:
            service.read_lines(conn, 6)
            conn.sendall(b'{"ack":1}\n')  # only the first mark, then the "service" dies
            conn.close()
        else:
            service.ack_everything(conn)

    service = fake(script)
    tracker = tracker_for(service, warnings_seen)
    ids = [tracker.start_agent("a", "c") for _ in range(3)]
    for id in ids:
        tracker.end_agent(id, wait=False)
    assert tracker.flush(10)
    tracker.close()
    first, second = service.received
    assert kinds(first) == [("mark", ids[0]), ("mark", ids[1]), ("mark", ids[2]),
                            ("measure", ids[0]), ("measure", ids[1]), ("measure", ids[2])]
    # Line numbers start again at 1; the acknowledged mark is not sent again, nor are
    # marks whose measures go with them (stored again, they would stay open for ever).
    assert kinds(second) == [("measure", ids[0]), ("measure", ids[1]), ("measure", ids[2])]
    assert second == first[3:]  # the very same lines
    assert tracker.stats() == {"sent": 6, "acknowledged": 6, "refused": 0, "dropped": 0,
                               "pending": 0, "reconnects": 1}
    assert warnings_seen == []


def test_error_replies_count_as_refused_and_skip_on_committed(fake, warnings_seen):
    def script(service, index, conn):
        service.read_lines(conn, 4)
        conn.sendall(b'{"line":2,"field":"durationMs","error":"must not be negative"}\n{"ack":4}\n')
        service.ack_everything(conn)

    service = fake(script)
    tracker = tracker_for(service, warnings_seen)
    committed = []
    tracker.on_committed(committed.append)
    first, second = tracker.start_agent("a", "c"), tracker.start_agent("a", "c")
    r1 = tracker.end_agent(first, wait=False)
    r2 = tracker.end_agent(second, wait=False)
    wait_until(lambda: tracker.stats()["pending"] == 0, 10, "the replies")
    tracker.close()
    assert [l["kind"] for l in service.received[0]] == ["mark", "mark", "measure", "measure"]
    # Line 2 is the second mark here, so the refused line is that mark: both measures
    # were stored, and both committed.
    assert committed == [r1, r2]
    assert tracker.stats()["refused"] == 1 and tracker.stats()["acknowledged"] == 3
    assert len(warnings_seen) == 1
    assert "durationMs" in warnings_seen[0] and "must not be negative" in warnings_seen[0]


def test_a_refused_measure_is_not_reported_committed(fake, warnings_seen):
    def script(service, index, conn):
        service.read_lines(conn, 2)
        conn.sendall(b'{"line":2,"field":"agent","error":"must not be empty"}\n{"ack":2}\n')
        service.ack_everything(conn)

    service = fake(script)
    tracker = tracker_for(service, warnings_seen)
    committed = []
    tracker.on_committed(committed.append)
    record = tracker.end_agent(tracker.start_agent("a", "c"))  # waits: still returns
    assert record is not None
    tracker.end_agent(tracker.start_agent("a", "c"))
    tracker.close()
    assert len(committed) == 1 and committed[0] is not record
    assert tracker.stats()["refused"] == 1


def test_lines_the_service_could_not_store_are_sent_again(fake, warnings_seen):
    def script(service, index, conn):
        if index == 0:
            service.read_lines(conn, 4)
            busy = b'"error":"not stored: the log is busy (held by pid 1); resend"'
            conn.sendall(b"".join(b'{"line":%d,%s}\n' % (n, busy) for n in (2, 3, 4)) + b'{"ack":4}\n')
            # This connection stays open: the client must leave it and write again.
            service.read_lines(conn, 10**6, timeout=10)
        else:
            service.ack_everything(conn)

    service = fake(script)
    tracker = tracker_for(service, warnings_seen)
    a, b = tracker.start_agent("a", "c"), tracker.start_agent("a", "c")
    tracker.end_agent(a, wait=False)
    tracker.end_agent(b, wait=False)
    assert tracker.flush(10)
    tracker.close()
    first, second = service.received[0], service.received[1]
    assert kinds(first) == [("mark", a), ("mark", b), ("measure", a), ("measure", b)]
    assert kinds(second) == [("measure", a), ("measure", b)]
    s = tracker.stats()
    assert s["refused"] == 0 and s["dropped"] == 0 and s["reconnects"] == 1
    assert len(warnings_seen) == 1 and "resend" in warnings_seen[0]


def test_the_buffer_is_bounded_and_drops_are_counted(fake, warnings_seen):
    def script(service, index, conn):
        service.read_lines(conn, 10**6, timeout=30)  # reads, never acknowledges

    service = fake(script)
    tracker = tracker_for(service, warnings_seen, max_buffered=10)
    started = time.monotonic()
    records = [tracker.end_agent(tracker.start_agent("a", "c"), wait=False) for _ in range(20)]
    assert all(r is not None for r in records)
    assert tracker.stats()["pending"] == 10 and tracker.stats()["dropped"] == 30
    assert not tracker.flush(0.2)  # nothing is acknowledged: flush says so, on time
    tracker.close(timeout=0.2)
    assert time.monotonic() - started < 5
    assert tracker.stats()["dropped"] == 40 and tracker.stats()["pending"] == 0
    assert len(warnings_seen) == 1 and "more than 10" in warnings_seen[0]


def test_a_socket_nobody_listens_on_gives_up_pauses_and_tries_again(workdir, fake, warnings_seen, monkeypatch):
    import perflog.connection as connection
    monkeypatch.setattr(connection, "CONNECT_WINDOW", 0.3)
    monkeypatch.setattr(connection, "CONNECT_WINDOW_AGAIN", 0.3)
    monkeypatch.setattr(connection, "RETRY_AFTER", 0.5)
    path = os.path.join(workdir, "fake.sock")
    tracker = PerformanceTracker(os.path.join(workdir, "log"), socket=path,
                                 auto_start=False, warn=warnings_seen)
    started = time.monotonic()
    assert tracker.end_agent(tracker.start_agent("a", "c")) is not None  # waits out the window
    assert time.monotonic() - started < 5
    # Given up: for a while, events are dropped at once instead of waiting again.
    quick = time.monotonic()
    for _ in range(10):
        tracker.end_agent(tracker.start_agent("a", "c"))
    assert time.monotonic() - quick < 0.5
    assert tracker.stats()["dropped"] == 22
    assert len(warnings_seen) == 1 and "auto_start is off" in warnings_seen[0]
    # Once a service is there, an event after the pause reaches it.
    service = fake(lambda service, index, conn: service.ack_everything(conn))
    wait_until(lambda: tracker.end_agent(tracker.start_agent("a", "c")) and tracker.stats()["acknowledged"],
               10, "an event to get through")
    tracker.close()
    assert tracker.stats()["acknowledged"] == 2 and len(service.received[0]) == 2
    assert len(warnings_seen) == 1
