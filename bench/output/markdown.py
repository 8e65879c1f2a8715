"""report.md: a sweep's summary to paste into an issue or a pull request."""

from collections.abc import Sequence

from bench import __version__
from bench.analysis.deploy import deploy_safety
from bench.analysis.groups import curve_name, group_key, group_label, groups, plural
from bench.analysis.hosts import HOSTS_FIGURE, host_lines, scales, scaling_words
from bench.analysis.limits import under_limits
from bench.analysis.model import peak_words
from bench.analysis.recycling import recycling_rows
from bench.analysis.summary import Analysis, Note
from bench.analysis.verdict import FLAT_RULE, MIN_EFFECT, RULE
from bench.output.accuracy import model_section
from bench.output.mix import mix_section, mix_words
from bench.output.sweep_terminal import (
    HEADLINE,
    RAN_TWICE_OR_LOST,
    RAN_TWICE_OR_LOST_KEY,
    RECYCLING_KEY,
    RECYCLING_TITLE,
    deploy_safety_rows,
    recycling_table_rows,
    safe_lines,
    shapes_table_rows,
    sweep_table_rows,
    under_limit_rows,
    verdict_keys,
    verdict_rows,
)
from bench.results.schema import Metadata
from bench.results.sweep_records import SweepSummary


def _pct(value):
    return "-" if value is None else f"{value:+.0%}"


