"""Which curves of a figure coincide: pools whose medians agree within
COINCIDE at every shared -c, said in a note instead of left to the eye
(one line hides the other)."""

from collections.abc import Mapping

from bench.analysis.groups import Curve

COINCIDE = 0.02  # two curves within 2% at every shared -c are said to coincide


def coinciding(curves: Mapping[str, Curve]) -> list[list[str]]:
    """Groups of pools whose medians agree within COINCIDE at every shared
    -c, each pool with every other of its group (a pool joins the first
    group it agrees with throughout)."""
    pools = [p for p, c in curves.items() if len(c.c) > 1]
    groups: list[list[str]] = []
    for pool in pools:
        group = next((g for g in groups if all(_agree(curves[pool], curves[other]) for other in g)), None)
        if group is None:
            groups.append([pool])
        else:
            group.append(pool)
    return [g for g in groups if len(g) > 1]


def _agree(a, b):
    ma = dict(zip(a.c, a.medians(), strict=True))
    mb = dict(zip(b.c, b.medians(), strict=True))
    shared = [c for c in ma if c in mb and ma[c] and mb[c]]
    return len(shared) > 1 and all(abs(ma[c] / mb[c] - 1) <= COINCIDE for c in shared)
