"""Waiting for something a child process does, never for ever."""

import math
import queue
import re
import threading
import time

import pytest


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.05):
    """Call `predicate` every `interval_s` until it returns something true,
    and return that; fail the test saying `what` did not happen if it has
    not after `timeout_s` (a bounded number of seconds: no default)."""
    assert 0 < timeout_s < math.inf, f"wait_for needs a finite timeout, not {timeout_s}"
    deadline = time.monotonic() + timeout_s
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} did not happen within {timeout_s} s")
        time.sleep(interval_s)


class LineReader:
    """The lines of a child's output, read on a thread so a wait for one
    can time out."""

    def __init__(self, stream):
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in stream], daemon=True).start()

    def until(self, pattern: str, timeout_s: float) -> list[str]:
        """The lines read up to the first that matches `pattern` (re.search),
        that one included; fail the test if none has within `timeout_s`."""
        assert 0 < timeout_s < math.inf, f"until needs a finite timeout, not {timeout_s}"
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
            if re.search(pattern, seen[-1]):
                return seen
        pytest.fail(f"no line matching {pattern!r} within {timeout_s} s; got {seen[-5:]}")
