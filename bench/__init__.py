"""celery-bench: measure real Celery workers across pools and concurrency."""

__version__ = "0.1.0"
