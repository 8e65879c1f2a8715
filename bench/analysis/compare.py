"""Compare two results, point by point: is the candidate's throughput
really different from the baseline's, and by enough to matter?

The decision rule, per point matched by configuration (pool, -c, workload,
task size, the CPUs the worker could use, broker kind), on the throughput
of each successful repeat (one fresh worker each):

- fewer than MIN_REPEATS values on either side: `unstable` (too few repeats
  to decide). The change of the medians is still shown.
- otherwise the change is median(candidate) / median(baseline) - 1, with a
  bootstrap 95% CI of that ratio and a two-sided Mann-Whitney U p-value.
  The change is significant when the CI excludes 1 or p < ALPHA, in the
  direction of the change; it is `slower` (`faster`) when it is significant
  AND at least `threshold` (default 5%) below (above) the baseline.
  Anything else is `no significant difference`, including a significant
  change smaller than the threshold.
- a point whose baseline measured but whose candidate repeats all failed is
  `failed`, and counts as a regression.
A side whose coefficient of variation exceeds CV_WARN (10%) is flagged
unstable whatever the decision.

Two sides must come from one machine (metadata.hostname), unless the user
allows otherwise: a difference between machines is not a regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.analysis.stats import CV_WARN, bootstrap_median
from bench.errors import BenchError, Regression, Unstable, UsageError
from bench.results import io as results

MIN_REPEATS = 3  # per side, to test anything at all
ALPHA = 0.05  # significance level of the Mann-Whitney U test (and 1 - the CI's confidence)
DEFAULT_THRESHOLD = 0.05  # the smallest change worth failing a build for
FORMATS = ("text", "markdown")

SLOWER, FASTER, SAME, UNSTABLE, FAILED = "slower", "faster", "no significant difference", "unstable", "failed"


@dataclass(frozen=True)
class PointKey:
    """What makes two measurements the same point."""

    pool: str
    concurrency: int  # -c
    workload: str
    task_ms: float | None  # size of each task in ms; None for sizeless workloads
    cpus: float | None  # CPUs the worker could use (its pinned CPUs, else the machine's usable cores)
    broker: str | None  # broker kind: redis or amqp

    @property
    def name(self) -> str:
        """The sweep's own name for the point, e.g. sleep-50ms-gevent-c16."""
        size = f"-{self.task_ms:g}ms" if self.task_ms is not None else ""
        return f"{self.workload}{size}-{self.pool}-c{self.concurrency}"

    @property
    def setting(self) -> str:
        cpus = "? cpus" if self.cpus is None else f"{self.cpus:g} cpus"
        return f"{cpus}, {self.broker or '?'} broker"


@dataclass(frozen=True)
class Side:
    """One point of one result."""

    values_per_s: tuple[float, ...]  # throughput of each successful repeat, tasks/s
    failed: int = 0  # repeats that failed (tasks failed or went missing, worker did not start)
    reason: str | None = None  # the first failed repeat's reason


@dataclass(frozen=True)
class Results:
    """A result file or a sweep directory, reduced to what comparing needs."""

    path: str
    kind: str  # "run" (one result document) or "sweep" (a sweep directory)
    hostnames: frozenset[str]  # the machines it was measured on (metadata.hostname)
    points: dict[PointKey, Side]  # in the result's own order


@dataclass(frozen=True)
class PointComparison:
    key: PointKey
    baseline: Side
    candidate: Side
    baseline_median_per_s: float | None  # median throughput, tasks/s; None without a successful repeat
    candidate_median_per_s: float | None
    change: float | None  # candidate median / baseline median - 1; -0.2 is 20% slower
    change_ci95: tuple[float, float] | None  # bootstrap 95% CI of the change; None with too few repeats
    p_value: float | None  # two-sided Mann-Whitney U; None with too few repeats
    baseline_cv: float | None  # sample standard deviation / mean of the baseline's values
    candidate_cv: float | None
    decision: str  # slower | faster | no significant difference | unstable | failed
    notes: tuple[str, ...]  # why, where the numbers alone do not say

    @property
    def unstable(self) -> bool:
        """Too few repeats to decide, or a side too noisy to trust (CV above CV_WARN)."""
        noisy = any(cv is not None and cv > CV_WARN for cv in (self.baseline_cv, self.candidate_cv))
        return self.decision == UNSTABLE or noisy

    @property
    def regression(self) -> bool:
        return self.decision in (SLOWER, FAILED)


