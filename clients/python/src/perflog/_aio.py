"""AsyncPerformanceTracker: the same tracker for asyncio programs.

It shares PerformanceTracker's I/O thread; an await on an acknowledgement is a future
that the I/O thread completes through loop.call_soon_threadsafe, so the event loop is
never blocked. `perflog stats` (average_time) and joining the I/O thread (aclose) run
in the loop's default executor.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, Mapping, Optional

from .tracker import DEFAULT_TIMEOUT, Measurement, PerformanceTracker, Record, _exit_status


class AsyncMeasurement(Measurement):
    """`async with tracker.measure(agent, cli):` waits for the measure's
    acknowledgement on exit (without blocking the loop); as a decorator of an async
    function, each call does."""

    __slots__ = ("_owner",)

    def __init__(self, owner: "AsyncPerformanceTracker", agent: str, cli: str, meta: Optional[Mapping[str, Any]]):
        super().__init__(owner._tracker, agent, cli, meta)
        self._owner = owner

    def _fresh(self) -> "AsyncMeasurement":
        return AsyncMeasurement(self._owner, self.agent, self.cli, self.meta)

    async def __aexit__(self, exc_type: Any, error: Optional[BaseException], tb: Any) -> bool:
        failed, code = _exit_status(error)
        self.record = await self._owner.end_agent(self.id, failed=failed, exit_code=code)
        return False


class AsyncPerformanceTracker:
    """PerformanceTracker's API with `async` end_agent, flush, average_time, aclose and
    an async `measure`. Takes PerformanceTracker's arguments."""

    def __init__(self, log: Optional[str] = None, **options: Any) -> None:
        self._tracker = PerformanceTracker(log, **options)
        self._conn = self._tracker._conn
        self.log = self._tracker.log
        self.socket = self._tracker.socket

    def start_agent(self, agent: str, cli: str, meta: Optional[Mapping[str, Any]] = None) -> str:
        """As PerformanceTracker.start_agent (it never waits)."""
        return self._tracker.start_agent(agent, cli, meta)

    async def _settled(self, seq: int, timeout: Optional[float]) -> bool:
        if not seq:
            return True
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def done() -> None:  # on the I/O thread
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:
                pass  # the loop is closed: nobody awaits any more

        self._conn.add_waiter(seq, done)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def end_agent(
        self,
        id: str,
        *,
        failed: bool = False,
        exit_code: Optional[int] = None,
        meta: Optional[Mapping[str, Any]] = None,
        wait: bool = True,
    ) -> Optional[Record]:
        """As PerformanceTracker.end_agent, awaiting the acknowledgement."""
        record, seq = self._tracker._end(id, failed, exit_code, meta)
        if wait and seq:
            await self._settled(seq, self._tracker.timeout)
        return record

    def measure(self, agent: str, cli: str, meta: Optional[Mapping[str, Any]] = None) -> AsyncMeasurement:
        """`async with tracker.measure(...)`, or `@tracker.measure(...)` on a function."""
        return AsyncMeasurement(self, agent, cli, meta)

    async def flush(self, timeout: Optional[float] = DEFAULT_TIMEOUT) -> bool:
        """Await the acknowledgement of everything sent so far; False on timeout."""
        return await self._settled(self._conn.last_seq(), timeout)

    async def average_time(self, agent: str, cli: str) -> Optional[float]:
        """As PerformanceTracker.average_time: perflog's mean of the successful runs."""
        await self.flush(self._tracker.timeout)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._tracker._stats_mean, agent, cli)

    def on_committed(self, callback: Callable[[Record], None]) -> Callable[[Record], None]:
        """As PerformanceTracker.on_committed (called on the I/O thread)."""
        return self._tracker.on_committed(callback)

    def stats(self) -> Dict[str, int]:
        return self._tracker.stats()

    async def aclose(self, timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
        """Await what is outstanding (up to `timeout`), then close the connection."""
        await self.flush(timeout)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._tracker.close, 0)

    def close(self, timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
        """Close from synchronous code (blocks up to `timeout`)."""
        self._tracker.close(timeout)

    async def __aenter__(self) -> "AsyncPerformanceTracker":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)
