"""PerformanceTracker against a real `perflog serve` (started by the tracker)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from conftest import measures, stats, wait_until
from perflog import PerformanceTracker, Record


@pytest.fixture
def tracker(workdir, perflog_bin, warnings_seen):
    t = PerformanceTracker(os.path.join(workdir, "log"), perflog=perflog_bin, idle_exit="5s",
                           warn=warnings_seen)
    yield t
    t.close()


def test_end_agent_returns_the_record_once_stored(tracker, perflog_bin):
    id = tracker.start_agent("planner", "claude", {"model": "opus"})
    assert re.fullmatch(r"[0-9a-f]{16}", id)
    before = time.time() * 1000
    record = tracker.end_agent(id, meta={"turns": 3})
    assert isinstance(record, Record)
    assert (record.agent, record.cli) == ("planner", "claude")
    assert 0 < record.duration < 5_000
    assert before - 1 <= record.timestamp <= time.time() * 1000 + 1
    # Acknowledged means committed: the measure is in the log now, without a flush.
    [stored] = measures(perflog_bin, tracker.log)
    assert stored["invocation"] == id
    assert stored["outcome"] == "ok"
    assert stored["pid"] == os.getpid()
    assert stored["meta"] == {"model": "opus", "turns": "3"}  # the start's meta, and the end's
    assert stored["durationMs"] == pytest.approx(record.duration, abs=0.001)
    assert tracker.stats() == {"sent": 2, "acknowledged": 2, "refused": 0, "dropped": 0,
                               "pending": 0, "reconnects": 0}


def test_unknown_id_gives_none(tracker):
    assert tracker.end_agent("0123456789abcdef") is None
    id = tracker.start_agent("a", "c")
    assert tracker.end_agent(id) is not None
    assert tracker.end_agent(id) is None  # ended already


def test_failed_runs_carry_exit_code_and_meta(tracker, perflog_bin):
    ok = tracker.start_agent("coder", "codex")
    bad = tracker.start_agent("coder", "codex")
    tracker.end_agent(ok)
    tracker.end_agent(bad, failed=True, exit_code=3, meta={"reason": "timeout"})
    tracker.end_agent(tracker.start_agent("coder", "codex"), failed=True, exit_code=999)  # out of range
    by_id = {m["invocation"]: m for m in measures(perflog_bin, tracker.log)}
    assert by_id[ok]["outcome"] == "ok" and "exitCode" not in by_id[ok]
    assert by_id[bad]["outcome"] == "failed"
    assert by_id[bad]["exitCode"] == 3
    assert by_id[bad]["meta"] == {"reason": "timeout"}
    assert len(by_id) == 3 and tracker.stats()["refused"] == 0


def test_measure_as_context_manager_records_ok_and_failed(tracker, perflog_bin):
    with tracker.measure("reviewer", "claude", {"pass": "1"}) as m:
        pass
    assert m.record is not None and m.record.agent == "reviewer"
    with pytest.raises(ValueError, match="agent broke"):
        with tracker.measure("reviewer", "claude") as failing:
            raise ValueError("agent broke")  # the measured code's own exception goes through
    with pytest.raises(SystemExit):
        with tracker.measure("reviewer", "claude") as exiting:
            sys.exit(4)
    assert tracker.flush()
    by_id = {m["invocation"]: m for m in measures(perflog_bin, tracker.log)}
    assert by_id[m.id]["outcome"] == "ok" and by_id[m.id]["meta"] == {"pass": "1"}
    assert by_id[failing.id]["outcome"] == "failed"
    assert by_id[exiting.id]["outcome"] == "failed" and by_id[exiting.id]["exitCode"] == 4


def test_measure_as_decorator_of_sync_and_async_functions(tracker, perflog_bin):
    @tracker.measure("planner", "claude")
    def plan(x):
        if x < 0:
            raise RuntimeError("negative")
        return x * 2

    @tracker.measure("planner", "codex")
    async def plan_async(x):
        await asyncio.sleep(0)
        if x < 0:
            raise RuntimeError("negative")
        return x + 1

    assert plan(21) == 42
    assert plan.__name__ == "plan"
    with pytest.raises(RuntimeError):
        plan(-1)
    assert asyncio.run(plan_async(1)) == 2
    with pytest.raises(RuntimeError):
        asyncio.run(plan_async(-1))
    assert tracker.flush()
    outcomes = sorted((m["cli"], m["outcome"]) for m in measures(perflog_bin, tracker.log))
    assert outcomes == [("claude", "failed"), ("claude", "ok"), ("codex", "failed"), ("codex", "ok")]


def test_average_time_is_perflogs_mean_of_successful_runs(tracker, perflog_bin):
    for i in range(12):
        with pytest.raises(RuntimeError) if i % 4 == 0 else _nothing():
            with tracker.measure("planner", "claude"):
                # The measured work itself (not synchronisation): failed runs are slow.
                time.sleep(0.030 if i % 4 == 0 else 0.001)
                if i % 4 == 0:
                    raise RuntimeError("failed run")
    average = tracker.average_time("planner", "claude")
    stored = measures(perflog_bin, tracker.log)
    ok = [m["durationMs"] for m in stored if m["outcome"] == "ok"]
    assert len(stored) == 12 and len(ok) == 9
    [stream] = stats(perflog_bin, tracker.log)
    assert average == stream["meanMs"]
    # perflog prints each figure rounded to the microsecond (0.001 ms): the mean, and
    # each exported duration it is compared with here.
    assert average == pytest.approx(sum(ok) / len(ok), abs=0.001)
    assert average < 25  # the slow failed runs are not averaged in
    assert tracker.average_time("planner", "nobody") is None
    assert tracker.average_time("nobody", "claude") is None


def test_average_time_of_a_stream_without_successful_runs_is_none(tracker):
    tracker.end_agent(tracker.start_agent("a", "c"), failed=True)
    assert tracker.average_time("a", "c") is None


def test_average_time_without_a_log_is_none(workdir, perflog_bin, warnings_seen):
    t = PerformanceTracker(os.path.join(workdir, "never"), perflog=perflog_bin, warn=warnings_seen)
    assert t.average_time("a", "c") is None
    t.close()
    assert warnings_seen == []
    assert not os.path.exists(os.path.join(workdir, "never"))  # reading creates nothing


def test_many_threads_recording_at_once(workdir, perflog_bin):
    log = os.path.join(workdir, "log")
    subprocess.run([perflog_bin, "init", "--retain", "10000", "--log", log], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)  # keep every measure, to count them
    tracker = PerformanceTracker(log, perflog=perflog_bin, idle_exit="5s")
    threads, per_thread = 8, 250
    ids = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(n):
        start.wait()
        for i in range(per_thread):
            id = tracker.start_agent(f"agent{n % 3}", "claude")
            ids[n].append(id)
            record = tracker.end_agent(id, failed=i % 10 == 0, wait=i % 50 == 0)
            assert record is not None

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert tracker.flush(30)
    stored = measures(perflog_bin, log)
    assert sorted(m["invocation"] for m in stored) == sorted(i for group in ids for i in group)
    assert sum(m["outcome"] == "failed" for m in stored) == threads * per_thread // 10
    s = tracker.stats()
    tracker.close()
    assert s["acknowledged"] == 2 * threads * per_thread and s["dropped"] == 0 and s["pending"] == 0


def test_on_committed_sees_each_stored_measure(tracker):
    seen = []
    tracker.on_committed(seen.append)
    ids = [tracker.start_agent("a", "c") for _ in range(20)]
    records = [tracker.end_agent(id, wait=False) for id in ids]
    assert tracker.flush()
    wait_until(lambda: len(seen) == 20, 5, "20 committed records")
    assert seen == records


def test_a_refused_event_is_counted_and_warned_about_once(tracker, warnings_seen, perflog_bin):
    # An empty agent name breaks perflog's rule: the service refuses the lines.
    for _ in range(3):
        record = tracker.end_agent(tracker.start_agent("", "claude"))
        assert record is not None and record.agent == ""  # still returned, never raised
    tracker.end_agent(tracker.start_agent("fine", "claude"))
    s = tracker.stats()
    assert s["refused"] == 6 and s["acknowledged"] == 2 and s["dropped"] == 0
    assert len([w for w in warnings_seen if "refused" in w]) == 1
    assert "agent" in warnings_seen[0]
    assert [m["agent"] for m in measures(perflog_bin, tracker.log)] == ["fine"]


def test_context_manager_closes(workdir, perflog_bin):
    with PerformanceTracker(os.path.join(workdir, "log"), perflog=perflog_bin, idle_exit="5s") as t:
        t.end_agent(t.start_agent("a", "c"), wait=False)
    assert t.stats()["pending"] == 0 and t.stats()["acknowledged"] == 2
    # After close, events are dropped and counted, never raised.
    assert t.end_agent(t.start_agent("a", "c")) is not None
    assert t.stats()["dropped"] == 2


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
