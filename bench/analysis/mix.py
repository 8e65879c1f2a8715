"""A sweep of a traffic mix (issue 24), per class and per setting. Pure.

- class_estimates: one point's classes over its repeats, each figure the
  median of the repeats' own (bench/analysis/classes.py makes a repeat's),
  the short class's p99 and every class's throughput with a bootstrap 95% CI.
- setting_tables: per shape (pool, -c, pinning), a row per varied setting.
- recommend: which setting gives the *short* class (the smallest mean
  size) the lowest sojourn p99, against Celery's default (the one row
  whose every varied setting has Celery's default value, CELERY_DEFAULTS),
  else the first setting (the first value of each --vary axis as given);
  when that is the best itself, against the worst; and what it does to the
  *long* class's (the largest mean size) throughput. A difference counts
  only when the two 95% CIs do not overlap and the medians differ by at
  least MIN_EFFECT; otherwise it is "no significant difference", never a
  win. The settings the best cannot be told from are named with it.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.analysis.stats import bootstrap_median, median
from bench.analysis.verdict import MIN_EFFECT
from bench.results.codec import class_estimate_from_json
from bench.results.sweep_records import ClassEstimate, PointSummary, SweepSettings, SweepSummary


def class_estimates(
    described: Sequence[Mapping[str, Any]], per_repeat: Sequence[Mapping[str, Mapping[str, Any]]]
) -> tuple[ClassEstimate, ...]:
    """Each class of `described` (a run's traffic["classes"]: name, share,
    mean_ms) over `per_repeat` (each repeat's per-class fields: a drained
    run's `classes`, an open-loop run's `open_loop.classes`)."""
    out = []
    for klass in described:
        name = klass["name"]
        mine = [fields[name] for fields in per_repeat if name in fields]
        p99 = [f["sojourn_p99_s"] for f in mine if f.get("sojourn_p99_s") is not None]
        rates = [f["throughput_per_s"] for f in mine if f.get("throughput_per_s") is not None]
        tail = bootstrap_median(p99) if p99 else None
        flow = bootstrap_median(rates) if rates else None
        out.append(
            ClassEstimate(
                name=name,
                share=klass["share"],
                mean_ms=klass.get("mean_ms"),
                repeats=len(mine),
                sojourn_p99_s=tail.median if tail else None,
                sojourn_p99_ci95_low_s=tail.ci_low if tail else None,
                sojourn_p99_ci95_high_s=tail.ci_high if tail else None,
                sojourn_p99_values_s=tuple(p99),
                throughput_per_s=flow.median if flow else None,
                throughput_ci95_low_per_s=flow.ci_low if flow else None,
                throughput_ci95_high_per_s=flow.ci_high if flow else None,
                reserved_while_free_s=median(f.get("reserved_while_free_s") for f in mine),
                waited_while_free=median(f.get("waited_while_free") for f in mine),
            )
        )
    return tuple(out)


def short_and_long(classes: Sequence[ClassEstimate]) -> tuple[str, str]:
    """The names of the class with the smallest mean size and of the one
    with the largest (the first and the last when no class is sized)."""
    sized = [c for c in classes if c.mean_ms is not None]
    if not sized:
        return classes[0].name, classes[-1].name
    short = min(sized, key=lambda c: c.mean_ms or 0.0)
    long = max(sized, key=lambda c: c.mean_ms or 0.0)
    return short.name, long.name


# Celery's own value of the settings that decide who waits (celery/app/defaults.py,
# the worker's -O), as a varied value is written once normalized (_normal).
CELERY_DEFAULTS = {
    "prefetch_multiplier": "4",
    "acks_late": "false",
    "optimization": "default",
    "disable_prefetch": "false",
    "reject_on_worker_lost": "false",
    "routing": "shared",
}
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _normal(name: str, text: str) -> str:
    """A varied value as CELERY_DEFAULTS writes it: booleans as true/false, numbers plain."""
    text = text.strip().lower()
    if CELERY_DEFAULTS.get(name) in ("true", "false"):
        return "true" if text in _TRUE else "false" if text in _FALSE else text
    return (text.lstrip("0") or "0") if text.isdigit() else text


@dataclass(frozen=True)
class SettingRow:
    """One setting of a shape: its point and its classes."""

    setting: str  # what tells this row from the others of its table ("prefetch_multiplier=1"); "" if alone
    key: str  # its point's key
    classes: Mapping[str, ClassEstimate]  # by class name
    settings: tuple[tuple[str, str], ...] = ()  # its point's varied settings, (name, value as written)
    # each class measured alone (--vary alone=NAME) with this row's other settings: the baseline of its p99
    alone: Mapping[str, ClassEstimate] = field(default_factory=dict)

    @property
    def celery_default(self) -> bool:
        """Every varied setting at Celery's own value (none unknown to CELERY_DEFAULTS)."""
        return bool(self.settings) and all(
            name in CELERY_DEFAULTS and _normal(name, text) == CELERY_DEFAULTS[name] for name, text in self.settings
        )

    def of(self, name: str) -> ClassEstimate | None:
        return self.classes.get(name)


