"""The offset of another host's clock from the harness's, from round trips
through the broker (pure).

One probe: the harness reads its clock (t0), sends the probe, the agent
answers with its clock (t_a), the harness reads its clock on the answer (t1).
If the agent read its clock at some moment inside [t0, t1], then
offset = t_a - (t0 + t1) / 2 is wrong by at most (t1 - t0) / 2. The sample
with the smallest round trip has the smallest bound (Cristian's algorithm):
it is kept, with that bound. An agent time t converts to the harness's
clock as t - offset."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    sent: float  # t0, harness clock, s
    agent: float  # t_a, the agent's clock when it answered, s
    received: float  # t1, harness clock, s

    @property
    def round_trip_s(self) -> float:
        return self.received - self.sent


@dataclass(frozen=True)
class Offset:
    offset_s: float  # agent clock minus harness clock, s
    error_s: float  # the offset is within +/- this of the truth, s (half the round trip)
    round_trip_s: float  # the smallest round trip, s
    probes: int  # round trips made

    def to_harness(self, agent_time: float) -> float:
        """An agent time, on the harness's clock."""
        return agent_time - self.offset_s


def estimate(probes: Sequence[Probe]) -> Offset:
    """The offset from the probe with the smallest round trip."""
    usable = [p for p in probes if p.round_trip_s >= 0]
    if not usable:
        raise ValueError("no round trip to estimate a clock offset from")
    best = min(usable, key=lambda p: p.round_trip_s)
    return Offset(
        offset_s=best.agent - (best.sent + best.received) / 2,
        error_s=best.round_trip_s / 2,
        round_trip_s=best.round_trip_s,
        probes=len(probes),
    )


def bound_too_wide(error_s: float, window_s: float | None, fraction: float = 0.01) -> bool:
    """True when the error bound is not small against the measured window."""
    return window_s is not None and window_s > 0 and error_s > fraction * window_s
