"""How long a sweep's plan takes, roughly: what the user sees before it
starts (and a resumed sweep's time left)."""

from bench.workloads import expected_rate

# Whole-process costs of one repeat outside its measured window, for the
# estimate only (seconds): the worker's boot (its stop overlaps the next
# boot: measure/crew.py), and publishing one task.
REPEAT_OVERHEAD_S = 0.5
# ... and what a repeat on agents adds (bench/fleet: the clock probes, the
# lease, the records sent home; measured 3.4 to 4.3 s a repeat on 2 hosts).
FLEET_REPEAT_OVERHEAD_S = 4.0
PUBLISH_S_PER_TASK = 0.0006


def estimate_repeat_s(point):
    """Rough wall time of one repeat: boot and stop, publishing, and the
    warm-up and measured batches at the expected rate."""
    hosts = point.host_count or 1  # each with cores of its own
    rate = hosts * expected_rate(
        point.spec, point.pool, point.concurrency, point.task_ms, point.cores, workers=point.workers
    )
    warmup = point.warmup * point.workers * hosts
    work = (point.tasks + warmup) / rate
    publish = (point.tasks + warmup) * PUBLISH_S_PER_TASK
    return REPEAT_OVERHEAD_S * point.workers + work + publish


def estimate_s(points, repeats, fleet=False):
    """`fleet`: the points run on agents (--hosts)."""
    per_repeat = FLEET_REPEAT_OVERHEAD_S if fleet else 0.0
    return sum(estimate_repeat_s(p) + per_repeat for p in points) * repeats
