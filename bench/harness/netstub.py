"""The stub server of the `net` workload: it reads one line holding a delay
in milliseconds, waits that long, answers "ok" and closes. It runs in its
own process (asyncio, so thousands of connections cost one thread) and
listens on 127.0.0.1 only.

    python -m bench.netstub  # prints its port, serves until stdin closes
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator

from bench.errors import RunFailed
from bench.harness import signals
from bench.harness.process import stop_tree, tied_to_us


async def _answer(reader, writer):
    try:
        line = await reader.readline()
        await asyncio.sleep(float(line) / 1000.0)
        writer.write(b"ok\n")
        await writer.drain()
    except (ValueError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve():
    server = await asyncio.start_server(_answer, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until the harness closes our stdin (or dies, which closes it too).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


@contextlib.contextmanager
def running() -> Iterator[str]:
    """Start the stub server; yield its "127.0.0.1:PORT"; stop it on exit."""
    with signals.forking():
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.harness.netstub"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=tied_to_us(),
        )
    assert proc.stdin is not None  # piped
    assert proc.stdout is not None  # piped
    try:
        port = proc.stdout.readline().strip()
        if not port.isdigit():
            raise RunFailed("the net workload's stub server did not start")
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        stop_tree(proc, grace_s=2)
        proc.stdout.close()


if __name__ == "__main__":
    asyncio.run(_serve())
