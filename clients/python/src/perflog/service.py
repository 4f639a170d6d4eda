"""Running the perflog binary: starting `perflog serve`, asking `perflog stats`."""

from __future__ import annotations

import json
import os
import subprocess
from typing import List, Optional

#: `perflog serve` exits with this when another service holds the socket already: the
#: other one serves, so a client that started this one connects to that one instead.
EXIT_TEMPFAIL = 75
#: `perflog stats` exits with this when the log does not exist (so no stream does).
EXIT_NOINPUT = 66


class NotInstalled(Exception):
    """The perflog binary could not be run (not found, not executable)."""


def start_service(binary: str, log: str, socket: str, idle_exit: str) -> "subprocess.Popen[bytes]":
    """Start `perflog serve` detached: its own session and process group (a Ctrl-C
    meant for this program does not stop it), no stdio, stopping by itself once no
    client has been connected for `idle_exit`.

    Raises NotInstalled when the binary cannot be run.
    """
    for directory in {os.path.dirname(log), os.path.dirname(socket)}:
        if directory:
            os.makedirs(directory, exist_ok=True)
    argv = [binary, "serve", "--log", log, "--socket", socket, "--idle-exit", idle_exit]
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError) as error:
        raise NotInstalled(f"cannot run {binary!r} ({error.strerror or error})") from None


class StatsFailed(Exception):
    """`perflog stats` failed for another reason than a missing log."""


def stream_mean(binary: str, log: str, agent: str, cli: str, timeout: float = 20.0) -> Optional[float]:
    """The stream's `meanMs` as `perflog stats --json` prints it: the mean of the
    retained successful measures. None when the log or the stream does not exist or
    the stream has no successful measure.

    Raises NotInstalled or StatsFailed.
    """
    argv = [binary, "stats", "--json", "--log", log, "--agent", str(agent), "--cli", str(cli)]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError) as error:
        raise NotInstalled(f"cannot run {binary!r} ({error.strerror or error})") from None
    except subprocess.TimeoutExpired:
        raise StatsFailed(f"perflog stats took more than {timeout:g} s") from None
    if done.returncode == EXIT_NOINPUT:
        return None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise StatsFailed(f"perflog stats exited {done.returncode}: {message[0] if message else ''}")
    try:
        streams: List[dict] = json.loads(done.stdout)
    except ValueError as error:
        raise StatsFailed(f"perflog stats printed no JSON ({error})") from None
    for stream in streams:
        if stream.get("agent") == agent and stream.get("cli") == cli:
            mean = stream.get("meanMs")
            return float(mean) if mean is not None else None
    return None
