"""The service's life: started on demand, stopping when idle, raced for, killed, missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from conftest import SRC, measures, service_answers, services_under, stats, wait_until
from perflog import PerformanceTracker


def test_auto_start_then_idle_exit(workdir, perflog_bin, warnings_seen):
    project = os.path.join(workdir, "project")
    os.makedirs(os.path.join(project, ".planning"))
    log = os.path.join(project, ".planning", "metrics", "perflog")
    sock = log + ".sock"
    assert not service_answers(sock) and not services_under(workdir)

    tracker = PerformanceTracker(log, perflog=perflog_bin, idle_exit="1s", warn=warnings_seen)
    assert tracker.socket == sock
    ids = [tracker.start_agent("planner", "claude") for _ in range(50)]
    for i, id in enumerate(ids):
        tracker.end_agent(id, failed=i % 10 == 0, wait=False)
    assert tracker.flush()
    assert len(services_under(workdir)) == 1  # it started exactly one
    tracker.close()

    stored = measures(perflog_bin, log)
    assert sorted(m["invocation"] for m in stored) == sorted(ids)
    assert warnings_seen == []
    # With its only client gone, the service stops by itself after its idle limit
    # (watched without connecting: a probe would be a client, and keep it up).
    [service] = tracker._conn._children
    wait_until(lambda: service.poll() is not None, 15, "the idle service to exit")
    assert service.returncode == 0
    assert not services_under(workdir)
    assert not os.path.exists(sock)  # it removed its socket
    assert not service_answers(sock)


def test_default_log_is_found_like_git_finds_dot_git(workdir, perflog_bin, monkeypatch):
    project = os.path.join(workdir, "project")
    nested = os.path.join(project, "src", "deep")
    os.makedirs(os.path.join(project, ".planning"))
    os.makedirs(nested)
    monkeypatch.chdir(nested)
    monkeypatch.setenv("PERFLOG_BIN", perflog_bin)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    tracker = PerformanceTracker(idle_exit="1s")
    assert tracker.log == os.path.join(project, ".planning", "metrics", "perflog")
    assert tracker.socket == tracker.log + ".sock"
    assert tracker.perflog == perflog_bin
    tracker.end_agent(tracker.start_agent("a", "c"))
    tracker.close()
    assert len(measures(perflog_bin, tracker.log)) == 1
    # The old tracker's argument (its metrics file) names the same log.
    old = PerformanceTracker(os.path.join(project, ".planning", "metrics", "agent-performance.json"))
    assert old.log == tracker.log
    old.close()


RACER = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {src!r})
    from perflog import PerformanceTracker
    go = {go!r}
    deadline = time.monotonic() + 20
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.001)  # both racers start at once
    t = PerformanceTracker({log!r}, perflog={binary!r}, idle_exit="2s")
    ids = []
    for i in range(50):
        ids.append(t.start_agent("racer", "p%d" % os.getpid()))
        t.end_agent(ids[-1], wait=False)
    ok = t.flush(20)
    print(json.dumps({{"ok": ok, "ids": ids, "stats": t.stats()}}), flush=True)
    sys.stdin.read()  # until the test has seen the losing service go
    print(json.dumps([c.poll() for c in t._conn._children]), flush=True)
    t.close()
""")


