"""The parsers of the subcommands that read what was measured: plot,
report, compare, export, history. They fill no config: their requests are their arguments."""

import argparse
from pathlib import Path

from bench.analysis.history import ALPHA as HISTORY_ALPHA
from bench.cli.groups import add_decision, add_memory_budget, add_sweep_dir
from bench.cli.parser import Subcommands
from bench.output.exports import FORMATS


def add_plot(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "plot",
        help="draw a sweep's figures (PNG and SVG) into its directory, or a run's over time",
        description="Throughput against the ceiling, efficiency, service time, memory and CPU per workload, "
        "and one overview with the verdicts, as PNG and SVG in the sweep's directory. Given a run's "
        "result (RUN.json) instead: the run second by second from its series (completions and stall "
        "seconds, the latency of what finished, each worker process's memory with recycled processes "
        "marked), as NAME.series.png and .svg beside it (a soak draws it at its end).",
    )
    parser.add_argument(
        "sweep_dir",
        metavar="SWEEP_DIR|RUN.json",
        type=Path,
        help="a sweep's directory (results/sweep-...), or a folder of sweeps: its latest; or a run's result file",
    )


def add_report(sub: Subcommands) -> None:
    report = _add_sweep_reader(
        sub,
        "report",
        "write a sweep's report.md, report.html, points.csv and figures",
        "The verdict on the 2x-cores guidance per pool and workload, the throughput table, the "
        "scalability model and the warnings, as Markdown (to paste into an issue), one self-contained HTML "
        "page, and a CSV of every point; where the runs sampled memory, per pool the memory its best -c needs "
        "after --uptime and the largest -c within --memory-budget.",
    )
    add_memory_budget(
        report,
        "the most memory a worker may hold, e.g. 1GiB (its process tree's PSS): per pool, the largest -c up to "
        "its best measured that fits it after --uptime (default: none; each pool's need is shown)",
    )


def _add_sweep_reader(sub: Subcommands, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """plot and report: a sweep's directory is what they take."""
    parser = sub.add_parser(name, help=summary, description=description)
    add_sweep_dir(parser)
    return parser


def add_compare(sub: Subcommands) -> None:
    cmp = sub.add_parser(
        "compare",
        help="is a candidate result slower than a baseline? (exit 1 when it is)",
        description=(
            "Compare two run results or two sweep directories point by point: the change in median "
            "throughput with the bootstrap 95% CI of the ratio and a Mann-Whitney U p-value. A point is "
            "slower or faster only when the change is significant (the CI excludes 1, or p < 0.05) AND at "
            "least --threshold; fewer than 3 repeats a side is unstable. Exit 0: no significant regression; "
            "1: a point is significantly slower by at least the threshold (or failed); 2: bad input; "
            "3: a point is too unstable to decide (with --fail-on-unstable)."
        ),
    )
    cmp.add_argument("baseline", metavar="BASELINE", help="a run's result JSON or a sweep directory")
    cmp.add_argument("candidate", metavar="CANDIDATE", help="the same kind, measured after the change")
    add_decision(cmp)
    cmp.add_argument("--fail-on-unstable", action="store_true", help="exit 3 when a point is too unstable to decide")
    cmp.add_argument(
        "--allow-different-hosts", action="store_true", help="compare results measured on different machines"
    )


def add_export(sub: Subcommands) -> None:
    exp = sub.add_parser(
        "export",
        help="a run, sweep or A/B in a format CI tools read (github-action-benchmark, Bencher's BMF)",
        description=(
            "Write what was measured in a format a CI benchmark tool reads. github-action-benchmark: its "
            "customBiggerIsBetter list (each point's median throughput, tasks/s, with its 95% CI as the range) "
            "in FILE, and its customSmallerIsBetter list (p99 sojourn and wait, ms) in FILE-smaller. bmf: "
            "Bencher Metric Format, every measure of every point in one document (throughput with lower_value "
            "and upper_value from the CI). Reads a run's result JSON, a sweep directory (a folder of sweeps: "
            "its latest) or an ab directory (points named baseline/... and candidate/...)."
        ),
        epilog="example: python -m bench export bmf results -o bmf.json (then: bencher run --file bmf.json "
        "--adapter json)",
    )
    exp.add_argument("format", metavar="FORMAT", choices=FORMATS, help=f"one of: {', '.join(FORMATS)}")
    exp.add_argument("result", metavar="RESULT", help="a run's result JSON, a sweep directory or an ab directory")
    exp.add_argument("-o", "--output", metavar="FILE", help="write here (default: print the first document)")


def add_history(sub: Subcommands) -> None:
    hist = sub.add_parser(
        "history",
        help="stored results over commits: the changes in each point, a page of charts, --check for a nightly job",
        description=(
            "Read stored results (sweep directories, ab directories, run result files, pytest-benchmark JSON, "
            "or folders of them), order them by when they were measured, and find where each point's median "
            "throughput (a benchmark's time) changed: ruptures' PELT proposes where, and a change is kept when "
            f"Student's t-test of the results either side gives p < {HISTORY_ALPHA:g} and it is at least "
            "--threshold. Prints the changes (which commit, before and after, by how much, how sure) and where "
            "the environment changed between results. Exit 0; with --check, 1 when the newest result is a step "
            "for the worse (or every repeat of a point failed in it); 2: bad input."
        ),
        epilog="example: python -m bench history results --html site/index.html --check",
    )
    hist.add_argument(
        "paths", nargs="+", metavar="DIR", help="a stored result, or a folder searched for them (its subfolders too)"
    )
    add_decision(hist)
    hist.add_argument("--html", metavar="OUT", help="write one self-contained HTML page with a chart per point")
    hist.add_argument("--json", metavar="OUT", help="write the results, series and changes found as JSON")
    hist.add_argument(
        "--check", action="store_true", help="exit 1 when the newest result is a step for the worse (a nightly job)"
    )
