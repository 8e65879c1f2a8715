"""advise against the full quick sweep over the same pools and -c grid:
how long each takes, and whether they give the same answer.

    python tests/benchmarks/advise_vs_sweep.py --workload sleep
    python tests/benchmarks/advise_vs_sweep.py --workload cpu --pools prefork,gevent,threads
    python tests/benchmarks/advise_vs_sweep.py --app thumbs --task thumbs.thumbnail \
        --args-file calls.jsonl --workdir examples/thumbnails

It runs `python -m bench advise` first (Celery's per-task cost already in
the cache: run advise once before, so neither side pays for it), then
`python -m bench sweep --profile quick --pools P --concurrency GRID(P)` for
each pool with advise's grid (the two measure points the same way: quick
windows, 3 repeats, fresh workers), then compares:

- time: advise's wall time over the sweeps' (the aim: at most 25%);
- the answer: the sweep's best pool and -c (its smallest -c within 5% of
  the best median, as advise picks) against advise's, within one grid step;
  where pools tie within the noise, whether the sweep shows advise's point
  worse than its best by more than 5% (the upper end of the sweep's CI at
  advise's point below 95% of the sweep's best median): "as good" if not;
- the throughput: advise's median inside the sweep's 95% CI at that point.

Prints a Markdown table and writes it, with the numbers, to
results/advise-vs-sweep-<stamp>.json. A benchmark, not a test: it takes
minutes and its timings are this machine's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.harness import machine  # noqa: E402
from bench.results.io import read_sweep_summary  # noqa: E402
from bench.sweep.plan import default_concurrency  # noqa: E402

MIN_EFFECT = 0.05


def bench(*args: str, cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"python -m bench {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return time.monotonic() - started, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default=None)
    parser.add_argument("--pools", default="prefork,gevent,eventlet,solo,threads")
    parser.add_argument("--app")
    parser.add_argument("--task")
    parser.add_argument("--args")
    parser.add_argument("--args-file")
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--output-dir", default=str(ROOT / "results" / "advise-vs-sweep"))
    opts = parser.parse_args()
    cwd = Path(opts.workdir).resolve()
    out = Path(opts.output_dir).resolve()
    task = []
    if opts.app:
        task = ["--app", opts.app, "--task", opts.task]
        task += ["--args", opts.args] if opts.args else []
        task += ["--args-file", opts.args_file] if opts.args_file else []
    pools = opts.pools.split(",")
    what = ["--workload", opts.workload] if opts.workload else []

    advise_s, proc = bench("advise", *what, *task, "--pools", opts.pools, "--output-dir", str(out), cwd=cwd)
    print(proc.stdout.splitlines()[-1] if proc.stdout else proc.stderr)
    folder = max(out.glob("advise-*"))
    advice = json.loads((folder / "advise.json").read_text())
    rec = advice["recommendation"]

    cores = machine.usable_cores()
    sweep_s = 0.0
    best_points = []
    for pool in pools:
        grid = default_concurrency(pool, cores, step=2)
        extra = ["--workloads", opts.workload] if opts.workload else []
        seconds, proc = bench(
            "sweep", "--profile", "quick", "--pools", pool, "--concurrency", ",".join(map(str, grid)),
            *extra, *task, "--output-dir", str(out / "sweeps"), cwd=cwd,
        )  # fmt: skip
        sweep_s += seconds
        summary = read_sweep_summary(max((out / "sweeps").glob("sweep-*")) / "summary.json")
        best_points += [p for p in summary.points if p.throughput is not None and p.workload != "noop"]

    top = max(p.throughput.median_per_s for p in best_points)
    tied = [p for p in best_points if p.throughput.median_per_s >= (1 - MIN_EFFECT) * top]
    pools_tied = {p.pool for p in tied}
    winner = min((p for p in tied), key=lambda p: (p.pool != rec["pool"], p.concurrency))
    grid = default_concurrency(winner.pool, cores, step=2)
    same_pool = rec["pool"] in pools_tied
    steps = abs(grid.index(winner.concurrency) - grid.index(rec["concurrency"])) if same_pool else None
    at = next((p for p in best_points if (p.pool, p.concurrency) == (rec["pool"], rec["concurrency"])), None)
    inside = (
        at is not None
        and at.throughput.ci95_low_per_s is not None
        and at.throughput.ci95_low_per_s <= rec["median_per_s"] <= at.throughput.ci95_high_per_s
    )
    as_good = at is not None and (at.throughput.ci95_high_per_s or at.throughput.median_per_s) >= (1 - MIN_EFFECT) * top
    result = {
        "task": advice["task"],
        "pools": pools,
        "advise_s": advise_s,
        "sweep_s": sweep_s,
        "time_ratio": advise_s / sweep_s,
        "advise": {"pool": rec["pool"], "concurrency": rec["concurrency"], "per_s": rec["median_per_s"]},
        "sweep": {
            "pool": winner.pool,
            "concurrency": winner.concurrency,
            "per_s": winner.throughput.median_per_s,
            "tied_pools": sorted(pools_tied),
        },
        "grid_steps": steps,
        "advise_inside_sweep_ci": inside,
        "advised_as_good_as_sweep_best": as_good,
        "sweep_at_advised_per_s": None if at is None else at.throughput.median_per_s,
        "sweep_ci_at_advised": None if at is None else [at.throughput.ci95_low_per_s, at.throughput.ci95_high_per_s],
    }
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    (out / f"advise-vs-sweep-{stamp}.json").write_text(json.dumps(result, indent=1))
    print("| task | advise | sweep (same grid) | time | same answer | as good in the sweep | inside the sweep's CI |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {result['task']} | {rec['pool']} -c {rec['concurrency']}: {rec['median_per_s']:.1f}/s, {advise_s:.0f} s "
        f"| {winner.pool} -c {winner.concurrency}: {winner.throughput.median_per_s:.1f}/s, {sweep_s:.0f} s "
        f"| {result['time_ratio']:.0%} | {'yes' if steps is not None and steps <= 1 else 'no'} ({steps} steps) "
        f"| {'yes' if as_good else 'no'} | {'yes' if inside else 'no'} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