@dataclass(frozen=True)
class Comparison:
    baseline: Results
    candidate: Results
    threshold: float  # the minimum effect, as a fraction (0.05 is 5%)
    points: tuple[PointComparison, ...]  # the matched points, in the baseline's order
    baseline_only: tuple[PointKey, ...]  # points the candidate does not have
    candidate_only: tuple[PointKey, ...]

    @property
    def regressions(self) -> tuple[PointComparison, ...]:
        return tuple(p for p in self.points if p.regression)

    @property
    def unstable(self) -> tuple[PointComparison, ...]:
        return tuple(p for p in self.points if p.unstable)


@dataclass(frozen=True)
class CompareConfig:
    baseline: Path
    candidate: Path
    threshold: float  # fraction: 0.05 is 5%
    format: str  # text | markdown
    fail_on_unstable: bool  # exit 3 when a point is too unstable to decide
    allow_different_hosts: bool


def parse_percent(text: str) -> float:
    """`--threshold`: a percentage ("5", "5%", "2.5") as a fraction."""
    import argparse

    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 5 or 2.5%, got {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 100 (percent), got {text!r}")
    return value / 100


def build_compare_config(
    *, baseline, candidate, threshold=DEFAULT_THRESHOLD, fmt="text", fail_on_unstable=False, allow_different_hosts=False
) -> CompareConfig:
    if fmt not in FORMATS:
        raise UsageError(f"--format: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not 0 <= threshold < 1:
        raise UsageError(f"--threshold: must be at least 0% and below 100%, got {threshold:.0%}")
    return CompareConfig(Path(baseline), Path(candidate), threshold, fmt, fail_on_unstable, allow_different_hosts)


# --- Reading -----------------------------------------------------------------


def _task_ms(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def _cpus(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _broker_kind(url: str | None) -> str:
    """The kind of broker a sweep's --broker URL names; no URL: the embedded Redis."""
    if url is None:
        return "redis"
    return "amqp" if urlsplit(url).scheme in ("amqp", "pyamqp") else "redis"


def _ok(doc: dict) -> bool:
    return (doc.get("status") or {}).get("state") == "ok" and (doc.get("summary") or {}).get(
        "throughput_per_s"
    ) is not None


def _side(docs: Sequence[dict]) -> Side:
    ok = [d for d in docs if _ok(d)]
    failed = [d for d in docs if not _ok(d)]
    reason = (failed[0].get("status") or {}).get("reason") if failed else None
    return Side(tuple(float(d["summary"]["throughput_per_s"]) for d in ok), len(failed), reason)


def _hostnames(*metadatas: Any) -> frozenset[str]:
    return frozenset(m["hostname"] for m in metadatas if isinstance(m, dict) and m.get("hostname"))


def load_run(path: Path) -> Results:
    """One result document, as `python -m bench run` writes it."""
    from bench.sweep.store import MANIFEST, SUMMARY

    if path.name in (MANIFEST, SUMMARY) and (path.parent / MANIFEST).is_file():
        raise UsageError(f"{path}: this is a sweep's {path.name}; give the sweep directory itself")
    doc = results.load(path)
    kind = doc.get("kind", "run")
    if kind != "run":
        raise UsageError(f"{path}: not a run result (kind {kind!r})")
    cfg, meta = doc["config"], doc["metadata"] or {}
    try:
        key = PointKey(
            pool=cfg["pool"],
            concurrency=int(cfg.get("slots", cfg["concurrency"])),  # by what ran: solo is one slot
            workload=cfg["workload"],
            task_ms=_task_ms(cfg.get("task_ms")),
            cpus=_cpus(cfg.get("cores", meta.get("usable_cores"))),
            broker=(cfg.get("broker") or {}).get("kind"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed config ({type(exc).__name__}: {exc})") from None
    return Results(str(path), "run", _hostnames(meta), {key: _side([doc])})


def load_sweep(path: Path) -> Results:
    """A sweep directory: its plan from manifest.json, every finished repeat
    from runs/<point>/rNN.json (repeats interrupted half-way are left out)."""
    from bench.sweep.plan import Point
    from bench.sweep.store import RUNS, SweepDir

    manifest = SweepDir(path).read_manifest()
    try:
        plan = [Point.from_json(p) for p in manifest["plan"]]
        default_broker = _broker_kind((manifest.get("config") or {}).get("broker_url"))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed manifest ({type(exc).__name__}: {exc})") from None
    points: dict[PointKey, Side] = {}
    metadatas = [manifest.get("metadata")]
    for point in plan:
        files = sorted((path / RUNS / point.key).glob("r*.json"))
        docs = [results.load(f) for f in files if not f.name.endswith(".interrupted.json")]
        metadatas += [d.get("metadata") for d in docs]
        side = _side(docs)
        measured = [d for d in docs if _ok(d)]
        broker = ((measured[0]["config"].get("broker") or {}).get("kind")) if measured else None
        key = PointKey(
            pool=point.pool,
            concurrency=point.concurrency,
            workload=point.workload,
            task_ms=_task_ms(point.task_ms),
            cpus=_cpus(point.cores),
            broker=broker or default_broker,
        )
        points[key] = side
    return Results(str(path), "sweep", _hostnames(*metadatas), points)


def load(path: str | Path) -> Results:
    """A run result file or a sweep directory; UsageError naming the path otherwise."""
    path = Path(path)
    if path.is_dir():
        return load_sweep(path)
    return load_run(path)


# --- Deciding ----------------------------------------------------------------


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value: the probability, if both samples came
    from one distribution, of a rank sum at least as far from its expectation
    as the observed one (exact without ties, normal approximation with them)."""
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p


def _median(side: Side) -> float | None:
    return bootstrap_median(side.values_per_s).median if side.values_per_s else None


def compare_point(
    key: PointKey, baseline: Side, candidate: Side, threshold: float = DEFAULT_THRESHOLD, alpha: float = ALPHA
) -> PointComparison:
    """The decision for one point (see the module docstring for the rule)."""
    from bench.analysis.verdict import ratio_ci

    base, cand = baseline.values_per_s, candidate.values_per_s
    notes = []
    for name, side in (("baseline", baseline), ("candidate", candidate)):
        if side.failed:
            notes.append(f"{side.failed} {name} repeat(s) failed: {side.reason}")
    if not base or not cand:
        failed = bool(base) and not cand and candidate.failed > 0
        if not failed:
            missing = [n for n, s in (("baseline", base), ("candidate", cand)) if not s]
            notes.append(f"no successful {' or '.join(missing)} repeat")
        return PointComparison(
            key=key,
            baseline=baseline,
            candidate=candidate,
            baseline_median_per_s=_median(baseline),
            candidate_median_per_s=_median(candidate),
            change=None,
            change_ci95=None,
            p_value=None,
            baseline_cv=None,
            candidate_cv=None,
            decision=FAILED if failed else UNSTABLE,
            notes=tuple(notes),
        )
    est_b, est_c = bootstrap_median(base), bootstrap_median(cand)
    change = est_c.median / est_b.median - 1
    for name, est in (("baseline", est_b), ("candidate", est_c)):
        if est.unstable:
            notes.append(f"{name} unstable: CV {est.cv:.1%} > {CV_WARN:.0%}")
    common = dict(
        key=key,
        baseline=baseline,
        candidate=candidate,
        baseline_median_per_s=est_b.median,
        candidate_median_per_s=est_c.median,
        change=change,
        baseline_cv=est_b.cv,
        candidate_cv=est_c.cv,
    )
    if len(base) < MIN_REPEATS or len(cand) < MIN_REPEATS:
        notes.append(f"too few repeats to decide ({len(base)} vs {len(cand)}; need {MIN_REPEATS} each)")
        return PointComparison(**common, change_ci95=None, p_value=None, decision=UNSTABLE, notes=tuple(notes))
    low, high = ratio_ci(cand, base, confidence=1 - alpha)
    p = mann_whitney_p(cand, base)
    lower = high < 1 or (p < alpha and change < 0)
    higher = low > 1 or (p < alpha and change > 0)
    if lower and change <= -threshold:
        decision = SLOWER
    elif higher and change >= threshold:
        decision = FASTER
    else:
        decision = SAME
        if lower or higher:
            notes.append(f"significant, but within the {threshold:.0%} threshold")
    return PointComparison(**common, change_ci95=(low - 1, high - 1), p_value=p, decision=decision, notes=tuple(notes))


def compare(
    baseline: Results, candidate: Results, threshold: float = DEFAULT_THRESHOLD, allow_different_hosts: bool = False
) -> Comparison:
    """Every point of both sides: matched points decided, the rest listed.
    UsageError when the two cannot be compared at all."""
    if baseline.kind != candidate.kind:
        raise UsageError(
            f"cannot compare a {baseline.kind} ({baseline.path}) with a {candidate.kind} ({candidate.path}): "
            "give two result files or two sweep directories"
        )
    if (
        not allow_different_hosts
        and baseline.hostnames
        and candidate.hostnames
        and baseline.hostnames != candidate.hostnames
    ):
        raise UsageError(
            f"the baseline was measured on {', '.join(sorted(baseline.hostnames))} and the candidate on "
            f"{', '.join(sorted(candidate.hostnames))}: results from different machines do not compare "
            "(--allow-different-hosts to compare them anyway)"
        )
    matched = [k for k in baseline.points if k in candidate.points]
    if not matched:
        raise UsageError(
            f"nothing to compare: no point of {baseline.path} ({_names(baseline.points)}) matches one of "
            f"{candidate.path} ({_names(candidate.points)}) in pool, -c, workload, task size, CPUs and broker"
        )
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        threshold=threshold,
        points=tuple(compare_point(k, baseline.points[k], candidate.points[k], threshold) for k in matched),
        baseline_only=tuple(k for k in baseline.points if k not in candidate.points),
        candidate_only=tuple(k for k in candidate.points if k not in baseline.points),
    )


def _names(keys, limit=3) -> str:
    keys = list(keys)
    if not keys:
        return "no points"
    shown = ", ".join(_label(k, keys) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def outcome(comparison: Comparison, fail_on_unstable: bool = False) -> BenchError | None:
    """What the comparison ends with: Regression (exit 1) when a point got
    slower beyond the threshold or failed; else Unstable (exit 3) when a point
    could not be decided and the user asked to fail on that; else None (0)."""
    if comparison.regressions:
        listed = ", ".join(
            f"{p.key.name} ({_pct(p.change)})" if p.change is not None else f"{p.key.name} (failed)"
            for p in comparison.regressions
        )
        return Regression(f"{len(comparison.regressions)} point(s) slower than the baseline: {listed}")
    if fail_on_unstable and comparison.unstable:
        listed = ", ".join(p.key.name for p in comparison.unstable)
        return Unstable(f"{len(comparison.unstable)} point(s) too unstable to decide: {listed}")
    return None


# --- Reporting -----------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def _rate(value: float | None, n: int) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} (n={n})"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci(value: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{_pct(value[0])} to {_pct(value[1])}"


def _label(key: PointKey, keys: Sequence[PointKey]) -> str:
    """The point's name, with its CPUs and broker where those differ between points."""
    if len({(k.cpus, k.broker) for k in keys}) > 1:
        return f"{key.name} ({key.setting})"
    return key.name


def _rows(comparison: Comparison) -> list[list[str]]:
    keys = [p.key for p in comparison.points]
    rows = []
    for p in comparison.points:
        rows.append(
            [
                _label(p.key, keys),
                _rate(p.baseline_median_per_s, len(p.baseline.values_per_s)),
                _rate(p.candidate_median_per_s, len(p.candidate.values_per_s)),
                _pct(p.change),
                _ci(p.change_ci95),
                _p(p.p_value),
                p.decision,
                "; ".join(p.notes),
            ]
        )
    return rows


HEADER = ["point", "baseline /s", "candidate /s", "change", "95% CI of change", "p", "decision", "notes"]


def _tally(comparison: Comparison) -> str:
    counts: dict[str, int] = {}
    for p in comparison.points:
        counts[p.decision] = counts.get(p.decision, 0) + 1
    order = (SLOWER, FAILED, FASTER, SAME, UNSTABLE)
    text = ", ".join(f"{counts[d]} {d}" for d in order if d in counts)
    noisy = sum(1 for p in comparison.points if p.unstable and p.decision != UNSTABLE)
    return text + (f"; {noisy} with an unstable side" if noisy else "")


def _rule(comparison: Comparison) -> str:
    return (
        f"slower/faster: the 95% CI of the ratio of medians excludes 1 or Mann-Whitney p < {ALPHA:g}, "
        f"and the change is at least {comparison.threshold:.0%}; fewer than {MIN_REPEATS} repeats a side "
        f"is unstable; a side with CV > {CV_WARN:.0%} is flagged unstable"
    )


def _describe(results_: Results) -> str:
    hosts = ", ".join(sorted(results_.hostnames)) or "unknown host"
    return f"{results_.path} ({results_.kind}, {len(results_.points)} point(s), {hosts})"


def format_text(comparison: Comparison) -> str:
    """The comparison as an aligned terminal table."""
    table = [HEADER, *_rows(comparison)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    right = {1, 2, 3, 5}
    lines = [
        f"baseline:  {_describe(comparison.baseline)}",
        f"candidate: {_describe(comparison.candidate)}",
        "",
    ]
    for n, row in enumerate(table):
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += _one_sided(comparison, lambda names: ", ".join(names))
    lines += ["", _tally(comparison), _rule(comparison)]
    return "\n".join(lines)


def _one_sided(comparison: Comparison, join) -> list[str]:
    out = []
    everything = [*comparison.baseline.points, *comparison.candidate.points]
    for side, keys in (("baseline", comparison.baseline_only), ("candidate", comparison.candidate_only)):
        if keys:
            out.append(f"only in the {side} (not compared): {join([_label(k, everything) for k in keys])}")
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(comparison: Comparison) -> str:
    """The comparison as GitHub-flavoured markdown, for a pull-request comment."""
    regressions = comparison.regressions
    title = f"{len(regressions)} point(s) slower than the baseline" if regressions else "no significant regression"
    lines = [
        f"### celery-bench compare: {title}",
        "",
        f"Baseline `{comparison.baseline.path}`, candidate `{comparison.candidate.path}` "
        f"({', '.join(sorted(comparison.baseline.hostnames | comparison.candidate.hostnames)) or 'unknown host'}).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---:", "---:", "---:", "---", "---:", "---", "---"]) + "|",
    ]
    for p, row in zip(comparison.points, _rows(comparison), strict=True):
        row[0] = f"`{row[0]}`"
        if p.regression:
            row[6] = f"**{row[6]}**"
        lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    one_sided = _one_sided(comparison, lambda names: ", ".join(f"`{n}`" for n in names))
    if one_sided:
        lines += ["", *(line[0].upper() + line[1:] + "." for line in one_sided)]
    lines += ["", f"{_tally(comparison)}.", "", f"<sub>{_rule(comparison)}.</sub>"]
    return "\n".join(lines)


def command(cfg: CompareConfig) -> tuple[str, BenchError | None]:
    """`python -m bench compare`: the report's text, and the error to end
    with (None: exit 0). Prints nothing."""
    comparison = compare(
        load(cfg.baseline), load(cfg.candidate), cfg.threshold, allow_different_hosts=cfg.allow_different_hosts
    )
    text = format_markdown(comparison) if cfg.format == "markdown" else format_text(comparison)
    return text, outcome(comparison, cfg.fail_on_unstable)
