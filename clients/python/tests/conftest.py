"""Shared fixtures: the perflog binary, a private directory per test, and the cleanup
of every `perflog serve` a test (or a tracker in it) started."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
sys.path.insert(0, SRC)


def perflog_binary() -> str:
    return os.environ.get("PERFLOG_BIN") or shutil.which("perflog") or "/tmp/perflog-bin/perflog"


@pytest.fixture
def perflog_bin() -> str:
    binary = perflog_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no perflog binary at {binary} (set PERFLOG_BIN)")
    return binary


def wait_until(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # polling interval, not synchronisation


def service_answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def services_under(directory: str) -> List[int]:
    """The pids of the `perflog serve` processes whose command line names `directory`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state == b"Z":
            continue  # exited, waiting to be reaped
        if b"serve" in argv and any(directory.encode() in arg for arg in argv):
            pids.append(int(entry))
    return pids


def export(binary: str, log: str) -> List[Dict]:
    out = subprocess.run([binary, "export", "--format", "ndjson", "--log", log],
                         check=True, capture_output=True, timeout=60).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def measures(binary: str, log: str) -> List[Dict]:
    return [e for e in export(binary, log) if e["kind"] == "measure"]


def stats(binary: str, log: str) -> List[Dict]:
    out = subprocess.run([binary, "stats", "--json", "--log", log],
                         check=True, capture_output=True, timeout=60).stdout
    return json.loads(out)


@pytest.fixture
def workdir():
    """A private directory with a short path (a Unix socket's path is limited to about
    100 bytes); every service started under it is stopped at the end."""
    directory = tempfile.mkdtemp(prefix="plpy-", dir="/tmp")
    try:
        yield directory
    finally:
        pids = services_under(directory)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while services_under(directory) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in services_under(directory):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(directory, ignore_errors=True)


class Warnings(list):
    """A `warn` option that keeps what it was given."""

    def __call__(self, message: str) -> None:
        self.append(message)


@pytest.fixture
def warnings_seen() -> Warnings:
    return Warnings()


@pytest.fixture(autouse=True)
def _no_ambient_log(monkeypatch):
    """Tests name their log; the environment's PERFLOG_LOG/PERFLOG_SOCKET must not leak in."""
    monkeypatch.delenv("PERFLOG_LOG", raising=False)
    monkeypatch.delenv("PERFLOG_SOCKET", raising=False)
