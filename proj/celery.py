"""The tutorial's Celery app, fixed (``Celery`` was missing) and configurable.

Run it by hand exactly as the tutorial says::

    celery -A proj worker -l info

The broker and result backend come from ``CELERY_BROKER_URL`` and
``CELERY_RESULT_BACKEND``; without them they are the tutorial's own
(RabbitMQ on localhost, RPC results). ``python -m bench broker`` starts a
private broker and prints the two variables to use.
"""

import os

from celery import Celery

app = Celery(
    "proj",
    broker=os.environ.get("CELERY_BROKER_URL", "amqp://"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "rpc://"),
    include=["proj.tasks"],
)

app.conf.update(
    result_expires=3600,
    # JSON only: a message on a shared broker must never be able to run code
    # in these workers, as a pickled payload could.
    task_serializer="json",
    result_serializer="json",
    event_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    broker_connection_retry_on_startup=True,
)

# The harness records per-task timestamps from its own worker entry point
# (bench/harness/worker_entry.py), for this app as for any other: nothing here.

if __name__ == "__main__":
    app.start()
