"""`python -m bench ab`: both sides measured interleaved, then decided and
printed exactly as `compare` decides and prints two sweeps."""

import sys

from bench.ab import run as ab
from bench.ab.config import AbConfig
from bench.analysis import compare
from bench.output.compare import format_markdown, format_text


def _progress(done, total, side, point, doc):
    ok = doc.measured_per_s is not None
    result = f"{doc.measured_per_s:.1f} tasks/s" if ok else f"FAILED: {doc.status.reason}"
    # stderr: stdout is the comparison alone, ready for a job summary
    print(f"[{done}/{total}] {side.name} {point.key}: {result}", file=sys.stderr, flush=True)


def execute(cfg: AbConfig) -> int:
    with ab.prepared(cfg) as sides:
        for side in sides:
            print(f"{side.label}: python {side.python}, celery {side.celery}", file=sys.stderr, flush=True)
        dirs = ab.run_ab(cfg, sides, _progress)
        baseline, candidate = ab.results(sides, *dirs)
    comparison = compare.compare(baseline, candidate, cfg.threshold)
    print(format_markdown(comparison) if cfg.format == "markdown" else format_text(comparison))
    failure = compare.outcome(comparison, cfg.fail_on_unstable)
    if failure is not None:
        raise failure
    return 0
