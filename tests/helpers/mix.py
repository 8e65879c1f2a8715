"""Hand-made figures of a traffic mix's sweep: a class's estimate over its
repeats, a point holding classes, a sweep summary of points."""

from bench.results.sweep_records import ClassEstimate, PointSummary, SweepSettings, SweepSummary


def estimate(name, p99, low, high, rate=1.0, rate_low=None, rate_high=None, mean_ms=10.0, repeats=3):
    return ClassEstimate(
        name=name,
        share=0.5,
        mean_ms=mean_ms,
        repeats=repeats,
        sojourn_p99_s=p99,
        sojourn_p99_ci95_low_s=low,
        sojourn_p99_ci95_high_s=high,
        sojourn_p99_values_s=(p99,),
        throughput_per_s=rate,
        throughput_ci95_low_per_s=rate_low if rate_low is not None else rate,
        throughput_ci95_high_per_s=rate_high if rate_high is not None else rate,
        reserved_while_free_s=0.0,
        waited_while_free=0.0,
    )


def two(p99, low, high, rate=1.0, rate_low=None, rate_high=None, repeats=3):
    """A short class with this p99 and its CI beside a long one with this throughput."""
    short = estimate("short", p99, low, high, repeats=repeats)
    return [short, estimate("long", 2.5, 2.4, 2.6, rate, rate_low, rate_high, mean_ms=2000.0, repeats=repeats)]


def point(setting, classes, pool="prefork", c=1, workers=2):
    return PointSummary(
        pool=pool,
        concurrency=c,
        workload="mix",
        task_ms=29.9,
        cpus=None,
        cores=2.0,
        tasks=200,
        warmup=5,
        key=f"mix-29.9ms-{pool}-c{c}-{setting}",
        workers=workers,
        settings=tuple(tuple(part.split("=")) for part in setting.split(", ")),
        classes=tuple(classes),
    )


def summary(*points):
    return SweepSummary(SweepSettings(), None, "complete", tuple(points))
