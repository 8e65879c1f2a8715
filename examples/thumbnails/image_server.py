"""A local stand-in for an image store: serves one generated PNG photo at
any path, after a delay, on 127.0.0.1 (loopback only).

    python image_server.py start [--port 8765] [--delay-ms 20]   # returns once it listens
    python image_server.py stop

`start` returns once the server is listening (it keeps running in the
background, its pid in image_server.pid); `stop` ends it.
"""

import argparse
import io
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PID_FILE = Path(__file__).with_name("image_server.pid")


def photo(width=1024, height=768):
    """A 1024x768 PNG with some detail to decode and resize."""
    from PIL import Image, ImageDraw

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 16):
        draw.line([(i, 0), (width - i, height)], fill=(i % 256, 90, 255 - i % 256), width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def serve(port, delay_s):
    body = photo()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(delay_s)  # the store's latency
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    pid = os.fork()
    if pid:  # the parent returns once the child holds the listening socket
        PID_FILE.write_text(str(pid))
        print(f"image server on http://127.0.0.1:{port}/ (pid {pid}, {delay_s * 1000:g} ms per request)")
        return
    os.setsid()
    sys.stdin.close()
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    if args.action == "start":
        serve(args.port, args.delay_ms / 1000.0)
    elif PID_FILE.exists():
        os.kill(int(PID_FILE.read_text()), signal.SIGTERM)
        PID_FILE.unlink()


if __name__ == "__main__":
    main()
