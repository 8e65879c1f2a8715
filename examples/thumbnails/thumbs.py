"""A small, realistic Celery app to benchmark: make a thumbnail of an image
fetched over HTTP. Each call waits (the download) and computes (decoding
and resizing with Pillow), in proportions nobody knows in advance: which is
what `python -m bench profile` measures. Beside it, a slow report that a few
callers ask for on the same queue: the mix in traffic.toml, where short
thumbnails can wait behind a long report (`python -m bench run --traffic`).

Run it as you would any Celery app (`celery -A thumbs worker`); the
benchmark imports it the same way and changes nothing in it.
"""

import io
import os
import time
import urllib.request

from celery import Celery
from PIL import Image

# Your real broker would be here; the benchmark never uses it unless you
# pass --broker from-app.
app = Celery("thumbs", broker=os.environ.get("THUMBS_BROKER_URL", "redis://127.0.0.1:6379/9"))
app.conf.update(task_serializer="json", accept_content=["json"], task_acks_late=True, task_time_limit=30)


@app.task(name="thumbs.thumbnail")
def thumbnail(url, size=128):
    """Download the image at `url`, shrink it to fit `size` x `size`, and
    return the size in bytes of the JPEG thumbnail."""
    with urllib.request.urlopen(url, timeout=10) as response:
        data = response.read()
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        image.thumbnail((size, size))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
    return out.tell()


@app.task(name="thumbs.report")
def report(query_ms=2000):
    """A slow report: wait `query_ms` on a long database query, then add up
    what it returned."""
    time.sleep(query_ms / 1000)
    return sum(range(100_000))