@dataclass(frozen=True)
class Recommendation:
    """What the per-setting figures of one table say about the short class's p99."""

    short: str  # the class with the smallest mean size
    long: str  # ... and the largest
    best: str  # the setting with the lowest short-class p99
    reference: str  # what it is compared with: Celery's default, else the first setting; the worst if that is the best
    reference_is_default: bool  # the reference is Celery's default
    best_p99_s: float
    reference_p99_s: float
    significant: bool  # the two p99 CIs do not overlap and differ by MIN_EFFECT or more
    # the best's long-class throughput against the reference's, fraction (-0.03: 3% less); None: not known
    long_change: float | None
    long_significant: bool  # that change's CIs do not overlap and it is MIN_EFFECT or more
    one_repeat: bool  # some figure has one repeat: no CI, so nothing is significant
    ties: tuple[tuple[str, float], ...] = ()  # other settings not told apart from the best: (setting, short p99 s)


@dataclass(frozen=True)
class SettingTable:
    """The settings of one shape of a mix sweep (pool, -c, pinning, what is
    common to every row), a row per setting in plan order."""

    shape: str  # e.g. "prefork -c 1, 2 workers"
    names: tuple[str, ...]  # every class, in the traffic's order
    short: str
    long: str
    rows: tuple[SettingRow, ...]
    recommendation: Recommendation | None  # None: one setting, or no short-class p99 to compare


def _parts(point: PointSummary) -> list[str]:
    parts = [f"{point.workers} workers"] if point.workers != 1 else []
    return parts + [f"{name}={text}" for name, text in point.settings if name != "alone"]


def _alone(point: PointSummary) -> str:
    """The class a point ran alone (--vary alone=NAME); "none": the whole mix."""
    return dict(point.settings).get("alone", "none")


def setting_tables(summary: SweepSummary) -> list[SettingTable]:
    """A table per shape of the points that ran a mix; none for a sweep of workloads."""
    shapes: dict[tuple[Any, ...], list[PointSummary]] = {}
    for point in summary.points:
        if point.classes:
            shapes.setdefault((point.pool, point.concurrency, point.cpus, point.host_count), []).append(point)
    tables = []
    for (pool, c, cpus, _hosts), shape_points in shapes.items():
        points = [p for p in shape_points if _alone(p) == "none"]
        baselines = [p for p in shape_points if _alone(p) != "none"]
        if not points:
            continue
        parts = [_parts(p) for p in points]
        common = [part for part in parts[0] if all(part in other for other in parts)]
        rows = tuple(
            SettingRow(
                ", ".join(part for part in mine if part not in common),
                point.key,
                {k.name: k for k in point.classes or ()},
                tuple(point.settings),
                _baselines(point, baselines),
            )
            for point, mine in zip(points, parts, strict=True)
        )
        first = points[0].classes or ()
        short, long = short_and_long(first)
        shape = f"{pool} -c {c}" + (f", pinned to {len(cpus)} CPUs" if cpus else "")
        shape += "".join(f", {part}" for part in common)
        tables.append(
            SettingTable(shape, tuple(k.name for k in first), short, long, rows, recommend(rows, short, long))
        )
    return tables


def _baselines(point: PointSummary, baselines: Sequence[PointSummary]) -> dict[str, ClassEstimate]:
    """The classes measured alone with `point`'s other settings (and workers), by name."""
    mine = (point.workers, _parts(point))
    out = {}
    for other in baselines:
        name = _alone(other)
        found = {k.name: k for k in other.classes or ()}
        if (other.workers, _parts(other)) == mine and name in found:
            out[name] = found[name]
    return out


