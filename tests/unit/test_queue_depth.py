"""The reference's rate without task events: the steady slope of the
queue's depth (bench/measure/queue_depth.py), on hand-built (t, depth)
series sampled every 5 ms as the poller samples them; and an empty queue
read without a new channel a time on Redis."""

import types

import pytest
from kombu.exceptions import ChannelError

from bench.analysis.health import Context
from bench.measure.queue_depth import DepthMoves, moves, prefetch_count, ready_count, steady_rate, thinned

POLL = 0.005


def series(depth_at, until_s):
    """Samples every POLL s of depth_at(t), from 0 to until_s."""
    return [(i * POLL, depth_at(i * POLL)) for i in range(round(until_s / POLL) + 1)]


def draining(batch, boot_s, grab, rate, grab_s=0.0):
    """A batch waiting until the worker boots, then its prefetch window
    taken (at once, or over `grab_s`), then one message leaving per
    completed task."""

    def depth_at(t):
        if t < boot_s:
            return batch
        if t < boot_s + grab_s:
            return batch - int(grab * (t - boot_s) / grab_s)
        return max(batch - grab - int((t - boot_s - grab_s) * rate), 0)

    return depth_at


def test_a_solo_worker_with_a_sleep_of_20_ms_drains_at_50_per_s():
    samples = series(draining(200, boot_s=0.6, grab=4, rate=50.0), 6.0)
    found = steady_rate(samples, 200, prefetch=4)
    assert found.steady_throughput_per_s == pytest.approx(50.0, rel=0.01)
    assert found.from_depth <= 180
    assert found.to_depth <= 20


def test_the_initial_grab_of_the_prefetch_window_is_left_out():
    """gevent -c 32 at prefetch 4: 128 messages leave in the first 0.1 s
    (fetched one by one as the worker starts), then 32 / 0.2 s = 160 per s."""
    samples = series(draining(1000, boot_s=1.0, grab=128, rate=160.0, grab_s=0.1), 8.0)
    found = steady_rate(samples, 1000, prefetch=128)
    assert found.steady_throughput_per_s == pytest.approx(160.0, rel=0.01)
    assert found.from_depth < 1000 - 128  # the window starts after the grab
    assert found.start_s > 1.1
    # Not knowing the window, 90% of the batch falls inside the grab: the
    # rest of the grab counts as completions
    assert steady_rate(samples, 1000, prefetch=None).steady_throughput_per_s > 1.02 * 160.0
    # A grab at once falls between two samples: left out either way
    at_once = series(draining(1000, boot_s=1.0, grab=128, rate=160.0), 8.0)
    assert steady_rate(at_once, 1000, prefetch=None).steady_throughput_per_s == pytest.approx(160.0, rel=0.01)


def test_bursts_every_two_seconds_count_whole_periods():
    """The idle gaps of gevent with acks_late: 8 tasks start together every
    2.0 s (after the grab of 8): 4 per s, whatever levels fall inside a step."""

    def depth_at(t):
        if t < 0.5:
            return 80
        return max(72 - 8 * int((t - 0.5) / 2.0), 0)

    found = steady_rate(series(depth_at, 20.0), 80, prefetch=8)
    assert found.steady_throughput_per_s == pytest.approx(4.0, rel=0.01)
    assert found.window_s == pytest.approx(14.0, abs=0.01)


def test_a_depth_that_stops_moving_has_no_steady_rate():
    samples = series(lambda t: 100 if t < 0.5 else max(96 - int((t - 0.5) * 20), 50), 10.0)
    found = steady_rate(samples, 100, prefetch=4)
    assert found.steady_throughput_per_s is None
    assert "crossings" in found.method


def test_a_stall_in_the_middle_is_part_of_the_rate():
    def stalled(t):
        if t < 1.0:
            return 100 - int(t * 50)  # 50 left by 1.0 s
        if t < 3.0:
            return 50  # two seconds of nothing
        return max(50 - int((t - 3.0) * 50), 0)

    found = steady_rate(series(stalled, 6.0), 100, prefetch=1)
    # 80 messages (90 -> 10) in 1.6 s of draining plus the 2 s stall
    assert found.steady_throughput_per_s == pytest.approx(80 / 3.6, rel=0.02)


