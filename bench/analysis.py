"""What a sweep's numbers say: the verdict per pool x workload, the USL fit
per curve, and the warnings a reader must see. Pure, from summary.json."""

from dataclasses import dataclass

from bench.model import USLFit, fit_usl
from bench.plot import groups
from bench.verdict import Verdict, verdicts


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
