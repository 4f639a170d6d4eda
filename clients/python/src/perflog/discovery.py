"""Where the log, the service's socket and the perflog binary are.

The rules are perflog's own (see DESIGN.md, "Files and defaults"), so that a client and
a `perflog` command run from the same directory agree on the log without being told.
"""

from __future__ import annotations

import os
import shutil
from typing import Mapping, Optional

#: The log's place inside a project, relative to the directory that has `.planning/`.
DEFAULT_LOG = os.path.join(".planning", "metrics", "perflog")


def find_log(
    log: Optional[str] = None,
    *,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """The absolute path of the log: `log`, else `$PERFLOG_LOG`, else
    `.planning/metrics/perflog` in the current directory or the nearest parent that has
    a `.planning/` directory (the way git finds `.git`), else in the current directory.

    A `log` ending in `.json` is taken as the old tracker's metrics file
    (`.planning/metrics/agent-performance.json`): the log is the `perflog` directory
    beside it, the same layout as the default.
    """
    env = os.environ if env is None else env
    cwd = os.path.abspath(cwd or os.getcwd())
    if log:
        log = os.fspath(log)
        if log.endswith(".json"):
            return os.path.join(os.path.dirname(os.path.abspath(os.path.join(cwd, log))), "perflog")
        return os.path.abspath(os.path.join(cwd, log))
    if env.get("PERFLOG_LOG"):
        return os.path.abspath(os.path.join(cwd, env["PERFLOG_LOG"]))
    directory = cwd
    while True:
        if os.path.isdir(os.path.join(directory, ".planning")):
            return os.path.join(directory, DEFAULT_LOG)
        parent = os.path.dirname(directory)
        if parent == directory:
            return os.path.join(cwd, DEFAULT_LOG)
        directory = parent


def find_socket(
    log: str,
    socket: Optional[str] = None,
    *,
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """The service's socket: `socket`, else `$PERFLOG_SOCKET`, else the log's path with
    `.sock` appended (`.planning/metrics/perflog.sock`)."""
    env = os.environ if env is None else env
    chosen = socket or env.get("PERFLOG_SOCKET")
    if chosen:
        return os.path.abspath(os.fspath(chosen))
    return log.rstrip(os.sep) + ".sock"


def find_binary(
    perflog: Optional[str] = None,
    *,
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """The perflog executable: `perflog`, else `$PERFLOG_BIN`, else `perflog` on PATH.

    When none is found the bare name is returned, so that running it fails with
    FileNotFoundError at the moment it is needed (and is reported then, once).
    """
    env = os.environ if env is None else env
    chosen = perflog or env.get("PERFLOG_BIN")
    if chosen:
        return os.fspath(chosen)
    return shutil.which("perflog", path=env.get("PATH")) or "perflog"