def test_a_batch_smaller_than_its_prefetch_window_has_no_steady_rate():
    samples = series(draining(40, boot_s=0.5, grab=40, rate=100.0), 2.0)
    assert steady_rate(samples, 40, prefetch=40).steady_throughput_per_s is None


def test_thinned_samples_keep_every_change_or_an_even_spread_with_both_ends():
    samples = series(draining(200, boot_s=0.6, grab=4, rate=50.0), 6.0)
    few = thinned(samples)
    assert few[0] == samples[0]
    assert few[-1] == samples[-1]
    assert len(few) == len({d for _, d in samples}) + 1  # each depth's first sample, and the last
    spread = thinned(samples, keep=20)
    assert 20 <= len(spread) <= 22
    assert (spread[0], spread[-1]) == (samples[0], samples[-1])


def test_a_depth_that_grows_back_was_redelivered_and_a_still_one_paused():
    def depth_at(t):
        if t < 0.5:
            return 100
        if t < 1.5:
            return 96 - int((t - 0.5) * 40)  # 56 by 1.5 s
        if t < 3.5:
            return 56  # 2.0 s still while 56 wait
        if t < 3.6:
            return 60  # 4 put back
        return max(60 - int((t - 3.6) * 40), 0)

    samples = series(depth_at, 6.0)
    found = moves(samples)
    assert found.rose_by == 4
    assert found.pauses_s == pytest.approx((2.0,), abs=0.01)
    # a steady drain, the worker's boot before it and the empty queue after it: neither
    calm = series(draining(200, boot_s=1.5, grab=4, rate=50.0), 8.0)
    assert moves(calm) == DepthMoves(0, ())
    # a slow steady drain (one task a second, -c 1): a second between moves is its pace, not a pause
    slow = series(draining(20, boot_s=0.5, grab=1, rate=1.0), 12.0)
    assert moves(slow) == DepthMoves(0, ())


def test_a_small_window_taken_in_bursts_every_two_seconds_pauses_every_time():
    """gevent -c 8 with task_acks_late at prefetch 1, collapsed: 8 messages
    taken within a few ms, then 2.0 s still; 4 tasks/s on average, so ten
    mean intervals (2.5 s) would be longer than the pauses themselves."""

    def depth_at(t):
        if t < 0.3:
            return 80
        bursts = 1 + int((t - 0.3) / 2.0)
        into = (t - 0.3) % 2.0
        taken = 8 * (bursts - 1) + min(8, int(into / 0.002) + 1)
        return max(80 - taken, 0)

    samples = series(depth_at, 22.0)
    found = moves(samples)
    assert len(found.pauses_s) >= 8
    assert found.pauses_s == pytest.approx((2.0,) * len(found.pauses_s), abs=0.03)


@pytest.mark.parametrize(
    ("multiplier", "disable_prefetch", "window"),
    [(None, False, 32), (1, False, 8), (4, True, 8), (None, True, 8)],
)
def test_the_prefetch_window_is_the_slots_times_the_multiplier_or_the_slots_without_prefetching(
    multiplier, disable_prefetch, window
):
    # gevent -c 8: Celery's default multiplier is 4; worker_disable_prefetch takes a message per free slot
    context = Context("gevent", 8, 8, False, multiplier, "redis", disable_prefetch=disable_prefetch)
    assert prefetch_count(context) == window


class _Channel:
    def __init__(self):
        self.closed = False

    def queue_declare(self, queue, passive):
        raise ChannelError(f"NOT_FOUND - no queue {queue!r}")

    def close(self):
        self.closed = True


class _Connection:
    def __init__(self, driver):
        self.transport = types.SimpleNamespace(driver_type=driver)
        self.opened = []

    def channel(self):
        self.opened.append(_Channel())
        return self.opened[-1]


def test_an_empty_redis_queue_reads_0_on_the_same_channel_and_amqp_closes_the_one_it_replaces():
    redis, old = _Connection("redis"), _Channel()
    assert ready_count(redis, old, "q") == (0, old)  # a new one a second kept a client each: 30 KB/s
    assert redis.opened == []
    amqp, old = _Connection("amqp"), _Channel()
    depth, channel = ready_count(amqp, old, "q")
    assert (depth, channel, old.closed) == (0, amqp.opened[0], True)
