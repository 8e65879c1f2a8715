"""The shop's Celery app: its order tasks go to the `orders` queue.

    celery -A shop worker -P gevent -c 32 -Q orders

SHOP_BROKER_URL names the broker (default: the local Redis, db 0);
SHOP_ACKS_LATE=1 acknowledges each message after its task ran
(task_acks_late), so the same app serves both cases.
"""

import os

from celery import Celery

app = Celery(
    "shop",
    broker=os.environ.get("SHOP_BROKER_URL", "redis://127.0.0.1:6379/0"),
    include=["shop.tasks"],
)
app.conf.update(
    task_routes={"shop.tasks.*": {"queue": "orders"}},
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=1,
    task_acks_late=os.environ.get("SHOP_ACKS_LATE", "0") == "1",
    broker_connection_retry_on_startup=True,
)