def _num(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def _ran_twice_key(table):
    """The key's part for the mark of tasks run twice or lost, when the table shows it."""
    if any(RAN_TWICE_OR_LOST in cell for row in table[1:] for cell in row[2:-1]):
        return f"; `{RAN_TWICE_OR_LOST}` {RAN_TWICE_OR_LOST_KEY}"
    return ""


def _table(rows):
    header, *body = rows
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def machine_lines(metadata: Metadata) -> list[str]:
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


def verdict_rows_md(summary: SweepSummary, analysis: Analysis) -> list[list[str]]:
    """The verdict table, each row with a line on the warnings that qualify
    it (every one in full is in the Warnings section)."""
    header, *body = verdict_rows(summary, analysis)
    rows = [[*header, "warnings"]]
    for row, (key, pool) in zip(body, verdict_keys(summary), strict=True):
        rows.append([*row[:-1], f"**{row[-1]}**", warnings_line(analysis.row_notes(key, pool))])
    return rows


def warnings_line(notes: Sequence[Note]) -> str:
    """A verdict row's warnings in one line, each kind once with the -c it
    was found at, and how many there are in the Warnings section: "wide CI
    at -c 64, 128; unstable at -c 256 ([3 warnings](#warnings))"."""
    if not notes:
        return "-"
    found: dict[str, list[int]] = {}  # what it is -> at which -c (none: the whole curve)
    for note in notes:
        at = found.setdefault(note.about or "warned", [])
        if note.c is not None and note.c not in at:
            at.append(note.c)
    kinds = [about + (f" at -c {', '.join(map(str, sorted(at)))}" if at else "") for about, at in found.items()]
    return "; ".join(kinds) + f" ([{plural(len(notes), 'warning')}](#warnings))"


def fit_rows(summary: SweepSummary, analysis: Analysis) -> list[list[str]]:
    labels = {group_key(p): group_label(p) for p in summary.points}
    rows = [["workload", "pool", "lambda (tasks/s)", "sigma", "kappa", "peak N*", "fit"]]
    for key, pools in analysis.fits.items():
        for pool, fit in pools.items():
            if not fit.ok:
                rows.append([labels[key], pool, "-", "-", "-", "-", fit.reason or "-"])
                continue
            measured = [p.concurrency for p in summary.points if group_key(p) == key and curve_name(p) == pool]
            peak = peak_words(fit, measured)
            quality = f"R^2 {fit.r2:.2f}, residuals {fit.nrmse:.1%} of the mean"
            row = [labels[key], pool, f"{fit.lambda_per_s:.1f}", f"{fit.sigma:.3f}", f"{fit.kappa:.2e}", peak, quality]
            rows.append(row)
    return rows


def figure_names(summary: SweepSummary) -> list[tuple[str, list[str]]]:
    figure_keys = groups(summary)
    keys = {group_key(p): group_label(p) for p in summary.points}
    out = []
    for key, label in keys.items():
        if key not in figure_keys:
            continue
        sized = any(p.task_ms is not None for p in summary.points if group_key(p) == key)
        shaped = any(p.workers > 1 for p in summary.points if group_key(p) == key)
        kinds = ["throughput", *(["efficiency"] if sized else []), "latency", "memory", "cpu"]
        kinds += ["shapes"] if shaped else []
        out.append((label, [f"{kind}-{key}.png" for kind in kinds]))
    return out


def _shapes_section(summary):
    """The same medians by total concurrency, when some points run several workers."""
    rows = shapes_table_rows(summary)
    if not rows:
        return []
    return [
        "### By total concurrency (-c x workers)",
        "",
        "Shapes of one total size in one column: one big worker against several smaller ones.",
        "",
        _table(rows),
        "",
    ]


def _hosts_section(summary):
    """Throughput against hosts (--host-counts): the figure, and per line
    its scaling efficiency at the most hosts."""
    lines = host_lines(summary)
    if not scales(lines):
        return []
    return [
        "## Throughput against hosts",
        "",
        "Each point on the first k agents of `--hosts`; linear scaling from the 1-host median dashed, the "
        "ceiling (k x one host's) as a band. Scaling efficiency at the most hosts k: throughput(k) / "
        "(k x throughput(1)).",
        "",
        f"![throughput against hosts]({HOSTS_FIGURE}.png)",
        "",
        *[f"- {scaling_words(line)}" for line in lines],
        "",
    ]


def _hosts_line(cfg):
    """Where the workers ran, for a sweep on agents."""
    if not cfg.hosts:
        return []
    counts = cfg.host_counts
    each = f"; each point on the first k of them, k = {', '.join(map(str, counts))}" if counts else ""
    return [f"- workers on the agents {', '.join(cfg.hosts)}{each}"]


def _shutdown_line(cfg):
    """The sweep-wide settings of tasks in flight at a stop, where any is given."""
    parts = ["task_reject_on_worker_lost on"] if cfg.reject_on_worker_lost else []
    if cfg.soft_shutdown_timeout:
        parts.append(f"soft shutdown timeout {cfg.soft_shutdown_timeout:g} s (SIGTERM as SIGQUIT)")
    if cfg.visibility_timeout is not None:
        parts.append(f"visibility timeout {cfg.visibility_timeout:g} s")
    return [f"- tasks in flight at a stop: {'; '.join(parts)}"] if parts else []


def _varied_line(cfg):
    if not cfg.vary:
        return []
    axes = "; ".join(f"{name} = {', '.join(values)}" for name, values in cfg.vary)
    return [f"- varied (each combination is its own curve and verdict): {axes}"]


def _traffic_line(cfg):
    if not cfg.traffic:
        return []
    mix = cfg.traffic
    return [f"- traffic mix at every point: {mix_words(mix)} (`{mix['source']}`, seed {mix['seed']})"]


def _workloads(cfg):
    """What the sweep ran: its workloads, or a user's task by its name."""
    user = cfg.user_task or {}
    if user.get("task"):
        app = f" of app `{user['app']}`" if user.get("app") else ""
        return f"task `{user['task']}`{app}"
    return f"workloads {', '.join(cfg.workloads)}"


def _repeats(cfg):
    if cfg.min_repeats == cfg.max_repeats:
        return f"{plural(cfg.min_repeats, 'repeat')} per point in fresh workers"
    return (
        f"{cfg.min_repeats} to {cfg.max_repeats} repeats per point in fresh workers, more while the 95% CI "
        f"of the median is wider than {cfg.ci_target:.0%} of it"
    )


def _overhead_lines(analysis):
    if not analysis.overheads:
        return ["- no noop point in this sweep: Celery's own per-task cost was not measured (no second ceiling)"]
    rates = ", ".join(
        f"{pool} -c {point.concurrency}" + (f" on {plural(pinned, 'CPU')}" if pinned else "") + f": {rate:,.0f}/s"
        for (pool, pinned), (rate, point) in analysis.overheads.items()
    )
    return [
        f"- no-op rate per pool (Celery's own per-task cost, the noop workload): {rates}; drawn as a second "
        "ceiling, and efficiency is against the lower of it and the physical ceiling"
    ]


def _limits_section(summary, analysis):
    """The curves measured under a CPU quota: the best -c under each, and
    whether Celery's default -c (os.cpu_count(), blind to the quota) would
    have been it; nothing without limits."""
    limited = under_limits(summary, analysis)
    if not limited:
        return []
    return [
        "Under limits like a pod's (`--cpu-limit`, `--memory-limit`, `--vary cpu_limit`, `--vary memory_limit`): "
        "the best -c, and whether Celery's default (`os.cpu_count()`, which ignores the quota) would have been "
        f"it, or within the {MIN_EFFECT:.0%} minimum effect of it; under a memory limit, a -c whose every repeat "
        "was OOM-killed is left out of the curve.",
        "",
        _table(under_limit_rows(limited)),
        "",
    ]


def _recycling_section(summary):
    """The recycling axes against their cost; nothing without them."""
    rows = recycling_rows(summary)
    if not rows:
        return []
    return ["## Recycling", "", f"{RECYCLING_TITLE}. {RECYCLING_KEY}.", "", _table(recycling_table_rows(rows)), ""]


def _deploy_section(summary):
    """The deploy-safety table and the settings that lost nothing and ran
    nothing twice; nothing without a deploy event."""
    safety = deploy_safety(summary)
    if not safety:
        return []
    return [
        "## Deploy safety",
        "",
        "What the deploy event did to the tasks in flight, summed over each point's repeats: **lost** (published, "
        "never finished), **ran twice**, **redelivered** (the broker delivered the message again) and "
        "**interrupted** (started by a process that died or was stopped before it finished them); **back to "
        "90%**: the median time until a window after the event completed 90% of the tasks of the one before it; "
        "**drain**: a stopped worker's SIGTERM to its exit.",
        "",
        _table(deploy_safety_rows(safety)),
        "",
        *[f"- {line}" for line in safe_lines(safety)],
        "",
    ]


def render(
    summary: SweepSummary,
    status: str | None,
    analysis: Analysis,
    sweep_name: str,
    measured: str | None = None,
    tool_version: str = __version__,
) -> str:
    """The Markdown text of report.md, from a SweepSummary; `status`: the
    sweep's status in its manifest; `measured`: when, in words (from the
    manifest, so the same sweep always renders the same text)."""
    cfg = summary.config
    metadata = summary.metadata or Metadata()
    points = summary.points
    repeats = sum(p.repeats for p in points)
    broker = "embedded" if cfg.broker_url is None else "the user's own"
    throughput_rows = sweep_table_rows(summary, analysis)
    lines = [
        "# celery-bench sweep report",
        "",
        f"Sweep `{sweep_name}`, {status}"
        + (f", measured {measured}" if measured else "")
        + f"; report by celery-bench {tool_version}.",
        "",
        "## Machine",
        "",
        *machine_lines(metadata),
        "",
        "## Matrix",
        "",
        f"- pools {', '.join(cfg.pools)}; " + _workloads(cfg),
        f"- profile `{cfg.profile}`: {_repeats(cfg)}; run order shuffled (seed {cfg.seed})",
        f"- {plural(len(points), 'point')}, {plural(repeats, 'measured repeat')}; broker "
        f"{broker}; result backend {cfg.result_backend}; "
        "prefetch multiplier " + ("the app's own" if cfg.prefetch_multiplier is None else str(cfg.prefetch_multiplier)),
        *_varied_line(cfg),
        *_traffic_line(cfg),
        *_shutdown_line(cfg),
        *_hosts_line(cfg),
        *_overhead_lines(analysis),
        "",
        f"## Verdict on the tutorial's {HEADLINE}",
        "",
        "Per pool and workload: the best median throughput at -c up to twice the cores against the best above, "
        "with the bootstrap 95% CI of the gain. " + RULE + ". "
        "**best -c**: the highest median of the row; " + FLAT_RULE + "; a best at the edge of the range tried "
        "is marked, since the optimum may lie beyond it.",
        "",
        _table(verdict_rows_md(summary, analysis)),
        "",
        *_limits_section(summary, analysis),
        *_deploy_section(summary),
        *_recycling_section(summary),
        *mix_section(summary),
        "![overview](overview.png)",
        "",
        "## Throughput (median tasks/s)",
        "",
        _table(throughput_rows),
        "",
        "`*` best -c of the row (none on a flat row); `~` unstable (coefficient of variation above 10%)"
        + _ran_twice_key(throughput_rows)
        + ".",
        "",
        *_shapes_section(summary),
        *_hosts_section(summary),
        "## Scalability model",
        "",
        "The Universal Scalability Law X(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1)) fitted to each curve's "
        "medians; N* = sqrt((1 - sigma) / kappa) is where it peaks. Where it fits poorly, or kappa cannot be told "
        "from 0, that is said instead of a number. The curve is drawn only over the -c range measured; a peak "
        "outside it is an extrapolation, said in words and never drawn.",
        "",
        _table(fit_rows(summary, analysis)),
        "",
        *model_section(summary),
        "## Figures",
        "",
    ]
    for key, names in figure_names(summary):
        lines.append(f"- {key}: " + ", ".join(f"[{name.split('-')[0]}]({name})" for name in names))
    if scales(host_lines(summary)):
        lines.append(f"- hosts: [throughput against hosts]({HOSTS_FIGURE}.png)")
    lines += ["", "## Warnings", ""]
    lines += [f"- {w}" for w in analysis.warnings] or ["- none: every point complete, stable and under its ceiling"]
    return "\n".join(lines) + "\n"
