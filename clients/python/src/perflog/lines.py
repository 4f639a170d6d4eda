"""The pieces of the NDJSON lines `perflog serve` takes.

Lines are formatted by hand (in tracker.py) rather than with json.dumps on a dict: a
tracker writes two per invocation, and this is most of what a call costs. Every value
that comes from the caller (names, metadata) still goes through json.dumps, so the
output is always valid, ASCII-only JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from typing import Any, Dict, Mapping, Optional, Tuple

_dumps = json.dumps

# The process id goes into every line; a forked child updates it (register_at_fork).
pid = os.getpid()


def _update_pid() -> None:
    global pid
    pid = os.getpid()
    _ids.clear()  # the parent's unused ids are the parent's


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_update_pid)


# Invocation ids: 8 random bytes each, as 16 lowercase hex digits, cut from one
# os.urandom() call per 512 ids (a deque, so that threads can take from it at once).
_ids: "deque[str]" = deque()


def new_invocation() -> str:
    try:
        return _ids.popleft()
    except IndexError:
        digits = os.urandom(8 * 512).hex()
        _ids.extend([digits[i:i + 16] for i in range(0, len(digits), 16)])
        return _ids.popleft()


# The time text of the current millisecond: formatting a datetime costs about 3 µs,
# which would be most of a call; within one millisecond the text is reused. The format
# is datetime.now(timezone.utc).isoformat()'s, to the millisecond, which is the old
# tracker's resolution (durations are timed separately, to the nanosecond).
_clock: Tuple[int, str] = (-1, "")


def now() -> Tuple[str, int]:
    """Now as ISO 8601 text in UTC (`2026-01-19T20:50:24.123+00:00`) and as epoch ms."""
    global _clock
    ms = time.time_ns() // 1_000_000
    clock = _clock
    if clock[0] != ms:
        seconds, millis = divmod(ms, 1000)
        clock = _clock = (ms, "%s.%03d+00:00" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)), millis))
    return clock[1], ms


# `"agent":…,"cli":…` for each stream seen, already escaped.
_streams: Dict[Tuple[str, str], str] = {}


def stream_fields(agent: str, cli: str) -> str:
    key = (agent, cli)
    fields = _streams.get(key)
    if fields is None:
        if len(_streams) > 10_000:  # names are few; bound the cache all the same
            _streams.clear()
        fields = _streams[key] = '"agent":%s,"cli":%s' % (_dumps(str(agent)), _dumps(str(cli)))
    return fields


def meta_field(meta: Optional[Mapping[Any, Any]]) -> str:
    """`,"meta":{…}` with every key and value made a string, or nothing."""
    if not meta:
        return ""
    try:
        items = {str(k): str(v) for k, v in meta.items() if v is not None}
    except AttributeError:  # not a mapping: ignored rather than thrown at the caller
        return ""
    return ',"meta":' + _dumps(items) if items else ""


def exit_code_or_none(value: Any) -> Optional[int]:
    """An exit code the service takes (an int 0…255), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= 255 else None
