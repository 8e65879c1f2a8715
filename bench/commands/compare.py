"""`python -m bench compare BASELINE CANDIDATE`: the decision printed, and
the exit code it implies; without Celery.

read both sides -> decide -> format -> print -> the exit code's error."""

from pathlib import Path

from bench.analysis.compare import compare, outcome
from bench.commands import CompareConfig, result_path
from bench.errors import UsageError
from bench.output.compare import format_markdown, format_text
from bench.results.compare import Results, load_run, load_sweep
from bench.sweep.store import SweepDir


def execute(cfg: CompareConfig) -> int:
    baseline, candidate = result_path(cfg.baseline), result_path(cfg.candidate)
    comparison = compare(
        load(baseline, "baseline"),
        load(candidate, "candidate"),
        cfg.threshold,
        allow_different_hosts=cfg.allow_different_hosts,
    )
    print(format_markdown(comparison) if cfg.format == "markdown" else format_text(comparison))
    failure = outcome(comparison, cfg.fail_on_unstable)
    if failure is not None:
        raise failure
    return 0


def load(path: str | Path, side: str = "result") -> Results:
    """A run result file or a sweep directory; UsageError naming the path
    otherwise, or when it holds no successful repeat to compare (e.g. a
    sweep shipped without its runs/, such as results/reference)."""
    path = Path(path)
    results = load_sweep(SweepDir(path)) if path.is_dir() else load_run(path)
    if not any(p.values_per_s or p.failed for p in results.points.values()):
        raise UsageError(f"{side} {path}: no repeats to compare (no runs/ with repeat results)")
    if side == "baseline" and not any(p.values_per_s for p in results.points.values()):
        raise UsageError(f"{side} {path}: no successful repeats to compare against (every repeat failed)")
    return results
