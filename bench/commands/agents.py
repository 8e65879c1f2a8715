"""`python -m bench agents`: the agents that answer on a broker."""

from bench.fleet import control


def execute(request: tuple[str, bytes]) -> int:
    broker_url, secret = request
    with control.Control(broker_url, secret) as ctl:
        found = ctl.discover()
        if not found:
            print("no agent answered within 2 s (same broker? same CELERY_BENCH_SECRET?)")
            return 1
        print(f"{'agent':<16} {'host':<16} {'cores':>5}  {'cpus':<8} {'celery-bench':<12} {'celery':<8} clock offset")
        for name, info in found.items():
            try:
                est = ctl.offset(name)
                offset = f"{est.offset_s * 1000:+.3f} ms ± {est.error_s * 1000:.3f} ms"
            except control.RunFailed as exc:
                offset = f"unknown ({exc})"
            cpus = ",".join(map(str, info.cpus)) if info.cpus else "all"
            busy = f"  (busy: run {info.busy})" if info.busy else ""
            print(
                f"{name:<16} {info.hostname:<16} {info.cores:>5g}  {cpus:<8} "
                f"{info.versions.get('celery-bench', '?'):<12} {info.versions.get('celery', '?'):<8} {offset}{busy}"
            )
    return 0
