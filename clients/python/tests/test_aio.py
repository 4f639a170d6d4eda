"""AsyncPerformanceTracker: awaits acknowledgements without blocking the event loop."""

from __future__ import annotations

import asyncio
import os

import pytest

from conftest import measures, stats
from perflog import AsyncPerformanceTracker, Record


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_async_end_agent_and_average(workdir, perflog_bin):
    async def main():
        async with AsyncPerformanceTracker(os.path.join(workdir, "log"), perflog=perflog_bin,
                                           idle_exit="5s") as tracker:
            ids = [tracker.start_agent("planner", "claude") for _ in range(200)]
            records = await asyncio.gather(*(tracker.end_agent(id, failed=i % 7 == 0)
                                             for i, id in enumerate(ids)))
            assert all(isinstance(r, Record) for r in records)
            assert await tracker.end_agent("ffffffffffffffff") is None
            average = await tracker.average_time("planner", "claude")
            return tracker, ids, average

    tracker, ids, average = run(main())
    stored = measures(perflog_bin, tracker.log)
    assert len(stored) == 100  # the default ring keeps the newest 100 of the 200
    assert {m["invocation"] for m in stored} == set(ids[-100:])
    [stream] = stats(perflog_bin, tracker.log)
    assert average == stream["meanMs"]
    assert tracker.stats()["acknowledged"] == 400 and tracker.stats()["pending"] == 0


def test_the_loop_keeps_running_while_waiting(workdir, perflog_bin):
    """While end_agent awaits acknowledgements (and the first one waits for the service
    to start), other tasks on the loop run."""
    async def main():
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        tracker = AsyncPerformanceTracker(os.path.join(workdir, "log"), perflog=perflog_bin,
                                          idle_exit="5s")
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        record = await tracker.end_agent(tracker.start_agent("a", "c"))  # connects, starts perflog
        during = ticks - before
        stop.set()
        await task
        await tracker.aclose()
        return record, during

    record, during = run(main())
    assert record is not None
    assert during > 10  # the ticker ran while the service started and acknowledged


def test_async_measure_and_decorators(workdir, perflog_bin):
    async def main():
        tracker = AsyncPerformanceTracker(os.path.join(workdir, "log"), perflog=perflog_bin,
                                          idle_exit="5s")

        @tracker.measure("coder", "codex")
        async def work(fail):
            await asyncio.sleep(0)
            if fail:
                raise KeyError("boom")
            return "done"

        @tracker.measure("coder", "claude")
        def sync_work():
            return 7

        async with tracker.measure("coder", "codex", {"step": "1"}) as m:
            await asyncio.sleep(0)
        assert m.record is not None  # the measure was acknowledged on exit
        assert await work(False) == "done"
        with pytest.raises(KeyError):
            await work(True)
        with pytest.raises(ZeroDivisionError):
            async with tracker.measure("coder", "codex"):
                1 / 0
        assert sync_work() == 7
        assert await tracker.flush()
        await tracker.aclose()
        return tracker, m

    tracker, m = run(main())
    stored = measures(perflog_bin, tracker.log)
    outcomes = sorted((e["cli"], e["outcome"]) for e in stored)
    assert outcomes == [("claude", "ok"), ("codex", "failed"), ("codex", "failed"),
                        ("codex", "ok"), ("codex", "ok")]
    [mine] = [e for e in stored if e["invocation"] == m.id]
    assert mine["meta"] == {"step": "1"}


def test_async_with_perflog_missing(workdir, warnings_seen):
    async def main():
        tracker = AsyncPerformanceTracker(os.path.join(workdir, "log"), perflog="/nonexistent/perflog",
                                          warn=warnings_seen)
        records = [await tracker.end_agent(tracker.start_agent("a", "c")) for _ in range(5)]
        average = await tracker.average_time("a", "c")
        await tracker.aclose()
        return tracker, records, average

    tracker, records, average = run(main())
    assert all(r is not None for r in records) and average is None
    assert len(warnings_seen) == 1
    assert tracker.stats()["dropped"] == 10
