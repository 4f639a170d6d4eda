"""Throughput of the Python client through `perflog serve`.

    python3 clients/python/bench/bench.py [--events N] [--log DIR] [--window W] [--depth D]

Records N invocations (start_agent + end_agent(wait=False)) in windows of W (1,000),
each window's acknowledgements awaited together, D (4) windows in flight; then checks
the log counts N measures and has none in flight. The last line printed is one JSON
object (events_per_s counts marks and measures, two events an invocation):

    {"client":"python","events":N,"seconds":S,"invocations_per_s":X,"events_per_s":2X,
     "call_p50_ns":…,"call_p99_ns":…,"verified":true}

call_* is the synchronous cost of one start_agent + end_agent pair (not the wait for
the acknowledgement). Without --log it uses a fresh log in a temporary directory,
counts the measures with the log's lifetime counter (`perflog info`), and waits for the service the tracker started to stop (2 s
after the last client left). PERFLOG_BIN names the binary (default: perflog on PATH,
else the development build's /tmp/perflog-bin/perflog).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from perflog import PerformanceTracker, find_binary  # noqa: E402


STREAMS = 64


DEV_BINARY = "/tmp/perflog-bin/perflog"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--depth", type=int, default=4, help="windows in flight at once")
    parser.add_argument("--log", help="the log (default: a fresh one in a temporary directory)")
    args = parser.parse_args()
    binary = find_binary()
    if not shutil.which(binary) and os.access(DEV_BINARY, os.X_OK):
        binary = DEV_BINARY
    workdir = None
    if args.log:
        log = os.path.abspath(args.log)
    else:
        workdir = tempfile.mkdtemp(prefix="perflog-bench-")
        log = os.path.join(workdir, "perflog")
    sock = log.rstrip(os.sep) + ".sock"
    before = count_measures(binary, log) if os.path.exists(log) else 0

    tracker = PerformanceTracker(log, socket=sock, perflog=binary, idle_exit="2s",
                                 max_buffered=max(100_000, 2 * args.depth * args.window))
    # Connect (and start the service) before the clock starts.
    tracker.end_agent(tracker.start_agent("bench-warmup", "python"))

    clock = time.perf_counter_ns
    costs = []
    agents = [f"agent{i}" for i in range(8)]
    clis = [f"cli{i}" for i in range(8)]
    # Windows are pipelined: while one is recorded, the previous DEPTH - 1 are still
    # being committed (waiting for each window in turn would measure the commit's
    # latency, not the client). The wait is on the connection's sequence numbers, which
    # flush() waits on too.
    conn = tracker._conn
    in_flight = deque()
    started = time.perf_counter()
    done = 0
    while done < args.events:
        n = min(args.window, args.events - done)
        for i in range(n):
            k = done + i
            t0 = clock()
            id = tracker.start_agent(agents[k % 8], clis[k // 8 % 8])
            tracker.end_agent(id, wait=False)
            costs.append(clock() - t0)
        done += n
        in_flight.append(conn.last_seq())
        if len(in_flight) >= args.depth:
            conn.wait_for(in_flight.popleft(), 60)
    tracker.flush(60)
    seconds = time.perf_counter() - started
    stats = tracker.stats()
    services = list(tracker._conn._children)  # the services this tracker started
    tracker.close()

    measures = count_measures(binary, log) - before - 1  # less the warm-up
    verified = measures == args.events and stats["dropped"] == 0 and stats["refused"] == 0
    costs.sort()
    result = {
        "client": "python",
        "events": args.events,
        "seconds": round(seconds, 3),
        "invocations_per_s": round(args.events / seconds),
        # Events in perflog's sense: each invocation is a mark and a measure.
        "events_per_s": round(2 * args.events / seconds),
        "call_p50_ns": costs[len(costs) // 2],
        "call_p99_ns": costs[min(len(costs) - 1, len(costs) * 99 // 100)],
        "verified": verified,
    }
    if workdir:
        # The service stops by itself 2 s after the tracker closed; wait for that
        # (watching the process: a probe connection would keep it up), then remove
        # the log. Bounded: one still running then is stopped.
        deadline = time.monotonic() + 15
        while any(s.poll() is None for s in services) and time.monotonic() < deadline:
            time.sleep(0.05)
        for service in services:
            if service.poll() is None:
                service.terminate()
                service.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    if not verified:
        print(f"log holds {measures} measures of {args.events}; stats {stats}", file=sys.stderr)
    print(json.dumps(result, separators=(",", ":")))
    return 0 if verified else 1


def count_measures(binary: str, log: str) -> int:
    """The measures the log ever stored (its lifetime counter), or -1 with a mark still open."""
    out = subprocess.run([binary, "info", "--json", "--log", log],
                         check=True, capture_output=True, timeout=60).stdout
    info = json.loads(out)
    return info["total"] if info["inFlight"] == 0 else -1


if __name__ == "__main__":
    sys.exit(main())
