"""perflog's Python client: time agent invocations and record them in a perflog log.

    from perflog import PerformanceTracker

    tracker = PerformanceTracker()          # the log of the nearest .planning/
    id = tracker.start_agent("planner", "claude")
    ...
    record = tracker.end_agent(id)          # Record(agent, cli, duration, timestamp)

Events go to `perflog serve` over its Unix socket; the tracker starts the service when
none answers. See the package's README.md.
"""

from ._aio import AsyncMeasurement, AsyncPerformanceTracker
from .discovery import find_binary, find_log, find_socket
from .tracker import Measurement, PerformanceTracker, Record

__version__ = "0.1.0"

__all__ = [
    "AsyncMeasurement",
    "AsyncPerformanceTracker",
    "Measurement",
    "PerformanceTracker",
    "Record",
    "find_binary",
    "find_log",
    "find_socket",
    "__version__",
]
