"""`python -m bench ab`: both sides measured interleaved, then decided and
printed exactly as `compare` decides and prints two sweeps."""

import sys

from bench.ab import run as ab
from bench.ab.config import AbConfig
from bench.analysis import compare
from bench.output.compare import format_markdown, format_text
from bench.output.profile import profile_table


def _progress(done, total, side, what, doc):
    if doc.open_loop is not None and doc.status.state in ("ok", "producer-limited"):
        result = f"p99 {doc.open_loop['sojourn_p99_s'] * 1000:.1f} ms"
        if doc.open_loop["producer_limited"]:
            result += ", PRODUCER-LIMITED"
    elif doc.measured_per_s is not None:
        result = f"{doc.measured_per_s:.1f} tasks/s"
    else:
        result = f"FAILED: {doc.status.reason}"
    # stderr: stdout is the comparison alone, ready for a job summary
    print(f"[{done}/{total}] {side.name} {what}: {result}", file=sys.stderr, flush=True)


def execute(cfg: AbConfig) -> int:
    with ab.prepared(cfg) as sides:
        for side in sides:
            print(f"{side.label}: python {side.python}, celery {side.celery}", file=sys.stderr, flush=True)
        profile = None
        if cfg.profile_first is not None:  # a user's task: one profile sizes both sides' batches
            user = sides[0].sweep.user_task
            assert user is not None
            print(
                f"profiling {user.task} on the baseline first ({cfg.profile_first.tasks} calls, one at a time)",
                file=sys.stderr,
                flush=True,
            )
            cfg, sides, profile = ab.profile_baseline(cfg, sides)
            print(profile_table(profile), file=sys.stderr, flush=True)
        dirs = ab.run_ab(cfg, sides, _progress, profile)
        baseline, candidate = ab.results(sides, *dirs)
    comparison = compare.compare(baseline, candidate, cfg.threshold)
    print(format_markdown(comparison) if cfg.format == "markdown" else format_text(comparison))
    failure = compare.outcome(comparison, cfg.fail_on_unstable)
    if failure is not None:
        raise failure
    return 0
