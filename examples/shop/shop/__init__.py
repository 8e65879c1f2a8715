"""The shop: a Celery app in the package layout Celery's documentation
recommends (the app in shop/celery.py, the tasks in shop/tasks.py)."""

from .celery import app

__all__ = ["app"]
