"""`python -m bench sweep`: every point of a plan in fresh workers, then
the table and the report."""

import dataclasses
import functools
import os
import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.analysis.groups import plural
from bench.commands import SweepRequest
from bench.commands.profile import with_model
from bench.commands.report import write_report
from bench.fleet.hosts import fewest_cores
from bench.fleet.options import secret_from_env
from bench.harness import machine
from bench.harness.broker import listening_words
from bench.measure import overheads, runner
from bench.measure.apptask import profile_times
from bench.measure.profile import profile_task, write_profile
from bench.output import openloop_plot
from bench.output.check import comparison
from bench.output.plan import describe, left_out_lines
from bench.output.profile import profile_table
from bench.sweep import check, rates, store
from bench.sweep import run as sweep
from bench.sweep.plan import left_out, plan_sweep

# A dry run asks no agent: the -c values it shows are this machine's.
HOSTS_CHOOSE_C = "on agents the -c values are chosen for the hosts' cores when the sweep starts (these: this machine's)"


def execute(request: SweepRequest) -> int:
    cfg, plan, profile = request.config, list(request.plan), request.profile
    if request.profile_first is not None:  # a user's task: what it is made of sizes the plan
        assert cfg.user_task is not None, "only a user's task is profiled first"
        print(f"profiling {cfg.user_task.task} first ({request.profile_first.tasks} calls, one at a time)", flush=True)
        with runner.services_for(request.profile_first) as (broker, _stub):
            profile = with_model(profile_task(request.profile_first, broker), overheads.lookup(broker))
        print(profile_table(profile), flush=True)
        cfg = dataclasses.replace(cfg, task_profile=profile_times(profile))
        plan = plan_sweep(cfg)
    resume = store.SweepDir(request.resume) if request.resume is not None else None
    left = sweep.remaining_repeats(cfg, resume, plan) if resume else None
    if resume and left == 0 and cfg.rates is None and not cfg.check:  # (rates or checks may still be left)
        print(f"{resume.path} is finished: every point has its repeats; nothing to measure.")
        print(f"its report: {resume.path / 'report.md'} (python -m bench report {resume.path} to redo it)")
        return 0
    on_agents = bool(cfg.hosts) and cfg.concurrency is None  # a new sweep's -c values are chosen for them
    if request.dry_run:
        what = f"resuming {resume.path}" if resume else f"a new sweep in {request.output_dir}"
        print(f"dry run, nothing started: {what} ({cfg.profile}, seed {cfg.seed})")
        print(describe(plan, cfg, left, cfg.hosts))
        for line in left_out_lines(left_out(cfg)):
            print(line)
        if on_agents and resume is None:
            print(HOSTS_CHOOSE_C)
        return 0
    plan_for = functools.partial(_plan_for_the_hosts, cfg, plan) if on_agents else None  # (a new sweep only)
    with sweep.session(cfg, plan, resume, request.output_dir, plan_for) as (target, broker, stub, plan):
        if profile is not None:  # the report puts its prediction beside the measured optimum
            write_profile(target.path / "profile.json", profile)
        print(f"resuming {target.path}" if resume else f"sweep {target.path} ({cfg.profile}, seed {cfg.seed})")
        if cfg.listen:
            print(listening_words(broker, cfg.listen), flush=True)
        print(describe(plan, cfg, left, cfg.hosts), flush=True)
        for line in left_out_lines(left_out(cfg)):
            print(line, flush=True)
        with _SweepProgress(plan, cfg) as progress:
            sweep.run_sweep(target, cfg, plan, progress, broker, stub)
        if cfg.rates is not None:
            rates.run_rates(target, cfg, plan, broker, stub, say=lambda line: print(line, flush=True))
        if cfg.check:
            check.run_checks(target, cfg, plan, broker, stub, comparison, say=lambda line: print(line, flush=True))
    store.summarize(target, cfg, plan)
    open_loop = _summarize_rates(target, cfg, plan) if cfg.rates is not None else None
    print()
    print(write_report(target.path).text)  # with open_loop.json's sections, when there is one
    if open_loop is not None:
        for key, pools in open_loop["verdicts"].items():
            for pool, v in pools.items():
                print(f"open loop, {key} {pool}: {v['word']}: {v['reason']}")
    files = "report.md, report.html, overview.png, points.csv, summary.json" + (", check.json" if cfg.check else "")
    print(f"\nsweep files: {target.path}: {files}, runs/")
    return 0


def _plan_for_the_hosts(cfg, plan, broker):
    """A new sweep on agents with the default -c values: chosen from the
    hosts' usable cores (the fewest of them), not this machine's."""
    count = max(cfg.host_counts) if cfg.host_counts else None
    cores = fewest_cores(broker, secret_from_env(), cfg.hosts, count)
    if cores == machine.usable_cores():
        return plan
    print(f"the hosts have {plural(cores, 'usable core')} (the fewest): the -c values are chosen for them")
    return plan_sweep(cfg, cores=cores)


def _summarize_rates(target, cfg, plan):
    """open_loop.json and the latency-against-rate figures, before the
    report that ends with their sections."""
    summary = rates.summarize(target, cfg, plan, machine.usable_cores())
    openloop_plot.figures(summary, target.path)
    return summary


class _SweepProgress:
    """A progress bar with the point, repeats done and an ETA on a terminal;
    a plain line per repeat when there is no TTY or CI is set."""

    def __init__(self, plan, cfg):
        self.fancy = sys.stdout.isatty() and not os.environ.get("CI")
        self.bar = None

    def __enter__(self):
        if self.fancy:
            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            )
            self.bar.start()
            self.task = self.bar.add_task("starting", total=None)
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()

    def __call__(self, target, cfg, plan, point, state, doc):
        total = state["done"] + sweep.remaining_repeats(cfg, target, plan)
        if self.bar:
            label = point.key if doc is None else f"{point.key} done"
            self.bar.update(self.task, description=label, completed=state["done"], total=total)
            return
        if doc is None:
            return
        elapsed = time.monotonic() - state["started"]
        eta = elapsed / state["done"] * (total - state["done"])
        result = f"{doc.summary.throughput_per_s:.1f} tasks/s" if doc.ok else f"FAILED: {doc.status.reason}"
        print(f"[{state['done']}/{total}] {point.key}: {result} (eta {eta:.0f} s)", flush=True)
