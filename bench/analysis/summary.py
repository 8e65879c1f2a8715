"""What a sweep's numbers say: the verdict per pool x workload, the USL fit
per curve, and the warnings a reader must see. Pure, from summary.json."""

from dataclasses import dataclass

from bench.analysis.groups import groups
from bench.analysis.model import USLFit, fit_usl
from bench.analysis.stats import bootstrap_median
from bench.analysis.verdict import Verdict, verdicts


@dataclass(frozen=True)
class Analysis:
    verdicts: dict  # {figure key: {pool: Verdict}}
    fits: dict  # {figure key: {pool: USLFit}}
    warnings: list  # "point: what is wrong", for every point that needs a second look


def analyze(summary):
    fits: dict[str, dict[str, USLFit]] = {}
    for key, curves in groups(summary).items():
        for pool, curve in curves.items():
            if pool == "solo":
                fits.setdefault(key, {})[pool] = USLFit(False, "solo runs at -c 1 only")
                continue
            fits.setdefault(key, {})[pool] = fit_usl(curve.c, curve.medians())
    warnings = []
    for point in summary["points"]:
        for text in point.get("warnings", []):
            warnings.append(f"{point['key']}: {text}")
        efficiency = point.get("efficiency")
        if efficiency is not None and efficiency > 1:
            warnings.append(f"{point['key']}: above its physical ceiling ({efficiency:.1%}): a harness bug")
    found: dict[str, dict[str, Verdict]] = verdicts(summary)
    return Analysis(found, fits, warnings)


def _median(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return bootstrap_median(values).median


def summarize_point(point, attempts, ci_target):
    """One point's summary over its ok repeats."""
    ok = [d for _, d in attempts if d["status"]["state"] == "ok"]
    failed = [d for _, d in attempts if d["status"]["state"] != "ok"]
    out = point.to_json()
    out["repeats"] = len(ok)
    out["failed_repeats"] = len(failed)
    out["warnings"] = []
    if failed:
        out["warnings"].append(f"{len(failed)} repeat(s) failed: {failed[0]['status']['reason']}")
    if not ok:
        out["throughput_per_s"] = None
        return out
    values = [d["summary"]["throughput_per_s"] for d in ok]
    est = bootstrap_median(values)
    out["throughput_per_s"] = {
        "median": est.median,
        "ci95_low": est.ci_low,
        "ci95_high": est.ci_high,
        "cv": est.cv,
        "unstable": est.unstable,
        "values": values,
    }
    if est.unstable:
        out["warnings"].append(f"unstable: coefficient of variation {est.cv:.0%} across repeats")
    if est.ci_rel_width is not None and est.ci_rel_width > ci_target:
        out["warnings"].append(
            f"wide: the 95% CI spans {est.ci_rel_width:.0%} of the median after {len(values)} repeats"
        )
    summaries = [d["summary"] for d in ok]
    ceiling = summaries[0]["ceiling_per_s"]
    out["ceiling_per_s"] = ceiling
    out["ceiling_basis"] = summaries[0]["ceiling_basis"]
    out["efficiency"] = est.median / ceiling if ceiling else None
    for key in (
        "steady_throughput_per_s",
        "wait_p50_s",
        "wait_p99_s",
        "service_p50_s",
        "service_p99_s",
        "sojourn_p50_s",
        "sojourn_p99_s",
        "mean_concurrency",
        "max_concurrency",
    ):
        out[key] = _median([s[key] for s in summaries])
    for key in ("worker_cpu_cores", "worker_uss_peak_bytes", "worker_pss_peak_bytes", "worker_rss_peak_bytes"):
        out[key] = _median([(s.get("resources") or {}).get(key) for s in summaries])
    out["load_average_before"] = _median([s["load_average_before"][0] for s in summaries])
    return out