def _apart(low_a, high_a, low_b, high_b) -> bool:
    """Two 95% CIs that do not overlap (both known)."""
    if None in (low_a, high_a, low_b, high_b):
        return False
    return high_a < low_b or high_b < low_a


def recommend(rows: Sequence[SettingRow], short: str, long: str) -> Recommendation | None:
    """The setting with the lowest short-class p99 against Celery's default
    (else the first setting; the worst when that is the best); None with
    fewer than two settings that measured it."""
    measured = [(r, k) for r in rows if (k := r.of(short)) is not None and k.sojourn_p99_s is not None]
    if len(measured) < 2:
        return None

    def p99(pair: tuple[SettingRow, ClassEstimate]) -> float:
        return pair[1].sojourn_p99_s or 0.0  # (measured: never None)

    best_pair = min(measured, key=p99)
    defaults = [pair for pair in measured if pair[0].celery_default]
    reference_pair = defaults[0] if len(defaults) == 1 else measured[0]
    if reference_pair is best_pair:
        reference_pair = max(measured, key=p99)
    (best, a), (reference, b) = best_pair, reference_pair
    significant = _differ(a, b)
    la, lb = best.of(long), reference.of(long)
    long_change = None
    long_significant = False
    if la is not None and lb is not None and la.throughput_per_s is not None and lb.throughput_per_s:
        long_change = la.throughput_per_s / lb.throughput_per_s - 1
        long_significant = (
            _apart(
                la.throughput_ci95_low_per_s,
                la.throughput_ci95_high_per_s,
                lb.throughput_ci95_low_per_s,
                lb.throughput_ci95_high_per_s,
            )
            and abs(long_change) >= MIN_EFFECT
        )
    one = any(k is not None and k.repeats < 2 for k in _figures(best, reference, short, long))
    ties = tuple(
        (row.setting, p99((row, k)))
        for row, k in measured
        if row is not best and row is not reference and not _differ(k, a)
    )
    return Recommendation(
        short=short,
        long=long,
        best=best.setting,
        reference=reference.setting,
        reference_is_default=reference.celery_default,
        best_p99_s=p99(best_pair),
        reference_p99_s=p99(reference_pair),
        significant=significant,
        long_change=long_change,
        long_significant=long_significant,
        one_repeat=one,
        ties=ties if significant else (),
    )


def _differ(a: ClassEstimate, b: ClassEstimate) -> bool:
    """Two p99s told apart: their 95% CIs do not overlap and they differ by MIN_EFFECT or more."""
    low, high = sorted((a.sojourn_p99_s or 0.0, b.sojourn_p99_s or 0.0))
    effect = 1 - low / high if high else 0.0
    return (
        _apart(a.sojourn_p99_ci95_low_s, a.sojourn_p99_ci95_high_s, b.sojourn_p99_ci95_low_s, b.sojourn_p99_ci95_high_s)
        and effect >= MIN_EFFECT
    )


def _figures(best: SettingRow, reference: SettingRow, short: str, long: str) -> Iterable[ClassEstimate | None]:
    return (best.of(short), reference.of(short), best.of(long), reference.of(long))


def open_loop_tables(document: Mapping[str, Any]) -> list[tuple[float, SettingTable]]:
    """(rate, table) per offered rate and shape of a sweep's open_loop.json
    whose rate cells hold a mix's classes (sweep/rates.py): the same table
    per setting as the drained points', from the open-loop runs."""
    by_rate: dict[float, list[PointSummary]] = {}
    for entry in document.get("points") or ():
        for cell in entry.get("rates") or ():
            if not cell.get("classes"):
                continue
            by_rate.setdefault(cell["rate"], []).append(
                PointSummary(
                    pool=entry["pool"],
                    concurrency=entry["concurrency"],
                    workload=entry["workload"],
                    task_ms=entry["task_ms"],
                    cpus=tuple(entry["cpus"]) if entry.get("cpus") else None,
                    cores=entry["cores"],
                    tasks=entry["tasks"],
                    warmup=entry["warmup"],
                    key=entry["key"],
                    workers=entry.get("workers", 1),
                    settings=tuple((name, text) for name, text in entry.get("settings") or ()),
                    host_count=entry.get("host_count"),
                    classes=tuple(class_estimate_from_json(c) for c in cell["classes"]),
                )
            )
    return [
        (rate, table)
        for rate, points in sorted(by_rate.items())
        for table in setting_tables(SweepSummary(SweepSettings(), None, None, tuple(points)))
    ]
