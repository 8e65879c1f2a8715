"""The shop's stock server, for trying the shop app locally: an asyncio
TCP server on 127.0.0.1 that answers each line it reads after 15 ms.

    python examples/shop/server.py --port 8766 [--delay-ms 15]

It runs in the foreground until Ctrl-C or SIGTERM.
"""

import argparse
import asyncio
import signal


async def handle(reader, writer, delay_s):
    try:
        while line := await reader.readline():
            await asyncio.sleep(delay_s)  # the stock system's latency
            writer.write(b"in-stock " + line)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(port, delay_s):
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, delay_s), "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"stock server on 127.0.0.1:{port}, {delay_s * 1000:g} ms per request", flush=True)
    async with server:
        await stop.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--delay-ms", type=float, default=15.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.delay_ms / 1000.0))


if __name__ == "__main__":
    main()
