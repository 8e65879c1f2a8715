"""The "Over time" section of a sweep's report: what its figures over time
(bench/output/plot_over_time.py) show, and which repeat stands for each
point. Nothing when no repeat of the sweep has a series (a sweep recorded
before format version 26)."""

from __future__ import annotations

from bench.analysis.groups import plural
from bench.analysis.over_time import Group, OverTime

FEW_SECONDS = 5  # a repeat's series shorter than this has too few points to show a trend: said


def figure_name(group: Group) -> str:
    """The file stem of a workload's figure over time: over-time-sleep-50ms."""
    return f"over-time-{group.key}"


INTRO = (
    "Each point's median repeat by throughput (of its ok repeats with a series), second by second from the first "
    "task sent: the completions a second, the tasks running and the tasks queued (sent, not started) at each "
    "second's end, and the worker tree's USS (every process summed), with ▲ above its line where pool processes were "
    "born and ▼ below where they were gone (recycling, or a process replaced), with how many beside a mark of more "
    "than one. Sojourn is not drawn: a repeat's batch is queued "
    "before the worker starts, so its sojourn is the queue, which the queued axes show. A repeat's whole series "
    "is beside its document (`runs/POINT/rNN.series.jsonl`); `python -m bench plot runs/POINT/rNN.json` draws "
    "it alone, each process's memory apart."
)


def over_time_section(over_time: OverTime) -> str:
    """The section in Markdown: its intro, each workload's figure and the
    repeats drawn in it; "" when no figure was drawn."""
    drawn = over_time.drawn()
    if not drawn:
        return ""
    lines = ["## Over time", "", INTRO, ""]
    for group in drawn:
        lines += [f"![{group.label} over time]({figure_name(group)}.png)", "", _drawn_words(group, over_time), ""]
    return "\n".join(lines)


def _drawn_words(group: Group, over_time: OverTime) -> str:
    """`sleep 50 ms, the repeats drawn: prefork -c 1 r02 of 3, -c 2 r01 of 3.`
    and the points without a series."""
    said = []
    missing = []
    for panel in group.panels:
        each = []
        for line in panel.lines:
            rep = over_time.chosen.get(line.point.key)
            if rep is None:
                missing.append(f"{panel.title} {line.label}")
            else:
                each.append(f"{line.label} {rep.repeat} of {rep.of}")
        if each:
            said.append(f"{panel.title}: {', '.join(each)}")
    text = f"{group.label}, the repeats drawn: {'; '.join(said)}."
    seconds = max(len(rep.rows) for point in group.points if (rep := over_time.chosen.get(point.key)) is not None)
    if seconds < FEW_SECONDS:
        text += (
            f" They lasted {plural(seconds, 'second')} at most (the profile's window): a few points each; "
            "`--profile thorough` measures windows of 6 s, a soak (`run --duration`) minutes to hours."
        )
    if missing:
        text += f" Not drawn, no ok repeat with a series: {plural(len(missing), 'point')} ({', '.join(missing)})."
    return text
