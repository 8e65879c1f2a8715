"""The Celery tutorial's app ("Next Steps"), extended with benchmark workloads."""
