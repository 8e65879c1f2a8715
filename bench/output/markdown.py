"""report.md: a sweep's summary to paste into an issue or a pull request."""

from bench import __version__
from bench.analysis.groups import group_key, group_label
from bench.output.terminal import sweep_table_rows
from bench.results.schema import Metadata, utc_now

HEADLINE = '"adding more than twice the number of CPUs is rarely effective"'


def _pct(value):
    return "-" if value is None else f"{value:+.0%}"


def _num(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def _table(rows):
    header, *body = rows
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def machine_lines(metadata):
    """The machine, from a sweep's Metadata."""
    packages = metadata.packages or {}
    versions = ", ".join(f"{name} {version}" for name, version in packages.items() if version)
    return [
        f"- host `{metadata.hostname}`: {metadata.cpu_model}, "
        f"{metadata.usable_cores:g} usable cores, {(metadata.memory_bytes or 0) / 2**30:.0f} GiB",
        f"- {metadata.os}, Python {metadata.python}",
        f"- {versions}",
        f"- celery-bench commit `{metadata.git_commit}`",
    ]


def verdict_rows(summary, analysis):
    rows = [["workload", "pool", "best -c <= 2x cores", "best -c > 2x cores", "gain (95% CI)", "verdict"]]
    seen = set()
    for point in summary.points:
        key = group_key(point)
        if (key, point.pool) in seen:
            continue
        seen.add((key, point.pool))
        v = analysis.verdicts[key][point.pool]
        within = f"-c {v.within_c}: {_num(v.within_per_s)}/s" if v.within_c else "-"
        beyond = f"-c {v.beyond_c}: {_num(v.beyond_per_s)}/s" if v.beyond_c else "-"
        gain = f"{_pct(v.gain)} ({_pct(v.gain_ci95[0])} to {_pct(v.gain_ci95[1])})" if v.gain_ci95 else "-"
        rows.append([group_label(point), point.pool, within, beyond, gain, f"**{v.word}**"])
    return rows


def fit_rows(summary, analysis):
    labels = {group_key(p): group_label(p) for p in summary.points}
    rows = [["workload", "pool", "lambda (tasks/s)", "sigma", "kappa", "peak N*", "fit"]]
    for key, pools in analysis.fits.items():
        for pool, fit in pools.items():
            if not fit.ok:
                rows.append([labels[key], pool, "-", "-", "-", "-", fit.reason])
                continue
            peak = f"{fit.peak_n:.0f}" if fit.peak_n else (fit.peak_note or "-")
            quality = f"R^2 {fit.r2:.2f}, residuals {fit.nrmse:.1%} of the mean"
            row = [labels[key], pool, f"{fit.lambda_per_s:.1f}", f"{fit.sigma:.3f}", f"{fit.kappa:.2e}", peak, quality]
            rows.append(row)
    return rows


def figure_names(summary):
    keys = {group_key(p): group_label(p) for p in summary.points}
    out = []
    for key, label in keys.items():
        sized = any(p.task_ms is not None for p in summary.points if group_key(p) == key)
        kinds = ["throughput", *(["efficiency"] if sized else []), "latency", "memory", "cpu"]
        out.append((label, [f"{kind}-{key}.png" for kind in kinds]))
    return out


def render(summary, status, analysis, sweep_name, now=None, tool_version=__version__):
    """The Markdown text of report.md, from a SweepSummary; `status`: the
    sweep's status in its manifest."""
    now = now or utc_now()
    cfg = summary.config
    metadata = summary.metadata or Metadata()
    points = summary.points
    repeats = sum(p.repeats for p in points)
    broker = "embedded" if cfg.broker_url is None else "the user's own"
    lines = [
        "# celery-bench sweep report",
        "",
        f"Sweep `{sweep_name}`, {status}; report made {now:%Y-%m-%d %H:%M} UTC by celery-bench {tool_version}.",
        "",
        "## Machine",
        "",
        *machine_lines(metadata),
        "",
        "## Matrix",
        "",
        f"- pools {', '.join(cfg.pools)}; workloads {', '.join(cfg.workloads)}",
        f"- profile `{cfg.profile}`: {cfg.min_repeats} to {cfg.max_repeats} repeats per point in fresh "
        f"workers, more while the 95% CI of the median is wider than {cfg.ci_target:.0%} of it; run order "
        f"shuffled (seed {cfg.seed})",
        f"- {len(points)} points, {repeats} measured repeats; broker "
        f"{broker}; result backend {cfg.result_backend}; "
        f"prefetch multiplier {cfg.prefetch_multiplier}",
        "",
        f"## Verdict on the tutorial's {HEADLINE}",
        "",
        "Per pool and workload: the best median throughput at -c up to twice the cores against the best above, "
        "with the bootstrap 95% CI of the gain. **holds**: no gain of 5% or more beyond 2x cores (or a loss); "
        "**does not hold**: a significant gain above 5%; **inconclusive**: the interval straddles 5%.",
        "",
        _table(verdict_rows(summary, analysis)),
        "",
        "![overview](overview.png)",
        "",
        "## Throughput (median tasks/s)",
        "",
        _table(sweep_table_rows(summary)),
        "",
        "`*` best -c of the row; `~` unstable (coefficient of variation above 10%).",
        "",
        "## Scalability model",
        "",
        "The Universal Scalability Law X(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1)) fitted to each curve's "
        "medians; N* = sqrt((1 - sigma) / kappa) is where it peaks. Where it fits poorly, or kappa cannot be told "
        "from 0, that is said instead of a number.",
        "",
        _table(fit_rows(summary, analysis)),
        "",
        "## Figures",
        "",
    ]
    for key, names in figure_names(summary):
        lines.append(f"- {key}: " + ", ".join(f"[{name.split('-')[0]}]({name})" for name in names))
    lines += ["", "## Warnings", ""]
    lines += [f"- {w}" for w in analysis.warnings] or ["- none: every point complete, stable and under its ceiling"]
    return "\n".join(lines) + "\n"