def test_two_processes_racing_to_start_share_one_service(workdir, perflog_bin):
    log = os.path.join(workdir, "log")
    go = os.path.join(workdir, "go")
    script = RACER.format(src=SRC, go=go, log=log, binary=perflog_bin)
    racers = [subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        open(go, "w").close()
        results = [json.loads(racer.stdout.readline()) for racer in racers]
        for result in results:
            assert result["ok"], result
            assert result["stats"]["dropped"] == 0 and result["stats"]["refused"] == 0
        # Whoever started a service: exactly one keeps running.
        wait_until(lambda: len(services_under(workdir)) == 1, 15, "a single service")
        spawned = []
        for racer in racers:
            out, _ = racer.communicate("", timeout=30)
            assert racer.returncode == 0
            spawned += json.loads(out)
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    # It was started by one of them (still running); any other one exited 75.
    assert spawned.count(None) == 1 and all(code == 75 for code in spawned if code is not None), spawned
    stored = measures(perflog_bin, log)
    assert sorted(m["invocation"] for m in stored if m["agent"] == "racer") == sorted(
        id for result in results for id in result["ids"])


def test_service_killed_mid_run_every_invocation_stored_exactly_once(workdir, perflog_bin):
    log = os.path.join(workdir, "log")
    sock = log + ".sock"
    subprocess.run([perflog_bin, "init", "--retain", "100000", "--log", log], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)
    first = subprocess.Popen([perflog_bin, "serve", "--log", log, "--socket", sock],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: service_answers(sock), 15, "the service to listen")
        tracker = PerformanceTracker(log, perflog=perflog_bin, idle_exit="2s")
        n, kills = 3000, (700, 1900)
        ids = []
        for i in range(n):
            ids.append(tracker.start_agent(f"agent{i % 3}", "claude"))
            # Some wait for their acknowledgement, most do not: lines are in flight
            # (written, not acknowledged) when the service dies.
            assert tracker.end_agent(ids[-1], wait=i % 100 == 0) is not None
            if i == kills[0]:
                first.kill()  # SIGKILL: no goodbye, the socket file stays behind
                first.wait(10)
            if i == kills[1]:
                # The tracker started the second service itself; kill that one too.
                [pid] = wait_until(lambda: services_under(workdir), 15, "the restarted service")
                os.kill(pid, signal.SIGKILL)
        assert tracker.flush(30)
        s = tracker.stats()
        tracker.close()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert s["dropped"] == 0 and s["refused"] == 0 and s["pending"] == 0
    assert s["reconnects"] >= 2
    counts = Counter(m["invocation"] for m in measures(perflog_bin, log))
    assert set(counts) == set(ids)
    assert set(counts.values()) == {1}  # exactly once, though some were sent twice
    # No mark sent again was stored as a new, never-ending invocation.
    assert sum(stream["inFlight"] for stream in stats(perflog_bin, log)) == 0


def test_perflog_missing_never_raises_and_warns_once(workdir, monkeypatch, warnings_seen):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no perflog there
    monkeypatch.delenv("PERFLOG_BIN", raising=False)
    monkeypatch.chdir(workdir)
    tracker = PerformanceTracker(perflog="/nonexistent/perflog", warn=warnings_seen)
    started = time.monotonic()
    records = []
    for i in range(20):
        id = tracker.start_agent("planner", "claude")
        records.append(tracker.end_agent(id, failed=i % 2 == 0))  # waits: must not hang
    with tracker.measure("planner", "claude"):
        pass
    assert tracker.average_time("planner", "claude") is None
    assert tracker.flush(5)
    tracker.close()
    assert time.monotonic() - started < 10
    assert all(r is not None and r.duration >= 0 for r in records)
    assert len(warnings_seen) == 1, warnings_seen
    assert "not installed" in warnings_seen[0] and "/nonexistent/perflog" in warnings_seen[0]
    s = tracker.stats()
    assert s["dropped"] == 42 and s["acknowledged"] == 0 and s["pending"] == 0
    assert not os.path.exists(os.path.join(workdir, ".planning", "metrics", "perflog"))

    # Found on PATH by default: not there either.
    default = PerformanceTracker(warn=warnings_seen)
    assert default.perflog == "perflog"
    assert default.end_agent(default.start_agent("a", "c")) is not None
    default.close()
    assert default.stats()["dropped"] == 2


EXITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {src!r})
    from perflog import PerformanceTracker
    t = PerformanceTracker({log!r}, perflog={binary!r}, idle_exit="1s")
    for i in range(100):
        t.end_agent(t.start_agent("exiter", "python"), wait=False)
    # No close(): the program just ends, and must neither hang nor lose these.
""")


@pytest.mark.parametrize("binary_ok", [True, False])
def test_a_program_that_just_exits_is_not_kept_alive(workdir, perflog_bin, binary_ok):
    log = os.path.join(workdir, "log")
    binary = perflog_bin if binary_ok else "/nonexistent/perflog"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", EXITER.format(src=SRC, log=log, binary=binary)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10
    if binary_ok:
        assert done.stderr == ""
        assert len(measures(perflog_bin, log)) == 100  # flushed at exit
    else:
        assert done.stderr.count("perflog:") == 1 and "not installed" in done.stderr


def test_a_forked_child_gets_its_own_connection(workdir, perflog_bin):
    tracker = PerformanceTracker(os.path.join(workdir, "log"), perflog=perflog_bin, idle_exit="2s")
    parent_ids = [tracker.start_agent("parent", "fork")]
    tracker.end_agent(parent_ids[0])  # connected before the fork
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            ids = [tracker.start_agent("child", "fork") for _ in range(10)]
            status = 0 if all(tracker.end_agent(id) for id in ids) and tracker.stats()["dropped"] == 0 else 2
            tracker.close()
        finally:
            os._exit(status)
    for _ in range(10):
        parent_ids.append(tracker.start_agent("parent", "fork"))
        tracker.end_agent(parent_ids[-1])
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tracker.close()
    stored = measures(perflog_bin, tracker.log)
    assert sorted(m["invocation"] for m in stored if m["agent"] == "parent") == sorted(parent_ids)
    children = [m for m in stored if m["agent"] == "child"]
    assert len(children) == 10 and {m["pid"] for m in children} == {pid}
    assert not set(m["invocation"] for m in children) & set(parent_ids)
